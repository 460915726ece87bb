"""The run store: records equal the run, exact resume, migrations, faults, and a hypothesis round trip."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import gdlab as gd
import gdlab.store.recorder
from gdlab.store.checkpoints import pack, unpack
from gdlab.store.processes import this_process
from gdlab.store.schema import APPLICATION_ID, CURRENT_VERSION

FIXTURES = Path(__file__).parent / "fixtures"
TIMES = ("epoch_time", "wall_time")  # the only metrics that differ between equal runs
KW = {"batch_size": 50, "epochs": 8, "seed": 3}


@pytest.fixture(scope="module")
def data() -> gd.Dataset:
    return gd.datasets.load("linreg")


def _rule() -> gd.UpdateRule:
    return gd.sgd(gd.schedules.cosine(0.05, 200), momentum=0.5)


def _stop() -> gd.stop.StopRule:
    return gd.stop.plateau(tol=1e-3, patience=3) | gd.stop.early_stopping("test_loss", 20)


def _reduce() -> gd.schedules.ReduceOnPlateau:
    return gd.schedules.reduce_on_plateau(factor=0.5, patience=0, threshold=0.05)


def _assert_same_run(a: gd.Result, b: gd.Result) -> None:
    assert (a.status, a.reason, a.epochs_run, a.steps_run) == (b.status, b.reason, b.epochs_run, b.steps_run)
    for x, y in zip(jax.tree.leaves((a.params, a.opt_state)), jax.tree.leaves((b.params, b.opt_state)), strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.history.keys() == b.history.keys()
    for name in a.history.keys() - set(TIMES):
        np.testing.assert_array_equal(a.history[name], b.history[name])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- recording ---------------------------------------------------------------------------------


def test_a_recorded_run_holds_its_config_every_epoch_and_the_final_checkpoint(tmp_path, data) -> None:
    with gd.store.open(tmp_path / "runs.db") as store:
        result = gd.fit(gd.models.linear(), data, _rule(), record=store, **KW)
        run = store.run(store.last_run_id)
        history = store.history(run.id)
        stored = store.checkpoint(run.id)
    assert (run.status, run.reason, run.epochs_run, run.steps_run) == (
        result.status, result.reason, result.epochs_run, result.steps_run)
    assert (run.dataset, run.model, run.seed, run.epochs) == ("linreg", "linear", 3, 8)
    assert run.dataset_fingerprint == data.fingerprint() == run.config["dataset_fingerprint"]
    assert run.config["batch_size"] == 50 and run.config["steps_per_epoch"] == 16
    assert run.config["rule"]["momentum"] == 0.5
    assert (run.gdlab_version, run.jax_version) == (gd.__version__, jax.__version__)
    assert run.device.startswith(jax.devices()[0].device_kind)
    assert (run.pid, run.host) == this_process()[:2]
    assert list(history) == list(result.history)  # names in the order fit gave them
    for name in result.history:
        np.testing.assert_array_equal(history[name], result.history[name])  # every metric, exactly
    assert stored is not None and stored.epoch == result.epochs_run
    for got, want in zip(stored.leaves["params"], jax.tree.leaves(result.params), strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(stored.leaves["opt_state"], jax.tree.leaves(result.opt_state), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_recorder_from_the_store_sets_its_last_run_and_sweep_ids(tmp_path, data) -> None:
    model, kw = gd.models.linear(), {"batch_size": 50, "epochs": 2}
    with gd.store.open(tmp_path / "runs.db") as store:
        gd.fit(model, data, gd.sgd(0.1), record=store, **kw)
        first = store.last_run_id
        recorder = store.recorder(checkpoint_every=5)
        gd.fit(model, data, gd.sgd(0.1), record=recorder, **kw)
        assert store.last_run_id == recorder.run_id != first
        sweeper = store.sweep_recorder(checkpoint_seconds=0)
        gd.sweep(model, data, learning_rate=[0.1], seeds=[0], record=sweeper, **kw)
        assert store.last_sweep_id == sweeper.sweep_id
        assert store.sweep(store.last_sweep_id).id == sweeper.sweep_id


def test_a_missing_id_is_a_type_error_naming_the_parameter(tmp_path) -> None:
    with gd.store.open(tmp_path / "runs.db") as store:
        assert store.last_run_id is None and store.last_sweep_id is None
        with pytest.raises(TypeError, match="sweep_id must be a sweep id string; got None"):
            store.sweep(store.last_sweep_id)
        with pytest.raises(TypeError, match="run_id must be a run id string; got 123"):
            store.run(123)
        with pytest.raises(TypeError, match="run_id must be a run id string; got None"):
            store.history(store.last_run_id)
        with pytest.raises(TypeError, match="record_id must be a run id string; got None"):
            store.find(None)


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_error_raised_by_the_callback_keeps_the_epoch_it_was_called_after(tmp_path, data, error) -> None:
    def stop_at_two(epoch: int, metrics: dict[str, float]) -> None:
        if epoch == 2:
            raise error("from the callback")

    with gd.store.open(tmp_path / "runs.db") as store:
        with pytest.raises(error):
            gd.fit(gd.models.linear(), data, gd.sgd(0.05), record=store, callback=stop_at_two,
                   batch_size=50, epochs=5)
        run = store.run(store.last_run_id)
        assert run.epochs_run == 2 and run.reason.endswith("after epoch 2")
        assert len(store.history(run.id)["train_loss"]) == 2
        assert store.checkpoint(run.id).epoch == 2


def test_checkpoints_come_every_n_epochs_and_at_the_end_and_only_the_latest_is_kept(tmp_path, data) -> None:
    store = gd.store.open(tmp_path / "runs.db")
    recorder = store.recorder(checkpoint_every=3)
    seen = []

    def look(checkpoint: gd.Checkpoint) -> None:  # runs after the recorder committed the epoch
        rows = store.connection.execute("SELECT epoch FROM checkpoints WHERE run_id = ?", (recorder.run_id,))
        seen.append((checkpoint.epoch, [r[0] for r in rows]))

    gd.fit(gd.models.linear(), data, _rule(), record=recorder, on_epoch=look, batch_size=50, epochs=7)
    assert seen == [(1, []), (2, []), (3, [3]), (4, [3]), (5, [3]), (6, [6]), (7, [6])]
    assert store.checkpoint(recorder.run_id).epoch == 7  # the end saves the last epoch
    with pytest.raises(ValueError, match=r"checkpoint_every must be an integer in \[1, inf\]; got 0"):
        store.recorder(checkpoint_every=0)


def test_a_diverged_run_records_the_epoch_that_diverged(tmp_path, data) -> None:
    with gd.store.open(tmp_path / "runs.db") as store:
        result = gd.fit(gd.models.linear(), data, gd.sgd(5.0), record=store, batch_size=50, epochs=5)
        run, history = store.run(store.last_run_id), store.history(store.last_run_id)
    assert result.status == run.status == "diverged" and run.reason == result.reason
    assert run.epochs_run == result.epochs_run == len(history["train_loss"])
    np.testing.assert_array_equal(history["train_loss"], result.history["train_loss"])


def test_a_run_that_diverges_in_its_first_epoch_records_its_initial_loss(tmp_path, data) -> None:
    """The loss before any update is known when epoch 1 blows up (no epoch is recorded before the end)."""
    settings = {"batch_size": 1, "epochs": 3, "seed": 3, "check_stability": False}
    with gd.store.open(tmp_path / "runs.db") as store:
        blown = gd.fit(gd.models.linear(), data, gd.sgd(1e3), record=store, **settings)
        blown_run = store.run(store.last_run_id)
        calm = gd.fit(gd.models.linear(), data, gd.sgd(1e-3), record=store, **settings)  # same seed: same params
        calm_run = store.run(store.last_run_id)
    assert (blown.status, blown.epochs_run) == ("diverged", 1) and "non-finite" in blown.reason
    assert calm.status == "max_epochs" and calm_run.initial_loss is not None
    assert blown_run.initial_loss == blown.initial_loss == calm_run.initial_loss == calm.initial_loss > 0


@pytest.mark.parametrize(("error", "status", "said"), [
    (KeyboardInterrupt(), "interrupted", "interrupted: Ctrl-C"),  # it said "interrupted: KeyboardInterrupt"
    (KeyboardInterrupt("stopped from the lab"), "interrupted", "interrupted: stopped from the lab"),
    (SystemExit(3), "interrupted", "interrupted: the program exited (code 3)"),
    (SystemExit(), "interrupted", "interrupted: the program exited (code 0)"),  # it said "(code None)"
    (SystemExit("disk is full\nmore"), "interrupted", "interrupted: the program exited (disk is full)"),  # one line
    (RuntimeError("disk on fire"), "failed", "failed: RuntimeError: disk on fire"),
])
def test_an_exception_inside_fit_marks_the_run_and_saves_its_last_epoch(tmp_path, data, error, status, said) -> None:
    store = gd.store.open(tmp_path / "runs.db")
    recorder = store.recorder(checkpoint_every=10)

    def stop_at_4(checkpoint: gd.Checkpoint) -> None:
        if checkpoint.epoch == 4:
            raise error

    with pytest.raises(type(error)):
        gd.fit(gd.models.linear(), data, _rule(), record=recorder, on_epoch=stop_at_4, **KW)
    run = store.run(recorder.run_id)
    assert (run.status, run.epochs_run) == (status, 4)
    assert run.reason == f"{said} after epoch 4"
    assert store.checkpoint(run.id).epoch == 4  # not due (every 10), saved because the run stopped


def test_ctrl_c_while_a_checkpoint_is_packed_is_an_interrupt_and_leaves_no_checkpoint(
    tmp_path, data, monkeypatch
) -> None:
    """A Ctrl-C inside the first checkpoint's packing (the epoch's transaction is open) ends the run as
    interrupted, with neither that epoch nor a checkpoint half written (the CLI once said "error: Can't
    close the ZIP file" over it, when checkpoints were zip files)."""

    def interrupted(checkpoint: gd.Checkpoint) -> tuple[bytes, str, str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(gdlab.store.recorder, "pack", interrupted)
    store = gd.store.open(tmp_path / "runs.db")
    recorder = store.recorder(checkpoint_every=1)
    with pytest.raises(KeyboardInterrupt):
        gd.fit(gd.models.linear(), data, _rule(), record=recorder, **KW)
    run = store.run(recorder.run_id)
    assert run.status == "interrupted" and run.reason == "interrupted: Ctrl-C after epoch 0"
    assert store.checkpoint(run.id) is None and store.history(run.id) == {}


# --- resume ------------------------------------------------------------------------------------


def test_resume_after_a_crash_ends_exactly_as_the_uninterrupted_run(tmp_path, data) -> None:
    """A crash after epoch 5 with checkpoints every 3: resume replays 4 and 5 and ends the same."""
    model, kwargs = gd.models.linear(), dict(stop=_stop(), reduce_lr=_reduce(), **KW)
    whole = gd.fit(model, data, _rule(), **kwargs)
    assert whole.epochs_run == 7 and whole.status == "converged"  # plateau fired after the crash epoch
    assert whole.best_epoch == 3 and len(set(whole.history["learning_rate"])) > 2  # restore_best, reduce_lr acted
    store = gd.store.open(tmp_path / "runs.db")
    crashed = store.recorder(checkpoint_every=3)
    crashed.fail = lambda error: None  # type: ignore[method-assign]  # a crash records nothing more
    with pytest.raises(KeyboardInterrupt):
        gd.fit(model, data, _rule(), record=crashed, on_epoch=_interrupt_at(5), **kwargs)
    store.connection.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (crashed.run_id,))
    assert store.checkpoint(crashed.run_id).epoch == 3 and len(store.history(crashed.run_id)["train_loss"]) == 5
    again = gd.resume(crashed.run_id, store, model, data, _rule(), stop=_stop(), reduce_lr=_reduce())
    _assert_same_run(again, whole)
    run = store.run(crashed.run_id)
    assert (run.status, run.reason, run.epochs_run, run.resumed) == (whole.status, whole.reason, 7, 1)
    history = store.history(run.id)
    for name in whole.history.keys() - set(TIMES):
        np.testing.assert_array_equal(history[name], whole.history[name])
    final = store.checkpoint(run.id)
    assert (final.epoch, final.best_epoch) == (7, 3)
    for got, want in zip(final.leaves["best_params"], jax.tree.leaves(whole.params), strict=True):
        np.testing.assert_array_equal(got, want)  # the params fit returned: the best epoch's
    for got, want in zip(final.leaves["opt_state"], jax.tree.leaves(whole.opt_state), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_run_that_crashed_before_its_first_checkpoint_resumes_from_the_start(tmp_path, data) -> None:
    whole = gd.fit(gd.models.linear(), data, _rule(), **KW)
    store = gd.store.open(tmp_path / "runs.db")
    crashed = store.recorder(checkpoint_every=5)
    crashed.fail = lambda error: None  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        gd.fit(gd.models.linear(), data, _rule(), record=crashed, on_epoch=_interrupt_at(2), **KW)
    store.connection.execute("UPDATE runs SET status = 'failed' WHERE id = ?", (crashed.run_id,))
    assert store.checkpoint(crashed.run_id) is None and len(store.history(crashed.run_id)["train_loss"]) == 2
    _assert_same_run(gd.resume(crashed.run_id, store, gd.models.linear(), data, _rule()), whole)
    history = store.history(crashed.run_id)
    np.testing.assert_array_equal(history["train_loss"], whole.history["train_loss"])


def test_resume_refuses_other_settings_other_data_and_finished_runs(tmp_path, data) -> None:
    store = gd.store.open(tmp_path / "runs.db")
    recorder = store.recorder()
    with pytest.raises(KeyboardInterrupt):
        gd.fit(gd.models.linear(), data, _rule(), record=recorder, on_epoch=_interrupt_at(2), **KW)
    run_id = recorder.run_id
    with pytest.raises(gd.store.StoreError, match=r"rule must be the run's to resume run \w+: its learning_rate was \["):
        gd.resume(run_id, store, gd.models.linear(), data, gd.sgd(gd.schedules.cosine(0.07, 200), momentum=0.5))
    with pytest.raises(gd.store.StoreError, match="epochs must be the run's"):
        gd.resume(run_id, store, gd.models.linear(), data, _rule(), epochs=9)
    other = gd.datasets.load("linreg", seed=1)
    with pytest.raises(gd.store.StoreError, match=r"data must be the data set run \w+ was trained on \(linreg"):
        gd.resume(run_id, store, gd.models.linear(), other, _rule())
    assert store.run(run_id).status == "interrupted"  # a refused resume changes nothing
    gd.resume(run_id, store, gd.models.linear(), data, _rule())
    with pytest.raises(gd.store.StoreError, match=r"has finished \(max_epochs\); there is nothing to resume"):
        gd.resume(run_id, store, gd.models.linear(), data, _rule())


def _sgd(*args, **kwargs):
    return lambda: gd.sgd(*args, **kwargs)


RECORDED_AND_GIVEN = {  # what a run was recorded with, what a resume gives instead, the message
    "nesterov": ({"rule": _sgd(0.1, momentum=0.9)}, {"rule": _sgd(0.1, momentum=0.9, nesterov=True)},
                 "rule must be the run's to resume run \\w+: its nesterov was false; got true."),
    "schedule kind": ({"rule": _sgd(gd.schedules.cosine(0.1, 40, 0.05))}, {"rule": _sgd(gd.schedules.step(0.1, 40, 0.05))},
                      "rule must be the run's .*: its schedule was \"cosine\\(restarts=False\\)\"; got \"step\"."),
    "reduce_lr left out": ({"reduce_lr": lambda: gd.schedules.reduce_on_plateau(0.5, patience=0)}, {},
                           "reduce_lr must be the run's .*: it was \\{\"factor\": 0.5, .*\\}; got null."),
    "stop settings": ({"stop": lambda: gd.stop.plateau(1e-2, 2)}, {"stop": lambda: gd.stop.plateau(1e-9, 20)},
                      ("stop must be the run's .*: it was \"plateau\\(tol=0.01, patience=2\\) \\| diverged\\(factor=100.0\\)\"; "
                      "got \"plateau\\(tol=1e-09, patience=20\\)")),
    "track_sharpness added": ({}, {"track_sharpness": lambda: 1}, "track_sharpness must be the run's .*: it was 0; got 1."),
}


@pytest.mark.filterwarnings("ignore::gdlab.ConvergenceWarning")  # the budget ends some of these runs
@pytest.mark.parametrize("case", RECORDED_AND_GIVEN)
def test_resume_refuses_any_setting_that_changes_the_run_and_the_recorded_ones_end_as_the_uninterrupted_run(
    tmp_path, case
) -> None:
    """Not only a rule's numbers: its flags and schedule kind, reduce_lr, the stop rules' settings and
    track_sharpness are recorded and checked; the recorded arguments still end bit for bit as the whole run."""
    data = gd.datasets.load("linreg", n=64, features=3, noise=0.5, seed=0)
    recorded, given, message = RECORDED_AND_GIVEN[case]

    def arguments(which: dict) -> dict:
        made = {key: make() for key, make in which.items()}
        return {"rule": gd.sgd(0.1), **made}

    whole = gd.fit(gd.models.linear(), data, **arguments(recorded), epochs=8)
    store = gd.store.open(tmp_path / "runs.db")
    with pytest.raises(KeyboardInterrupt):
        gd.fit(gd.models.linear(), data, **arguments(recorded), epochs=8, record=store, on_epoch=_interrupt_at(3))
    run_id = store.last_run_id
    args = arguments(given)
    with pytest.raises(gd.store.StoreError, match=message):
        gd.resume(run_id, store, gd.models.linear(), data, args.pop("rule"), **args)
    assert store.run(run_id).status == "interrupted"  # a refused resume changes nothing
    args = arguments(recorded)
    _assert_same_run(gd.resume(run_id, store, gd.models.linear(), data, args.pop("rule"), **args), whole)


@pytest.mark.filterwarnings("ignore::gdlab.ConvergenceWarning")  # the budget ends some of these runs
def test_a_run_recorded_before_rule_settings_stop_settings_and_reduce_lr_were_kept_still_resumes(tmp_path, data) -> None:
    store = gd.store.open(tmp_path / "runs.db")
    with pytest.raises(KeyboardInterrupt):
        gd.fit(gd.models.linear(), data, _rule(), record=store, on_epoch=_interrupt_at(2), stop=_stop(), **KW)
    run_id = store.last_run_id
    config = store.run(run_id).config
    for key in ("stop_rule", "reduce_lr", "track_sharpness"):
        del config[key]
    for key in ("kind", "nesterov", "velocity", "schedule"):
        del config["rule"][key]
    store.connection.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config), run_id))
    with pytest.raises(gd.store.StoreError, match="its learning_rate was"):  # the numbers are still checked
        gd.resume(run_id, store, gd.models.linear(), data, gd.sgd(gd.schedules.cosine(0.07, 200), momentum=0.5))
    whole = gd.fit(gd.models.linear(), data, _rule(), stop=_stop(), **KW)
    _assert_same_run(gd.resume(run_id, store, gd.models.linear(), data, _rule(), stop=_stop()), whole)


