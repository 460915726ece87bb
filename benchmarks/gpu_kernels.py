"""Where a GPU sweep epoch spends its time: the CUDA kernels of ``gd.sweep``, by total time.

``python -m benchmarks.gpu_kernels [--configs 4096] [--mode default|highest|bfloat16]``

Runs a warm-up sweep (compiling), then profiles a 3-epoch sweep with PyTorch's
profiler, whose CUPTI tracing records every CUDA kernel of the process, XLA's
included; prints the 25 kernels with the most GPU time and their share. Needs
a CUDA GPU and PyTorch with CUDA beside JAX (JAX's preallocation is turned off
so both fit).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=4096)
    parser.add_argument("--mode", default="default", choices=("default", "highest", "bfloat16"))
    args = parser.parse_args()
    import jax
    import numpy as np
    import torch
    from torch.profiler import ProfilerActivity, profile

    import gdlab as gd

    data = gd.datasets.load("mnist1d")
    model = gd.models.mlp(hidden=(100, 100))
    grid = dict(learning_rate=[float(v) for v in np.geomspace(1e-3, 0.5, args.configs)], batch_size=[128],
                metrics="running", compute_dtype="bfloat16" if args.mode == "bfloat16" else None)
    with jax.default_matmul_precision("highest" if args.mode == "highest" else None):
        gd.sweep(model, data, epochs=1, **grid)
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            gd.sweep(model, data, epochs=3, **grid)
            torch.cuda.synchronize()
    events = [e for e in prof.key_averages() if e.device_time_total > 0]
    total = sum(e.device_time_total for e in events)
    print(f"{args.configs} configs, mode {args.mode}: {total / 1e3:.1f} ms of kernels in 3 epochs")
    for e in sorted(events, key=lambda e: -e.device_time_total)[:25]:
        print(f"{100 * e.device_time_total / total:5.1f}%  {e.device_time_total / 1e3:8.2f} ms  "
              f"{e.count:6d} calls  {e.key[:110]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
