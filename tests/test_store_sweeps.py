"""Sweeps and learning-rate finders in the store: records equal the results, kills leave whole epochs, resume."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest

import gdlab as gd
import gdlab.store.processes
import gdlab.store.recorder
import gdlab.store.sweep_recorder
import gdlab.store.sweep_resume
from cli_calls import json_cli, run_cli
from gdlab.core.stopping import describe
from gdlab.engine.setup import seed_keys
from gdlab.engine.sweep_memory import config_bytes, group_copy_bytes
from gdlab.store.checkpoints import StoredCheckpoint, pack, unpack
from gdlab.store.member_checkpoints import member_checkpoint, member_state, member_states
from gdlab.store.recorder import free_run_ids
from gdlab.store.records import histories
from gdlab.store.sweep_recorder import _noted, checkpoint_due

TIMES = ("epoch_time", "wall_time")
MODEL = gd.models.linear()
GRID = {"learning_rate": [0.01, 0.1, 100.0], "batch_size": [50, 100], "seeds": 2, "epochs": 4}
# 100.0 diverges in epoch 1 on linreg; batch_size 50 is 16 updates an epoch


@pytest.fixture(scope="module")
def data() -> gd.Dataset:
    return gd.datasets.load("linreg")


@pytest.fixture(scope="module")
def uninterrupted(data: gd.Dataset) -> gd.SweepResult:
    return gd.sweep(MODEL, data, **GRID)


def _one_pair_per_chunk(data: gd.Dataset) -> int:
    """A memory budget that holds one (learning rate, momentum) pair for 2 seeds: a chunk per pair."""
    params = MODEL.init(jax.random.PRNGKey(0), data.input_shape, data.outputs)
    copies = group_copy_bytes(data, np.float32, 2, 50, 1)  # the seeds' copies of the data: any chunk pays them
    assert copies == group_copy_bytes(data, np.float32, 2, 100, 1)
    budget = copies + 2 * config_bytes(params, 100) + 1
    assert budget < copies + 2 * 2 * config_bytes(params, 50)  # not two pairs of batch size 50
    return budget


def _assert_same_rows(a: gd.SweepResult, b: gd.SweepResult, rtol: float = 0.0) -> None:
    assert len(a) == len(b)
    for k, (x, y) in enumerate(zip(a.rows, b.rows, strict=True)):
        assert x.keys() == y.keys(), k
        for key in x.keys() - {"seconds"}:
            if isinstance(x[key], float):
                np.testing.assert_allclose(x[key], y[key], rtol=rtol, err_msg=f"config {k} {key}")
            else:
                assert x[key] == y[key], (k, key)
        hx, hy = a.run(k).history, b.run(k).history
        assert hx.keys() == hy.keys()
        for name in hx.keys() - set(TIMES):
            np.testing.assert_allclose(hx[name], hy[name], rtol=rtol, err_msg=f"config {k} {name}")


def test_a_recorded_sweep_holds_every_config_with_its_status_and_every_epoch(tmp_path, data, uninterrupted) -> None:
    with gd.store.open(tmp_path / "s.db") as store:
        result = gd.sweep(MODEL, data, **GRID, record=store)
        sweep = store.sweep(store.last_sweep_id)
        members = store.members(sweep.id)
        stored, initial = store.sweep_result(sweep.id)
        kinds = {run.kind for run in store.runs()}
        gd.fit(MODEL, data, gd.sgd(0.1), batch_size=50, epochs=1, seed=1, record=store)
        fit_initial = store.run(store.last_run_id).initial_loss
    _assert_same_rows(result, uninterrupted)  # recording changes nothing
    _assert_same_rows(stored, result)  # and the store gives back exactly what the sweep returned
    assert stored.data_fingerprint == result.data_fingerprint == data.fingerprint()  # a report of it checks the data
    assert (sweep.kind, sweep.status) == ("sweep", "done") and kinds == {"sweep"}
    assert sweep.reason == "done: 4 diverged, 8 max_epochs"
    assert sweep.config["learning_rate"] == [0.01, 0.1, 100.0] and sweep.config["batch_size"] == [50, 100]
    assert set(sweep.results["seconds"]) == {"50", "100"}
    assert [(m.config["batch_size"], m.config["learning_rate"], m.seed) for m in members] == [
        (size, lr, seed) for size in (50, 100) for lr in (0.01, 0.1, 100.0) for seed in (0, 1)]
    assert [m.status for m in members] == [r["status"] for r in result.rows]
    assert [m.epochs_run for m in members] == [r["epochs_run"] for r in result.rows] == [4, 4, 4, 4, 1, 1] * 2
    assert [m.steps_run for m in members] == [r["steps_run"] for r in result.rows]
    assert initial[1] == pytest.approx(fit_initial, rel=1e-6) and initial[0] != initial[1]  # the loss before training
    assert [m.initial_loss for m in members] == pytest.approx([initial[m.seed] for m in members], rel=1e-6)
    assert [r["initial_train_loss"] for r in stored.rows] == [initial[r["seed"]] for r in stored.rows]
    assert members[3].config["steps_per_epoch"] == 16 and members[3].config["loss"] == "mse"


def test_a_sweep_configs_train_seconds_is_its_recorded_wall_time_and_its_row_seconds_its_share(tmp_path, data) -> None:
    """run(k).train_seconds was the group's seconds over its configs while its history's (and its record's)
    wall_time is the clock of the vmapped program that trained it; now train_seconds is that clock at its last
    epoch, as gd.fit's (its last wall_time), live and read back; the share stays in rows' "seconds"."""
    with gd.store.open(tmp_path / "s.db") as store:
        result = gd.sweep(MODEL, data, learning_rate=[0.01, 100.0], batch_size=[50], seeds=2, epochs=4, record=store)
        members = store.members(str(store.last_sweep_id))
        stored = store.sweep_result(str(store.last_sweep_id))[0]
        recorded = [store.history(m.id)["wall_time"] for m in members]
    [group] = result.groups
    assert [row["status"] for row in result.rows] == ["max_epochs"] * 2 + ["diverged"] * 2
    for k, row in enumerate(result.rows):
        run = result.run(k)
        assert run.train_seconds == run.history["wall_time"][-1] == recorded[k][-1] == stored.run(k).train_seconds
        assert row["seconds"] == group.seconds / 4  # the share: what a config costs
    assert result.run(2).train_seconds < result.run(0).train_seconds  # diverged in epoch 1: its clock then


def test_a_sweeps_reason_counts_the_configs_that_collapsed(tmp_path, data) -> None:
    """'done: 2 diverged, 4 max_epochs' left out that 1.14 collapsed: batch GD on linreg at 1.14 ends 2 epochs at
    3x its start, finite and under the 100x divergence bound (status max_epochs); 100.0 diverges."""
    with gd.store.open(tmp_path / "c.db") as store:
        result = gd.sweep(MODEL, data, learning_rate=[0.1, 1.14, 100.0], batch_size=[800], seeds=2, epochs=2,
                          record=store)
        mixed = store.sweep(store.last_sweep_id)
        gd.sweep(MODEL, data, learning_rate=[1.14], batch_size=[800], seeds=1, epochs=2, record=store)
        one = store.sweep(store.last_sweep_id)
    collapsed = [r for r in result.rows if r["status"] == "max_epochs" and r["final_train_loss"] >= r["initial_train_loss"]]
    assert [r["learning_rate"] for r in collapsed] == [1.14, 1.14]
    assert mixed.reason == "done: 2 diverged, 4 max_epochs (2 of them collapsed)"
    assert one.reason == "done: 1 max_epochs (collapsed)"


def test_a_sweeps_reason_counts_the_configs_still_diverging_apart(tmp_path, data) -> None:
    """Batch GD on linreg at 1.14 for 4 epochs: the loss rose in each (below the 100x divergence bound), and the
    sweep's reason counted it as collapsed."""
    with gd.store.open(tmp_path / "c.db") as store:
        gd.sweep(MODEL, data, learning_rate=[0.1, 1.14], batch_size=[800], seeds=2, epochs=4, record=store)
        rising = store.sweep(store.last_sweep_id)
    assert rising.reason == "done: 4 max_epochs (2 of them diverging)"
    assert [_noted(4, 1, 2), _noted(2, 0, 2), _noted(1, 1, 0)] == [" (1 collapsed, 2 diverging)", " (all diverging)",
                                                                    " (collapsed)"]


def test_a_recorded_sweep_keeps_each_members_restored_best_epoch_and_the_reason_that_names_it(tmp_path) -> None:
    """early_stopping(restore_best=True): 0.05 stops early at its best epoch; 1.0 diverges after a best epoch 1;
    3.0 diverges with no epoch better than the initial params (best epoch 0)."""
    data = gd.datasets.load("linreg", n=200, features=5, noise=0.1, seed=0)
    stop = gd.stop.early_stopping("test_loss", 4)
    with gd.store.open(tmp_path / "s.db") as store:
        result = gd.sweep(MODEL, data, learning_rate=[0.05, 1.0, 3.0], batch_size=[40], seeds=1, epochs=25, stop=stop,
                          record=store)
        stored, _ = store.sweep_result(store.last_sweep_id)
        members = store.members(store.last_sweep_id)
        fit = gd.fit(MODEL, data, gd.sgd(3.0), batch_size=40, epochs=25, stop=stop, record=store,
                     check_stability=False)
        fit_run = store.run(store.last_run_id)
        gd.sweep(MODEL, data, learning_rate=[1.0], batch_size=[40], seeds=1, epochs=3, record=store)  # no restore
        plain = store.sweep_result(store.last_sweep_id)[0].run(0)
    ran = [result.run(k) for k in range(3)]
    assert [(r.status, r.best_epoch) for r in ran] == [("early_stopped", 18), ("diverged", 1), ("diverged", 0)]
    assert ran[1].reason.endswith(f"; the params returned are those of epoch 1, the best test_loss "
                                  f"({ran[1].history['test_loss'][0]:.4g})")
    outputs = np.asarray(MODEL.apply(ran[2].params, data.x_test)).reshape(data.y_test.shape)
    initial = float(np.mean((outputs - data.y_test) ** 2))  # the initial params' (returned)
    assert ran[2].reason.endswith(f"; the params returned are the initial ones (before epoch 1), whose test_loss {initial:.4g} no epoch "
                                  "bettered")
    for k, run in enumerate(ran):
        back = stored.run(k)
        assert (back.status, back.reason, back.best_epoch) == (run.status, run.reason, run.best_epoch), k
        assert (members[k].reason, members[k].best_epoch) == (run.reason, run.best_epoch), k
    assert (fit_run.reason, fit_run.best_epoch) == (fit.reason, fit.best_epoch) == (ran[2].reason, 0)  # gd.fit's too
    assert plain.best_epoch is None


def test_the_loss_before_training_is_the_initial_params_mean_squared_error(tmp_path, data, compile_counter) -> None:
    """Recorded once per run and per sweep seed, measured by one small program that every group reuses."""
    x, y = np.asarray(data.x_train, np.float64), np.asarray(data.y_train, np.float64).reshape(len(data.x_train), -1)

    def by_hand(seed: int) -> float:
        layer = MODEL.init(seed_keys(np.uint32(seed))[0], data.input_shape, data.outputs)[0]
        w, b = (np.asarray(layer[k], np.float64) for k in ("w", "b"))
        return float(np.mean((x @ w + b - y) ** 2))

    with gd.store.open(tmp_path / "s.db") as store:
        gd.sweep(MODEL, data, learning_rate=[0.01], batch_size=[50], seeds=2, epochs=1, record=store)
        before = compile_counter.count
        gd.sweep(MODEL, data, learning_rate=[0.01], batch_size=[100], seeds=2, epochs=1, record=store)
        compiled = compile_counter.count - before
        members = store.members(store.last_sweep_id)
        gd.fit(MODEL, data, gd.sgd(0.01), batch_size=50, epochs=1, seed=1, record=store)
        fit_initial = store.run(store.last_run_id).initial_loss
    assert [m.initial_loss for m in members] == pytest.approx([by_hand(m.seed) for m in members], rel=1e-5)
    assert fit_initial == pytest.approx(by_hand(1), rel=1e-5)
    assert compiled == 1  # the second sweep compiled its epoch program, and nothing for its initial loss


@pytest.mark.parametrize("checkpoints", [False, True], ids=["no-checkpoint", "checkpoint-every-epoch"])
def test_a_sweep_killed_mid_chunk_keeps_whole_epochs_and_resumes_only_its_unfinished_configs(
    tmp_path, data, uninterrupted, checkpoints, capsys, monkeypatch
) -> None:
    """Killed after epoch 2 of batch size 50's second chunk (learning rate 0.1): without checkpoints its
    configs train again from the start; with a checkpoint every epoch they go on from epoch 2. Either way
    every config ends exactly as in the uninterrupted sweep."""
    path = tmp_path / "killed.db"
    seconds = 0 if checkpoints else 1e9
    # the child kills itself (SIGKILL: no cleanup) after epoch 2 of the second chunk of batch size 50
    script = f"""
import os, signal, gdlab as gd
data = gd.datasets.load("linreg")
seen = []
def kill(group, epoch, active):
    seen.append((group, epoch))
    if len(seen) == 4 + 2:
        os.kill(os.getpid(), signal.SIGKILL)
with gd.store.open({str(path)!r}) as store:
    gd.sweep(gd.models.linear(), data, **{GRID!r}, max_memory={_one_pair_per_chunk(data)}, callback=kill,
             record=store.sweep_recorder(checkpoint_seconds={seconds}))
"""
    child = subprocess.run([sys.executable, "-c", script], env=os.environ, capture_output=True, text=True, check=False)
    assert child.returncode == -9, child.stderr
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = conn.execute("SELECT run_id, epoch FROM checkpoints").fetchall()
    conn.close()
    with gd.store.open(path) as store:  # opening marks the dead process's sweep and members interrupted
        sweep = store.sweeps()[0]
        members = store.members(sweep.id)
        epochs = {m.id: len(store.history(m.id).get("train_loss", [])) for m in members}
        # a library sweep: it goes on with resume_sweep (the reason said gdlab resume, which refuses it)
        assert sweep.status == "interrupted" and f"gd.store.resume_sweep('{sweep.id}', store, model, data)" in sweep.reason
        assert all("resume_sweep" in m.reason for m in members if m.status == "interrupted")
        assert [m.status for m in members] == ["max_epochs"] * 2 + ["interrupted"] * 10
        assert [m.epochs_run for m in members] == [4, 4, 2, 2] + [0] * 8
        assert [epochs[m.id] for m in members] == [m.epochs_run for m in members]  # whole epochs, no more
        # the members still training hold their epoch-2 checkpoint; finished ones dropped theirs
        assert sorted(stored) == (sorted((m.id, 2) for m in members[2:4]) if checkpoints else [])
        before = {m.id: store.history(m.id) for m in members[2:4]}
        finished = {m.id: m.updated_at for m in members if m.status == "max_epochs"}
        groups = gd.store.unfinished_groups(sweep.id, store)
        shown = json_cli(capsys, "runs", "show", sweep.id, "--db", str(path))["unfinished"]
        assert [gd.store.UnfinishedGroup(**g) for g in shown] == groups
        code, out, _ = run_cli(capsys, "runs", "show", sweep.id, "--db", str(path))
        # a library sweep: gdlab resume refuses it (it said 'gdlab resume ID --db ... goes on with:')
        assert code == 0 and out.endswith(f"gd.store.resume_sweep('{sweep.id}', store, model, data) goes on with:\n" + "".join(
            f"  batch size {g.batch_size}: {g.configs} unfinished configs"
            f"{f' from epoch {g.from_epoch}' if g.from_epoch else ' from the start (no checkpoint yet)'}\n"
            for g in groups))
        seen: list[tuple[int, int]] = []
        calls: list[gd.SweepResult] = []
        engine_sweep = gdlab.store.sweep_resume.sweep
        monkeypatch.setattr(gdlab.store.sweep_resume, "sweep", lambda *a, **k: calls.append(engine_sweep(*a, **k)))
        resumed = gd.store.resume_sweep(sweep.id, store, MODEL, data, callback=lambda g, e, a: seen.append((g, e)))
        after = store.members(sweep.id)
        assert store.sweep(sweep.id).status == "done"
        spent = {size: sum(c.groups[0].seconds for c in calls if c.groups[0].config["batch_size"] == size)
                 for size in (50, 100)}
        assert store.sweep(sweep.id).results["seconds"] == {"50": spent[50], "100": spent[100]}  # summed
        for call in calls:  # a config gone on from a checkpoint counts the time before it (it counted only after)
            group = call.groups[0]
            assert group.seconds >= np.nanmax(group.history["wall_time"]) > 0
        kept = {m.id: store.history(m.id)["train_loss"][:2].tolist() for m in after[2:4]}
        if checkpoints:  # the recorded epochs stay as they were (rerun from the start, they are recorded anew)
            assert kept == {i: h["train_loss"].tolist() for i, h in before.items()}
        assert store.connection.execute("SELECT COUNT(*) FROM checkpoints").fetchone() == (0,)  # all finished
    if checkpoints:  # in the order resume runs them: lr 0.1 from epoch 2, then lr 100, then batch size 100
        assert [tuple(g) for g in groups] == [(50, "constant", 2, 2), (50, "constant", 2, 0), (100, "constant", 6, 0)]
        assert seen == [(0, 3), (0, 4), (1, 1)] + [(2, e) for e in range(1, 5)]  # lr 100 diverges in epoch 1
    else:
        assert [tuple(g) for g in groups] == [(50, "constant", 4, 0), (100, "constant", 6, 0)]
        assert seen == [(0, e) for e in range(1, 5)] + [(1, e) for e in range(1, 5)]  # one index per group
    assert {m.id: m.updated_at for m in after if m.id in finished} == finished  # not rerun
    assert [m.resumed for m in after] == [0, 0] + [1] * 10
    # up to the float rounding of one-pair chunks against the fixture's one chunk (the engine's own test
    # of going on from a checkpoint is exact: test_sweep.py)
    _assert_same_rows(resumed, uninterrupted, rtol=1e-5)


def test_an_unknown_sweep_id_is_named_as_a_sweep_id(tmp_path, data) -> None:
    """store.sweep('zzzz') said 'run_id must name a run ... (see gdlab runs list)', and a prefix of two sweeps
    'run_id ... is the start of 2 sweeps'."""
    with gd.store.open(tmp_path / "s.db") as store:
        for given in ("zzzz", ""):
            with pytest.raises(gd.store.StoreError, match=rf"^sweep_id must name a sweep in .*s.db' \(see gdlab runs list "
                                                          rf"--sweeps\); got '{given}'\.$"):
                store.sweep_result(given)
        gd.sweep(MODEL, data, learning_rate=[0.1], epochs=1, record=store)
        sweep = store.sweep(store.last_sweep_id)
        with store.connection:  # a second sweep whose id shares the first's first character
            columns = [row[1] for row in store.connection.execute("PRAGMA table_info(sweeps)")]
            twin = sweep.id[0] + ("0" if sweep.id[1] != "0" else "1") + sweep.id[2:]
            store.connection.execute(f"INSERT INTO sweeps SELECT {', '.join('?' if c == 'id' else c for c in columns)} "
                                     "FROM sweeps WHERE id = ?", (twin, sweep.id))
        with pytest.raises(gd.store.StoreError, match=rf"^sweep_id '{sweep.id[0]}' is the start of 2 sweeps \("):
            store.sweep(sweep.id[0])
        assert store.sweep(sweep.id[:2]).id == sweep.id
        member = store.members(sweep.id)[0]
        with pytest.raises(gd.store.StoreError, match=rf"^sweep_id must name a sweep; {member.id} is a run of kind sweep"):
            store.sweep(member.id)


def test_a_sweep_resumes_with_its_stop_rule_written_another_way(tmp_path, data) -> None:
    """stop=None and gd.stop.diverged() are the same rule (every sweep stops a config that diverges by 100x): a
    sweep recorded with one resumed with the other was refused ("it had none; got diverged(factor=100.0)")."""
    def interrupt(group: int, epoch: int, active: int) -> None:
        if (group, epoch) == (1, 2):
            raise KeyboardInterrupt

    for recorded, given in ((None, gd.stop.diverged()), (gd.stop.diverged(factor=100), None)):
        with gd.store.open(tmp_path / f"{recorded is None}.db") as store:
            with pytest.raises(KeyboardInterrupt):
                gd.sweep(MODEL, data, **GRID, stop=recorded, callback=interrupt, record=store)
            with pytest.raises(gd.store.StoreError, match=r"had .*; got diverged\(factor=1000000.0\)\.$"):
                gd.store.resume_sweep(store.last_sweep_id, store, MODEL, data, stop=gd.stop.diverged(factor=1e6))
            resumed = gd.store.resume_sweep(store.last_sweep_id, store, MODEL, data, stop=given)
            assert "interrupted" not in {row["status"] for row in resumed.rows}


def test_a_sweep_that_raises_marks_its_unfinished_members_and_resume_refuses_what_it_must(tmp_path, data) -> None:
    def interrupt(group: int, epoch: int, active: int) -> None:
        if (group, epoch) == (1, 2):
            raise KeyboardInterrupt

    with gd.store.open(tmp_path / "s.db") as store:
        with pytest.raises(KeyboardInterrupt):
            gd.sweep(MODEL, data, **GRID, callback=interrupt, record=store)
        sweep = store.sweep(store.last_sweep_id)
        statuses = [m.status for m in store.members(sweep.id)]
        assert sweep.status == "interrupted" and sweep.reason == "interrupted: Ctrl-C"
        assert statuses == ["max_epochs"] * 4 + ["diverged"] * 2 + ["interrupted"] * 4 + ["diverged"] * 2
        with pytest.raises(gd.store.StoreError, match="data must be the data set sweep"):
            gd.store.resume_sweep(sweep.id, store, MODEL, gd.datasets.load("linreg", n=500))
        with pytest.raises(gd.store.StoreError, match=r"stop must be the sweep's .* had none; got plateau\(tol="):
            gd.store.resume_sweep(sweep.id, store, MODEL, data, stop=gd.stop.plateau())
        # compared with its settings: a divergence factor of its own (the names alone matched) is another rule
        with pytest.raises(gd.store.StoreError, match=r"had none; got diverged\(factor=1000000.0\)\.$"):
            gd.store.resume_sweep(sweep.id, store, MODEL, data, stop=gd.stop.diverged(factor=1e6))
        config = json.loads(store.connection.execute("SELECT config FROM sweeps WHERE id = ?", (sweep.id,)).fetchone()[0])
        del config["stop_rule"]  # recorded before the settings were kept: the names are compared
        with store.connection:
            store.connection.execute("UPDATE sweeps SET config = ? WHERE id = ?", (json.dumps(config), sweep.id))
        with pytest.raises(gd.store.StoreError, match=r"stop must be the sweep's .* had rules \[\]; got \['plateau'\]"):
            gd.store.resume_sweep(sweep.id, store, MODEL, data, stop=gd.stop.plateau())
        member = store.members(sweep.id)[6]
        with pytest.raises(gd.store.StoreError, match=f"run_id {member.id} is a run of kind sweep, not a gd.fit run; "
                                                      "gd.store.resume_sweep goes on with a sweep's members"):
            gd.resume(member.id, store, MODEL, data, gd.sgd(0.1))
        gd.store.resume_sweep(sweep.id, store, MODEL, data)
        with pytest.raises(gd.store.StoreError, match="no unfinished configs; there is nothing to resume"):
            gd.store.resume_sweep(sweep.id, store, MODEL, data)
        assert [m.status for m in store.members(sweep.id)] == ["max_epochs"] * 4 + ["diverged"] * 2 + [
            "max_epochs"] * 4 + ["diverged"] * 2


@pytest.mark.parametrize("stop", [None, gd.stop.early_stopping("test_loss", 4), gd.stop.plateau(0.1, 2) & gd.stop.max_epochs(2),
                                  gd.stop.plateau(0.1, 2) | gd.stop.diverged(1e3)], ids=["none", "early", "and", "own"])
def test_a_sweep_member_records_its_stop_rule_as_gd_fit_does_with_the_same_settings(tmp_path, capsys, stop) -> None:
    """A fit recorded its rule with the diverged() every run has ('early_stopping(...) | diverged(factor=100.0)'),
    a sweep's member the user's alone ("stop": [] and no stop_rule for none): runs compare told them apart."""
    data = gd.datasets.load("linreg", n=200, features=5, noise=0.1, seed=0)
    db = str(tmp_path / "s.db")
    with gd.store.open(db) as store:
        gd.sweep(MODEL, data, learning_rate=[0.05], batch_size=[40], seeds=1, epochs=3, stop=stop, record=store)
        member = store.members(store.last_sweep_id)[0]
        with warnings.catch_warnings():  # the budget may end a run before its rule fires
            warnings.simplefilter("ignore", gd.ConvergenceWarning)
            gd.fit(MODEL, data, gd.sgd(0.05), batch_size=40, epochs=3, stop=stop, record=store)
        fit = store.run(store.last_run_id)
    assert [member.config[k] for k in ("stop", "stop_rule")] == [fit.config[k] for k in ("stop", "stop_rule")]
    assert member.config["stop"][-1] == "diverged" and "diverged(factor=" in member.config["stop_rule"]
    differences = json_cli(capsys, "runs", "compare", member.id, fit.id, "--db", db)["differences"]
    assert not {"stop", "stop_rule"} & differences.keys(), differences


SAME_TRAINING = {  # a sweep's grid (one config) and the gd.fit rule that trains alike: 4 updates an epoch, 3 epochs
    "constant": ({"learning_rate": [0.05]}, lambda: gd.sgd(0.05)),
    # the first member, momentum 0, trains in a group that keeps a velocity buffer for the 0.5 beside it
    "momentum 0 beside 0.5": ({"learning_rate": [0.05], "momentum": [0.0, 0.5]}, lambda: gd.sgd(0.05)),
    "cosine, nesterov, decay": ({"learning_rate": [0.05], "schedule": ["cosine"], "momentum": [0.9], "nesterov": True,
                                 "weight_decay": 0.01},
                                lambda: gd.sgd(gd.schedules.cosine(0.05, 12), momentum=0.9, nesterov=True,
                                               weight_decay=0.01)),
}


@pytest.mark.parametrize("case", SAME_TRAINING)
def test_a_fit_and_a_sweep_member_trained_alike_record_the_same_settings(tmp_path, capsys, case) -> None:
    """A fit recorded devices, drop_last, reduce_lr and track_sharpness, a member compute_dtype, kernel, nesterov,
    weight_decay, task and n_test (and its rule without kind, nesterov, velocity, as its grid rate): runs compare
    listed them all as differences between runs trained alike. A record without the new keys still compares."""
    data = gd.datasets.load("linreg", n=200, features=5, noise=0.1, seed=0)
    grid, rule = SAME_TRAINING[case]
    db = str(tmp_path / "s.db")
    with gd.store.open(db) as store:
        gd.sweep(MODEL, data, **grid, batch_size=[40], seeds=[3], epochs=3, record=store)
        member = store.members(store.last_sweep_id)[0]
        gd.fit(MODEL, data, rule(), batch_size=40, epochs=3, seed=3, record=store)
        fit = store.run(store.last_run_id)
    assert (member.kind, fit.kind) == ("sweep", "fit")
    assert sorted(member.config) == sorted(fit.config)
    assert member.config == fit.config  # every value too: the rule's float32 numbers, the sweep's devices
    assert {k: fit.config[k] for k in ("devices", "drop_last", "reduce_lr", "track_sharpness", "compute_dtype",
                                       "kernel", "task", "n_test")} == {
        "devices": 1, "drop_last": False, "reduce_lr": None, "track_sharpness": 0, "compute_dtype": "float32",
        "kernel": "xla", "task": "regression", "n_test": 40}
    compared = json_cli(capsys, "runs", "compare", fit.id, member.id, "--db", db)
    assert compared["differences"] == {} and [r["kind"] for r in compared["runs"]] == ["fit", "sweep"]
    code, out, _ = run_cli(capsys, "runs", "compare", fit.id, member.id, "--db", db)
    assert code == 0 and [line.split()[0] for line in out.splitlines()[1:7]] == [
        "status", "dataset", "model", "epochs", "final_train_loss", "final_test_loss"]  # no setting differs
    assert [line[:18] for line in out.splitlines()[7:]] in ([], ["No setting differs"])  # why finals may differ
    with sqlite3.connect(db) as conn:  # a member recorded before: none of gd.fit's keys, its old rule
        old = {k: v for k, v in member.config.items() if k not in ("devices", "drop_last", "reduce_lr",
                                                                    "track_sharpness")}
        old["rule"] = {"learning_rate": 0.05, "momentum": old["momentum"], "schedule": old["schedule"],
                       "weight_decay": old["weight_decay"]}
        conn.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(old), member.id))
    differences = json_cli(capsys, "runs", "compare", fit.id, member.id, "--db", db)["differences"]
    assert differences["devices"] == [1, None] and differences["rule.learning_rate"][1] == 0.05