def _interrupt_at(epoch: int):
    def hook(checkpoint: gd.Checkpoint) -> None:
        if checkpoint.epoch == epoch:
            raise KeyboardInterrupt

    return hook


def test_a_corrupted_checkpoint_is_a_clear_error_and_nothing_is_overwritten(tmp_path, data) -> None:
    path = tmp_path / "runs.db"
    store = gd.store.open(path)
    recorder = store.recorder()
    with pytest.raises(KeyboardInterrupt):
        gd.fit(gd.models.linear(), data, _rule(), record=recorder, on_epoch=_interrupt_at(3), **KW)
    blob = store.connection.execute("SELECT blob FROM checkpoints").fetchone()[0]
    flipped = blob[:100] + bytes([blob[100] ^ 1]) + blob[101:]
    store.connection.execute("UPDATE checkpoints SET blob = ?", (flipped,))
    message = f"checkpoint of run {recorder.run_id} at epoch 3 is corrupted: its SHA-256 does not match"
    with pytest.raises(gd.store.StoreError, match=message):
        store.checkpoint(recorder.run_id)
    with pytest.raises(gd.store.StoreError, match=message):
        gd.resume(recorder.run_id, store, gd.models.linear(), data, _rule())
    assert store.connection.execute("SELECT blob FROM checkpoints").fetchone()[0] == flipped
    assert store.run(recorder.run_id).status == "interrupted"


