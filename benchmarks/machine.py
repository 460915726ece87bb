"""The machine a benchmark ran on: CPU, cores, versions, and the float32 matmul peak.

``python -m benchmarks.machine`` prints the matmul GFLOP/s of this process as
JSON; ``matmul_peaks`` runs it twice, on all cores and pinned to one core
(``taskset -c 0``, XLA's Eigen thread pool off), so the caller need not import JAX.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PACKAGES = ("gdlab", "jax", "jaxlib", "optax", "torch", "scikit-learn", "numpy", "mnist1d")
MATMUL_SIZE = 2048
ONE_CORE_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false"


def versions() -> dict[str, str]:
    """Python and the installed versions of the packages the benchmarks use."""
    found = {"python": platform.python_version(), "gdlab_commit": source_revision()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def source_revision() -> str:
    """The repository's commit, with '+dirty' when src/ has uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = _git(root, "rev-parse", "--short", "HEAD")
        dirty = _git(root, "status", "--porcelain", "src")
    except OSError:
        return "unknown"
    return (commit or "unknown") + ("+dirty" if dirty else "")


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def cpu_model() -> str:
    """The 'model name' line of /proc/cpuinfo (or platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU model, core counts, OS, load average and the date (UTC)."""
    return {
        "cpu_model": cpu_model(),
        "nproc": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def matmul_gflops(n: int = MATMUL_SIZE, repeats: int = 20) -> dict[str, float]:
    """GFLOP/s of a jitted float32 (n, n) @ (n, n) = 2 n^3 FLOPs: best and median of repeats."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
    dot = jax.jit(jnp.dot)
    dot(a, b).block_until_ready()
    seconds = []
    for _ in range(repeats):
        tick = time.perf_counter()
        dot(a, b).block_until_ready()
        seconds.append(time.perf_counter() - tick)
    flops = 2.0 * n**3
    return {"best": flops / min(seconds) / 1e9, "median": flops / statistics.median(seconds) / 1e9}


def matmul_peaks() -> dict[str, dict[str, float]]:
    """Matmul GFLOP/s in fresh processes: on all cores, and on one core with one thread."""
    command = [sys.executable, "-m", "benchmarks.machine"]
    peaks = {"all_cores": _run_json(command, os.environ.copy())}
    one_core_env = os.environ.copy()
    one_core_env["XLA_FLAGS"] = f"{one_core_env.get('XLA_FLAGS', '')} {ONE_CORE_XLA_FLAGS}".strip()
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    peaks["one_core"] = _run_json(pin + command, one_core_env)
    peaks["one_core"]["pinned_with_taskset"] = bool(pin)
    return peaks


def _run_json(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    print(json.dumps(matmul_gflops()))