def test_a_sweep_recorded_before_its_members_kept_gd_fits_stop_rule_resumes(tmp_path, data) -> None:
    """Members recorded with the user's rule names alone ("stop": ['early_stopping'], no stop_rule) resume with
    that rule: the unfinished ones go on (recorded now as gd.fit records its rule), the finished ones are kept."""
    stop = gd.stop.early_stopping("test_loss", 10)

    def interrupt(group: int, epoch: int, active: int) -> None:
        if (group, epoch) == (1, 2):
            raise KeyboardInterrupt

    with gd.store.open(tmp_path / "s.db") as store:
        with pytest.raises(KeyboardInterrupt):
            gd.sweep(MODEL, data, **GRID, stop=stop, callback=interrupt, record=store)
        sweep_id = str(store.last_sweep_id)
        with store.connection:
            for member in store.members(sweep_id):
                old = {**{k: v for k, v in member.config.items() if k != "stop_rule"}, "stop": ["early_stopping"]}
                store.connection.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(old), member.id))
        before = {m.id: m for m in store.members(sweep_id)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gd.ConvergenceWarning)
            gd.store.resume_sweep(sweep_id, store, MODEL, data, stop=stop)
        after = store.members(sweep_id)
        assert store.sweep(sweep_id).status == "done"
    resumed = [m for m in after if before[m.id].status == "interrupted"]
    kept = [m for m in after if before[m.id].status != "interrupted"]
    assert len(resumed) == 4 and all(m.status != "interrupted" for m in resumed)
    assert all(m.config["stop"] == ["early_stopping", "diverged"] and
               m.config["stop_rule"] == f"{describe(stop)} | diverged(factor=100.0)" for m in resumed)
    assert all(m.config == before[m.id].config and "stop_rule" not in m.config for m in kept)