@pytest.mark.parametrize(
    ("config", "why"),
    [("{cut sho", r"run \w+'s config is not JSON \(Expecting"),
     ("null", r"run \w+'s config must be a JSON object; got None")],
)
def test_a_damaged_config_is_a_store_error_naming_the_run(tmp_path, data, config: str, why: str) -> None:
    """It was json's bare 'Expecting property name ...' or an AttributeError traceback in gdlab runs list."""
    store = gd.store.open(tmp_path / "runs.db")
    gd.fit(gd.models.linear(), data, _rule(), record=store, **KW)
    store.connection.execute("UPDATE runs SET config = ?", (config,))
    for read in (store.runs, lambda: store.run(store.last_run_id)):
        with pytest.raises(gd.store.StoreError, match=rf"^the database is damaged: {why}"):
            read()
    store.close()


def test_a_checkpoint_that_does_not_fit_the_model_is_refused(tmp_path, data) -> None:
    store = gd.store.open(tmp_path / "runs.db")
    recorder = store.recorder()
    with pytest.raises(KeyboardInterrupt):
        gd.fit(gd.models.linear(), data, _rule(), record=recorder, on_epoch=_interrupt_at(1), **KW)
    stored = store.checkpoint(recorder.run_id)
    params = {"b": np.zeros(1, np.float32), "w": np.zeros((9, 1), np.float32)}
    with pytest.raises(gd.store.StoreError, match=r"params of run \w+ at epoch 1 must match .*float32\[9, 1\]"):
        gd.store.restore(stored, params, _rule().init(params))


