"""Sweep benchmark: many learning rates trained at once against one after another.

``python -m benchmarks.sweep`` (CPU, about 5 minutes on 2 cores):
32 learning rates x batch 128 x 50 epochs on the MNIST-1D MLP with
``gd.sweep`` (one device, and two CPU devices, one per core), against the same
32 runs one after another with PyTorch, with PyTorch's ``torch.func`` ensembling
recipe (all of these test after every epoch; gd.sweep once more with
``test_every=epochs``, training alone: its share of the matmul peak, whose FLOPs
count the training products only), and with one ``gd.fit`` per rate, and against bare programs that bound
a vmapped sweep from above (``benchmarks.sweep_bound``: the training step alone,
and its matmuls alone, in the rows-first layout with all configs at once, and the
matmuls features-first, in gd.sweep's CPU layout, 8 configs at a time per device); then how ``gd.sweep`` grows from 1 to 8
to 64 to 512 configs (5 epochs each) with its peak memory.

``python -m benchmarks.sweep --gpu``: the GPU tables (1024, 4096 and 16384
configs; default, highest and bfloat16 precision; a wide 40-1024-1024-10 MLP
with 512 configs; the torch.func recipe at the same counts).

Every peer runs in its own process (``benchmarks.sweep_peers``); ratios are
taken within one run of this script. ``--json PATH`` saves every number.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from typing import Any

import numpy as np

from benchmarks.machine import machine_info, matmul_peaks, versions
from benchmarks.sweep_peers import flops_per_config_epoch

MNIST_MLP = (40, 100, 100, 10)
WIDE_MLP = (40, 1024, 1024, 10)
TEST_AT_END = "gd.sweep, 2 devices, test at the end"
BOUND_STEP = "bound: bare vmapped step, 2 devices"
BOUND_MATMULS = "bound: its matmuls only, 2 devices"
BOUND_MATMULS_FF = "bound: matmuls, features-first, x8"
TWO_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


def run_peer(name: str, args: dict[str, Any], env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One peer in a fresh process; its JSON is the last line it prints."""
    command = [sys.executable, "-m", "benchmarks.sweep_peers", name, json.dumps(args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"peer {name} failed (exit {done.returncode}):\n{done.stderr.strip()[-3000:]}")
    result: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def cpu_benchmark(quick: bool) -> dict[str, Any]:
    configs, epochs = (8, 3) if quick else (32, 50)
    base = {"configs": [configs], "epochs": epochs, "batch_size": 128, "lr_range": [1e-3, 0.5],
            "sizes": list(MNIST_MLP), "mode": "default", "device": "cpu"}
    peers = {
        "gd.sweep, 2 CPU devices": run_peer("gdlab_sweep", base, TWO_DEVICES)[0],
        "gd.sweep, 1 device": run_peer("gdlab_sweep", base)[0],
        TEST_AT_END: run_peer("gdlab_sweep", {**base, "test_every": epochs}, TWO_DEVICES)[0],
        "gd.fit one after another": run_peer("gdlab_fits", base)[0],
        "PyTorch loop one after another": run_peer("torch_loop", base)[0],
        "PyTorch torch.func vmap": run_peer("torch_func", base)[0],
        BOUND_STEP: run_peer("sweep_bound", {**base, "part": "step"}, TWO_DEVICES)[0],
        BOUND_MATMULS: run_peer("sweep_bound", {**base, "part": "matmuls"}, TWO_DEVICES)[0],
        BOUND_MATMULS_FF: run_peer("sweep_bound", {**base, "part": "matmuls-ff", "block": 8}, TWO_DEVICES)[0],
    }
    scaling = {}
    short = {**base, "epochs": 2 if quick else 5}
    for layout, env in (("1 device", None), ("2 CPU devices", TWO_DEVICES)):
        counts = [1, 8] if quick else [1, 8, 64, 512]
        scaling[layout] = [run_peer("gdlab_sweep", {**short, "configs": [n]}, env)[0] for n in counts]
    return {"workload": base, "peers": peers, "scaling": scaling, "scaling_epochs": short["epochs"]}


def gpu_benchmark(quick: bool) -> dict[str, Any]:
    """The GPU tables; a peer that fails is reported with its error and the others still run."""
    counts = [16, 32] if quick else [1024, 4096, 16384]
    mnist = {"configs": counts, "epochs": 3 if quick else 10, "batch_size": 128, "lr_range": [1e-3, 0.5],
             "sizes": list(MNIST_MLP), "device": "gpu"}
    wide = {**mnist, "configs": [8] if quick else [512], "lr_range": [1e-4, 0.1], "sizes": list(WIDE_MLP)}
    slow = {"epochs": 2 if quick else 3}
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    for workload, label in ((mnist, "MNIST-1D MLP 40-100-100-10"), (wide, "wide MLP 40-1024-1024-10")):
        for mode in ("default", "highest", "bfloat16"):
            rows += _rows(label, "gd.sweep", "gdlab_sweep", {**workload, "mode": mode}, errors)
        for mode in ("float32", "tf32"):
            rows += _rows(label, "torch.func vmap", "torch_func", {**workload, **slow, "mode": mode}, errors)
        for part, mode in itertools.product(("step", "matmuls"), ("default", "bfloat16")):
            rows += _rows(label, f"bound: bare {part}", "sweep_bound", {**workload, "mode": mode, "part": part},
                          errors)
    rows += _rows("MNIST-1D MLP 40-100-100-10", "PyTorch loop one after another", "torch_loop",
                  {**mnist, "configs": [2], "epochs": 3, "mode": "float32"}, errors)
    return {"rows": rows, "errors": errors, "device": _gpu_name()}


def _rows(label: str, peer: str, name: str, args: dict[str, Any], errors: list[str]) -> list[dict[str, Any]]:
    try:
        results = run_peer(name, args)
    except RuntimeError as err:
        errors.append(f"{label} {peer} {args['mode']}: {err}")
        print(errors[-1], file=sys.stderr, flush=True)
        return []
    flops = flops_per_config_epoch(tuple(args["sizes"]))
    rows = [{"model": label, "peer": peer, "mode": args["mode"], **r,
             "tflops": r["configs"] * flops / r["epoch_seconds"] / 1e12,
             "ms_per_model_epoch": 1e3 * r["epoch_seconds"] / r["configs"]} for r in results]
    for r in rows:
        print(f"{label} {peer} {r['mode']} {r['configs']}: {r['tflops']:.2f} TFLOP/s", file=sys.stderr, flush=True)
    return rows


def _gpu_name() -> str:
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, check=False)
    except OSError:
        return "no GPU (nvidia-smi not found)"
    return done.stdout.strip() or "unknown"