@pytest.mark.parametrize("by", ["another process", "another thread"])
def test_a_sweep_another_resume_took_over_since_it_was_found_interrupted_is_not_resumed_twice(
        tmp_path, data, monkeypatch, by) -> None:
    """Two gdlab resume of one sweep at once: both found it interrupted and both trained its members, one ending in
    'error: database: UNIQUE constraint failed: metrics...', its fail_sweep marking the other's members failed."""
    def interrupt(group: int, epoch: int, active: int) -> None:
        if (group, epoch) == (1, 2):
            raise KeyboardInterrupt

    me = gdlab.store.processes.this_process()
    other = tuple(me) if by == "another thread" else (os.getppid(), me.host, "another start")
    check = gdlab.store.sweep_resume._check_resumable

    def taken_meanwhile(store: gd.store.Store, record: gd.store.Sweep) -> None:
        check(store, record)  # found interrupted; then the other resume takes it over
        with store.connection:
            store.connection.execute("UPDATE sweeps SET status = 'running', pid = ?, host = ?, process_start = ? "
                                     "WHERE id = ?", (*other, record.id))

    with gd.store.open(tmp_path / "s.db") as store:
        with pytest.raises(KeyboardInterrupt):
            gd.sweep(MODEL, data, **GRID, callback=interrupt, record=store)
        sweep_id = store.last_sweep_id
        before = store.connection.execute("SELECT * FROM runs ORDER BY id").fetchall()
        metrics = store.connection.execute("SELECT COUNT(*) FROM metrics").fetchone()
        monkeypatch.setattr(gdlab.store.sweep_resume, "_check_resumable", taken_meanwhile)
        with pytest.raises(gd.store.StoreError, match=f"sweep_id {sweep_id} is running in another process; it "
                                                      "cannot be resumed twice"):
            gd.store.resume_sweep(sweep_id, store, MODEL, data)
        assert store.connection.execute("SELECT * FROM runs ORDER BY id").fetchall() == before
        assert store.connection.execute("SELECT COUNT(*) FROM metrics").fetchone() == metrics
        row = store.connection.execute("SELECT status, pid, host, process_start FROM sweeps").fetchone()
    assert row == ("running", *other)