# --- two writers at once ----------------------------------------------------------------------

WRITER = """
import pathlib, sys, time
import gdlab as gd
db, seed, ready = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])

def together(checkpoint):  # after its first epoch, each waits for the other: the rest overlaps
    if checkpoint.epoch == 1:
        (ready / str(seed)).touch()
        deadline = time.monotonic() + 480  # a loaded 2-core CI machine can take minutes to start JAX
        while len(list(ready.iterdir())) < 2:
            assert time.monotonic() < deadline, "the other writer never started"
            time.sleep(0.001)

try:
    store = gd.store.open(db)
    gd.fit(gd.models.linear(), gd.datasets.load("linreg"), gd.sgd(0.01), batch_size=8, epochs=60, seed=seed,
           record=store, on_epoch=together)
except BaseException:
    (ready / f"{seed}-failed").touch()  # the other writer stops waiting: the test fails now, not in 8 min
    raise
print(store.last_run_id)
"""


def test_two_processes_recording_into_one_new_database_at_once_lose_no_rows(tmp_path) -> None:
    path, ready = tmp_path / "shared.db", tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "GDLAB_CACHE_DIR": str(tmp_path / "cache")}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(seed), str(ready)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    outputs = [w.communicate(timeout=600) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], [err for _, err in outputs]
    ids = {out.strip() for out, _ in outputs}
    with gd.store.open(path) as store:
        runs = store.runs()
        assert store.connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        counts = dict(store.connection.execute("SELECT run_id, COUNT(*) FROM metrics GROUP BY run_id").fetchall())
        migrations = store.connection.execute("SELECT version FROM schema_migrations").fetchall()
    assert {r.id for r in runs} == ids and len(ids) == 2
    assert sorted((r.status, r.epochs_run, r.seed) for r in runs) == [("max_epochs", 60, 1), ("max_epochs", 60, 2)]
    assert counts == {run_id: 60 * 6 for run_id in ids}  # every epoch of both, no lost rows
    assert migrations == [(1,), (2,), (3,), (4,), (5,)]  # created and migrated once