def render_cpu(report: dict[str, Any]) -> str:
    peers, work = report["peers"], report["workload"]
    flops = flops_per_config_epoch(tuple(work["sizes"]))
    peak = report["matmul_peaks"]["all_cores"]["best"]
    reference = peers["gd.sweep, 2 CPU devices"]
    ref_acc = np.array(reference["test_accuracy"])
    lines = [(f"{work['configs'][0]} learning rates x batch {work['batch_size']} x {work['epochs']} epochs, "
             f"MNIST-1D MLP; 2-core float32 matmul peak {peak:.0f} GFLOP/s"),
             (f"{'peer':36} {'seconds':>8} {'GFLOP/s':>8} {'% peak':>7} {'x faster':>9} {'best acc':>8} "
             f"{'max|dacc|':>9} {'peak RSS':>9}")]
    for name, r in peers.items():
        gflops = work["configs"][0] * work["epochs"] * flops / r["seconds"] / 1e9
        speedup = r["seconds"] / reference["seconds"]
        accuracy = np.array(r["test_accuracy"])
        best, gap = ((f"{np.max(accuracy):8.3f}", f"{np.max(np.abs(accuracy - ref_acc)):9.3f}")
                     if np.isfinite(accuracy).all() else (f"{'-':>8}", f"{'-':>9}"))
        lines.append(f"{name:36} {r['seconds']:8.2f} {gflops:8.1f} {100 * gflops / peak:6.1f}% "
                     f"{speedup:8.2f}x {best} {gap} {r['peak_bytes'] / 2**20:7.0f}MB")
    lines.append("'x faster': the peer's seconds over gd.sweep on 2 CPU devices (>1: gd.sweep is faster)")
    lines.append("bounds: bare programs of benchmarks.sweep_bound (no test pass); the matmuls alone, features-first "
                 "(gd.sweep's CPU layout) in blocks of 8 configs, are the ceiling of gd.sweep's step")
    lines += _targets(peers, work, flops, peak)
    for layout, runs in report["scaling"].items():
        epochs = report["scaling_epochs"]
        lines.append(f"scaling, gd.sweep on {layout} (batch {work['batch_size']}, {epochs} epochs):")
        for r in runs:
            rate = r["configs"] * epochs / r["seconds"]
            lines.append(f"  {r['configs']:4d} configs: {r['seconds']:7.2f} s  {rate:8.1f} config-epochs/s  "
                         f"peak RSS {r['peak_bytes'] / 2**20:6.0f} MB")
    return "\n".join(lines)