def test_deleting_a_sweep_deletes_its_member_runs(tmp_path, data) -> None:
    with gd.store.open(tmp_path / "s.db") as store:
        gd.fit(MODEL, data, gd.sgd(0.1), epochs=1, record=store)
        kept = store.last_run_id
        gd.sweep(MODEL, data, learning_rate=[0.1], seeds=2, epochs=1, record=store)
        sweep_id = store.last_sweep_id
        assert store.find(sweep_id[:5]).id == sweep_id
        store.delete(sweep_id)
        assert [r.id for r in store.runs()] == [kept] and store.sweeps() == []
        assert store.connection.execute("SELECT COUNT(*) FROM metrics WHERE run_id != ?", (kept,)).fetchone() == (0,)


def test_deleting_most_of_the_store_shrinks_its_file(tmp_path, data) -> None:
    """A deleted 1.2M-config sweep left its 2 GB as free pages: the file kept its size (SQLite reuses them, never
    gives them back). A delete that frees most of the file now compacts it; one that frees little does not."""
    path = tmp_path / "s.db"
    with gd.store.open(path) as store:
        gd.fit(MODEL, data, gd.sgd(0.1), epochs=1, record=store)
        small = store.last_run_id
        gd.sweep(MODEL, data, learning_rate=gd.logspace(1e-3, 1.0, 100), seeds=2, epochs=3, record=store)
        big = store.last_sweep_id
        gd.fit(MODEL, data, gd.sgd(0.1), epochs=1, record=store)
        pages = store.connection.execute("PRAGMA page_count").fetchone()[0]
        store.delete(small)  # a little freed: left as it is
        assert store.connection.execute("PRAGMA page_count").fetchone()[0] == pages
        store.delete(big)
        assert store.connection.execute("PRAGMA freelist_count").fetchone()[0] == 0
        assert store.connection.execute("PRAGMA page_count").fetchone()[0] < pages / 4 and len(store.runs()) == 1
    assert path.stat().st_size < pages * 4096 / 4  # on disk too, once closed
    from gdlab.store.schema import compact_if_free

    with gd.store.open(path) as store, sqlite3.connect(path) as other:
        other.execute("BEGIN IMMEDIATE")  # another process writing (a recorder's epoch): the compaction gives way
        busy = store.connection.execute("PRAGMA busy_timeout").fetchone()[0]
        assert compact_if_free(store.connection, -1.0) is False
        assert store.connection.execute("PRAGMA busy_timeout").fetchone()[0] == busy  # its own wait put back
        other.rollback()
        assert compact_if_free(store.connection, -1.0) is True


