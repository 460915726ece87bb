"""What recording a large sweep costs, and reading it back: the store at thousands of configs.

``python -m benchmarks.sweep_store --configs 1000 10000`` trains a linear model on
``linreg`` (cheap steps, so the store's own work shows) over a grid of learning
rates x 4 seeds for 5 epochs, once without a store and once recorded in a fresh
database (the recorder's defaults), then reads the sweep back
(``store.sweep_result``) and asks its rows and ``best()``. It prints, per count of
configs: both sweeps' seconds, the recording's extra seconds per config-epoch, and
the seconds to read, to build the rows and to find the best config. Then it records
the sweep again with a checkpoint after every epoch, interrupts it after epoch 2
(a KeyboardInterrupt from the recorder, as Ctrl-C would) and times
``gd.store.resume_sweep``: reading every member's checkpoint and metrics, training
the last 3 epochs, recording them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import gdlab as gd
from gdlab.store import sweep_recorder

EPOCHS = 5
SEEDS = 4


def measure(configs: int, folder: Path) -> dict[str, Any]:
    """One count of configs (a multiple of SEEDS): the sweep's seconds with and without a store, reading back."""
    data = gd.datasets.load("linreg")
    model = gd.models.linear()
    grid = {"learning_rate": gd.logspace(1e-4, 0.5, configs // SEEDS), "batch_size": [80], "seeds": SEEDS}
    gd.sweep(model, data, **grid, epochs=1)  # compiled once, outside the timings
    out: dict[str, Any] = {"configs": configs, "epochs": EPOCHS}
    start = time.perf_counter()
    gd.sweep(model, data, **grid, epochs=EPOCHS)
    out["sweep_seconds"] = time.perf_counter() - start
    path = folder / f"{configs}.db"
    with gd.store.open(path) as store:
        start = time.perf_counter()
        gd.sweep(model, data, **grid, epochs=EPOCHS, record=store)
        out["recorded_sweep_seconds"] = time.perf_counter() - start
        sweep_id = store.last_sweep_id
    out["record_us_per_config_epoch"] = 1e6 * (out["recorded_sweep_seconds"] - out["sweep_seconds"]) / (
        configs * EPOCHS)
    with gd.store.open(path) as store:
        start = time.perf_counter()
        result, _ = store.sweep_result(sweep_id)
        out["read_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    rows = result.rows
    out["rows_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    result.best("final_train_loss")
    out["best_seconds"] = time.perf_counter() - start
    assert len(rows) == configs
    out["db_mb"] = path.stat().st_size / 1e6
    out["resume_seconds"] = _resume(model, data, grid, folder / f"{configs}-resumed.db")
    return out


def _resume(model: Any, data: Any, grid: dict[str, Any], path: Path) -> float:
    """Seconds of resume_sweep on the sweep interrupted after epoch 2 (a checkpoint after every epoch)."""
    original = sweep_recorder.SweepRecorder.sweep_epoch

    def interrupted(self: Any, epoch: Any) -> None:
        original(self, epoch)
        if epoch.epoch == 2:
            raise KeyboardInterrupt

    sweep_recorder.SweepRecorder.sweep_epoch = interrupted
    try:
        with gd.store.open(path) as store:
            gd.sweep(model, data, **grid, epochs=EPOCHS, record=store.sweep_recorder(checkpoint_seconds=0))
    except KeyboardInterrupt:
        pass
    finally:
        sweep_recorder.SweepRecorder.sweep_epoch = original
    with gd.store.open(path) as store:
        [sweep] = store.sweeps()
        assert sweep.status == "interrupted"
        start = time.perf_counter()
        result = gd.store.resume_sweep(sweep.id, store, model, data)
        seconds = time.perf_counter() - start
    assert {row["epochs_run"] for row in result.rows} == {EPOCHS}
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the databases in this folder (e.g. for gdlab report); default: a temporary one")
    args = parser.parse_args()
    results = []
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    with contextlib.nullcontext(str(args.keep)) if args.keep else tempfile.TemporaryDirectory() as folder:
        for configs in args.configs:
            results.append(measure(configs, Path(folder)))
            r = results[-1]
            print(f"{configs:>6} configs x {EPOCHS} epochs: sweep {r['sweep_seconds']:.2f} s, recorded "
                  f"{r['recorded_sweep_seconds']:.2f} s ({r['record_us_per_config_epoch']:.0f} us per config-epoch), "
                  f"read back {r['read_seconds']:.2f} s, rows {r['rows_seconds']:.2f} s, best {r['best_seconds']:.2f} s, "
                  f"database {r['db_mb']:.1f} MB; resumed after epoch 2 in {r['resume_seconds']:.2f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
