"""The careful rerun of a sweep epoch covers only the pairs where a config went non-finite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import gdlab as gd
import gdlab.engine.sweep_careful as careful_module

MODEL = gd.models.mlp(hidden=(24,))
GRID = {"learning_rate": [0.05, 1e4, 0.1, 3e4], "batch_size": [50], "seeds": [0, 1], "epochs": 2}


@pytest.fixture(scope="module")
def small(mnist1d: gd.Dataset) -> gd.Dataset:
    return gd.datasets.from_arrays(mnist1d.x_train[:600], mnist1d.y_train[:600], test_fraction=0.25, seed=1)


def test_only_the_diverging_pairs_rerun_and_every_config_equals_its_fit(small, monkeypatch) -> None:
    shapes = []
    real = careful_module.compiled_epoch

    def recording(spec, *args, configs=0):
        shapes.append(np.shape(args[5]))  # active: (seeds, pairs) of the careful program
        return real(spec, *args, configs=configs)

    monkeypatch.setattr(careful_module, "compiled_epoch", recording)
    result = gd.sweep(MODEL, small, **GRID)
    assert shapes == [(2, 1), (2, 1)]  # pairs 1e4 and 3e4, one at a time (one device), not all 4 pairs
    assert sorted({(r["learning_rate"], r["status"]) for r in result.rows}) == [
        (0.05, "max_epochs"), (0.1, "max_epochs"), (1e4, "diverged"), (3e4, "diverged")]
    for k, row in enumerate(result.rows):
        alone = gd.fit(MODEL, small, gd.sgd(row["learning_rate"]), batch_size=50, epochs=2, seed=row["seed"])
        run = result.run(k)
        assert (run.status, run.epochs_run, run.steps_run) == (alone.status, alone.epochs_run, alone.steps_run)
        if run.status == "diverged":  # the same step; the loss there rounds apart (weights of 1e16)
            assert run.reason.split(" (loss")[0] == alone.reason.split(" (loss")[0]
            assert run.reason.split("at epoch")[1] == alone.reason.split("at epoch")[1]
        else:
            assert run.reason == alone.reason
        if run.status == "diverged":  # the same bad step (steps_run); weights of 1e16 round apart
            assert all(np.isfinite(np.asarray(a)).all() for a in jax.tree.leaves(run.params))
            continue
        for a, b in zip(jax.tree.leaves(run.params), jax.tree.leaves(alone.params), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-5)
        np.testing.assert_allclose(run.history["train_loss"], alone.history["train_loss"], rtol=2e-5)


def test_on_two_devices_the_rerun_gives_the_one_device_rows(small, data_cache) -> None:
    script = textwrap.dedent("""
        import json, sys
        import gdlab as gd
        import gdlab.engine.sweep_careful as careful_module
        d = gd.datasets.load("mnist1d", cache_path=sys.argv[1])
        small = gd.datasets.from_arrays(d.x_train[:600], d.y_train[:600], test_fraction=0.25, seed=1)
        shapes, real = [], careful_module.compiled_epoch
        def recording(spec, *args, configs=0):
            shapes.append(list(args[5].shape))
            return real(spec, *args, configs=configs)
        careful_module.compiled_epoch = recording
        grid = dict(learning_rate=[0.05, 1e4, 0.1, 3e4], batch_size=[50], seeds=[0, 1], epochs=2)
        r = gd.sweep(gd.models.mlp(hidden=(24,)), small, **grid)
        print(json.dumps({"shapes": shapes, "rows": [[x["status"], x["reason"], x["final_train_loss"]] for x in r.rows]}))
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = subprocess.run([sys.executable, "-c", script, str(data_cache)], env=env, capture_output=True,
                         text=True, check=True, timeout=300)
    sharded = json.loads(out.stdout.strip().splitlines()[-1])
    assert sharded["shapes"] == [[2, 2]]  # both diverging pairs at once, one per device
    local = gd.sweep(MODEL, small, **GRID)
    for (status, reason, loss), row in zip(sharded["rows"], local.rows, strict=True):
        assert (status, reason) == (row["status"], row["reason"])
        np.testing.assert_allclose(loss, row["final_train_loss"], rtol=1e-5)


def test_compiling_the_careful_program_is_left_out_of_epoch_and_wall_time(small, monkeypatch) -> None:
    """A diverging rate made its variant's seconds per epoch ~85x too large in gdlab compare: the epoch that
    reran careful counted the careful program's compile. Here that compile is made to take 100 s (a clock
    moved on by 100 s, and compiled_epoch reporting them)."""
    import time

    import gdlab.engine.loop as loop_module

    offset = [0.0]
    clock = time.perf_counter
    monkeypatch.setattr(time, "perf_counter", lambda: clock() + offset[0])

    def slow(real):
        def compiled(spec, *args, **kwargs):
            program, seconds = real(spec, *args, **kwargs)
            if not spec.careful:
                return program, seconds
            offset[0] += 100.0
            return program, seconds + 100.0
        return compiled

    monkeypatch.setattr(careful_module, "compiled_epoch", slow(careful_module.compiled_epoch))
    monkeypatch.setattr(loop_module, "compiled_epoch", slow(loop_module.compiled_epoch))
    result = gd.sweep(MODEL, small, **GRID)
    assert {r["status"] for r in result.rows} == {"max_epochs", "diverged"} and offset[0] >= 100.0
    for k, row in enumerate(result.rows):
        history = result.run(k).history
        assert row["seconds"] < 50 and max(history["epoch_time"]) < 50 and max(history["wall_time"]) < 50, row
    offset[0] = 0.0
    alone = gd.fit(MODEL, small, gd.sgd(1e4), batch_size=50, epochs=2)
    assert alone.status == "diverged" and offset[0] == 100.0 and alone.compile_seconds >= 100.0
    assert max(alone.history["epoch_time"]) < 50 and max(alone.history["wall_time"]) < 50
    assert alone.train_seconds < 50