def _targets(peers: dict[str, Any], work: dict[str, Any], flops: float, peak: float) -> list[str]:
    best = min((peers["gd.sweep, 2 CPU devices"], peers["gd.sweep, 1 device"]), key=lambda r: r["seconds"])
    gflops = work["configs"][0] * work["epochs"] * flops / best["seconds"] / 1e9
    checks = [("vs PyTorch loop", peers["PyTorch loop one after another"]["seconds"] / best["seconds"], 6.0),
              ("vs gd.fit one after another", peers["gd.fit one after another"]["seconds"] / best["seconds"], 2.0),
              ("share of 2-core matmul peak", gflops / peak, 0.65)]
    lines = [f"target {name}: {value:.2f} (>= {goal}) {'PASS' if value >= goal else 'MISS'}"
             for name, value, goal in checks]
    if TEST_AT_END in peers:  # every peer tests after each epoch; the FLOPs count training only
        alone = work["configs"][0] * work["epochs"] * flops / peers[TEST_AT_END]["seconds"] / 1e9 / peak
        lines.append(f"  the same share for training alone (gd.sweep, test_every=epochs: the test pass at the end "
                     f"only): {alone:.2f} {'PASS' if alone >= 0.65 else 'MISS'}")
    return lines


def render_gpu(report: dict[str, Any]) -> str:
    lines = [f"GPU: {report['device']}",
             (f"{'model':28} {'peer':32} {'mode':9} {'configs':>7} {'s/epoch':>8} {'TFLOP/s':>8} "
             f"{'ms/model-ep':>11} {'peak GB':>8} {'best acc':>8} {'warmup s':>9}")]
    for r in report["rows"]:
        lines.append(f"{r['model']:28} {r['peer']:32} {r['mode']:9} {r['configs']:7d} {r['epoch_seconds']:8.3f} "
                     f"{r['tflops']:8.2f} {r['ms_per_model_epoch']:11.4f} {r['peak_bytes'] / 1e9:8.2f} "
                     f"{np.nanmax(r['test_accuracy']):8.3f} {r['warmup_seconds']:9.1f}")
    lines += [f"error: {e.splitlines()[0]}" for e in report["errors"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="the GPU tables instead of the CPU ones")
    parser.add_argument("--quick", action="store_true", help="a smoke test: too small to quote")
    parser.add_argument("--json", help="save every number to this file")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"versions": versions(), "machine": machine_info()}
    if args.gpu:
        report.update(gpu_benchmark(args.quick))
        text = render_gpu(report)
    else:
        report["matmul_peaks"] = matmul_peaks()
        report.update(cpu_benchmark(args.quick))
        text = render_cpu(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print(json.dumps(report["versions"]))
    print(json.dumps(report["machine"]))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