def test_threads_opening_one_new_database_at_once_all_open_it(tmp_path) -> None:
    # Opened at once, a new file could be read between another opener's migration steps
    # ("another SQLite database": tables, no application_id yet) or answer "database is
    # locked" to the change to WAL (no busy handler there): two writers' CI failure.
    errors: list[str] = []

    def open_it(path: Path, start: threading.Barrier) -> None:
        start.wait()
        try:
            gd.store.open(path).close()
        except Exception as err:  # noqa: BLE001 - every failure is the test's finding
            errors.append(f"{type(err).__name__}: {err}")

    for attempt in range(40):
        path = tmp_path / f"new{attempt}.db"
        start = threading.Barrier(4)
        openers = [threading.Thread(target=open_it, args=(path, start)) for _ in range(4)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()
        with gd.store.open(path) as store:
            migrations = store.connection.execute("SELECT version FROM schema_migrations").fetchall()
            mode = store.connection.execute("PRAGMA journal_mode").fetchone()[0]
        assert (migrations, mode) == ([(1,), (2,), (3,), (4,), (5,)], "wal")
    assert errors == []


# --- which runs are interrupted ----------------------------------------------------------------


def test_opening_marks_runs_of_dead_processes_interrupted_and_leaves_live_ones(tmp_path) -> None:
    path = tmp_path / "runs.db"
    gd.store.open(path).close()
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead_pid = int(done.stdout)
    me = this_process()
    rows = {
        "dead": (dead_pid, me.host, None),
        "alive": tuple(me),
        "reused": (me.pid, me.host, "1"),  # this pid, but not the process that started the run
        "elsewhere": (dead_pid, "another-host", None),
    }
    conn = sqlite3.connect(path)
    for run_id, (pid, host, start) in rows.items():
        conn.execute(
            "INSERT INTO runs (id, created_at, updated_at, status, config, model, dataset, dataset_fingerprint, "
            "seed, epochs, epochs_run, checkpoint_every, gdlab_version, jax_version, device, pid, host, process_start) "
            "VALUES (?, 't', 't', 'running', '{}', 'm', 'd', 'f', 0, 9, 4, 1, 'g', 'j', 'c', ?, ?, ?)",
            (run_id, pid, host, start),
        )
    conn.commit()
    conn.close()
    with gd.store.open(path) as store:
        status = {run.id: run.status for run in store.runs()}
        reason = store.run("dead").reason
    assert status == {"dead": "interrupted", "alive": "running", "reused": "interrupted", "elsewhere": "running"}
    assert reason == (f"interrupted: its process (pid {dead_pid} on {me.host}) ended after epoch 4; "
                      "gd.resume('dead', store, model, data, rule) starts it again (no checkpoint was saved)")


@pytest.mark.parametrize(("db", "option"), [("runs.db", " --db runs.db"), ("gdlab.db", "")])
def test_a_dead_runs_reason_names_its_database_and_a_checkpoint_only_where_one_was_saved(
        tmp_path, data, monkeypatch, db, option) -> None:
    """The hint was 'gdlab resume ID goes on from the last checkpoint' whatever the database (no --db) and
    whether or not a checkpoint was saved; gdlab resume refuses a run recorded from the library (gd.resume)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GDLAB_DB", raising=False)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid, host = int(done.stdout), this_process().host
    with gd.store.open(db) as store:
        ids = []
        for _ in range(3):
            gd.fit(gd.models.linear(), data, _rule(), record=store, batch_size=50, epochs=2)
            ids.append(store.last_run_id)
        cli, cli_unsaved, library = ids
        conn = store.connection
        conn.execute("UPDATE runs SET status = 'running', pid = ?, host = ?, process_start = NULL",
                     (dead_pid, host))
        conn.execute("UPDATE runs SET config = json_set(config, '$.cli', json('{}')) WHERE id IN (?, ?)",
                     (cli, cli_unsaved))
        conn.execute("DELETE FROM checkpoints WHERE run_id = ?", (cli_unsaved,))
    with gd.store.open(db) as store:
        reasons = {run.id: run.reason for run in store.runs()}
    ended = f"interrupted: its process (pid {dead_pid} on {host}) ended after epoch 2; "
    assert reasons == {
        cli: f"{ended}gdlab resume {cli}{option} goes on from its checkpoint of epoch 2",
        cli_unsaved: f"{ended}gdlab resume {cli_unsaved}{option} starts it again (no checkpoint was saved)",
        library: f"{ended}gd.resume('{library}', store, model, data, rule) goes on from its checkpoint of epoch 2",
    }


def test_a_dead_runs_and_sweeps_reason_is_a_call_that_resumes_them_with_their_stop_rule(tmp_path, data) -> None:
    """The reason said gd.resume('ID', store, model, data, rule), which the run refused for its stop rule (as
    'it was ["plateau", "diverged"]; got ["diverged"]': rule names, not the settings to pass); the sweep's said
    gd.store.resume_sweep('ID', store, model, data), refused the same way."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead, host = int(done.stdout), this_process().host
    stop = gd.stop.plateau(1e-3, 2) | gd.stop.time_budget(3600)
    model, rule = gd.models.linear(), gd.sgd(0.01)
    whole = gd.fit(model, data, rule, batch_size=50, epochs=40, stop=stop)
    assert whole.status == "converged"
    with gd.store.open(tmp_path / "runs.db") as store:
        gd.fit(model, data, rule, batch_size=50, epochs=40, stop=stop, record=store)
        run_id = store.last_run_id
        swept = gd.sweep(model, data, learning_rate=[0.01, 0.02], batch_size=[50], epochs=4,
                         stop=gd.stop.grad_norm(1e-9) | gd.stop.time_budget(3600), record=store)
        sweep_id = store.last_sweep_id
        store.connection.execute("UPDATE runs SET status = 'running', pid = ?, host = ?, process_start = NULL",
                                 (dead, host))
        store.connection.execute("UPDATE sweeps SET status = 'running', pid = ?, host = ?, process_start = NULL",
                                 (dead, host))
    with gd.store.open(tmp_path / "runs.db") as store:
        run, sweep = store.run(run_id), store.sweep(sweep_id)
        assert run.reason.endswith(
            f"gd.resume('{run_id}', store, model, data, rule, stop=gd.stop.plateau(tol=0.001, patience=2) | "
            f"gd.stop.time_budget(seconds=3600.0)) goes on from its checkpoint of epoch {whole.epochs_run}")
        with pytest.raises(gd.store.StoreError, match=r'it was "plateau\(tol=0.001, patience=2\) \| time_budget'):
            gd.resume(run_id, store, model, data, rule)  # it named the rules only: ["plateau", ...]
        scope = {"gd": gd, "store": store, "model": model, "data": data, "rule": rule}
        again = eval(run.reason.split("; ", 1)[1].split(" goes on")[0], scope)  # the hint as pasted
        assert (again.status, again.reason) == (whole.status, whole.reason)
        call = f"gd.store.resume_sweep('{sweep_id}', store, model, data, stop=gd.stop.grad_norm(tol=1e-09) | "
        call += "gd.stop.time_budget(seconds=3600.0))"
        assert sweep.reason.endswith(f"; {call} goes on with its unfinished configs")
        assert all(m.reason.endswith(f"; {call} goes on with it") for m in store.members(sweep_id))
        resumed = eval(call, scope)
        np.testing.assert_array_equal([r["final_train_loss"] for r in resumed.rows],
                                      [r["final_train_loss"] for r in swept.rows])


def test_the_resume_hint_writes_a_rule_of_the_users_own_by_its_name_and_resume_takes_the_runs_loss(
        tmp_path) -> None:
    """A StopRule the user made was written gd.stop.<its name>(...), which gd.stop lacks; a run recorded with
    loss="binary_cross_entropy" was refused by the hint's call: 'loss must be the run's ...; got "mse"'."""
    from gdlab.store.hints import stop_argument

    assert stop_argument("my_rule() | plateau(tol=0.1, patience=2) | diverged(factor=100.0)") == \
        ", stop=my_rule() | gd.stop.plateau(tol=0.1, patience=2)"
    assert stop_argument("diverged(factor=1000.0)") == ", stop=gd.stop.diverged(factor=1000.0)"  # not the default
    assert stop_argument("(grad_norm(tol=0.001) & max_epochs(n=3)) | diverged(factor=100.0)") == \
        ", stop=(gd.stop.grad_norm(tol=0.001) & gd.stop.max_epochs(n=3))"
    x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    data = gd.datasets.from_arrays(x, (x[:, 0] > 0).astype(np.float32), task="regression", test_fraction=0)
    model, rule = gd.models.linear(), gd.sgd(0.1)
    whole = gd.fit(model, data, rule, batch_size=10, epochs=4, loss="binary_cross_entropy")
    with gd.store.open(tmp_path / "runs.db") as store:

        def stop_at_2(checkpoint: gd.Checkpoint) -> None:
            if checkpoint.epoch == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            gd.fit(model, data, rule, batch_size=10, epochs=4, loss="binary_cross_entropy", on_epoch=stop_at_2,
                   record=store.recorder(checkpoint_every=1))
        again = gd.resume(store.last_run_id, store, model, data, rule)  # the run's loss, not mse
    np.testing.assert_array_equal(again.history["train_loss"], whole.history["train_loss"])


# --- listing and deleting ----------------------------------------------------------------------


def test_runs_are_listed_newest_first_and_filtered(tmp_path, data) -> None:
    store = gd.store.open(tmp_path / "runs.db")
    ids = []
    for epochs in (1, 2, 3):
        gd.fit(gd.models.linear(), data, _rule(), record=store, batch_size=50, epochs=epochs)
        ids.append(store.last_run_id)
    store.connection.execute("UPDATE runs SET status = 'failed', dataset = 'other' WHERE id = ?", (ids[1],))
    assert [r.id for r in store.runs()] == ids[::-1]
    assert [r.id for r in store.runs(status="failed")] == [ids[1]]
    assert [r.id for r in store.runs(dataset="linreg")] == [ids[2], ids[0]]
    assert [r.id for r in store.runs(since="2000-01-01")] == ids[::-1]
    assert store.runs(since="2999-01-01T00:00") == []
    assert store.run(ids[0][:6]).id == ids[0]  # a unique start of an id is enough
    with pytest.raises(ValueError, match=r"status must be one of \{.*'interrupted'.*\}; got 'runing'"):
        store.runs(status="runing")
    with pytest.raises(ValueError, match="since must be a date or time such as 2025-01-31 .*; got 'yesterday'"):
        store.runs(since="yesterday")


def test_since_at_the_ends_of_the_calendar_is_before_or_after_every_run(tmp_path, data) -> None:
    """A time whose UTC lies before year 1 or after 9999: it was 'year 0 is out of range' or an OverflowError."""
    with gd.store.open(tmp_path / "runs.db") as store:
        gd.fit(gd.models.linear(), data, _rule(), record=store, batch_size=50, epochs=1)
        run_id = store.last_run_id
        for since in ("0001-01-01", "0001-01-01T00:00+05:00"):
            assert [r.id for r in store.runs(since=since)] == [run_id], since
        for since in ("9999-12-31T23:00-05:00", "9999-12-31T23:59:59.999999"):
            assert store.runs(since=since) == [] and store.sweeps(since=since) == [], since


def test_delete_removes_the_run_its_metrics_and_its_checkpoints(tmp_path, data) -> None:
    store = gd.store.open(tmp_path / "runs.db")
    for _ in range(2):
        gd.fit(gd.models.linear(), data, _rule(), record=store, batch_size=50, epochs=2)
    keep, gone = (r.id for r in store.runs())
    store.delete(gone)
    count = {t: dict(store.connection.execute(f"SELECT run_id, COUNT(*) FROM {t} GROUP BY run_id").fetchall())
             for t in ("metrics", "checkpoints")}
    assert [r.id for r in store.runs()] == [keep]
    assert count == {"metrics": {keep: 2 * 6}, "checkpoints": {keep: 1}}  # 6 metrics a linreg epoch
    with pytest.raises(gd.store.StoreError, match=f"run_id must name a run in .*; got '{gone}'"):
        store.run(gone)


def test_an_unknown_or_ambiguous_run_id_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "runs.db"
    store = gd.store.open(path)
    for run_id in ("abc123", "abd456"):
        store.connection.execute(
            "INSERT INTO runs (id, created_at, updated_at, status, config, model, dataset, dataset_fingerprint, "
            "seed, epochs, checkpoint_every, gdlab_version, jax_version, device) "
            "VALUES (?, 't', 't', 'failed', '{}', 'm', 'd', 'f', 0, 1, 1, 'g', 'j', 'c')", (run_id,))
    with pytest.raises(gd.store.StoreError, match=r"run_id 'ab' is the start of 2 runs \(abc123, abd456\); give more of it"):
        store.run("ab")
    with pytest.raises(gd.store.StoreError, match=f"run_id must name a run in '{path}' .*; got 'zzz'"):
        store.run("zzz")
    assert store.run("abd").id == "abd456"
    # members of sweeps, which gdlab runs list leaves out: 'the start of 356 runs' against a list of about 20
    store.connection.execute("UPDATE runs SET kind = 'sweep' WHERE id = 'abd456'")
    with pytest.raises(gd.store.StoreError) as ambiguous:
        store.run("ab")
    assert str(ambiguous.value) == (f"run_id 'ab' is the start of 2 runs (abc123, abd456); give more of it. 1 of them "
                                    f"is a member of sweeps, which gdlab runs list --sweeps --db {path} lists.")


# --- bad places and files ----------------------------------------------------------------------


def test_a_directory_a_missing_folder_or_a_file_as_folder_is_refused(tmp_path) -> None:
    (tmp_path / "a_file").write_text("x")
    cases = {
        tmp_path: "db must be a database file path; got .*, a directory",
        tmp_path / "no" / "runs.db": r"db must be in an existing folder; got .* \(.*/no' is not a folder\)",
        tmp_path / "a_file" / "runs.db": "db must be in an existing folder",
    }
    for path, message in cases.items():
        with pytest.raises(gd.store.StoreError, match=message):
            gd.store.open(path)
    with pytest.raises(gd.store.StoreError, match="db must be an existing gdlab database; .* does not exist"):
        gd.store.open(tmp_path / "new.db", create=False)
    assert not (tmp_path / "new.db").exists()
    with pytest.raises(TypeError, match="path must be a file path"):
        gd.store.open(3)  # type: ignore[arg-type]


def test_create_false_leaves_an_empty_file_as_it_is(tmp_path) -> None:
    """An empty file became a gdlab database (tables made) when opened to read it; to record, it still does."""
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(gd.store.StoreError, match=r"existing gdlab database; .* is an empty file, with no runs"):
        gd.store.open(path, create=False)
    with pytest.raises(gd.store.StoreError, match="is an empty file"):
        gd.store.open(path, create=False, read_only=True)  # it said: schema version 0, needs migrating
    assert path.stat().st_size == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]
    with gd.store.open(path) as store:
        assert store.runs() == []
    with gd.store.open(path, create=False) as store:
        assert store.runs() == []