def test_a_finished_sweep_that_checkpointed_every_epoch_leaves_no_file_of_free_pages(tmp_path, mnist1d) -> None:
    """Each member's checkpoints are dropped as it ends: a finished gdlab compare of 160 configs that checkpointed
    every epoch left a 10 MB file 95% free pages (2400 of 2515). A sweep's close now compacts it, as a delete does."""
    path = tmp_path / "s.db"
    with gd.store.open(path) as store:
        gd.sweep(gd.models.mlp((32,)), mnist1d, learning_rate=gd.logspace(1e-3, 1.0, 40), batch_size=[500], epochs=3,
                 record=store.sweep_recorder(checkpoint_seconds=0))
        sweep_id = store.last_sweep_id
        free, pages = (store.connection.execute(f"PRAGMA {name}").fetchone()[0]
                       for name in ("freelist_count", "page_count"))
        assert free == 0 and store.sweep(sweep_id).status == "done"
        assert len(store.members(sweep_id)) == 40 and all(store.history(m.id)["train_loss"].size == 3
                                                          for m in store.members(sweep_id))
    assert path.stat().st_size == pages * 4096
    from gdlab.store.schema import compact_if_free

    with gd.store.open(path) as store:  # a close copies at most CLOSE_COMPACT_BYTES of live data (a delete: any)
        store.connection.execute("DELETE FROM metrics")
        assert compact_if_free(store.connection, 0.0, max_live=4096) is False
        assert compact_if_free(store.connection, 0.0) is True


