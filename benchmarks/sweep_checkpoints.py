"""What a recorded sweep's checkpoints cost: one checkpoint of every config, and a sweep with and without them.

``python -m benchmarks.sweep_checkpoints --configs 32 256`` trains the MNIST-1D MLP
(40-100-100-10, batch 128, momentum 0.9: params and a momentum buffer per config)
recorded in a fresh database, once with a checkpoint after every epoch
(``checkpoint_seconds=0``) and once with none, and prints per config count the
seconds of each checkpoint (reading the states from the device, packing and
writing them), the seconds per epoch of both sweeps and the database sizes.
The recorder's own rule (store/sweep_recorder.checkpoint_due) keeps checkpoints
to at most a tenth of a sweep's time whatever they cost.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import gdlab as gd
from gdlab.store import sweep_recorder

EPOCHS = 5


def measure(configs: int, folder: Path) -> dict[str, Any]:
    """One count of configs: checkpoint seconds, and the sweep's seconds per epoch with and without them."""
    data = gd.datasets.load("mnist1d")
    model = gd.models.mlp(hidden=(100, 100))
    grid = {"learning_rate": gd.logspace(1e-3, 1.0, configs), "batch_size": [128], "momentum": [0.9], "seeds": 1}
    gd.sweep(model, data, **grid, epochs=1)  # compiled once, outside the timings
    costs: list[float] = []
    original = sweep_recorder.SweepRecorder._checkpoint

    def timed(self: Any, epoch: int, snapshot: Any) -> None:
        start = time.perf_counter()
        original(self, epoch, snapshot)
        costs.append(time.perf_counter() - start)

    out: dict[str, Any] = {"configs": configs}
    for label, seconds in (("none", 1e12), ("every_epoch", 0.0)):
        path = folder / f"{configs}-{label}.db"
        sweep_recorder.SweepRecorder._checkpoint = timed
        try:
            with gd.store.open(path) as store:
                start = time.perf_counter()
                gd.sweep(model, data, **grid, epochs=EPOCHS,
                         record=store.sweep_recorder(checkpoint_seconds=seconds))
                out[f"seconds_per_epoch_{label}"] = (time.perf_counter() - start) / EPOCHS
        finally:
            sweep_recorder.SweepRecorder._checkpoint = original
        out[f"db_mb_{label}"] = path.stat().st_size / 1e6
    out["checkpoints"] = len(costs)
    out["checkpoint_seconds_median"] = statistics.median(costs)
    out["ms_per_config"] = 1000 * out["checkpoint_seconds_median"] / configs
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for configs in args.configs:
            row = measure(configs, Path(folder))
            rows.append(row)
            print(f"{configs:5d} configs: a checkpoint {row['checkpoint_seconds_median']:.3f} s "
                  f"({row['ms_per_config']:.2f} ms per config); per epoch {row['seconds_per_epoch_none']:.2f} s "
                  f"without, {row['seconds_per_epoch_every_epoch']:.2f} s with one every epoch; database "
                  f"{row['db_mb_none']:.1f} MB / {row['db_mb_every_epoch']:.1f} MB", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
