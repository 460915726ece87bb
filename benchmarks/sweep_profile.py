"""Where a CPU sweep step's time goes: XLA's own timing of every operation of gd.sweep's epoch program.

``python -m benchmarks.sweep_profile --batch-size 128 --configs 16`` runs a gd.sweep of the MNIST-1D MLP
(plain SGD, ``metrics="running"``, one seed, log-spaced rates) on ONE CPU device, once to compile and
once under ``jax.profiler.trace`` with XLA's per-operation trace events on
(``--xla_cpu_enable_xprof_traceme``), and prints the operations of the optimized program with their
microseconds per training step (the epoch's total over its updates), largest first: the matrix
products (``ynn_fusion.*`` where XNNPACK's YNN kernels run them, ``dot*`` where Eigen does), the
elementwise loops XLA generates (``*_fusion``) and the copies around them. ``--hlo PATH`` also
writes the optimized program's text, to look an operation up by name.

Pin it to one core (``taskset -c 0``) for steady numbers; the flags must be set before JAX starts,
so run it in its own process.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--configs", type=int, default=16, help="learning rates (one seed), all on one device")
    parser.add_argument("--epochs", type=int, default=3, help="epochs traced")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--hlo", type=Path, default=None, help="write the optimized epoch program here")
    args = parser.parse_args(argv)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=1"
                               " --xla_cpu_enable_xprof_traceme=true").strip()
    totals, calls, steps = profile(args.batch_size, args.configs, args.epochs, args.hlo)
    step_total = sum(totals.values()) / steps
    print(f"batch {args.batch_size}, {args.configs} configs, {steps} steps traced: "
          f"{step_total:.1f} us per step in the program's operations")
    print(f"{'us/step':>9}  {'share':>5}  {'runs/step':>9}  operation")
    for name, micros in sorted(totals.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{micros / steps:9.1f}  {100 * micros / steps / step_total:4.1f}%  {calls[name] / steps:9.3f}  {name}")
    return 0


def profile(
    batch_size: int, configs: int, epochs: int, hlo: Path | None
) -> tuple[dict[str, float], dict[str, int], int]:
    """(microseconds per operation summed over the traced epochs, its runs, training steps traced)."""
    import jax
    import numpy as np

    import gdlab as gd
    from gdlab.engine import epoch_program as epoch_module

    data = gd.datasets.load("mnist1d")
    grid = {"learning_rate": [float(v) for v in np.geomspace(1e-3, 0.5, configs)], "batch_size": [batch_size],
            "metrics": "running"}
    gd.sweep(gd.models.mlp(), data, epochs=1, **grid)
    if hlo is not None:
        program = next(iter(epoch_module._COMPILED.values()))
        hlo.write_text(program.as_text())
    with tempfile.TemporaryDirectory() as directory:
        with jax.profiler.trace(directory):
            result = gd.sweep(gd.models.mlp(), data, epochs=epochs, **grid)
        events = _events(directory)
    totals, calls = _program_operations(events)
    steps = int(result.groups[0].config["steps_per_epoch"]) * epochs
    return totals, calls, steps


def _events(directory: str) -> list[dict[str, Any]]:
    path = next(Path(directory).rglob("*.trace.json.gz"))
    with gzip.open(path) as f:
        trace: dict[str, Any] = json.load(f)
    return [e for e in trace["traceEvents"] if e.get("ph") == "X"]


def _program_operations(events: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, int]]:
    """Microseconds and runs per XLA operation: the events XLA's thunks emit, not JAX's Python-side
    ones (those carry a "$" file marker) or the executor's and control flow's wrappers."""
    totals: dict[str, float] = collections.defaultdict(float)
    calls: collections.Counter[str] = collections.Counter()
    for e in events:
        name = e["name"]
        if name.startswith(("$", "while", "cond", "call")) or "Execute" in name:
            continue
        if any(ch in name for ch in " :(/"):
            continue
        totals[name] += float(e["dur"])
        calls[name] += 1
    return totals, calls


if __name__ == "__main__":
    sys.exit(main())