def test_a_member_that_ended_with_any_run_status_is_finished(tmp_path, data, capsys) -> None:
    """FINISHED named the rules "target" and "early_stopping", not the statuses target_reached and early_stopped,
    and left out stalled: a done sweep's members that reached their target counted as unfinished, runs show said
    "best by final train_loss: -" and resume_sweep trained them again."""
    from gdlab.engine.result import STATUSES
    from gdlab.store.sweeps import FINISHED, unfinished

    assert set(STATUSES) <= set(FINISHED) and not {"running", "interrupted", "failed"} & set(FINISHED)
    path = tmp_path / "s.db"
    stop = gd.stop.target("train_loss", 0.05) | gd.stop.max_epochs(30)
    with gd.store.open(path) as store:
        gd.sweep(MODEL, data, learning_rate=[0.05, 0.1], batch_size=[15], epochs=30, stop=stop, record=store)
        sweep = store.sweep(store.last_sweep_id)
        members = store.members(sweep.id)
        assert sweep.status == "done" and {m.status for m in members} == {"target_reached"}
        assert unfinished(members) == {}
        with pytest.raises(gd.store.StoreError, match="has no unfinished configs; there is nothing to resume"):
            gd.store.resume_sweep(sweep.id, store, MODEL, data, stop=stop)
    code, out, _ = run_cli(capsys, "runs", "show", sweep.id, "--db", str(path))
    assert code == 0 and "best by final train_loss: batch_size 15, learning_rate" in out, out