def test_a_read_only_file_is_refused(tmp_path, monkeypatch) -> None:
    path = tmp_path / "runs.db"
    gd.store.open(path).close()
    path.chmod(0o444)
    if os.geteuid() == 0:  # root may write anyway; ask the check as an ordinary user would
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(path) else real(p, mode))
    with pytest.raises(gd.store.StoreError, match="db must be a writable file; .* is not writable"):
        gd.store.open(path)


def test_files_that_are_not_gdlab_databases_are_refused_and_left_unchanged(tmp_path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 20)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
        conn.execute("INSERT INTO customers VALUES ('ada')")
    conn.close()
    before = {p: _digest(p) for p in (text, other)}
    with pytest.raises(gd.store.StoreError, match="db must be a gdlab database; .*notes.db' is not an SQLite file. Nothing was changed"):
        gd.store.open(text)
    with pytest.raises(gd.store.StoreError, match=r"other.db' is another SQLite database \(tables customers\)"):
        gd.store.open(other)
    assert {p: _digest(p) for p in (text, other)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db", "other.db"]  # no -wal, no -shm


def test_a_database_from_a_newer_gdlab_is_refused_and_left_unchanged(tmp_path) -> None:
    path = tmp_path / "runs.db"
    gd.store.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {CURRENT_VERSION + 5}")
    conn.close()
    before = _digest(path)
    message = (f"has schema version {CURRENT_VERSION + 5}, newer than this gdlab reads "
               f"\\(up to {CURRENT_VERSION}\\); upgrade gdlab to use it. Nothing was changed.")
    with pytest.raises(gd.store.StoreError, match=message):
        gd.store.open(path)
    assert _digest(path) == before


# --- migrations --------------------------------------------------------------------------------


def test_a_version_1_database_is_migrated_to_the_current_schema_keeping_its_records(tmp_path) -> None:
    path = tmp_path / "v1.db"
    shutil.copy(FIXTURES / "v1.db", path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    conn.close()
    with gd.store.open(path) as store:
        conn = store.connection
        assert conn.execute("PRAGMA user_version").fetchone() == (CURRENT_VERSION,) == (5,)
        assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")] == [1, 2, 3, 4, 5]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        runs = store.runs()
        history = store.history("a1a1a1a1")
        stored = store.checkpoint("a1a1a1a1")
        migrated = _schema(conn)
    assert [(r.id, r.status, r.epochs_run, r.resumed, r.seed) for r in runs] == [
        ("b2b2b2b2", "interrupted", 2, 0, 7), ("a1a1a1a1", "max_epochs", 3, 0, 7)]
    assert runs[1].config["rule"] == {"learning_rate": [0.1]}
    np.testing.assert_array_equal(history["train_loss"], [2.5, 1.25, np.nan])
    np.testing.assert_array_equal(history["test_loss"], [3.0, np.inf, 0.5])
    assert stored.epoch == 3 and stored.initial_loss == 2.5
    np.testing.assert_array_equal(stored.leaves["params"][1], np.arange(6, dtype=np.float32).reshape(3, 2))
    np.testing.assert_array_equal(stored.leaves["opt_state"][0], np.array(30, np.int32))
    with gd.store.open(tmp_path / "fresh.db") as fresh:
        assert migrated == _schema(fresh.connection)  # migrating gives the schema a new database has
    assert runs[1].initial_loss is None  # added by migration 3; not known for older runs
    assert runs[1].best_epoch is None  # added by migration 5


def test_a_migrated_version_1_database_records_sweeps_and_finders(tmp_path, data) -> None:
    path = tmp_path / "v1.db"
    shutil.copy(FIXTURES / "v1.db", path)
    with gd.store.open(path) as store:
        gd.sweep(gd.models.linear(), data, learning_rate=[0.1], seeds=2, epochs=2, record=store)
        sweep = store.sweep(store.last_sweep_id)
        found = gd.find_learning_rate(gd.models.linear(), data, batch_size=50, seeds=2, steps=30, validate_epochs=1,
                                      record=store)
        finder = store.last_run_id
        back = store.finder(finder)
        kinds = sorted(run.kind for run in store.runs())
    assert sweep.status == "done" and len(sweep.run_ids) == 2
    assert kinds == ["fit", "fit", "lr_finder", "sweep", "sweep"]
    _assert_same_finder(back, found)


def test_a_version_4_database_is_refused_by_a_gdlab_that_reads_up_to_version_3(tmp_path, monkeypatch) -> None:
    from gdlab.store import schema

    # version 4 changed no table, but a version 3 gdlab cannot read its checkpoints
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path, isolation_level=None)
    schema.migrate(conn, path, up_to=4)  # the database as a version 4 gdlab made it
    conn.close()
    before = _digest(path)
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:3])
    monkeypatch.setattr(schema, "CURRENT_VERSION", 3)
    with pytest.raises(gd.store.StoreError, match=r"has schema version 4, newer than this gdlab reads \(up to 3\)"):
        gd.store.open(path)
    assert _digest(path) == before


