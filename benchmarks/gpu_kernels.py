"""Where a GPU sweep epoch spends its time: the CUDA kernels of ``gd.sweep`` (or of the bare step), by total time.

``python -m benchmarks.gpu_kernels [--configs 4096] [--mode default|highest|bfloat16]
[--program gd.sweep|bare-step] [--sizes 40,100,100,10]``

Runs a warm-up (compiling), then profiles 3 epochs with PyTorch's profiler, whose
CUPTI tracing records every CUDA kernel of the process, XLA's included; prints the
25 kernels with the most GPU time and their share. ``--program bare-step`` profiles
the hand-written step of ``benchmarks.sweep_bound`` instead (the same shapes, no
test pass, masking or running loss), to see which kernels gd.sweep adds. Needs a
CUDA GPU and PyTorch with CUDA beside JAX (JAX's preallocation is turned off so
both fit).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

PROGRAMS = ("gd.sweep", "bare-step")


def workload(program: str, sizes: tuple[int, ...], configs: int, mode: str) -> Callable[[int], None]:
    """run(epochs): train `configs` copies of the MLP for that many epochs (compiled on the first call)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import gdlab as gd
    from benchmarks.sweep_bound import epoch_program, starting_point
    from benchmarks.workload import load_arrays

    rates = [float(v) for v in np.geomspace(1e-3, 0.5, configs)]
    if program == "gd.sweep":
        data, model = gd.datasets.load("mnist1d"), gd.models.mlp(hidden=sizes[1:-1])
        compute = "bfloat16" if mode == "bfloat16" else None

        def sweep(epochs: int) -> None:
            gd.sweep(model, data, learning_rate=rates, batch_size=[128], metrics="running", compute_dtype=compute,
                     epochs=epochs)

        return sweep
    arrays = load_arrays()
    epoch = epoch_program("step", jnp.asarray(arrays.x_train), jnp.asarray(arrays.y_train, jnp.int32), 128,
                          jnp.bfloat16 if mode == "bfloat16" else None)
    start, lr = starting_point(sizes, rates)

    def run(epochs: int) -> None:
        params = start
        for e in range(epochs):
            params = epoch(params, lr, jax.random.PRNGKey(e))
        jax.block_until_ready(params)

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=4096)
    parser.add_argument("--mode", default="default", choices=("default", "highest", "bfloat16"))
    parser.add_argument("--program", default="gd.sweep", choices=PROGRAMS)
    parser.add_argument("--sizes", default="40,100,100,10", help="layer sizes of the MLP, comma-separated")
    args = parser.parse_args()
    import jax
    import torch
    from torch.profiler import ProfilerActivity, profile

    sizes = tuple(int(s) for s in args.sizes.split(","))
    run = workload(args.program, sizes, args.configs, args.mode)
    with jax.default_matmul_precision("highest" if args.mode == "highest" else None):
        run(1)
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            run(3)
            torch.cuda.synchronize()
    events = [e for e in prof.key_averages() if e.device_time_total > 0]
    total = sum(e.device_time_total for e in events)
    print(f"{args.program}, MLP {args.sizes}, {args.configs} configs, mode {args.mode}: "
          f"{total / 1e3:.1f} ms of kernels in 3 epochs")
    for e in sorted(events, key=lambda e: -e.device_time_total)[:25]:
        print(f"{100 * e.device_time_total / total:5.1f}%  {e.device_time_total / 1e3:8.2f} ms  "
              f"{e.count:6d} calls  {e.key[:110]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