def test_members_last_metrics_at_once_are_each_members_own(tmp_path, data) -> None:
    with gd.store.open(tmp_path / "s.db") as store:  # 100.0 diverges in epoch 1, the others run 3 epochs
        gd.sweep(MODEL, data, learning_rate=[0.01, 100.0, 0.1], seeds=2, epochs=3, record=store)
        sweep_id = store.last_sweep_id
        finals = store.member_last_metrics(sweep_id)
        members = store.members(sweep_id)
        assert list(finals) == [run.id for run in members]
        assert {run.epochs_run for run in members} == {1, 3}
        for run in members:
            assert finals[run.id].keys() == store.last_metrics(run.id).keys() and finals[run.id]
            np.testing.assert_equal(list(finals[run.id].values()), list(store.last_metrics(run.id).values()))


def test_many_runs_histories_read_at_once_are_what_the_sweep_trained(tmp_path, data) -> None:
    with gd.store.open(tmp_path / "s.db") as store:  # 600 members: two queries of 500 and 100 runs
        result = gd.sweep(MODEL, data, learning_rate=gd.logspace(1e-3, 3.0, 300), seeds=2, epochs=2, record=store)
        ids = [run.id for run in store.members(store.last_sweep_id)]
        whole, first = histories(store.connection, ids), histories(store.connection, ids, up_to=1)
    assert list(whole) == ids and {r["status"] for r in result.rows} == {"max_epochs", "diverged"}
    for k, run_id in enumerate(ids):
        trained = result.run(k).history
        for name in ("train_loss", "test_loss", "grad_norm", "learning_rate"):
            np.testing.assert_array_equal(whole[run_id][name], trained[name], err_msg=f"{k} {name}")
            np.testing.assert_array_equal(first[run_id][name], trained[name][:1], err_msg=f"{k} {name}")


def test_each_epochs_checkpoints_take_the_pages_of_the_last_ones(tmp_path, data, monkeypatch) -> None:
    # 8 members (params and momentum buffer, 0.5 MB each) checkpointed after epochs 1, 2 and 3 of 4: the file
    # holds one set of checkpoints; writing the new set before dropping the old held two from epoch 2 on
    sizes = []
    original = gdlab.store.sweep_recorder.SweepRecorder.sweep_epoch

    def measured(self: gdlab.store.sweep_recorder.SweepRecorder, epoch: object) -> None:
        original(self, epoch)
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0] * self.conn.execute("PRAGMA page_size").fetchone()[0]
        sizes.append((pages, self.conn.execute("SELECT COALESCE(SUM(length(blob)), 0) FROM checkpoints").fetchone()[0]))

    monkeypatch.setattr(gdlab.store.sweep_recorder.SweepRecorder, "sweep_epoch", measured)
    with gd.store.open(tmp_path / "s.db") as store:
        gd.sweep(gd.models.mlp(hidden=(256, 256)), data, learning_rate=[1e-4, 2e-4, 3e-4, 4e-4], momentum=[0.9],
                 seeds=2, epochs=4, record=store.sweep_recorder(checkpoint_seconds=0))
    (file_1, checkpoints_1), _, (file_3, checkpoints_3) = sizes[:3]
    assert checkpoints_1 == checkpoints_3 > 8 * 2 * 4 * 256 * 256  # the 256 x 256 layers alone
    assert file_3 < 1.25 * checkpoints_1 and file_1 < 1.25 * checkpoints_1, sizes  # was 2x from epoch 2 on


def test_a_sweep_whose_member_run_is_gone_is_a_clear_error(tmp_path, data) -> None:
    with gd.store.open(tmp_path / "s.db") as store:
        gd.sweep(MODEL, data, learning_rate=[0.1], seeds=2, epochs=1, record=store)
        sweep_id = store.last_sweep_id
        gone = store.members(sweep_id)[1].id
        store.connection.execute("PRAGMA foreign_keys = OFF")  # as a hand edit of the file could
        store.connection.execute("DELETE FROM runs WHERE id = ?", (gone,))
        with pytest.raises(gd.store.StoreError, match=f"sweep {sweep_id} is damaged: its member runs {gone} are missing"):
            store.sweep_result(sweep_id)


