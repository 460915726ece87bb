"""One short GPU call: gd.sweep against the bare programs that bound it, and where its fixed cost goes.

``python -m benchmarks.gpu_bound [--configs 16384] [--wide 512] [--peers gd.sweep bound torch.func] [--json PATH]``

For the MNIST-1D MLP (``--configs``) and the wide 40-1024-1024-10 MLP (``--wide``), in
JAX's default precision (TF32 on a recent NVIDIA card) and with bfloat16 compute:
``gd.sweep`` (``--epochs``, 50 as in issue 4's workload: wall seconds per epoch and the median epoch), the bare training
step and its matmuls alone (``benchmarks.sweep_bound``: the ceiling of any XLA program
for this step), and the ``torch.func`` recipe in TF32. Then one ``gd.sweep`` of the
MNIST-1D MLP under ``cProfile``: the functions the host waited in, to say where the
seconds outside the epochs go. Each line prints as soon as it is measured.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import subprocess
import sys
import time
from typing import Any

from benchmarks.gpu_fused import compact
from benchmarks.sweep import MNIST_MLP, WIDE_MLP, run_peer
from benchmarks.sweep_peers import flops_per_config_epoch

PEERS = ("gd.sweep", "bound", "torch.func")


def _measure(label: str, peer: str, args: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    try:
        (r,) = run_peer(peer, args)
    except RuntimeError as err:
        print(f"{label}: failed: {str(err).splitlines()[-1][:300]}", flush=True)
        return
    flops = args["configs"][0] * flops_per_config_epoch(tuple(args["sizes"]))
    r.update(label=label, tflops=flops / r["epoch_seconds"] / 1e12)
    line = f"{label}: {r['epoch_seconds']:.4f} s/epoch {r['tflops']:.2f} TFLOP/s"
    if "median_epoch_seconds" in r:
        r["median_tflops"] = flops / r["median_epoch_seconds"] / 1e12
        line += f" (median epoch {r['median_epoch_seconds']:.4f} s: {r['median_tflops']:.2f} TFLOP/s)"
    print(f"{line} peak {r['peak_bytes'] / 1e9:.1f} GB", flush=True)
    rows.append(r)


def _profile(configs: int) -> str:
    """cProfile of one gd.sweep (after a compiling call): the 25 functions with the most cumulative time."""
    import jax
    import numpy as np

    import gdlab as gd
    from benchmarks.sweep_peers import _gdlab_workload, learning_rates

    model, data, params = _gdlab_workload(gd, MNIST_MLP)
    grid = {"learning_rate": learning_rates(configs, (1e-3, 0.5)), "batch_size": [128], "metrics": "running",
            "params": params}
    gd.sweep(model, data, epochs=1, **grid)
    profile = cProfile.Profile()
    tick = time.perf_counter()
    profile.enable()
    result = gd.sweep(model, data, epochs=10, **grid)
    profile.disable()
    seconds = time.perf_counter() - tick
    epochs = result.groups[0].history["epoch_time"][:, 0, 0]
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
    chunks = len(result.groups[0].chunk_params)
    return (f"device {jax.devices()[0].device_kind}: {configs} configs in {chunks} chunk(s), 10 epochs in {seconds:.3f} s; "
            f"epoch times {np.round(epochs, 4).tolist()} (sum {epochs.sum():.3f} s)\n{out.getvalue()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=16384)
    parser.add_argument("--wide", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=50, help="epochs of each gd.sweep (issue 4's workload: 50)")
    parser.add_argument("--test-every", type=int, default=1,
                        help="gd.sweep's test_every (the --epochs value: the test pass at the end only)")
    parser.add_argument("--json", help="save every number to this file")
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS), help="which peers to run")
    parser.add_argument("--profile-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile_only:
        print(_profile(args.configs))
        return 0
    rows: list[dict[str, Any]] = []
    for sizes, configs in ((MNIST_MLP, args.configs), (WIDE_MLP, args.wide)):
        name = "-".join(map(str, sizes))
        base = {"configs": [configs], "epochs": args.epochs, "test_every": args.test_every, "batch_size": 128, "sizes": list(sizes), "device": "gpu",
                "lr_range": [1e-3, 0.5] if sizes == MNIST_MLP else [1e-4, 0.1]}
        for mode in ("default", "bfloat16"):
            if "gd.sweep" in args.peers:
                _measure(f"{name} x{configs} gd.sweep {mode}", "gdlab_sweep", {**base, "mode": mode}, rows)
            for part in ("step", "matmuls") if "bound" in args.peers else ():
                _measure(f"{name} x{configs} bound {part} {mode}", "sweep_bound", {**base, "mode": mode, "part": part},
                         rows)
        if "torch.func" in args.peers:
            _measure(f"{name} x{configs} torch.func tf32", "torch_func", {**base, "epochs": 3, "mode": "tf32"}, rows)
        if args.json:  # after each model: a time limit that ends the call keeps what came before
            with open(args.json, "w") as f:  # 16384 configs' accuracies as their count, median, min and max
                json.dump([compact(r) for r in rows], f, indent=1)
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_bound", "--profile-only", "--configs",
                           str(args.configs)], capture_output=True, text=True, check=False)
    print(done.stdout[-6000:] or done.stderr[-3000:], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
