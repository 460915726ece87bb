"""A short GPU session's checks after ``benchmarks.sweep --gpu``: memory and throughput of one large
sweep, the same with XLA's Triton GEMMs off, and the sweep-equals-fit tests at full float32.

``python -m benchmarks.gpu_check [--configs 16384] [--out DIR]``; prints one line per check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.sweep import MNIST_MLP, run_peer
from benchmarks.sweep_peers import flops_per_config_epoch


def _sweep_line(label: str, configs: int, env: dict[str, str] | None) -> str:
    args = {"configs": [configs], "epochs": 10, "batch_size": 128, "lr_range": [1e-3, 0.5],
            "sizes": list(MNIST_MLP), "mode": "default", "device": "gpu"}
    try:
        (r,) = run_peer("gdlab_sweep", args, env)
    except RuntimeError as err:
        return f"{label}: failed: {str(err).splitlines()[-1][:300]}"
    tflops = configs * flops_per_config_epoch(MNIST_MLP) / r["epoch_seconds"] / 1e12
    return (f"{label}: {configs} configs {r['epoch_seconds']:.3f} s/epoch {tflops:.2f} TFLOP/s "
            f"peak {r['peak_bytes'] / 1e9:.1f} GB best acc {max(r['test_accuracy']):.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=16384)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    lines = [_sweep_line("gd.sweep default precision", args.configs, None),
             _sweep_line("gd.sweep, Triton GEMMs off", args.configs, {"XLA_FLAGS": "--xla_gpu_enable_triton_gemm=false"})]
    for line in lines:
        print(line, flush=True)
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/test_sweep.py",
         "-k", "standalone or bfloat16 or schedule_grid or diverging or stops_on_its_own"],
        env={**os.environ, "JAX_DEFAULT_MATMUL_PRECISION": "highest"}, capture_output=True, text=True,
        check=False, timeout=240)
    lines.append("tests/test_sweep.py at full float32 on the GPU: " + tests.stdout.strip().splitlines()[-1])
    print(lines[-1], flush=True)
    Path(args.out, "gpu_check.json").write_text(json.dumps(lines, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
