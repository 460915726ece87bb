"""Data-parallel scaling: an epoch and a sweep at 1, 2 and 4 devices; or one epoch on a GPU.

CPU (default): each device count runs in its own process with
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (read when JAX starts).
The forced devices share the machine's cores, so this measures correctness
and the overhead of splitting, not a speed-up.

    python -m benchmarks.data_parallel                 # 1, 2, 4 forced CPU devices
    python -m benchmarks.data_parallel --quick         # fewer epochs (a smoke test)
    python -m benchmarks.data_parallel --gpu --peak-tflops 495   # on the GPU(s) JAX sees

GPU: the MNIST-1D MLP (40-100-100-10) and a wide MLP (40-1024-1024-1024-10
on 65536 random samples), a data-parallel epoch on ``--devices`` devices
(default 1): samples/s and the fraction of ``--peak-tflops`` reached, FLOPs
counted as 6 per weight per training sample plus 2 per weight per test
sample; then the MNIST-1D sweep of 8 learning rates. The last lines are a table.
Give the peak of the arithmetic that runs: under JAX's default matmul precision
float32 matmuls on Ampere and later GPUs use TF32 (H100 SXM: about 495 dense
TF32 TFLOP/s; 67 plain FP32).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

CPU_DEVICES = (1, 2, 4)
BATCH = 128
SWEEP_RATES = 8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs (a smoke test, not to quote)")
    parser.add_argument("--gpu", action="store_true", help="measure on the accelerator JAX sees")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the card's peak TFLOP/s (dtype used)")
    parser.add_argument("--devices", type=int, default=1, help="--gpu: devices the epoch is split over")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help="also write every number to this file")
    args = parser.parse_args(argv)
    epochs = 4 if args.quick else 12
    if args.worker is not None:
        print(json.dumps(_cpu_worker(args.worker, epochs)))
        return 0
    rows = _gpu(args.devices, epochs, args.peak_tflops) if args.gpu else _cpu(epochs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    _table(rows)
    return 0


def _cpu(epochs: int) -> list[dict[str, Any]]:
    """Each device count in a fresh process (XLA_FLAGS must be set before JAX starts)."""
    rows = []
    for n in CPU_DEVICES:
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}"}
        done = subprocess.run([sys.executable, "-m", "benchmarks.data_parallel", "--worker", str(n),
                               *(["--quick"] if epochs < 12 else [])], env=env, capture_output=True,
                              text=True, check=True)
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    print(f"machine: {_machine()}; load average at end {os.getloadavg()[0]:.2f}")
    return rows


def _cpu_worker(devices: int, epochs: int) -> list[dict[str, Any]]:
    import gdlab as gd

    data = gd.datasets.load("mnist1d")
    model = gd.models.mlp(hidden=(100, 100))
    rows = [_epoch_row("mnist1d mlp epoch", model, data, devices, BATCH, epochs, None)]
    for configs in (c for c in range(devices, 0, -1) if devices % c == 0):
        rows.append(_sweep_row(model, data, (configs, devices // configs), epochs))
    return rows


def _epoch_row(name: str, model: Any, data: Any, devices: int, batch: int, epochs: int,
               peak_tflops: float | None) -> dict[str, Any]:
    import jax

    import gdlab as gd

    result = gd.fit(model, data, gd.sgd(0.05), batch_size=batch, epochs=epochs, metrics="running",
                    devices=devices, check_stability=False)
    seconds = statistics.median(result.history["epoch_time"][1:])  # epoch 1 is a warm-up
    weights = sum(int(a.size) for a in jax.tree.leaves(result.params))
    flops = 6 * data.n_train * weights + 2 * data.n_test * weights
    row = {"what": name, "devices": devices, "device": jax.devices()[0].device_kind, "batch_size": batch,
           "ms_per_epoch": 1000 * seconds, "samples_per_s": data.n_train / seconds,
           "tflops": flops / seconds / 1e12, "final_train_loss": float(result.history["train_loss"][-1])}
    if peak_tflops:
        row["fraction_of_peak"] = row["tflops"] / peak_tflops
    return row


def _sweep_row(model: Any, data: Any, mesh: tuple[int, int], epochs: int) -> dict[str, Any]:
    """gd.sweep of SWEEP_RATES learning rates on a (configs, data) mesh; time without compiling."""
    import jax

    import gdlab as gd

    grid = {"learning_rate": gd.logspace(0.01, 0.5, SWEEP_RATES), "batch_size": [BATCH], "seeds": 1}
    gd.sweep(model, data, epochs=1, mesh=mesh, **grid)  # compiles the epoch program
    start = time.perf_counter()
    result = gd.sweep(model, data, epochs=epochs, mesh=mesh, **grid)
    seconds = time.perf_counter() - start
    return {"what": f"mnist1d sweep {SWEEP_RATES} rates, mesh {mesh[0]}x{mesh[1]}", "devices": mesh[0] * mesh[1],
            "device": jax.devices()[0].device_kind, "batch_size": BATCH,
            "ms_per_epoch": 1000 * seconds / epochs,
            "samples_per_s": SWEEP_RATES * data.n_train * epochs / seconds, "tflops": float("nan"),
            "final_train_loss": min(r["final_train_loss"] for r in result.rows)}


def _gpu(devices: int, epochs: int, peak_tflops: float | None) -> list[dict[str, Any]]:
    import jax
    import numpy as np

    import gdlab as gd

    print(f"devices: {jax.devices()}", flush=True)
    data = gd.datasets.load("mnist1d")
    rows = [_epoch_row("mnist1d mlp 40-100-100-10 epoch", gd.models.mlp(hidden=(100, 100)), data,
                       devices, 512, epochs, peak_tflops)]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(65536 + 8192, 40)).astype(np.float32)
    y = rng.integers(0, 10, size=len(x))
    wide_data = gd.datasets.from_arrays(x, y, test_fraction=8192 / len(x), name="random")
    rows.append(_epoch_row("wide mlp 40-1024x3-10 epoch", gd.models.mlp(hidden=(1024, 1024, 1024)),
                           wide_data, devices, 2048, epochs, peak_tflops))
    rows.append(_sweep_row(gd.models.mlp(hidden=(100, 100)), data, (devices, 1), epochs))
    return rows


def _machine() -> str:
    try:
        from benchmarks.machine import cpu_model
        model = cpu_model()
    except ImportError:
        model = "unknown CPU"
    return f"{model}, {os.cpu_count()} cores"


def _table(rows: list[dict[str, Any]]) -> None:
    base = {r["what"].split(",")[0]: r["samples_per_s"] for r in rows if r["devices"] == 1}
    header = "| what | devices | device | batch | ms/epoch | samples/s | vs 1 device | TFLOP/s | of peak |"
    print(header)
    print("|" + "---|" * 9)
    for r in rows:
        ratio = r["samples_per_s"] / base.get(r["what"].split(",")[0], r["samples_per_s"])
        peak = f"{100 * r['fraction_of_peak']:.1f}%" if "fraction_of_peak" in r else "-"
        tflops = "-" if r["tflops"] != r["tflops"] else f"{r['tflops']:.4f}"
        print(f"| {r['what']} | {r['devices']} | {r['device']} | {r['batch_size']} | {r['ms_per_epoch']:.1f} | "
              f"{r['samples_per_s']:,.0f} | {ratio:.2f}x | {tflops} | {peak} |")


if __name__ == "__main__":
    sys.exit(main())