def test_a_checkpoint_packs_every_dtype_and_shape_and_a_blob_that_does_not_fit_its_structure_is_refused() -> None:
    import ml_dtypes

    params = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "h": np.array([1.5, -2.0], ml_dtypes.bfloat16),
              "empty": np.zeros((0, 4), np.float64), "flag": np.array(True)}
    state = (np.array(7, np.int32), {"v": np.full((3,), -0.0, np.float64)})
    best = {"w": np.ones((2, 3), np.float16)}
    blob, sha256, structure = pack(gd.Checkpoint(5, params, state, {}, 1.0, best_params=best))
    leaves = unpack(blob, sha256, structure, "test")
    for part, tree in (("params", params), ("opt_state", state), ("best_params", best)):
        expected = jax.tree.leaves(tree)
        assert len(leaves[part]) == len(expected)
        for got, want in zip(leaves[part], expected):
            assert got.shape == want.shape and got.flags.writeable
            np.testing.assert_array_equal(got.view(want.dtype) if got.dtype.kind == "V" else got, want)
            assert (got.dtype == want.dtype) or (got.dtype.kind == "V" and got.dtype.itemsize == want.dtype.itemsize)
    assert np.signbit(leaves["opt_state"][1]).all()  # -0.0 kept
    parts = json.loads(structure)
    for bad, why in ((blob + b"\0", "1 bytes of the blob are not in its arrays"),
                     (blob[:-1], "best_params needs more than the blob's"),
                     (blob, "params lists 4 arrays of its 5 leaves")):
        shape = {**parts, "params": {**parts["params"], "leaves": 5}} if "lists" in why else parts
        with pytest.raises(gd.store.StoreError, match=f"checkpoint of test cannot be read \\({re.escape(why)}"):
            unpack(bad, hashlib.sha256(bad).hexdigest(), json.dumps(shape), "test")


