"""gdlab fit records, gdlab runs, gdlab resume: kill -9 and resume, listing and export, one-line errors."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gdlab as gd
from cli_calls import json_cli as _json
from cli_calls import run_cli as _run
from cli_calls import strict_json
from gdlab.commands.fit import FitOptions
from gdlab.commands.runs import text_chart
from gdlab.lab.training import TrainSpec, _plain_spec
from gdlab.store.schema import CURRENT_VERSION

FIT = ["fit", "--dataset", "linreg", "--model", "linear", "--batch-size", "100", "--no-progress"]
TIMES = {"epoch_time", "wall_time"}
# ~5 ms an epoch (100 updates with momentum and a cosine schedule, recorded): long enough to kill mid-run
SLOW_FIT = ["fit", "--dataset", "linreg", "--model", "linear", "--batch-size", "8", "--learning-rate", "0.01",
            "--momentum", "0.5", "--schedule", "cosine", "--epochs", "100", "--no-progress", "--json"]


pytestmark = pytest.mark.usefixtures("in_tmp_path")  # conftest: in tmp_path, no GDLAB_DB


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of gdlab subprocesses: one compilation cache for all (they compile the same programs)."""
    environ = {k: v for k, v in os.environ.items() if k != "GDLAB_DB"}
    return {**environ, "GDLAB_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}


def _one_error(capsys: pytest.CaptureFixture[str], *args: str, code: int = 2) -> str:
    got, out, err = _run(capsys, *args)
    assert (got, out) == (code, ""), err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    return err


def _epochs_in(path: Path) -> int:
    """Completed epochs recorded in the database, read without waiting on the writer."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    try:  # closed at once: the first connection after the kill must be the test's, which recovers the WAL
        return int(conn.execute("SELECT COUNT(DISTINCT epoch) FROM metrics").fetchone()[0])
    except sqlite3.OperationalError:  # not created or migrated yet
        return 0
    finally:
        conn.close()


def _wait_for_epochs(path: Path, k: int, process: subprocess.Popen, seconds: float = 300) -> int:
    """Poll the database until it holds k epochs (a deadline, not a blind sleep)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        n = _epochs_in(path)
        if n >= k:
            return n
        assert process.poll() is None, process.communicate()
        time.sleep(0.002)
    raise AssertionError(f"no {k} epochs in {path} after {seconds} s")


def _final(path: Path, run_id: str) -> tuple[gd.store.Run, dict, gd.store.StoredCheckpoint]:
    with gd.store.open(path, create=False) as store:
        return store.run(run_id), store.history(run_id), store.checkpoint(run_id)


# --- kill -9 and resume ------------------------------------------------------------------------


def test_a_run_killed_mid_epoch_resumes_to_exactly_the_uninterrupted_run(tmp_path, env, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GDLAB_CACHE_DIR", env["GDLAB_CACHE_DIR"])  # the resume here reuses their programs
    killed_db, whole_db = tmp_path / "killed.db", tmp_path / "whole.db"
    killed = subprocess.Popen([sys.executable, "-m", "gdlab.cli", *SLOW_FIT, "--db", str(killed_db)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    whole = subprocess.Popen([sys.executable, "-m", "gdlab.cli", *SLOW_FIT, "--db", str(whole_db)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_epochs(killed_db, 3, killed)
    finally:
        killed.kill()  # SIGKILL: no handler runs, whatever the process was doing
        killed.communicate()  # reaped, its pipes closed
    out, err = whole.communicate(timeout=120)
    assert whole.returncode == 0, err
    reference = strict_json(out)

    with sqlite3.connect(killed_db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (run_id, status), = conn.execute("SELECT id, status FROM runs").fetchall()
        per_epoch = conn.execute("SELECT epoch, COUNT(*) FROM metrics GROUP BY epoch ORDER BY epoch").fetchall()
        (checkpoint,), = conn.execute("SELECT epoch FROM checkpoints").fetchall()
    conn.close()
    done = len(per_epoch)
    assert status == "running" and 3 <= done < 100  # killed mid-run, nothing marked it yet
    assert per_epoch == [(e, 6) for e in range(1, done + 1)]  # every completed epoch, whole
    assert checkpoint == done  # committed with its epoch's metrics

    listed = _json(capsys, "runs", "list", "--db", str(killed_db))
    assert [(r["run_id"], r["status"], r["epochs_run"], r["epochs"]) for r in listed] == [
        (run_id, "interrupted", done, 100)]
    with gd.store.open(killed_db) as store:  # it named no --db and 'the last checkpoint', saved or not
        assert store.run(run_id).reason.endswith(
            f"ended after epoch {done}; gdlab resume {run_id} --db {killed_db} goes on from its checkpoint of "
            f"epoch {done}")
    resumed = _json(capsys, "resume", run_id[:5], "--db", str(killed_db), "--no-progress")
    assert resumed["run_id"] == run_id
    for key in ("status", "reason", "epochs_run", "steps_run", "final_train_loss", "final_test_loss"):
        assert resumed[key] == reference[key], key

    run, history, stored = _final(killed_db, run_id)
    ref_run, ref_history, ref_stored = _final(whole_db, reference["run_id"])
    assert (run.status, run.epochs_run, run.resumed) == ("max_epochs", 100, 1)
    assert run.config == {**ref_run.config}  # the same run, options and all
    assert history.keys() == ref_history.keys()
    for name in history.keys() - TIMES:
        np.testing.assert_array_equal(history[name], ref_history[name], err_msg=name)
    assert stored.epoch == ref_stored.epoch == 100
    for part in ("params", "opt_state"):
        for got, want in zip(stored.leaves[part], ref_stored.leaves[part], strict=True):
            np.testing.assert_array_equal(got, want, err_msg=part)


def test_ctrl_c_marks_the_run_interrupted_and_says_how_to_resume(tmp_path, env) -> None:
    path = tmp_path / "runs.db"
    process = subprocess.Popen([sys.executable, "-m", "gdlab.cli", *SLOW_FIT, "--db", str(path)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_epochs(path, 2, process)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    with gd.store.open(path) as store:
        (run,) = store.runs()
        stored = store.checkpoint(run.id)
    assert (process.returncode, out) == (130, "")
    assert f"interrupted: gdlab resume {run.id} --db {path} goes on from its checkpoint of epoch {stored.epoch}" in err
    assert run.status == "interrupted" and run.reason == f"interrupted: Ctrl-C after epoch {run.epochs_run}"
    assert 2 <= stored.epoch == run.epochs_run < 100  # the last completed epoch was saved


def test_ctrl_c_before_the_run_is_recorded_names_no_run_to_resume(tmp_path, capsys, monkeypatch) -> None:
    """It printed 'gdlab resume ID ...' for an id no row held (Ctrl-C while compiling)."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gd, "fit", interrupted)
    path = tmp_path / "runs.db"
    code, _, err = _run(capsys, "fit", "--epochs", "1", "--db", str(path), "--no-progress")
    assert code == 130 and "interrupted: before the run was recorded (nothing to resume)" in err
    assert "gdlab resume" not in err
    with gd.store.open(path) as store:
        assert store.runs() == []


# --- gdlab fit records -------------------------------------------------------------------------


def test_fit_records_into_gdlab_db_by_default_and_prints_the_run_id(tmp_path, capsys) -> None:
    summary = _json(capsys, *FIT, "--epochs", "3", "--learning-rate", "0.05")
    assert (tmp_path / "gdlab.db").is_file()
    with gd.store.open(tmp_path / "gdlab.db") as store:
        run, history = store.run(summary["run_id"]), store.history(summary["run_id"])
    assert (run.status, run.reason, run.epochs_run) == (summary["status"], summary["reason"], 3)
    assert np.float32(history["train_loss"][-1]) == np.float32(summary["final_train_loss"])  # as its float32 text
    expected = FitOptions(dataset="linreg", model="linear", batch_size="100", learning_rate=0.05, epochs=3)
    assert run.config["cli"] == json.loads(json.dumps(asdict(expected)))  # what gdlab resume rebuilds


def test_no_record_writes_no_database_and_db_or_gdlab_db_choose_the_file(tmp_path, capsys, monkeypatch) -> None:
    assert _json(capsys, *FIT, "--epochs", "1", "--no-record")["run_id"] is None
    assert not (tmp_path / "gdlab.db").exists()
    first = _json(capsys, *FIT, "--epochs", "1", "--db", "a.db")["run_id"]
    monkeypatch.setenv("GDLAB_DB", str(tmp_path / "b.db"))
    second = _json(capsys, *FIT, "--epochs", "1")["run_id"]
    third = _json(capsys, *FIT, "--epochs", "1", "--db", "a.db")["run_id"]  # the option wins
    assert not (tmp_path / "gdlab.db").exists()
    assert [r["run_id"] for r in _json(capsys, "runs", "list", "--db", "a.db")] == [third, first]
    assert [r["run_id"] for r in _json(capsys, "runs", "list")] == [second]  # GDLAB_DB


def test_fit_shows_the_run_in_its_summary_table(capsys) -> None:
    code, out, _ = _run(capsys, *FIT, "--epochs", "1")
    run_id = _json(capsys, "runs", "list")[0]["run_id"]
    assert code == 0 and f"{run_id} in gdlab.db (gdlab runs show {run_id})" in out


def test_fit_and_its_report_show_the_same_train_seconds(capsys) -> None:
    """The summary said 'train seconds 0.05' (result.train_seconds, with the last epoch's recording in it) and the
    report 'seconds of training 0.04223' (the recorded wall_time): one quantity, one label, one precision now."""
    code, out, _ = _run(capsys, *FIT, "--epochs", "3")
    run_id = _json(capsys, "runs", "list")[0]["run_id"]
    with gd.store.open("gdlab.db") as store:
        wall = float(store.history(run_id)["wall_time"][-1])
    shown = f"{wall:.3g}"  # three significant digits, as the report's
    assert code == 0 and re.search(rf"│ train seconds +│ {re.escape(shown)} \(", out), out
    _run(capsys, "report", run_id, "-o", "run.html")
    assert f"<td>train seconds</td><td>{shown}</td>" in Path("run.html").read_text()
    result = gd.fit(gd.models.linear(), gd.datasets.load("linreg"), gd.sgd(0.1), batch_size=100, epochs=2)
    assert result.train_seconds == result.history["wall_time"][-1]  # the library's too


def test_checkpoint_every_reaches_the_record(capsys) -> None:
    summary = _json(capsys, *FIT, "--epochs", "5", "--checkpoint-every", "2")
    with gd.store.open("gdlab.db") as store:
        assert store.run(summary["run_id"]).checkpoint_every == 2
        assert store.checkpoint(summary["run_id"]).epoch == 5  # and at the end


# --- gdlab runs --------------------------------------------------------------------------------


def _small_csv(path: Path) -> Path:
    """50 rows of y = a + 2b - c + 0.5 as a CSV file at path."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)).round(3)
    rows = ["a,b,c,y"] + [f"{a},{b},{c},{a + 2 * b - c + 0.5:.4f}" for a, b, c in x]
    path.write_text("\n".join(rows) + "\n")
    return path


def _three_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> list[str]:
    """Runs on linreg (fine), linreg (diverged) and a CSV file, oldest first."""
    _small_csv(tmp_path / "small.csv")
    return [
        _json(capsys, *FIT, "--epochs", "4")["run_id"],
        _json(capsys, *FIT, "--epochs", "4", "--learning-rate", "5")["run_id"],
        _json(capsys, *FIT[:2], "small.csv", *FIT[3:], "--batch-size", "10", "--epochs", "2")["run_id"],
    ]


def test_runs_list_is_newest_first_and_filters_by_status_dataset_and_date(tmp_path, capsys) -> None:
    ok, diverged, small = _three_runs(capsys, tmp_path)
    listed = _json(capsys, "runs", "list")
    assert [r["run_id"] for r in listed] == [small, diverged, ok]
    assert [(r["status"], r["dataset"], r["epochs_run"], r["epochs"]) for r in listed] == [  # numbers: was "2/2"
        ("max_epochs", "small", 2, 2), ("diverged", "linreg", 1, 4), ("max_epochs", "linreg", 4, 4)]
    assert listed[2]["learning_rate"] == 0.1 and listed[2]["batch_size"] == 100
    assert [r["run_id"] for r in _json(capsys, "runs", "list", "--status", "diverged")] == [diverged]
    assert [r["run_id"] for r in _json(capsys, "runs", "list", "--dataset", "linreg")] == [diverged, ok]
    assert len(_json(capsys, "runs", "list", "--since", "2000-01-01")) == 3
    assert _json(capsys, "runs", "list", "--since", "2999-12-31") == []
    code, out, _ = _run(capsys, "runs", "list")
    assert code == 0 and all(run_id in out for run_id in (ok, diverged, small)) and "diverged" in out
    assert [line.split()[7] for line in out.splitlines()[1:]] == ["2/2", "1/4", "4/4"]  # run/planned: the table keeps it


def _library_sweep(store: gd.store.Store, data: gd.Dataset) -> str:
    """A finished two-config sweep (gd.sweep) on data recorded in store; its id."""
    gd.sweep(gd.models.linear(), data, learning_rate=[0.01, 0.1], batch_size=[10], epochs=1, record=store)
    assert store.last_sweep_id is not None
    return store.last_sweep_id


def test_runs_list_counts_only_the_sweeps_its_filters_list_and_names_them_so(tmp_path, capsys) -> None:
    """The line 'and N sweeps: gdlab runs list --sweeps' counted every sweep, whatever the filters."""
    with gd.store.open("gdlab.db") as store:
        sweep_id = _library_sweep(store, gd.datasets.load("linreg"))
    for filters in (["--since", "2099-01-01"], ["--dataset", "foo"], ["--status", "interrupted"],
                    ["--status", "max_epochs"]):  # the sweep is done, on linreg, of today; max_epochs: runs only
        assert _run(capsys, "runs", "list", *filters) == (0, "(no runs)\n", ""), filters
    code, out, _ = _run(capsys, "runs", "list", "--status", "DONE", "--dataset", "LinReg", "--since", "2000-01-01")
    hint = "gdlab runs list --sweeps --status done --dataset linreg --since 2000-01-01"  # names read in any case
    assert (code, out) == (0, f"(no runs)\nand 1 sweep: {hint}\n")
    assert [r["sweep_id"] for r in _json(capsys, *hint.split()[1:])] == [sweep_id]  # it lists that sweep
    Path("gdlab.db").rename("other.db")
    assert _run(capsys, "runs", "list", "--db", "other.db")[1] == (
        "(no runs)\nand 1 sweep: gdlab runs list --sweeps --db other.db\n")


def test_runs_list_sweeps_filters_by_data_set(tmp_path, capsys) -> None:
    """--dataset with --sweeps was refused; it matches a sweep's data set as a run's: a name in any case, a file's
    name (its stem) as typed."""
    with gd.store.open("gdlab.db") as store:
        on_linreg = _library_sweep(store, gd.datasets.load("linreg"))
        on_file = _library_sweep(store, gd.datasets.from_file(_small_csv(tmp_path / "Small.csv")))
    assert [r["sweep_id"] for r in _json(capsys, "runs", "list", "--sweeps")] == [on_file, on_linreg]
    assert [r["sweep_id"] for r in _json(capsys, "runs", "list", "--sweeps", "--dataset", "LINREG")] == [on_linreg]
    assert [r["sweep_id"] for r in _json(capsys, "runs", "list", "--sweeps", "--dataset", "Small")] == [on_file]
    assert _json(capsys, "runs", "list", "--sweeps", "--dataset", "small") == []  # a file's name keeps its case
    assert _json(capsys, "runs", "list", "--sweeps", "--dataset", "mnist1d", "--status", "done") == []
    code, out, _ = _run(capsys, "runs", "list", "--sweeps", "--dataset", "Small")
    assert code == 0 and len(out.splitlines()) == 2 and out.splitlines()[1].startswith(f"{on_file}  sweep ")


def test_the_library_reads_a_data_set_name_in_any_case_as_runs_list_does(tmp_path, capsys) -> None:
    """store.runs(dataset="LINREG") and store.sweeps(dataset="LINREG") found nothing where gdlab runs list
    --dataset LINREG lists the runs on linreg; a file's name (its stem) keeps its case in both."""
    with gd.store.open("gdlab.db") as store:
        gd.fit(gd.models.linear(), gd.datasets.load("linreg"), gd.sgd(0.1), record=store, epochs=1, batch_size=100)
        on_linreg = store.last_run_id
        small = gd.datasets.from_file(_small_csv(tmp_path / "Small.csv"))
        gd.fit(gd.models.linear(), small, gd.sgd(0.1), record=store, epochs=1, batch_size=10)
        on_file = store.last_run_id
        sweep_id = _library_sweep(store, gd.datasets.load("linreg"))
        found = {name: ([r.id for r in store.runs(dataset=name) if r.kind != "sweep"],
                        [s.id for s in store.sweeps(dataset=name)])
                 for name in ("linreg", "LINREG", "Small", "small", "Small.csv", "data/Small.CSV", "Small.txt")}
    assert found == {"linreg": ([on_linreg], [sweep_id]), "LINREG": ([on_linreg], [sweep_id]),
                     "Small": ([on_file], []), "small": ([], []),
                     "Small.csv": ([on_file], []), "data/Small.CSV": ([on_file], []),  # the file gdlab fit took:
                     "Small.txt": ([], [])}  # its stem ('Small.csv' found nothing); no data file: as typed
    for name, (runs, sweeps) in found.items():  # the command line lists the same
        assert [r["run_id"] for r in _json(capsys, "runs", "list", "--dataset", name)] == runs, name
        assert [r["sweep_id"] for r in _json(capsys, "runs", "list", "--sweeps", "--dataset", name)] == sweeps, name


def test_runs_show_prints_the_config_status_reason_and_a_loss_chart(tmp_path, capsys) -> None:
    summary = _json(capsys, *FIT, "--epochs", "6", "--learning-rate", "0.05", "--momentum", "0.5")
    run_id = summary["run_id"]
    code, out, err = _run(capsys, "runs", "show", run_id)
    assert code == 0, err
    with gd.store.open("gdlab.db") as store:
        loss = store.history(run_id)["train_loss"]
    lines = out.splitlines()
    assert lines[:2] == [f"run {run_id}: max_epochs", f"  reason: {summary['reason']}"]
    assert ("command: gdlab fit --dataset linreg --model linear --batch-size 100 --learning-rate 0.05 "
            "--momentum 0.5 --epochs 6") in lines
    assert '  rule.momentum: 0.5' in lines and "  dataset: linreg" in lines
    chart = lines[lines.index("train_loss:") + 1:]
    assert chart == text_chart(loss)
    assert sum(line.count("*") for line in chart) == 6  # one point per epoch
    assert chart[0].split("|")[0].strip() == f"{loss.max():.4g}" and chart[7].split("|")[0].strip() == f"{loss.min():.4g}"
    shown = _json(capsys, "runs", "show", run_id)
    assert shown["run"]["id"] == run_id and shown["run"]["config"]["cli"]["momentum"] == 0.5
    assert shown["final"]["train_loss"] == summary["final_train_loss"]


def test_runs_show_s_command_keeps_the_checkpoint_interval(capsys) -> None:
    """It left out --checkpoint-every, so the command did not reproduce the run's checkpoints."""
    run_id = _json(capsys, *FIT, "--epochs", "4", "--checkpoint-every", "2")["run_id"]
    command = _json(capsys, "runs", "show", run_id)["command"]
    assert command == "gdlab fit --dataset linreg --model linear --batch-size 100 --epochs 4 --checkpoint-every 2"
    code, out, _ = _run(capsys, "runs", "show", run_id)
    assert code == 0 and f"command: {command}" in out.splitlines()
    again = _json(capsys, *command.split()[1:], "--no-progress")["run_id"]  # the command given works
    with gd.store.open("gdlab.db") as store:
        assert store.run(again).checkpoint_every == 2
    plain = _json(capsys, *FIT, "--epochs", "1")["run_id"]
    assert "--checkpoint-every" not in _json(capsys, "runs", "show", plain)["command"]  # the default left out


def test_text_chart_draws_each_epoch_at_its_height() -> None:
    assert text_chart(np.array([3.0, 2.0, 1.0, 0.0]), height=4) == [
        "         3 |*",
        "           | *",
        "           |  *",
        "         0 |   *",
        "           +----",
        "            epoch 1 epoch 4",
    ]
    log = text_chart(np.array([100.0, 10.0, 1.0, np.nan]), height=3)
    assert log[:3] == ["       100 |*  x", "           | *", "         1 |  *"] and log[-1].strip() == "(log scale)"
    assert text_chart(np.array([np.nan])) == ["  (no finite values to chart)"]
    assert len(text_chart(np.linspace(1, 2, 500), width=60)[0]) <= 12 + 60  # at most width columns


def test_runs_compare_shows_the_settings_that_differ(tmp_path, capsys) -> None:
    a = _json(capsys, *FIT, "--epochs", "2")["run_id"]
    b = _json(capsys, *FIT, "--epochs", "2", "--learning-rate", "0.05", "--seed", "4")["run_id"]
    compared = _json(capsys, "runs", "compare", b, a)
    assert [r["run_id"] for r in compared["runs"]] == [b, a]
    assert set(compared["differences"]) == {"seed", "rule.learning_rate"}  # not their cli.* twins
    assert compared["differences"]["seed"] == [4, 0]
    code, out, _ = _run(capsys, "runs", "compare", a, b)
    assert code == 0 and "rule.learning_rate" in out and a in out and b in out
    assert re.search(r"rule\.learning_rate +\[0\.1\] +\[0\.05\]", out)  # the float32's text, not 0.100000001...
    assert "at least two runs" in _one_error(capsys, "runs", "compare", a)
    prefix = next(a[:k] for k in range(1, len(a)) if not b.startswith(a[:k]))  # names a, not b
    err = _one_error(capsys, "runs", "compare", a, b, prefix)  # the same run twice, once by a prefix
    assert err == f"error: RUN_IDS must name different runs; got {[a, b, prefix]}, which name {a} twice.\n"


def test_runs_compare_shows_no_option_typed_once_and_taken_by_default_once(tmp_path, capsys) -> None:
    """--batch-size 32 typed for one run and left to its default (32) for the other: 'cli.batch_size "32" null'
    was listed as a difference."""
    typed = [arg for arg in FIT if arg not in ("--batch-size", "100")]
    a = _json(capsys, *typed, "--epochs", "1", "--batch-size", "32")["run_id"]
    b = _json(capsys, *typed, "--epochs", "1", "--learning-rate", "0.05")["run_id"]
    compared = _json(capsys, "runs", "compare", a, b)
    assert set(compared["differences"]) == {"rule.learning_rate"}
    data = gd.datasets.load("linreg")  # two lab runs: their lab.* options beside rule.* listed each twice
    with gd.store.open("gdlab.db") as store:
        for rate in (0.05, 0.1):
            gd.fit(gd.models.linear(), data, gd.sgd(rate), batch_size=32, epochs=1, record=store.recorder(
                extra={"lab": {"dataset": "linreg", "model": "linear", "learning_rate": rate, "batch_size": 32}}))
        ids = [run.id for run in store.runs()[:2]]
    assert set(_json(capsys, "runs", "compare", *ids)["differences"]) == {"rule.learning_rate"}


def test_runs_compare_finds_no_setting_apart_in_a_fit_and_a_compare_member_trained_alike(capsys) -> None:
    """gdlab fit's record had devices, drop_last, reduce_lr, track_sharpness and its options as given (cli.*),
    a gdlab compare member compute_dtype, kernel, nesterov, weight_decay, task, n_test: each listed as a
    difference (value against null) between two runs trained alike."""
    fit = _json(capsys, *FIT, "--epochs", "2", "--learning-rate", "0.05", "--seed", "0")["run_id"]
    sweep = _json(capsys, "compare", "--dataset", "linreg", "--model", "linear", "--batch-sizes", "100",
                  "--learning-rates", "0.05", "--seeds", "1", "--epochs", "2", "--no-progress")["sweep_id"]
    [member] = [m["run_id"] for m in _json(capsys, "runs", "show", sweep)["members"]]
    compared = _json(capsys, "runs", "compare", fit, member)
    assert compared["differences"] == {} and [r["kind"] for r in compared["runs"]] == ["fit", "sweep"]
    code, out, _ = _run(capsys, "runs", "compare", fit, member)
    lines = out.splitlines()[1:]
    assert code == 0 and [line.split()[0] for line in lines[:6]] == [
        "status", "dataset", "model", "epochs", "final_train_loss", "final_test_loss"]
    assert [line[:18] for line in lines[6:]] in ([], ["No setting differs"])  # and why the finals may differ
    other = _json(capsys, *FIT, "--epochs", "2", "--learning-rate", "0.05", "--seed", "0", "--momentum", "0.5")
    differences = _json(capsys, "runs", "compare", other["run_id"], member)["differences"]
    assert differences == {"rule.momentum": [0.5, 0.0], "rule.velocity": [True, False]}  # momentum: its rule's twin


def test_runs_compare_says_why_runs_trained_alike_can_end_apart(capsys) -> None:
    """A fit and a compare member trained alike at rate 1 ended at 1.53 and 1.452 with no setting apart: a student
    read it as a bug. Two fits alike, one's last loss moved as another program's rounding would move it."""
    first = _json(capsys, *FIT, "--epochs", "2", "--learning-rate", "0.05", "--seed", "0")["run_id"]
    second = _json(capsys, *FIT, "--epochs", "2", "--learning-rate", "0.05", "--seed", "0")["run_id"]
    code, out, _ = _run(capsys, "runs", "compare", first, second)
    assert code == 0 and "No setting differs" not in out  # the same program: the same numbers
    with sqlite3.connect("gdlab.db") as conn:
        conn.execute("UPDATE metrics SET value = value * 1.01 WHERE run_id = ? AND name = 'train_loss' AND epoch = 2",
                     (second,))
    code, out, _ = _run(capsys, "runs", "compare", first, second)
    assert code == 0 and out.splitlines()[-1].startswith("No setting differs, yet the final metrics do: float32 rounding")
    assert _json(capsys, "runs", "compare", first, second)["differences"] == {}


def test_runs_export_writes_every_epoch_as_csv_or_json(capsys) -> None:
    run_id = _json(capsys, *FIT, "--epochs", "3", "--learning-rate", "5")["run_id"]  # diverges: an inf or nan
    with gd.store.open("gdlab.db") as store:
        history = store.history(run_id)
    code, out, _ = _run(capsys, "runs", "export", run_id, "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0] == ["epoch", *history]
    table = np.array([[float(v) for v in row] for row in rows[1:]])
    np.testing.assert_array_equal(table[:, 0], np.arange(1, len(history["train_loss"]) + 1))
    for i, (name, values) in enumerate(history.items(), start=1):  # the float32 of every loss, inf too; times
        exact = (table[:, i], values) if name in TIMES else (table[:, i].astype(np.float32), values.astype(np.float32))
        np.testing.assert_array_equal(*exact, name)
    exported = _json(capsys, "runs", "export", run_id)
    assert exported["run"]["id"] == run_id and exported["run"]["status"] == "diverged"
    for name, values in history.items():
        got = np.array(exported["history"][name], dtype=float)
        exact = (got, values) if name in TIMES else (got.astype(np.float32), values.astype(np.float32))
        np.testing.assert_array_equal(*exact, name)
    assert "format must be one of {'csv', 'json'}; got 'xml'." in _one_error(capsys, "runs", "export", run_id, "--format", "xml")
    assert "format must be 'json' (or left out) with --json; got 'csv'." in _one_error(
        capsys, "runs", "export", run_id, "--format", "csv", "--json")
    assert _json(capsys, "runs", "export", run_id, "--format", "json", "--json") == exported


def test_machine_output_writes_a_float32_as_its_shortest_text_and_a_time_as_measured(capsys) -> None:
    """fit --json gave final_learning_rate 0.009999999776482582, runs compare --json rule.learning_rate
    [[0.10000000149011612], ...] and runs export learning_rate 0.10000000149011612: float32 numbers as float64."""
    from gdlab.core.shortest import shortest_floats

    slow = _json(capsys, *FIT, "--epochs", "2", "--learning-rate", "0.01")
    fast = _json(capsys, *FIT, "--epochs", "2", "--learning-rate", "0.1")
    assert slow["final_learning_rate"] == 0.01 and fast["final_learning_rate"] == 0.1
    with gd.store.open("gdlab.db") as store:
        history = store.history(fast["run_id"])
    loss = float(str(np.float32(history["train_loss"][-1])))  # the float32's shortest text
    assert fast["final_train_loss"] == loss and np.float32(loss) == np.float32(history["train_loss"][-1])
    compared = _json(capsys, "runs", "compare", slow["run_id"], fast["run_id"])
    assert compared["differences"]["rule.learning_rate"] == [[0.01], [0.1]]
    assert compared["runs"][1]["final_train_loss"] == loss
    assert _json(capsys, "runs", "list")[0]["final_train_loss"] == loss  # newest first
    exported = _json(capsys, "runs", "export", fast["run_id"])
    assert exported["history"]["learning_rate"] == [0.1, 0.1] and exported["run"]["config"]["rule"]["learning_rate"] == [0.1]
    assert exported["history"]["wall_time"] == history["wall_time"].tolist()  # float64 times: not cut to float32
    code, out, _ = _run(capsys, "runs", "export", fast["run_id"], "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["learning_rate"] for r in rows] == ["0.1", "0.1"]
    assert [float(r["epoch_time"]) for r in rows] == history["epoch_time"].tolist()
    time32 = float(np.float32(0.1))  # a float64 time that happens to be a float32 stays as it is
    assert shortest_floats({"wall_time": time32, "seconds": [time32], "loss": time32}) == {
        "wall_time": time32, "seconds": [time32], "loss": 0.1}


def test_runs_delete_asks_first_and_yes_skips_the_question(capsys, monkeypatch) -> None:
    first = _json(capsys, *FIT, "--epochs", "1")["run_id"]
    second = _json(capsys, *FIT, "--epochs", "1")["run_id"]
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, _, err = _run(capsys, "runs", "delete", first)
    assert code == 1 and f"Delete run {first} (max_epochs, linreg, 1 epoch" in err and f"kept run {first}" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert _run(capsys, "runs", "delete", first)[:2] == (0, f"deleted run {first}\n")
    for args, missing in ((["runs", "delete"], "RUN_ID"), (["report"], "ID_OR_FILE")):  # it said 'target: Missing'
        assert _one_error(capsys, *args) == f"error: Missing argument '{missing}'.\n"
    assert _json(capsys, "runs", "delete", second, "--yes") == {"deleted": second, "kind": "run"}
    assert _json(capsys, "runs", "list") == []
    assert f"got '{first}'" in _one_error(capsys, "runs", "delete", first, "--yes")


# --- gdlab resume refuses --------------------------------------------------------------------


def test_resume_refuses_a_finished_run_a_library_run_and_a_missing_database(tmp_path, capsys) -> None:
    finished = _json(capsys, *FIT, "--epochs", "1")["run_id"]
    assert f"RUN_ID {finished} has finished (max_epochs); there is nothing to resume." in _one_error(
        capsys, "resume", finished)
    with gd.store.open("gdlab.db") as store:
        recorder = store.recorder()
        with pytest.raises(KeyboardInterrupt):
            gd.fit(gd.models.linear(), gd.datasets.load("linreg"), gd.sgd(0.1), record=recorder, epochs=2,
                   on_epoch=_interrupt)
    assert "was recorded from the library, not by gdlab fit" in _one_error(capsys, "resume", recorder.run_id)
    with gd.store.open("gdlab.db") as store:  # a run of the lab's page, recorded as the lab records it
        lab = store.recorder(extra={"lab": _plain_spec(TrainSpec(learning_rate=0.05))})
        with pytest.raises(KeyboardInterrupt):
            gd.fit(gd.models.linear(), gd.datasets.load("linreg"), gd.sgd(0.05), record=lab, epochs=2,
                   on_epoch=_interrupt)
    assert "was recorded by gdlab lab, not by gdlab fit" in _one_error(capsys, "resume", lab.run_id)
    listed = _json(capsys, "runs", "list")[0]
    assert (listed["run_id"], listed["learning_rate"]) == (lab.run_id, 0.05)  # was [0.05000000074505806]
    code, out, _ = _run(capsys, "runs", "list")  # the library run's rate and schedule as a gdlab fit run's
    assert code == 0 and re.search(rf"^{recorder.run_id} .* 0\.1 +constant ", out, re.MULTILINE), out
    assert "does not exist" in _one_error(capsys, "resume", finished, "--db", "missing.db")
    assert not (tmp_path / "missing.db").exists()


def test_runs_list_shows_a_full_batch_as_full_as_gdlab_fit_takes_it(capsys) -> None:
    """gdlab fit --batch-size full was listed as batch_size 4000 (the data's training rows), like a mini-batch."""
    full = _json(capsys, *FIT, "--epochs", "1", "--batch-size", "full")["run_id"]
    mini = _json(capsys, *FIT, "--epochs", "1", "--batch-size", "100")["run_id"]
    with gd.store.open("gdlab.db") as store:  # a library run of every sample, given as the number
        data = gd.datasets.load("linreg")
        gd.fit(gd.models.linear(), data, gd.sgd(0.1), record=store, epochs=1, batch_size=data.n_train)
        library = store.last_run_id
    listed = {row["run_id"]: row["batch_size"] for row in _json(capsys, "runs", "list")}
    assert listed == {full: "full", mini: 100, library: "full"}
    code, out, _ = _run(capsys, "runs", "list")
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert code == 0 and "full" in lines[full] and "full" in lines[library] and "full" not in lines[mini]
    assert not {"800", "4000"} & {token for tokens in lines.values() for token in tokens}  # a cell, not a run id's digits


def test_runs_list_shows_a_library_runs_schedule_as_it_shows_a_cli_runs(capsys) -> None:
    """A library run with a cosine schedule was listed by its schedule's numbers, [0.05, 1000, 0]; a gdlab fit run
    by its --learning-rate, without its schedule."""
    cli = _json(capsys, *FIT, "--epochs", "1", "--learning-rate", "0.05", "--schedule", "cosine",
                "--warmup-steps", "3")["run_id"]
    cosine = gd.schedules.cosine(0.05, 1000)
    rules = {"warmed": gd.schedules.warmup(cosine, 3), "cosine": cosine, "step": gd.schedules.step(0.2, 100, 0.5),
             "joined": gd.schedules.join([gd.schedules.constant(0.1), cosine], [50])}
    ids = {}
    with gd.store.open("gdlab.db") as store:
        for name, schedule in rules.items():
            gd.fit(gd.models.linear(), gd.datasets.load("linreg"), gd.sgd(schedule), record=store, epochs=1,
                   batch_size=100)
            ids[name] = store.last_run_id
    listed = {row["run_id"]: (row["learning_rate"], row["schedule"]) for row in _json(capsys, "runs", "list")}
    assert listed == {
        cli: (0.05, "cosine after 3 warmup steps"), ids["warmed"]: (0.05, "cosine after 3 warmup steps"),
        ids["cosine"]: (0.05, "cosine"), ids["step"]: (0.2, "step"),
        ids["joined"]: (None, "join(constant, cosine(restarts=False))"),  # no one rate: its kind as recorded
    }
    code, out, _ = _run(capsys, "runs", "list")
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert code == 0 and "[" not in out and out.splitlines()[0].split()[8:10] == ["learning_rate", "schedule"]
    for run_id in (cli, ids["warmed"]):
        assert re.search(r" 0\.05 +cosine after 3 warmup steps ", lines[run_id]), lines[run_id]


def test_runs_differing_only_in_momentum_nesterov_or_weight_decay_are_told_apart(capsys) -> None:
    """The fit summary's variant said only 'momentum 0.5', and runs list (table and --json) had none of them, so
    runs that differ only there looked the same; a record without them is listed with none (null, '-')."""
    code, out, _ = _run(capsys, *FIT, "--epochs", "1", "--momentum", "0.5", "--nesterov", "--weight-decay", "0.01")
    assert code == 0 and "momentum 0.5 (nesterov), weight_decay 0.01" in " ".join(out.replace("│", " ").split())
    plain = _json(capsys, *FIT, "--epochs", "1")["run_id"]
    with gd.store.open("gdlab.db") as store:
        gd.fit(gd.models.linear(), gd.datasets.load("linreg"), gd.sgd(0.1, momentum=0.9, weight_decay=0.001),
               record=store, epochs=1, batch_size=100)  # its rule's float32 numbers: 0.9, not 0.8999999761581421
        library = store.last_run_id
        gd.sweep(gd.models.linear(), gd.datasets.load("linreg"), learning_rate=[0.1], momentum=[0.3, 0.5],
                 nesterov=True, weight_decay=0.02, batch_size=[100], epochs=1, record=store)
        sweep_id = store.last_sweep_id
    with sqlite3.connect("gdlab.db") as conn:  # a record from before any of them was kept
        conn.execute("UPDATE runs SET config = json_remove(config, '$.cli.momentum', '$.cli.nesterov', "
                     "'$.cli.weight_decay', '$.rule.momentum', '$.rule.nesterov', '$.rule.weight_decay', "
                     "'$.momentum', '$.nesterov', '$.weight_decay') "
                     "WHERE id = ?", (plain,))
    [library_run, old, nesterov_run] = _json(capsys, "runs", "list")  # newest first
    options = [(r["momentum"], r["nesterov"], r["weight_decay"]) for r in (nesterov_run, library_run, old)]
    assert options == [(0.5, True, 0.01), (0.9, False, 0.001), (None, None, None)]
    assert old["run_id"] == plain and library_run["run_id"] == library
    code, out, _ = _run(capsys, "runs", "list")
    header, *lines = out.splitlines()
    assert header.split()[8:11] == ["learning_rate", "momentum", "weight_decay"]
    assert [line.split()[9:13] for line in lines[:3]] == [  # created_at is two words
        ["0.1", "0.9", "0.001", "constant"], ["0.1", "-", "-", "constant"], ["0.1", "0.5", "nesterov", "0.01"]]
    members = _json(capsys, "runs", "show", sweep_id)["members"]
    assert [(m["momentum"], m["nesterov"], m["weight_decay"]) for m in members] == [(0.3, True, 0.02),
                                                                                    (0.5, True, 0.02)]
    code, out, _ = _run(capsys, "runs", "show", sweep_id)
    table = out[out.index("members (2):"):].splitlines()
    assert table[1].split()[5:7] == ["momentum", "weight_decay"]
    assert [line.split()[5:8] for line in table[2:4]] == [["0.3", "nesterov", "0.02"], ["0.5", "nesterov", "0.02"]]


def _interrupt(checkpoint: gd.Checkpoint) -> None:
    raise KeyboardInterrupt


def _interrupted_fit(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """gdlab fit ARGS stopped by Ctrl-C after its second epoch (exit code 130); its run id."""
    fit = gd.fit

    def stopped(*a: object, **k: object) -> gd.Result:
        return fit(*a, **k, on_epoch=lambda checkpoint: _interrupt(checkpoint) if checkpoint.epoch == 2 else None)

    with monkeypatch.context() as patch:
        patch.setattr(gd, "fit", stopped)
        code, _, err = _run(capsys, *args)
    assert code == 130 and "interrupted: gdlab resume " in err, err
    run_id = err.split("gdlab resume ")[1].split()[0]
    with gd.store.open(args[args.index("--db") + 1] if "--db" in args else "gdlab.db") as store:
        epoch = store.checkpoint(run_id).epoch  # the last completed epoch, kept on the interruption
    assert f"interrupted: gdlab resume {run_id} goes on from its checkpoint of epoch {epoch}" in err, err
    return err.split("gdlab resume ")[1].split()[0]


def test_an_interrupted_run_tested_every_nth_epoch_shows_its_last_measured_test_metrics(capsys, monkeypatch) -> None:
    """Stopped after epoch 4 with --test-every 3: list, show and compare showed test_loss nan (epoch 4's, not
    measured) rather than epoch 3's."""
    fit = gd.fit

    def stopped(*a: object, **k: object) -> gd.Result:
        return fit(*a, **k, on_epoch=lambda checkpoint: _interrupt(checkpoint) if checkpoint.epoch == 4 else None)

    with monkeypatch.context() as patch:
        patch.setattr(gd, "fit", stopped)
        code, _, _ = _run(capsys, *FIT, "--epochs", "8", "--test-every", "3")
    assert code == 130
    with gd.store.open("gdlab.db") as store:
        run_id = store.runs()[0].id
        history = store.history(run_id)
    assert len(history["test_loss"]) == 4 and np.isnan(history["test_loss"][3])
    measured = float(history["test_loss"][2])  # epoch 3
    assert np.isfinite(measured)
    listed = _json(capsys, "runs", "list")[0]
    assert (listed["status"], np.float32(listed["final_test_loss"])) == ("interrupted", np.float32(measured))
    assert np.float32(listed["final_train_loss"]) == np.float32(history["train_loss"][3])  # the loss of epoch 4
    code, out, _ = _run(capsys, "runs", "list")
    assert code == 0 and f"{measured:.4g}" in out.splitlines()[1] and "nan" not in out
    assert np.float32(_json(capsys, "runs", "show", run_id)["final"]["test_loss"]) == np.float32(measured)
    code, out, _ = _run(capsys, "runs", "show", run_id)
    assert code == 0 and f"  test_loss: {measured:.4g} (epoch 3: tested every 3 epochs)" in out.splitlines(), out
    other = _json(capsys, *FIT, "--epochs", "1")["run_id"]
    assert np.float32(_json(capsys, "runs", "compare", run_id, other)["runs"][0]["final_test_loss"]) == np.float32(
        measured)


def test_ctrl_c_before_any_checkpoint_says_resume_starts_the_run_again(tmp_path, capsys, monkeypatch) -> None:
    """The line said 'goes on from the last checkpoint' also when a Ctrl-C came before the first epoch ended (no
    checkpoint); now it says the run starts again, and with one saved it names its epoch."""
    import gdlab.engine.fit

    monkeypatch.chdir(tmp_path)
    _small_csv(tmp_path / "ok2.csv")
    fit = [*FIT[:2], "ok2.csv", *FIT[3:], "--batch-size", "10", "--epochs", "8", "--checkpoint-every", "5"]
    with monkeypatch.context() as patch:
        patch.setattr(gdlab.engine.fit, "train_epochs", lambda *a, **k: _interrupt(None))  # in epoch 1
        code, _, err = _run(capsys, *fit)
    with gd.store.open("gdlab.db") as store:
        first = store.runs()[0].id
    assert code == 130 and err.strip() == f"interrupted: gdlab resume {first} starts it again (no checkpoint was saved)"
    second = _interrupted_fit(capsys, monkeypatch, *fit)  # after epoch 2: the interrupted run keeps that epoch
    with gd.store.open("gdlab.db") as store:
        assert store.checkpoint(second).epoch == 2
    # _interrupted_fit checked its line: "goes on from its checkpoint of epoch 2"


def test_resume_finds_a_runs_data_file_from_any_folder(tmp_path, capsys, monkeypatch) -> None:
    """gdlab resume looked for --dataset ok2.csv in the folder it ran in: 'not found' anywhere else."""
    (tmp_path / "x").mkdir()
    data = _small_csv(tmp_path / "x" / "ok2.csv")
    fit = [*FIT[:2], "ok2.csv", *FIT[3:], "--batch-size", "10", "--epochs", "4"]
    monkeypatch.chdir(tmp_path / "x")
    reference = _json(capsys, *fit, "--no-record")
    run_id = _interrupted_fit(capsys, monkeypatch, *fit)
    monkeypatch.chdir(tmp_path)  # no ok2.csv here
    with gd.store.open("x/gdlab.db") as store:
        assert store.run(run_id).config["dataset_file"] == str(data.resolve())  # beside the path as typed
        assert store.run(run_id).config["cli"]["dataset"] == "ok2.csv"
    resumed = _json(capsys, "resume", run_id, "--db", "x/gdlab.db", "--no-progress")
    for key in ("status", "epochs_run", "final_train_loss", "final_test_loss"):
        assert resumed[key] == reference[key], key
    assert _json(capsys, "runs", "list", "--db", "x/gdlab.db")[0]["dataset"] == "ok2"


def test_a_resumed_run_s_json_shows_its_data_file_as_typed(tmp_path, capsys, monkeypatch) -> None:
    """config.dataset of a resumed run was the recorded absolute path; the uninterrupted run's is as typed."""
    _small_csv(tmp_path / "ok2.csv")
    monkeypatch.chdir(tmp_path)
    fit = [*FIT[:2], "ok2.csv", *FIT[3:], "--batch-size", "10", "--epochs", "4"]
    reference = _json(capsys, *fit, "--no-record")
    run_id = _interrupted_fit(capsys, monkeypatch, *fit)
    resumed = _json(capsys, "resume", run_id, "--no-progress")
    assert resumed["config"]["dataset"] == reference["config"]["dataset"] == "ok2.csv"
    assert resumed["final_train_loss"] == reference["final_train_loss"]  # the same data, found by its full path


def test_resume_says_which_data_file_is_gone_or_changed_and_keeps_the_record(tmp_path, capsys, monkeypatch) -> None:
    (tmp_path / "x").mkdir()
    data = _small_csv(tmp_path / "x" / "ok2.csv")
    monkeypatch.chdir(tmp_path / "x")
    run_id = _interrupted_fit(capsys, monkeypatch, *FIT[:2], "ok2.csv", *FIT[3:], "--batch-size", "10", "--epochs", "4")
    monkeypatch.chdir(tmp_path)
    before = _final(tmp_path / "x" / "gdlab.db", run_id)[0]
    data.rename(tmp_path / "moved.csv")
    assert _one_error(capsys, "resume", run_id, "--db", "x/gdlab.db") == (
        f"error: run {run_id} was trained on the data file '{data.resolve()}', which is not there now; put the file "
        "back at that path to resume it (the data is checked against the record).\n")
    _small_csv(data).write_text(data.read_text().replace("\n-", "\n1", 1))  # other data under the same name
    assert re.fullmatch(rf"error: the data file '{re.escape(str(data.resolve()))}' has changed since run {run_id} "
                        r"was trained on it \(fingerprint \w{12}, now \w{12}\); put back the file it was trained "
                        r"on to resume it\.\n", _one_error(capsys, "resume", run_id, "--db", "x/gdlab.db"))
    assert _final(tmp_path / "x" / "gdlab.db", run_id)[0] == before  # refused before it took the run over


def test_resume_of_a_run_recorded_before_full_paths_reads_its_file_as_typed(tmp_path, capsys, monkeypatch) -> None:
    """A record holding only the path as typed: resumed from its folder as before; elsewhere one line saying so."""
    (tmp_path / "x").mkdir()
    _small_csv(tmp_path / "x" / "ok2.csv")
    monkeypatch.chdir(tmp_path / "x")
    run_id = _interrupted_fit(capsys, monkeypatch, *FIT[:2], "ok2.csv", *FIT[3:], "--batch-size", "10", "--epochs", "4")
    with sqlite3.connect("gdlab.db") as conn:  # as gdlab wrote it before it kept the full path
        conn.execute("UPDATE runs SET config = json_remove(config, '$.dataset_file')")
    conn.close()
    monkeypatch.chdir(tmp_path)
    assert _one_error(capsys, "resume", run_id, "--db", "x/gdlab.db") == (
        f"error: run {run_id} was trained on the data file 'ok2.csv' as typed in the folder it started in (its "
        f"record is older than gdlab's full paths), and '{tmp_path.resolve() / 'ok2.csv'}' is not there; resume it "
        "from that folder.\n")
    monkeypatch.chdir(tmp_path / "x")
    assert _json(capsys, "resume", run_id, "--no-progress")["epochs_run"] == 4


def test_resume_finds_a_compare_sweeps_data_file_from_any_folder(tmp_path, capsys, monkeypatch) -> None:
    (tmp_path / "x").mkdir()
    data = _small_csv(tmp_path / "x" / "ok2.csv")
    monkeypatch.chdir(tmp_path / "x")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    compare = ["compare", "--dataset", "ok2.csv", "--model", "linear", "--batch-sizes", "10,full", "--learning-rates",
               "0.01:0.1:2", "--seeds", "1", "--epochs", "2", "--no-progress"]
    with monkeypatch.context() as patch:
        patch.setattr(gd, "sweep", interrupted)
        assert _run(capsys, *compare)[0] == 130
    with gd.store.open("gdlab.db") as store:  # as the store marks it once this process is gone
        store.connection.execute("UPDATE sweeps SET status = 'interrupted'")
        (sweep,) = store.sweeps()
    assert sweep.config["dataset_file"] == str(data.resolve())
    monkeypatch.chdir(tmp_path)  # no ok2.csv here
    resumed = _json(capsys, "resume", sweep.id, "--db", "x/gdlab.db", "--no-progress")
    assert (resumed["sweep_id"], resumed["status"]) == (sweep.id, "done")
    assert [(r["sweep_id"], r["finished"]) for r in _json(capsys, "runs", "list", "--sweeps", "--db", "x/gdlab.db",
                                                             "--dataset", "ok2")] == [(sweep.id, 4)]


# --- bad databases and options ----------------------------------------------------------------


def test_bad_databases_are_one_error_line_and_stay_unchanged(tmp_path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("hello\n" * 50)
    future = tmp_path / "future.db"
    gd.store.open(future).close()
    with sqlite3.connect(future) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "notes.txt", future)}
    cases = [
        (["--db", str(tmp_path)], "db must be a database file path; got"),
        (["--db", ""], "db must be a database file path; got '' (empty)."),  # was: got '.', a directory
        (["--db", "notes.txt"], "db must be a gdlab database; 'notes.txt' is not an SQLite file."),
        (["--db", "future.db"], f"has schema version 99, newer than this gdlab reads (up to {CURRENT_VERSION})"),
    ]
    for args, message in cases:
        for command in ([*FIT, "--epochs", "1"], ["runs", "list"], ["runs", "list", "--sweeps"], ["resume", "abc"],
                        ["report", "abc"]):
            assert message in _one_error(capsys, *command, *args), (command, args)
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before} == before


def test_a_database_this_user_cannot_write_is_read_by_the_read_commands(tmp_path, capsys, monkeypatch) -> None:
    """An archived or shared file (chattr +i, or another user's): every command said 'db must be a writable file'."""
    path = tmp_path / "archive.db"
    with gd.store.open(path) as store:
        gd.fit(gd.models.linear(), gd.datasets.load("linreg", n=40, features=3, seed=0), gd.sgd(0.1), epochs=3,
               record=store)
        run_id = store.last_run_id
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == path and mode & os.W_OK
                        else real_access(p, mode, **kw))
    assert [r["run_id"] for r in _json(capsys, "runs", "list", "--db", str(path))] == [run_id]
    assert _json(capsys, "runs", "show", run_id, "--db", str(path))["run"]["status"] == "max_epochs"
    code, out, _ = _run(capsys, "runs", "export", run_id, "--db", str(path))
    assert code == 0 and len(out.splitlines()) == 4  # a header and 3 epochs
    assert _json(capsys, "report", run_id, "--db", str(path), "-o", str(tmp_path / "r.html"))["id"] == run_id
    assert "db must be a writable file" in _one_error(capsys, "runs", "delete", run_id, "--yes", "--db", str(path))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    with gd.store.open(path, create=False, read_only=True) as store, pytest.raises(sqlite3.OperationalError,
                                                                                   match="readonly database"):
        store.connection.execute("DELETE FROM runs")


def test_a_database_in_a_folder_this_user_cannot_write_is_read_by_the_read_commands(tmp_path, capsys,
                                                                                     monkeypatch) -> None:
    """The file writable, its folder not (SQLite's journal goes there): runs list said 'db must be in a writable
    folder'."""
    path = tmp_path / "archive.db"
    with gd.store.open(path) as store:
        gd.fit(gd.models.linear(), gd.datasets.load("linreg", n=40, features=3, seed=0), gd.sgd(0.1), epochs=3,
               record=store)
        run_id = store.last_run_id
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == tmp_path and mode & os.W_OK
                        else real_access(p, mode, **kw))
    assert [r["run_id"] for r in _json(capsys, "runs", "list", "--db", str(path))] == [run_id]
    assert "db must be in a writable folder" in _one_error(capsys, "runs", "delete", run_id, "--yes", "--db",
                                                           str(path))


def test_a_wal_database_in_a_folder_sqlite_cannot_write_is_read_by_the_read_commands(tmp_path, capsys,
                                                                                      monkeypatch) -> None:
    """SQLite reads a WAL database through its -shm and -wal files, made beside it: in a folder this user cannot
    write they cannot be made (here, as root may write anyway, links into a missing folder stand in their place),
    and runs list said 'not a usable gdlab database (unable to open database file)'."""
    path = tmp_path / "archive.db"
    with gd.store.open(path) as store:
        gd.fit(gd.models.linear(), gd.datasets.load("linreg", n=40, features=3, seed=0), gd.sgd(0.1), epochs=3,
               record=store)
        run_id = store.last_run_id
    assert not (tmp_path / "archive.db-wal").exists()  # closed: every commit is in the file
    for part in ("-shm", "-wal"):
        (tmp_path / f"archive.db{part}").symlink_to(tmp_path / "no such folder" / f"archive.db{part}")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == tmp_path and mode & os.W_OK
                        else real_access(p, mode, **kw))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert [r["run_id"] for r in _json(capsys, "runs", "list", "--db", str(path))] == [run_id]
    assert _json(capsys, "runs", "show", run_id, "--db", str(path))["run"]["epochs_run"] == 3
    code, out, _ = _run(capsys, "runs", "export", run_id, "--db", str(path))
    assert code == 0 and len(out.splitlines()) == 4  # a header and 3 epochs
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_database_damaged_inside_is_one_error_line_with_exit_code_2(tmp_path, capsys) -> None:
    """Its first pages read (it opens), the metrics' do not: it was 'database: ... malformed' with exit code 1."""
    path = tmp_path / "damaged.db"
    with gd.store.open(path) as store:
        gd.fit(gd.models.linear(), gd.datasets.load("linreg", n=40, features=3, seed=0), gd.sgd(0.1), epochs=400,
               record=store)
        run_id = store.last_run_id
    size = path.stat().st_size
    with open(path, "r+b") as f:  # the last pages: the metrics' rows and index
        f.seek(size - 3 * 4096)
        f.write(b"\xde\xad" * 2048)
    code, out, err = _run(capsys, "runs", "show", run_id, "--db", str(path))
    assert (code, out) == (2, "") and err == (
        "error: --db is damaged: database disk image is malformed (SQLite). Restore it from a copy, or give another "
        "--db.\n")


def _empty_sqlite(path: Path) -> None:
    """An SQLite database without tables (its header and one page)."""
    conn = sqlite3.connect(path)
    conn.execute("VACUUM")
    conn.close()


@pytest.mark.parametrize("command", [["runs", "list"], ["runs", "list", "--sweeps"], ["runs", "show", "abc"],
                                     ["runs", "compare", "abc", "def"], ["runs", "export", "abc"],
                                     ["runs", "export", "abc", "--json"], ["report", "abc"],
                                     ["runs", "delete", "abc", "--yes"], ["resume", "abc"]],
                         ids=lambda c: "-".join(c))
@pytest.mark.parametrize(("make", "what"), [(Path.touch, "an empty file"),
                                            (_empty_sqlite, "an SQLite database without tables")],
                         ids=["0-bytes", "sqlite-without-tables"])
def test_a_command_that_reads_leaves_an_empty_file_as_it_is(tmp_path, capsys, command, make, what) -> None:
    """It was migrated into a gdlab database (tables made) before the command found nothing in it."""
    path = tmp_path / "empty.db"
    make(path)
    before = path.read_bytes()
    err = _one_error(capsys, *command, "--db", str(path))
    assert err == (f"error: --db must be an existing gdlab database; '{path}' is {what}, with no runs. "
                   "Nothing was changed.\n")
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]


def test_a_command_that_reads_waits_for_a_database_another_process_is_making(tmp_path, capsys, monkeypatch) -> None:
    """gdlab fit makes its tables some 10-20 ms after the file appears: a runs list in between refused the file
    as one without tables (before that check it waited on the lock and read it). The first look is made to see
    the file as it is then; the second, under a write lock (waiting out the maker's), finds the run."""
    from gdlab.store import schema

    path = tmp_path / "making.db"
    with gd.store.open(path) as store:
        gd.fit(gd.models.linear(), gd.datasets.load("linreg", n=40, features=2), gd.sgd(0.1), epochs=1, record=store)
        run_id = store.last_run_id
    looks: list[str] = []
    real = schema._identity

    def first_look_before_the_tables(conn: Any, begin: str) -> tuple[int, list[str]]:
        looks.append(begin)
        return (0, []) if len(looks) == 1 else real(conn, begin)

    monkeypatch.setattr(schema, "_identity", first_look_before_the_tables)
    listed = _json(capsys, "runs", "list", "--db", str(path))
    assert [row["run_id"] for row in listed] == [run_id] and looks == ["BEGIN", "BEGIN IMMEDIATE"]


def _no_room(connect: Any) -> Any:
    """connect, with SQLite's page limit at the file's size: the next page it needs is SQLITE_FULL, as on a full disk."""
    def connect_full(path: Path, **options: Any) -> sqlite3.Connection:
        conn = connect(path, **options)
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        return conn

    return connect_full


@pytest.mark.parametrize(("args", "environ", "db"), [(["--db", "full.db"], {}, "full.db"),
                                                       ([], {"GDLAB_DB": "env.db"}, "env.db"), ([], {}, "gdlab.db")],
                         ids=["--db", "GDLAB_DB", "default"])
def test_a_full_disk_names_the_db_it_could_not_write(tmp_path, capsys, monkeypatch, args, environ, db) -> None:
    """The first checkpoint finds no room: it was 'database: database or disk is full', naming neither the
    file nor --db (exit code 1 still: the machine failed, not the input)."""
    import gdlab.store.database

    monkeypatch.setattr(gdlab.store.database, "connect", _no_room(gdlab.store.database.connect))
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    code, out, err = _run(capsys, *FIT, "--model", "mlp", "--hidden", "64,64", "--epochs", "1", *args)
    assert (code, out) == (1, "") and err == (
        f"error: --db '{db}' could not be written: database or disk is full (SQLite). Free some space on its "
        "disk, or give another --db.\n")
    with gd.store.open(tmp_path / db, create=False) as store:
        run = store.runs()[0]
    assert run.status == "failed" and "database or disk is full" in run.reason


def test_a_new_database_on_a_full_disk_is_not_called_unusable(tmp_path, capsys, monkeypatch) -> None:
    """Its tables found no room: it was 'db ... is not a usable gdlab database (database or disk is full)'."""
    from gdlab.store import schema

    use_wal = schema._use_wal
    monkeypatch.setattr(schema, "_use_wal", lambda conn: (use_wal(conn), conn.execute("PRAGMA max_page_count = 1")))
    code, out, err = _run(capsys, *FIT, "--db", "new.db")
    assert (code, out) == (1, "") and err == (
        "error: --db 'new.db' could not be written: database or disk is full (SQLite). Free some space on its "
        "disk, or give another --db.\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*FIT, "--checkpoint-every", "0"], "--checkpoint-every must be an integer in [1, inf]; got 0."),
        ([*FIT, "--checkpoint-every", "5", "--no-record"],  # it was ignored
         "--checkpoint-every applies only to a recorded run; got --checkpoint-every=5 with --no-record."),
        (["compare", "--checkpoint-seconds", "-1"], "--checkpoint-seconds must be a float in [0.0, inf); got -1.0."),
        (["compare", "--checkpoint-seconds", "5", "--no-record"],
         ("--checkpoint-seconds applies only to a recorded comparison; got --checkpoint-seconds=5 with "
          "--no-record.")),
        ([*FIT, "--coordinator-timeout", "5", "--no-record"],  # it was ignored
         "--coordinator-timeout must be left out without --coordinator (one process waits for none); got 5.0."),
        (["runs", "list", "--status", "lost"], "--status must be one of {"),
        (["runs", "list", "--since", "last week"], "--since must be a date or time such as 2025-01-31"),
        (["runs", "show", "nope"], "RUN_ID must name a run in 'gdlab.db' (see gdlab runs list); got 'nope'."),
    ],
    ids=["checkpoint-every", "checkpoint-every-no-record", "checkpoint-seconds", "checkpoint-seconds-no-record",
         "coordinator-timeout", "status", "since", "unknown-id"],
)
def test_bad_options_are_one_error_line(tmp_path, capsys, args, message) -> None:
    gd.store.open("gdlab.db").close()
    assert message in _one_error(capsys, *args)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["gdlab.db"]


@pytest.mark.parametrize("command", ["list", "show", "compare", "export", "delete"])
def test_every_runs_command_has_help_with_db_and_json(capsys, command) -> None:
    code, out, err = _run(capsys, "runs", command, "--help")
    assert code == 0 and err == "" and f"Usage: gdlab runs {command}" in out
    assert "--db" in out and "GDLAB_DB" in out and "--json" in out


def test_runs_list_help_names_the_data_file_forms_dataset_takes(capsys) -> None:
    """--dataset's help said 'a file's name without .csv/.npz' after runs list --dataset my.csv found the runs
    on data/my.csv too (the README says so); the help names every form the filter takes."""
    code, out, _ = _run(capsys, "runs", "list", "--help")
    text = " ".join(out.replace("│", " ").split())
    assert code == 0 and "without .csv/.npz" not in text
    assert "in any case" in text and "my or my.csv for data/my.csv" in text


def test_resume_and_fit_help_show_the_record_options(capsys) -> None:
    for command, options in (("resume", ["run_id", "--db", "--json"]),
                             ("fit", ["--db", "--no-record", "--checkpoint-every"]),
                             ("compare", ["--db", "--no-record", "--checkpoint-seconds"])):
        code, out, _ = _run(capsys, command, "--help")
        assert code == 0 and all(option in out for option in options), command


# --- gdlab report of a run, and find-lr records --------------------------------------------------


def _self_contained(page: str) -> None:
    """No address outside the page: no URL, no src= or href= to a file, no @import."""
    assert "http://" not in page and "https://" not in page and "@import" not in page
    assert not re.search(r'(src|href)="(?!#)', page), re.search(r'(src|href)="[^"]*"', page)
    assert "<script" not in page


def test_report_of_a_run_is_one_self_contained_page_with_its_numbers(capsys) -> None:
    fit = _json(capsys, *FIT, "--epochs", "4", "--track-noise-scale", "2")
    run_id = fit["run_id"]
    shown = _json(capsys, "report", run_id[:5], "--output", "run.html")
    assert shown == {"id": run_id, "out": "run.html", "kind": "fit", "status": "max_epochs",
                     "reason": fit["reason"]}
    page = Path("run.html").read_text()
    _self_contained(page)
    assert page.count("<svg") == 2  # the curves per epoch and per second; the tracked noise scale
    assert f"gdlab run {run_id}: linear on linreg" in page and "max_epochs: ran 4 epochs" in page
    with gd.store.open("gdlab.db") as store:
        history = store.history(run_id)
    assert f"<td>train_loss</td><td>{history['train_loss'][-1]:.4g}</td>" in page
    assert f"<td>noise_scale</td><td>{history['noise_scale'][-1]:.4g}</td>" in page
    assert np.isnan(history["noise_scale"][0]) and np.isfinite(history["noise_scale"][1])
    assert "B_simple is the batch size above which" in page and "<td>cli.track_noise_scale</td><td>2</td>" in page
    code, out, _ = _run(capsys, "report", run_id)
    assert code == 0 and out == f"run {run_id} (fit): {fit['reason']}\nout: gdlab-report-{run_id}.html\n"
    assert Path(f"gdlab-report-{run_id}.html").is_file()
    # an empty --output is a value given, not 'the default' (it wrote gdlab-report-ID.html)
    err = _one_error(capsys, "report", run_id, "--output", "")
    assert err == "error: --output must be a file path in an existing directory; got '' (empty).\n"
    before = Path("gdlab.db").read_bytes()  # the report was written over the run store
    err = _one_error(capsys, "report", run_id, "--output", "./gdlab.db")
    assert err == "error: --output must be another file than --db; got 'gdlab.db' for both.\n"
    assert Path("gdlab.db").read_bytes() == before
    err = _one_error(capsys, "report", run_id, "--output", "run.txt")  # an HTML report was written there
    assert err == "error: --output must end in .html or .htm; got 'run.txt'.\n"


def test_report_of_a_sweep_member_names_its_sweep_and_the_command_that_reports_it(capsys) -> None:
    with gd.store.open("other.db") as store:
        sweep_id = _library_sweep(store, gd.datasets.load("linreg"))
        member = store.members(sweep_id)[1]  # learning_rate 0.1
    shown = _json(capsys, "report", member.id, "--db", "other.db", "--output", "member.html")
    assert (shown["kind"], shown["sweep_id"]) == ("sweep", sweep_id)
    page = html.unescape(Path("member.html").read_text())
    _self_contained(page)
    assert (f"A member of sweep {sweep_id} (done): config 2 of its 2, which swept batch_size [10]; "
            "learning_rate [0.01, 0.1]; momentum [0.0]; schedule [\"constant\"]; seeds [0].") in page
    assert f"<td>sweep_id</td><td>{sweep_id}</td>" in page
    command = re.search(r"The sweep's report: <code>gdlab ([^<]*)</code>", page)
    assert command is not None and command[1] == f"report {sweep_id} --db other.db"
    reported = _json(capsys, *command[1].split(), "--output", "sweep.html")  # the command given works
    assert reported["id"] == sweep_id and "gdlab compare" in Path("sweep.html").read_text()
    code, out, _ = _run(capsys, "report", member.id, "--db", "other.db", "--output", "member.html")
    assert code == 0 and f"sweep_id: {sweep_id}\n" in out
    fit = _json(capsys, *FIT, "--epochs", "1")  # a run of its own names no sweep
    assert "sweep_id" not in _json(capsys, "report", fit["run_id"], "--output", "fit.html")
    assert "A member of sweep" not in Path("fit.html").read_text()


def test_find_lr_is_recorded_shown_and_reported_with_its_plot(capsys) -> None:
    found = _json(capsys, "find-lr", "--dataset", "linreg", "--model", "linear", "--seeds", "2", "--steps", "40",
                  "--validate-epochs", "1", "--db", "f.db")
    run_id = found["run_id"]
    shown = _json(capsys, "runs", "show", run_id, "--db", "f.db")
    assert shown["run"]["kind"] == "lr_finder" and shown["run"]["status"] == "done"
    assert shown["finder"]["suggestion"] == found["suggestion"] and shown["finder"]["interval"] == found["interval"]
    for rule, s in found["suggestions"].items():
        assert shown["finder"]["suggestions"][rule]["value"] == s["value"]
        assert shown["finder"]["suggestions"][rule]["per_seed"] == s["per_seed"]
        assert shown["finder"]["suggestions"][rule]["spread"] == [min(s["per_seed"]), max(s["per_seed"])]
    code, out, _ = _run(capsys, "runs", "show", run_id, "--db", "f.db")
    assert code == 0
    assert f"suggestion: learning_rate {found['suggestion']:.4g} (validated; interval" in out
    listed = _json(capsys, "runs", "list", "--db", "f.db")
    assert [(r["run_id"], r["kind"], r["status"], r["epochs_run"], r["epochs"]) for r in listed] == [
        (run_id, "lr_finder", "done", None, None)]  # a finder runs steps, not epochs

    # export: one row per range-test step (it was the lone header 'epoch')
    with gd.store.open("f.db") as store:
        finder = store.finder(run_id)
    code, out, _ = _run(capsys, "runs", "export", run_id, "--db", "f.db")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 40
    assert list(rows[0]) == ["step", "learning_rate", "loss_seed0", "raw_loss_seed0", "loss_seed1", "raw_loss_seed1"]
    assert [float(r["learning_rate"]) for r in rows] == finder.learning_rates.tolist()
    assert np.array_equal([np.float32(r["raw_loss_seed1"]) for r in rows], finder.raw_losses[1].astype(np.float32))
    exported = _json(capsys, "runs", "export", run_id, "--db", "f.db")
    assert exported["run"]["id"] == run_id and [r["step"] for r in exported["rows"]] == list(range(1, 41))

    reported = _json(capsys, "report", run_id, "--db", "f.db", "-o", "finder.html")
    assert reported["suggestion"] == found["suggestion"]
    page = Path("finder.html").read_text()
    _self_contained(page)
    assert page.count("<svg") == 1 and f"Validated learning rate {found['suggestion']:.3g}" in page
    low, high = found["interval"]  # a band where the interval holds more than the answer (report/finder.py)
    assert ("the grey band is its interval" if low < high else "no other came within one standard deviation") in page
    assert all(f"<td>{rule}</td>" in page for rule in found["suggestions"])
    assert "validated by 1 epoch per candidate" in page  # it said '1 epochs'
    code, out, _ = _run(capsys, "report", run_id, "--db", "f.db", "-o", "finder.html")
    assert code == 0  # written as find-lr's table writes them: it printed 'suggestion: 0.5623413251903491'
    assert f"suggestion: {found['suggestion']:.3g}\ninterval: {low:.3g} .. {high:.3g}\n" in out, out

    code, out, err = _run(capsys, "find-lr", "--dataset", "linreg", "--model", "linear", "--seeds", "2", "--steps",
                          "40", "--validate-epochs", "2", "--db", "f.db", "--no-record")
    assert code == 0 and "validated" in out
    assert "range test: 40 steps x 2 seeds" in err
    # one bar over every validation sweep's epochs (it restarted at 0/2 for each further sweep), saying how many
    bar = re.search(r"validating the suggestions\W+(\d+)/(\d+)\s+(\d+) sweeps? of 2 epochs", err)
    assert bar is not None and int(bar[1]) == int(bar[2]) == 2 * int(bar[3]), err
    assert len(_json(capsys, "runs", "list", "--db", "f.db")) == 1


def test_find_lr_records_the_mlps_hidden_sizes_and_activation_as_fit_does(capsys) -> None:
    """find-lr recorded its model as 'mlp' alone, while gdlab fit's run keeps --hidden and --activation: the
    finder's record (runs show) now names them too, and a model without hidden layers records neither."""
    fit = _json(capsys, "fit", "--dataset", "linreg", "--hidden", "8,4", "--epochs", "1", "--batch-size", "100",
                "--no-progress", "--db", "f.db")
    found = _json(capsys, "find-lr", "--dataset", "linreg", "--hidden", "8,4", "--seeds", "1", "--steps", "40",
                  "--validate-epochs", "1", "--no-progress", "--db", "f.db")
    recorded = _json(capsys, "runs", "show", found["run_id"], "--db", "f.db")["run"]["config"]
    assert (recorded["model"], recorded["hidden"], recorded["activation"]) == ("mlp", [8, 4], "relu")
    fit_cli = _json(capsys, "runs", "show", fit["run_id"], "--db", "f.db")["run"]["config"]["cli"]
    assert (fit_cli["hidden"], fit_cli["activation"]) == ("8,4", "relu")  # the same model, as fit keeps it
    assert (fit["config"]["hidden"], fit["config"]["activation"]) == (recorded["hidden"], recorded["activation"])
    code, out, _ = _run(capsys, "runs", "show", found["run_id"], "--db", "f.db")
    assert code == 0 and "\n  hidden: [8, 4]\n" in out and '\n  activation: "relu"\n' in out
    linear = _json(capsys, "find-lr", "--dataset", "linreg", "--model", "linear", "--seeds", "1", "--steps", "40",
                   "--validate-epochs", "1", "--no-progress", "--db", "f.db")
    config = _json(capsys, "runs", "show", linear["run_id"], "--db", "f.db")["run"]["config"]
    assert config["model"] == "linear" and "hidden" not in config and "activation" not in config


@pytest.mark.parametrize("stage", ["validation", "recording"])
def test_ctrl_c_stops_find_lr_with_one_line_and_no_half_written_record(capsys, monkeypatch, stage) -> None:
    """Ctrl-C in find-lr was exit 130 without a word (gdlab fit says what happened); the finder is recorded in
    one transaction once it ends, so a Ctrl-C in its validation or while it is being written records nothing."""
    finder = gd.find_learning_rate
    if stage == "recording":  # the run row is in, its curves not yet: the transaction must roll it back
        def interrupted_write(*args: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr("gdlab.store.finders._insert_result", interrupted_write)

    def find(*args: Any, callback: Any, **kwargs: Any) -> Any:
        def ctrl_c(stage_now: str, done: int, total: int) -> None:
            if stage == "validation" and stage_now == "validation" and done == 1:  # after the range test
                raise KeyboardInterrupt
            callback(stage_now, done, total)

        return finder(*args, callback=ctrl_c, **kwargs)

    monkeypatch.setattr(gd, "find_learning_rate", find)
    code, out, err = _run(capsys, "find-lr", "--dataset", "linreg", "--model", "linear", "--seeds", "2", "--steps",
                          "40", "--validate-epochs", "2", "--db", "f.db", "--no-progress")
    assert (code, out) == (130, "")
    assert err == "interrupted: nothing recorded in f.db (a finder is recorded only once it ends)\n"
    with gd.store.open("f.db") as store:
        assert store.runs() == []
        assert store.connection.execute("SELECT COUNT(*) FROM lr_finder_curves").fetchone() == (0,)
    if stage == "validation":
        code, out, err = _run(capsys, "find-lr", "--dataset", "linreg", "--model", "linear", "--seeds", "2",
                              "--steps", "40", "--validate-epochs", "2", "--no-record", "--no-progress")
        assert (code, out, err) == (130, "", "interrupted: nothing to record (--no-record)\n")


def test_find_lr_marks_the_candidates_that_diverged_in_its_validation(capsys) -> None:
    # max_lr 100: largest_stable suggests about 1.6, whose candidates 1 to 3.2 blow up over 2 epochs (a loss
    # of 1e15 to 1e34, finite at first, above 100 x the initial loss), while 0.018 to 0.56 train
    code, out, err = _run(capsys, "find-lr", "--dataset", "linreg", "--model", "linear", "--seeds", "2", "--steps",
                          "40", "--batch-size", "20", "--max-lr", "100", "--validate-epochs", "2", "--no-progress")
    assert code == 0, err
    [run] = _json(capsys, "runs", "list")
    validation = _json(capsys, "runs", "show", run["run_id"])["finder"]["validation"]
    grid = [v["learning_rate"] for v in validation]
    rows = gd.sweep(gd.models.linear(), gd.datasets.load("linreg"), learning_rate=grid, batch_size=[20], seeds=2,
                    epochs=2, metrics="running").rows  # the finder's validation sweep, again: the reference
    diverged = {r["learning_rate"] for r in rows if r["status"] == "diverged"}
    assert 0 < len(diverged) < len(grid)
    assert {v["learning_rate"] for v in validation if v["diverged"]} == diverged
    assert all(v["mean"] is None for v in validation if v["diverged"])  # no mean, as the table's "diverged"
    assert all(v["mean"] < 1 for v in validation if not v["diverged"])
    table = out[out.index("validation: 2 epochs per candidate"):]
    marked = [line for line in table.splitlines() if "diverged" in line and "│" in line]
    assert len(marked) == len(diverged) and "e+" not in table  # no blown-up loss shown as a number
    assert "gd.stop.diverged" in " ".join(out.split())
    code, shown, _ = _run(capsys, "runs", "show", run["run_id"])
    lines = shown[shown.index("validation ("):].splitlines()
    assert sum(line.split()[1:2] == ["diverged"] for line in lines) == len(diverged) and "e+" not in shown
    _run(capsys, "report", run["run_id"], "-o", "finder.html")
    page = Path("finder.html").read_text()
    section = page[page.index("<h2>Validation</h2>"):]
    assert section.count('<td class="failed">diverged</td>') == len(diverged) and "e+" not in section


def test_a_sweep_whose_every_config_diverged_lists_no_best_config(capsys) -> None:
    with gd.store.open("gdlab.db") as store:  # batch 20 at rate 1 on linreg: a finite 3e15 > 100 x the start
        result = gd.sweep(gd.models.linear(), gd.datasets.load("linreg"), learning_rate=[1.0], batch_size=[20],
                          seeds=2, epochs=1, record=store)
    assert {r["status"] for r in result.rows} == {"diverged"}
    assert all(np.isfinite(r["final_train_loss"]) for r in result.rows)
    [listed] = _json(capsys, "runs", "list", "--sweeps")
    assert (listed["best_config"], listed["best_train_loss"]) == (None, None)  # was the diverged config
    code, out, _ = _run(capsys, "runs", "show", listed["sweep_id"])
    assert code == 0 and out.splitlines()[-1] == "best by final train_loss: -"


def test_a_sweep_whose_configs_collapsed_lists_no_best_config(capsys) -> None:
    # batch gradient descent on linreg at 1.14 and 1.85 for 2 epochs: a loss 3x and 56x its start, finite and
    # under the 100x divergence bound (status max_epochs); the listing's old rule named 1.14 the best config
    with gd.store.open("gdlab.db") as store:
        for grid in ([1.14, 1.85], [1.14, 1.85, 0.1]):
            result = gd.sweep(gd.models.linear(), gd.datasets.load("linreg"), learning_rate=grid, batch_size=[800],
                              seeds=2, epochs=2, record=store)
    assert {r["status"] for r in result.rows} == {"max_epochs"}
    collapsed = {r["learning_rate"] for r in result.rows if r["final_train_loss"] >= r["initial_train_loss"]}
    assert collapsed == {1.14, 1.85}
    mixed, only_collapsed = _json(capsys, "runs", "list", "--sweeps")  # newest first
    assert (only_collapsed["best_config"], only_collapsed["best_train_loss"]) == (None, None)
    assert mixed["best_config"] == "batch_size full, learning_rate 0.1"
    assert mixed["best_train_loss"] == pytest.approx(np.mean([r["final_train_loss"] for r in result.rows
                                                              if r["learning_rate"] == 0.1]))


def test_the_sweep_listing_says_its_best_config_is_by_final_train_loss(capsys) -> None:
    """The listing's best config is the lowest final train loss (mean over seeds), not the report's best (by its
    metric); its column and key said best_train_loss, which a sweep's rows use for the lowest over epochs."""
    with gd.store.open("gdlab.db") as store:
        result = gd.sweep(gd.models.linear(), gd.datasets.load("linreg"), learning_rate=[0.01, 0.1], batch_size=[800],
                          seeds=2, epochs=3, record=store)
    final = np.mean([r["final_train_loss"] for r in result.rows if r["learning_rate"] == 0.1])
    [listed] = _json(capsys, "runs", "list", "--sweeps")
    assert listed["best_config"] == "batch_size full, learning_rate 0.1"
    assert listed["best_final_train_loss"] == listed["best_train_loss"] == pytest.approx(final)  # the old key kept
    code, out, _ = _run(capsys, "runs", "list", "--sweeps")
    assert code == 0 and out.splitlines()[0].split()[-2:] == ["best_final_train_loss", "best_config"]
    code, out, _ = _run(capsys, "runs", "show", listed["sweep_id"])
    assert out.splitlines()[-1] == (f"best by final train_loss: batch_size full, learning_rate 0.1 ({final:.4g}, "
                                    "mean over seeds)")


def test_resume_of_an_interrupted_sweeps_member_names_what_goes_on_with_its_sweep(capsys) -> None:
    def stop(group: int, epoch: int, active: int) -> None:
        raise KeyboardInterrupt

    with gd.store.open("gdlab.db") as store:
        with pytest.raises(KeyboardInterrupt):
            gd.sweep(gd.models.linear(), gd.datasets.load("linreg"), learning_rate=[0.01], epochs=2, record=store,
                     callback=stop)
        sweep_id = store.last_sweep_id
        member = store.members(sweep_id)[0].id
    assert _one_error(capsys, "resume", member) == (  # a library sweep: gdlab resume refuses it
        f"error: RUN_ID {member} is a run of kind sweep, not a gdlab fit run; gd.store.resume_sweep('{sweep_id}', "
        "store, model, data) goes on with it.\n")


def test_sweeps_recorded_by_the_library_in_the_cli(capsys, monkeypatch) -> None:
    with gd.store.open("gdlab.db") as store:
        gd.sweep(gd.models.linear(), gd.datasets.load("linreg"), learning_rate=[0.01, 100.0], seeds=2, epochs=2,
                 record=store)
        sweep_id = store.last_sweep_id
        member = store.members(sweep_id)[0].id
    code, out, _ = _run(capsys, "runs", "list")
    assert code == 0 and out == "(no runs)\nand 1 sweep: gdlab runs list --sweeps\n"
    code, out, _ = _run(capsys, "runs", "list", "--sweeps")
    header, line = out.splitlines()
    assert header.split() == ["sweep_id", "kind", "created_at", "status", "dataset", "model", "configs", "finished",
                              "best_final_train_loss", "best_config"]
    assert line.startswith(f"{sweep_id}  sweep") and " done " in line and "batch_size full, learning_rate 0.01" in line
    code, out, _ = _run(capsys, "runs", "show", sweep_id)
    assert f"sweep {sweep_id} (sweep): done" in out and "members (4):" in out and out.count(" diverged ") == 2
    lines = out.splitlines()
    table = lines[lines.index("members (4):") + 1 :]
    assert table[0].split()[:6] == ["run_id", "status", "batch_size", "learning_rate", "schedule", "momentum"]
    assert [row.split()[3:5] for row in table[1:5]] == [["0.01", "constant"]] * 2 + [["100", "constant"]] * 2
    assert _one_error(capsys, "resume", sweep_id) == (
        f"error: RUN_ID {sweep_id} was recorded from the library, not by gdlab compare; "
        "resume it with gd.store.resume_sweep(sweep_id, store, model, data).\n")
    assert _one_error(capsys, "resume", member) == (  # it said 'gd.store.resume_sweep(...) goes on with it'
        f"error: RUN_ID {member} is a run of kind sweep, not a gdlab fit run; it is a member of sweep {sweep_id}, "
        "which has finished (done): there is nothing to resume.\n")
    assert _one_error(capsys, "runs", "list", "--sweeps", "--status", "lost") == (
        "error: --status must be one of {'done', 'failed', 'interrupted', 'running'}; got 'lost'.\n")
    code, out, _ = _run(capsys, "runs", "export", sweep_id)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 5 and lines[0].startswith("learning_rate,batch_size,momentum,schedule,seed,status,")
    assert [line.split(",")[:6] for line in lines[1:]] == [
        ["0.01", "800", "0.0", "constant", "0", "max_epochs"], ["0.01", "800", "0.0", "constant", "1", "max_epochs"],
        ["100.0", "800", "0.0", "constant", "0", "diverged"], ["100.0", "800", "0.0", "constant", "1", "diverged"]]
    assert len(json.loads(_run(capsys, "runs", "export", sweep_id, "--format", "json")[1])["rows"]) == 4
    assert "is a member of a sweep" in _one_error(capsys, "runs", "delete", member, "--yes")
    assert _one_error(capsys, "runs", "compare", member, sweep_id) == (  # it was 'must name a run ... got'
        f"error: RUN_IDS must name runs; {sweep_id} is a sweep (sweep), whose configs gdlab runs show {sweep_id} "
        "lists.\n")
    report = _json(capsys, "report", sweep_id, "-o", "sweep.html")
    assert report["kind"] == "sweep" and Path("sweep.html").read_text().count("<svg") == 3
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, _, err = _run(capsys, "runs", "delete", sweep_id)  # not confirmed
    assert code == 1 and err.endswith(f"kept sweep {sweep_id}\n"), err  # it said 'kept run'
    assert _json(capsys, "runs", "delete", sweep_id, "--yes") == {"deleted": sweep_id, "kind": "sweep"}
    assert _json(capsys, "runs", "list", "--sweeps") == [] and _one_error(capsys, "runs", "show", member)