def test_new_member_ids_are_distinct_and_none_is_a_runs_already(tmp_path, monkeypatch) -> None:
    with gd.store.open(tmp_path / "s.db") as store:
        gd.fit(MODEL, gd.datasets.load("linreg"), gd.sgd(0.1), epochs=1, record=store)
        taken = store.last_run_id
        drawn = iter([taken, "0000000a", "0000000a", taken, "0000000a", "0000000b", "0000000c"])  # 3, 2, 2 asked
        monkeypatch.setattr(gdlab.store.recorder.secrets, "token_hex", lambda n: next(drawn))
        assert free_run_ids(store.connection, 3) == ["0000000a", "0000000b", "0000000c"]


def test_a_schedule_grid_is_recorded_by_schedule_and_resumes_by_name(tmp_path, data) -> None:
    grid = {"learning_rate": [0.01, 0.1], "batch_size": [50], "seeds": 1, "epochs": 3,
            "schedule": ["constant", "cosine"]}
    with gd.store.open(tmp_path / "s.db") as store:
        result = gd.sweep(MODEL, data, **grid, record=store)
        sweep = store.sweep(store.last_sweep_id)
        stored, _ = store.sweep_result(sweep.id)
        members = store.members(sweep.id)
    assert [m.config["schedule"] for m in members] == ["constant"] * 2 + ["cosine"] * 2
    assert [g.config["schedule"] for g in stored.groups] == ["constant", "cosine"]
    assert set(sweep.results["seconds"]) == {"50", "50 cosine"}
    _assert_same_rows(stored, result)
    from gdlab.report.comparison import from_sweep

    with pytest.raises(ValueError, match=r"one schedule per batch size; .*\['constant', 'cosine'\] at batch size 50 \("):  # not '[50, 50]'
        from_sweep(stored, {"n_train": data.n_train}, {0: 1.0})
    cosine = stored.select("cosine")
    assert [(r["schedule"], r["learning_rate"]) for r in cosine.rows] == [("cosine", 0.01), ("cosine", 0.1)]
    with pytest.raises(ValueError, match=r"schedule must be one this sweep trained, one of \['constant', 'cosine'\]; "
                                         r"got 'step'\."):
        stored.select("step")


def test_gdlab_report_of_a_schedule_grid_reports_one_schedule(tmp_path, data, capsys) -> None:
    db = str(tmp_path / "s.db")
    with gd.store.open(db) as store:
        gd.sweep(MODEL, data, learning_rate=[0.01, 0.1], batch_size=[50, 100], epochs=2, schedule=["constant", "cosine"],
                 record=store)
        sweep_id = store.last_sweep_id
    code, out, err = run_cli(capsys, "report", sweep_id, "--db", db)
    assert code == 2 and out == "" and "gdlab report ID --schedule NAME" in err and len(err.splitlines()) == 1
    page = tmp_path / "cosine.html"
    summary = json_cli(capsys, "report", sweep_id, "--db", db, "--schedule", "cosine", "-o", str(page))
    assert summary["schedule"] == "cosine" and summary["out"] == str(page)
    assert "learning-rate schedule cosine" in page.read_text() and "mini-batch 50" in page.read_text()
    code, out, err = run_cli(capsys, "report", sweep_id, "--db", db, "--schedule", "step")
    assert code == 2
    assert err == "error: --schedule must be one this sweep trained, one of ['constant', 'cosine']; got 'step'.\n"


@pytest.mark.parametrize(
    ("since", "cost", "every", "due"),
    [
        (29.9, 0.01, 30.0, False),  # not 30 s yet
        (30.0, 0.01, 30.0, True),
        (30.0, 4.0, 30.0, False),  # a 4 s checkpoint: the next waits 36 s, so they take at most 10%
        (36.0, 4.0, 30.0, True),
        (0.0, 100.0, 0.0, True),  # 0: every epoch, whatever it costs
        (0.5, 0.1, 1.0, False),
    ],
)
def test_checkpoints_wait_their_interval_and_take_at_most_a_tenth_of_the_time(since, cost, every, due) -> None:
    assert checkpoint_due(since, cost, every) is due


@pytest.mark.parametrize("velocity", [False, True], ids=["no-momentum", "momentum"])
def test_a_member_checkpoint_reads_back_as_written_in_one_array_per_part(velocity) -> None:
    like = gd.models.mlp(hidden=(5, 4)).init(jax.random.PRNGKey(0), (3,), 2)
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda a: rng.normal(size=a.shape).astype(np.float32), like)
    buffer = jax.tree.map(lambda a: rng.normal(size=a.shape).astype(np.float32), like) if velocity else None
    blob, sha256, structure = pack(member_checkpoint(7, gd.ConfigState(params, 41, buffer)))
    leaves = unpack(blob, sha256, structure, "test")
    assert [len(leaves["params"]), len(leaves["opt_state"])] == [1, 2 if velocity else 1]  # flat: one entry each
    state = member_state(StoredCheckpoint("r", 7, leaves, {}, 1.0, None), like)
    assert state.step == 41
    for tree, back in ((params, state.params), (buffer, state.velocity)):
        assert jax.tree.structure(back) == jax.tree.structure(tree)
        for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(back), strict=True):
            np.testing.assert_array_equal(a, b)
    other = jax.tree.map(lambda a: np.zeros((*a.shape, 2), np.float32), like)  # another model: refused
    with pytest.raises(gd.store.StoreError, match="params of run r at epoch 7 must match the run's model"):
        member_state(StoredCheckpoint("r", 7, leaves, {}, 1.0, None), other)
    # many members by one query (a resumed chunk), in the order asked, at the epoch asked
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE checkpoints (run_id TEXT, epoch INTEGER, structure TEXT, blob BLOB, sha256 TEXT)")
    for run_id, step in (("a", 3), ("b", 5), ("c", 9)):
        for epoch in (7, 8):
            blob, sha256, structure = pack(member_checkpoint(epoch, gd.ConfigState(params, step + epoch, buffer)))
            conn.execute("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?)", (run_id, epoch, structure, blob, sha256))
    states = member_states(conn, 7, like, ["c", "a"])
    assert [st.step for st in states] == [16, 10]
    np.testing.assert_array_equal(jax.tree.leaves(states[0].params)[-1], jax.tree.leaves(params)[-1])
    with pytest.raises(gd.store.StoreError, match="run d's checkpoint at epoch 7 went away while the sweep resumed"):
        member_states(conn, 7, like, ["a", "d"])