def _assert_same_finder(back: gd.LRFinderResult, found: gd.LRFinderResult) -> None:
    assert (back.suggestion, back.interval, back.validation) == (found.suggestion, found.interval, found.validation)
    assert back.suggestions == found.suggestions
    for a, b in ((back.learning_rates, found.learning_rates), (back.losses, found.losses),
                 (back.raw_losses, found.raw_losses)):
        np.testing.assert_array_equal(a, b)  # NaN where a curve ended, in the same places


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
    return [(name, " ".join(sql.split())) for name, sql in rows]


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path, monkeypatch) -> None:
    path = tmp_path / "v1.db"
    shutil.copy(FIXTURES / "v1.db", path)
    from gdlab.store import schema

    broken = schema.Migration(2, "broken", (schema.V2[0], "CREATE TABLE runs (x)"))
    monkeypatch.setattr(schema, "MIGRATIONS", (schema.MIGRATIONS[0], broken))
    with pytest.raises(gd.store.StoreError, match="table runs already exists"):
        gd.store.open(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
        columns = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
    conn.close()
    assert "resumed" not in columns  # the first statement of the failed migration was rolled back


# --- a round trip of anything a run may report -------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
LONG = st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(1000, 20000))
NAMES = st.text(min_size=1, max_size=20) | LONG


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory):
    with gd.store.open(tmp_path_factory.mktemp("roundtrip") / "runs.db") as store:
        yield store


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    extra=st.dictionaries(NAMES, JSON, max_size=5),
    columns=st.dictionaries(NAMES, st.lists(st.floats(), min_size=3, max_size=3), min_size=1, max_size=4),
    reason=st.text(max_size=200) | LONG,
    epochs=st.integers(1, 3),
)
@example(
    extra={"x" * 5000: [float("nan"), float("inf"), -0.0], "é": {"nested": None}},
    columns={"loss": [-0.0, float("nan"), float("-inf")], "µ" * 10_000: [5e-324, 1e308, 0.0]},
    reason="diverged: ∞", epochs=3,
)
def test_configs_and_metrics_round_trip_through_the_store(shared_store, extra, columns, reason, epochs) -> None:
    """Any JSON config, any float (NaN, inf, -0.0, subnormal), any name (long, unicode) comes back equal."""
    config = {**extra, "model": "m", "dataset": "d", "dataset_fingerprint": "f", "seed": 1, "epochs": 3,
              "steps_per_epoch": 2}
    history = {name: np.array(values[:epochs]) for name, values in columns.items()}
    params, state = {"w": np.arange(3.0)}, (np.int32(5),)
    recorder = shared_store.recorder(checkpoint_every=2)
    recorder.begin(config)
    for epoch in range(1, epochs + 1):
        recorder.epoch(gd.Checkpoint(epoch, params, state, {k: v[:epoch] for k, v in history.items()}, float("nan")))
    recorder.end(gd.Result(params, history, "max_epochs", reason, epochs, 2 * epochs, state, 0.0, 0.0))
    run = shared_store.run(recorder.run_id)
    assert json.dumps(run.config) == json.dumps(config)  # NaN written as NaN on both sides
    assert (run.status, run.reason, run.epochs_run, run.steps_run) == ("max_epochs", reason, epochs, 2 * epochs)
    back = shared_store.history(run.id)
    assert list(back) == list(history)
    for name, values in history.items():
        np.testing.assert_array_equal(back[name], values)  # NaN where NaN
        numbers = ~np.isnan(values)
        np.testing.assert_array_equal(np.signbit(back[name][numbers]), np.signbit(values[numbers]))  # -0.0
    stored = shared_store.checkpoint(run.id)
    assert stored.epoch == epochs and math.isnan(stored.initial_loss)
