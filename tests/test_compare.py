"""gdlab compare and gdlab report in-process: the files, the JSON, the table, the round trip, bad input."""

from __future__ import annotations

import csv
import inspect
import json
import math
import os
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import gdlab as gd
from cli_calls import strict_json
from gdlab.cli import compare, main
from gdlab.commands.compare import (
    DEFAULT_EPOCHS,
    CompareOptions,
    _variants,
    default_learning_rates,
    parse_batch_sizes,
    parse_learning_rates,
    write_csv,
)
from gdlab.engine.sweep import seed_initial_losses
from gdlab.report import load, render
from gdlab.report.summary import failure


@pytest.fixture(autouse=True)
def cache_dir(
    restore_jax_cache: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_cache: Path
) -> Iterator[Path]:
    """Run in tmp_path with GDLAB_CACHE_DIR in the session's temporary cache; undo the JAX cache settings."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(data_cache))
    yield data_cache


@pytest.fixture(scope="module")
def tiny(mnist1d: gd.Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 training and 40 test samples of MNIST-1D as an .npz file."""
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x_train=mnist1d.x_train[:120], y_train=mnist1d.y_train[:120],
             x_test=mnist1d.x_test[:40], y_test=mnist1d.y_test[:40])
    return path


def _grid(tiny: Path) -> list[str]:
    return ["compare", "--dataset", str(tiny), "--hidden", "8", "--batch-sizes", "full,1,40",
            "--learning-rates", "0.01:0.1:2", "--seeds", "2", "--epochs", "2", "--target", "0.15"]


def test_compare_writes_the_report_the_files_and_one_json_object(tiny, capsys) -> None:
    code = main([*_grid(tiny), "--out", "r.html", "--csv", "s.csv", "--json-out", "s.json", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert len(out.splitlines()) == 1
    summary = strict_json(out)
    assert [v["label"] for v in summary["variants"]] == ["SGD", "mini-batch 40", "batch GD"]  # smallest first
    assert [v["steps_per_epoch"] for v in summary["variants"]] == [120, 3, 1]
    assert summary["settings"]["learning_rates"] == {s: [0.01, 0.1] for s in ("1", "40", "120")}
    assert summary["settings"]["epochs"] == 2 and summary["settings"]["target"] == 0.15
    assert summary["settings"]["diverged_factor"] == 100.0  # gd.sweep's divergence rule, as the notes define it
    # the table's notes too ("... is the largest tried: the grid may not reach its best"), which --json left out
    html = Path("r.html").read_text()
    assert summary["notes"] and all(note in html.replace("&#x27;", "'") for note in summary["notes"]), summary["notes"]
    reached = [v for v in summary["variants"] if v["epochs_to_target"] is not None]
    if reached:
        first = min(reached, key=lambda v: (v["epochs_to_target"], v["seconds_to_target"]))
        assert summary["first_by_epoch"] == first["label"]
        assert first["label"] in summary["conclusion"]
    page = Path("r.html").read_text()
    assert page.count("<svg") == 4 and "https://" not in page and "http://" not in page  # with the noise paths
    rows = list(csv.DictReader(Path("s.csv").read_text().splitlines()))
    assert b"\r" not in Path("s.csv").read_bytes()  # LF lines, as gdlab runs export writes (it was CRLF)
    assert len(rows) == 3 * 2 * 2 and {r["batch_size"] for r in rows} == {"1", "40", "120"}
    saved = load("s.json")
    for variant in saved.variants:  # the seconds column: each config's share of its group's time (README)
        shares = [float(r["seconds"]) for r in rows if r["batch_size"] == str(variant["batch_size"])]
        assert shares == pytest.approx([variant["seconds"] / variant["configs"]] * 4)
    assert len(saved.rows) == len(saved.histories) == 12
    assert [len(h["train_loss"]) for h in saved.histories] == [r["epochs_run"] for r in saved.rows]
    assert all(math.isfinite(r["initial_train_loss"]) for r in saved.rows)
    assert summary["out"] == "r.html" and summary["json_out"] == "s.json"

    # gdlab report on the saved sweep writes the same page
    assert main(["report", "s.json", "--out", "again.html", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["conclusion"] == summary["conclusion"]
    assert Path("again.html").read_text() == page == render(saved)
    assert main(["report", "s.json", "--out", "s.json"]) == 2  # the report was written over the saved sweep
    assert capsys.readouterr().err == "error: --out must be another file than ID_OR_FILE; got 's.json' for both.\n"
    assert load("s.json").rows == saved.rows


    # a damaged file is one error line naming it (these were tracebacks: KeyError, AttributeError)
    outline = "settings must be an object and variants, rows and histories lists of objects; histories is not."
    document = json.loads(Path("s.json").read_text())
    for change, why in [
        ({"histories": [{"train_loss": 1}] * 12, "rows": [{}] * 12}, "the report failed on it with KeyError: "),
        ({"settings": {k: v for k, v in document["settings"].items() if k != "epochs"}},
         "the report failed on it with KeyError: 'epochs'."),
        ({"histories": "lost"}, outline),
        ({"histories": ["lost"] * 12}, outline),
    ]:
        Path("bad.json").write_text(json.dumps({**document, **change}))
        assert main(["report", "bad.json", "--out", "bad.html"]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(f"error: ID_OR_FILE 'bad.json' is damaged: {why}"), err
        assert len(err.splitlines()) == 1


def test_each_noise_path_is_its_sweep_member_s_run_measured_between_the_epochs(tiny, capsys) -> None:
    """A path is gd.fit of the member at that rate and the first seed: at each epoch's end it holds the member's
    recorded train loss; in between, measured every ceil(updates / 32) updates."""
    assert main([*_grid(tiny), "--epochs", "3", "--json-out", "s.json", "--out", "r.html", "--json"]) == 0
    said = strict_json(capsys.readouterr().out)
    saved = load("s.json")
    assert saved.paths and {p["kind"] for p in saved.paths} <= {"same", "best"}
    assert sorted((p["kind"], p["batch_size"], p["learning_rate"]) for p in said["paths"]) == sorted(
        (p["kind"], p["batch_size"], p["learning_rate"]) for p in saved.paths)  # --json summarises the saved paths
    same = [p for p in saved.paths if p["kind"] == "same"]
    sgd = next(v for v in said["variants"] if v["batch_size"] == 1)
    assert same and {p["learning_rate"] for p in same} == {sgd["best_learning_rate"]}  # the smallest batch's best
    steps = {v["batch_size"]: v["steps_per_epoch"] for v in saved.variants}
    for path in saved.paths:
        assert path["seed"] == 0 and path["every"] == math.ceil(steps[path["batch_size"]] / 32)
        k = next(i for i, r in enumerate(saved.rows) if (r["batch_size"], r["learning_rate"], r["seed"]) == (
            path["batch_size"], path["learning_rate"], 0))
        epoch, loss = np.array(path["epoch"]), np.array(path["train_loss"])
        assert loss[0] == pytest.approx(saved.rows[k]["initial_train_loss"], rel=1e-6)
        assert epoch[-1] == 3 and len(epoch) == 1 + 3 * len(np.arange(path["every"], steps[path["batch_size"]] + 1,
                                                                      path["every"]))
        ends = loss[np.isin(epoch, [1, 2, 3])]
        assert ends == pytest.approx(saved.histories[k]["train_loss"], rel=1e-5)
    page = Path("r.html").read_text()
    assert "<h2>Noise along the way: one seed's path</h2>" in page and page.count("<svg") == 4


def test_ctrl_c_says_how_to_finish_the_recorded_sweep(tiny, capsys, monkeypatch) -> None:
    """typer turned the interrupt into exit code 130 without a word (gdlab fit says how to go on)."""
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(gd, "sweep", interrupted)
    assert main([*_grid(tiny), "--db", "runs.db", "--no-progress"]) == 130
    with gd.store.open("runs.db") as store:
        (sweep,) = store.sweeps()
    message = f"interrupted: gdlab resume {sweep.id} --db runs.db goes on with the unfinished configs"
    assert capsys.readouterr().err.strip() == message
    with gd.store.open("runs.db") as store:  # as the store marks it once this process is gone
        store.connection.execute("UPDATE sweeps SET status = 'interrupted'")
    monkeypatch.setattr(gd.store, "resume_sweep", interrupted)
    assert main(["resume", sweep.id, "--db", "runs.db", "--no-progress"]) == 130
    assert capsys.readouterr().err.strip() == message


def test_ctrl_c_while_measuring_the_paths_leaves_them_and_the_report_to_gdlab_resume(tiny, capsys, monkeypatch) -> None:
    """Every config trained, then Ctrl-C in the paths' step: the sweep is interrupted, not done (it was closed as
    done first, and gdlab resume then had nothing to resume and no report was ever written); gdlab report says to
    resume it; gdlab resume, refused while another process holds the sweep, measures the paths (Ctrl-C there
    leaves it interrupted again), writes the report and closes the sweep, whose report from the store is the
    same page; a done sweep has nothing to resume."""
    import gdlab.commands.compare as compare_module

    measure = compare_module.with_paths

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_module, "with_paths", interrupted)
    assert main([*_grid(tiny), "--db", "runs.db", "--no-progress", "--out", "r.html"]) == 130
    with gd.store.open("runs.db") as store:
        (sweep,) = store.sweeps()
        members = store.members(sweep.id)
    hint = f"interrupted: gdlab resume {sweep.id} --db runs.db measures the paths and writes the report"
    assert capsys.readouterr().err.strip() == hint
    assert sweep.status == "interrupted" and "loss_paths" not in sweep.results and not Path("r.html").exists()
    assert {m.status for m in members} == {"max_epochs"}
    assert main(["report", sweep.id, "--db", "runs.db", "-o", "early.html"]) == 2
    assert capsys.readouterr().err == (
        f"error: sweep {sweep.id} stopped (interrupted) before it measured its noise paths; gdlab resume {sweep.id} "
        "--db runs.db measures them and writes the report.\n")

    with sqlite3.connect("runs.db") as conn:  # as if another gdlab resume held it
        conn.execute("UPDATE sweeps SET status = 'running', pid = ?, host = ?", (os.getpid(), socket.gethostname()))
    conn.close()
    assert main(["resume", sweep.id, "--db", "runs.db", "--no-progress"]) == 2
    assert f"{sweep.id} is running (pid {os.getpid()}" in capsys.readouterr().err
    with sqlite3.connect("runs.db") as conn:
        conn.execute("UPDATE sweeps SET status = 'interrupted', pid = NULL")
    conn.close()
    assert main(["resume", sweep.id, "--db", "runs.db", "--no-progress"]) == 130  # still interrupting
    assert capsys.readouterr().err.strip() == hint
    with gd.store.open("runs.db") as store:
        assert store.sweep(sweep.id).status == "interrupted"

    monkeypatch.setattr(compare_module, "with_paths", measure)
    assert main(["resume", sweep.id, "--db", "runs.db", "--no-progress"]) == 0
    assert "\nout: r.html\n" in capsys.readouterr().out
    with gd.store.open("runs.db") as store:
        done = store.sweep(sweep.id)
    assert done.status == "done" and done.reason == "done: 12 max_epochs" and done.results["loss_paths"]
    assert "Noise along the way" in Path("r.html").read_text()
    assert main(["report", sweep.id, "--db", "runs.db", "-o", "again.html"]) == 0
    assert Path("again.html").read_text() == Path("r.html").read_text()
    assert main(["resume", sweep.id, "--db", "runs.db"]) == 2
    assert capsys.readouterr().err == (f"error: RUN_ID {sweep.id} has no unfinished configs; there is nothing to "
                                       f"resume (gdlab report {sweep.id} --db runs.db writes its report).\n")


def test_an_error_while_measuring_the_paths_fails_the_sweep_and_a_one_variant_compare_stores_no_paths(
        tiny, capsys, monkeypatch) -> None:
    """Any error in the paths' step, not only Ctrl-C, closed nothing: the sweep stayed 'running'. One batch size
    has no paths to compare: it stores an empty list, and a resume of it has nothing to do (it re-wrote the report
    each time)."""
    import gdlab.commands.compare as compare_module

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no memory left")

    measure = compare_module.with_paths
    monkeypatch.setattr(compare_module, "with_paths", broken)
    with pytest.raises(RuntimeError, match="no memory left"):
        compare_module.run_compare(CompareOptions(dataset=str(tiny), hidden="8", batch_sizes="1,40", learning_rates="0.01,0.1", seeds=1,
                               epochs=1, db="runs.db"), show_progress=False, as_json=True)
    with gd.store.open("runs.db") as store:
        (sweep,) = store.sweeps()
    assert (sweep.status, sweep.reason) == ("failed", "failed: RuntimeError: no memory left")
    monkeypatch.setattr(compare_module, "with_paths", measure)
    assert main(["resume", sweep.id, "--db", "runs.db", "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "done"

    assert main(["compare", "--dataset", str(tiny), "--hidden", "8", "--batch-sizes", "40", "--learning-rates",
                 "0.01,0.1", "--seeds", "1", "--epochs", "1", "--db", "one.db", "--no-progress", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["paths"] == []
    with gd.store.open("one.db") as store:
        assert store.sweep(one["sweep_id"]).results["loss_paths"] == []
    assert main(["resume", one["sweep_id"], "--db", "one.db"]) == 2
    assert "has no unfinished configs; there is nothing to resume" in capsys.readouterr().err


def test_a_killed_compare_goes_on_from_its_checkpoints_to_the_uninterrupted_numbers(tiny, capsys) -> None:
    """gdlab compare --checkpoint-seconds 0 killed (SIGKILL) after its first chunk epoch: gdlab resume goes on
    from that epoch's checkpoints for that variant, from the start for the others, and every member ends
    as in an uninterrupted comparison."""
    grid = [*_grid(tiny), "--epochs", "3", "--no-progress", "--checkpoint-seconds", "0"]
    script = f"""
import os, signal, sys
from gdlab.cli import main
from gdlab.store.sweep_recorder import SweepRecorder
record = SweepRecorder.sweep_epoch
def kill_after_one(self, epoch):
    record(self, epoch)
    os.kill(os.getpid(), signal.SIGKILL)
SweepRecorder.sweep_epoch = kill_after_one
main({[*grid, "--db", "killed.db"]!r})
"""
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert child.returncode == -9, child.stderr
    assert main([*grid, "--db", "whole.db"]) == 0
    capsys.readouterr()
    with gd.store.open("killed.db") as store:
        (sweep,) = store.sweeps()
        groups = gd.store.unfinished_groups(sweep.id, store)
        reasons = {m.reason for m in store.members(sweep.id) if m.status == "interrupted"}
    then = f"gdlab resume {sweep.id} --db killed.db goes on with"  # the store's reasons named no --db
    assert sweep.reason.endswith(f"; {then} its unfinished configs")
    assert reasons and all(reason.endswith(f"; {then} it") for reason in reasons)
    assert [(g.configs, g.from_epoch) for g in groups] == [(4, 1), (4, 0), (4, 0)]
    assert main(["resume", sweep.id, "--db", "killed.db"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"batch size \d+: 4 unfinished configs from epoch 1", err), err
    assert re.search(r"batch size \d+: 4 unfinished configs from the start ", err), err
    members = {}
    for db in ("killed.db", "whole.db"):
        with gd.store.open(db) as store:
            (done,) = store.sweeps()
            assert done.status == "done"
            members[db] = [(m.config["batch_size"], m.config["learning_rate"], m.seed, m.status,
                            store.history(m.id)["train_loss"].tolist()) for m in store.members(done.id)]
            assert store.connection.execute("SELECT COUNT(*) FROM checkpoints").fetchone() == (0,)
    assert members["killed.db"] == members["whole.db"]


def test_an_output_file_that_is_a_database_is_refused_even_unrecorded(tiny, capsys) -> None:
    gd.store.open("runs.db").close()
    before = Path("runs.db").read_bytes()
    for option in ("--out", "--csv", "--json-out"):
        assert main([*_grid(tiny), "--no-record", option, "runs.db"]) == 2
        assert capsys.readouterr().err == (f"error: {option} must not be an SQLite database, which writing would "
                                           "destroy; got 'runs.db'.\n")
    assert Path("runs.db").read_bytes() == before


def test_an_output_file_that_cannot_be_written_is_named_before_anything_trains(tiny, capsys, monkeypatch) -> None:
    """It trained and recorded the sweep, then failed with a bare '[Errno 1] Operation not permitted' (exit 1)."""
    opened = Path.open

    def locked(self, *args, **kwargs):  # an immutable file (chattr +i): no one may open it to write
        if self.name in ("locked.html", "locked.csv") and set(args[:1]) & {"a", "w"}:
            raise PermissionError(1, "Operation not permitted")
        return opened(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", locked)
    for option, name in (("--out", "locked.html"), ("--csv", "locked.csv")):
        assert main([*_grid(tiny), option, name, "--db", "runs.db"]) == 2
        assert capsys.readouterr().err == (f"error: {option} must be a file this user can write; "
                                           f"got '{name}' (Operation not permitted).\n")
    assert not Path("runs.db").exists() and not list(Path().glob("*.html"))  # nothing trained or recorded
    assert main([*_grid(tiny), "--no-record", "--out", "fine.html", "--json"]) == 0  # a new file: probed, written
    assert Path("fine.html").read_text().startswith("<!DOCTYPE html>")


def test_compare_and_the_diagnostics_take_a_csv_files_target_column_and_task(capsys) -> None:
    """compare had no way to name it: it trained a regression on the last column, with the labels as a feature."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 4))
    label = (x[:, 0] + x[:, 1] > 0).astype(int)
    rows = "\n".join(f"{a:.4f},{b:.4f},{y},{c:.4f},{d:.4f}" for (a, b, c, d), y in zip(x, label, strict=True))
    Path("data.csv").write_text("a,b,label,c,d\n" + rows + "\n")
    grid = ["compare", "--dataset", "data.csv", "--hidden", "8", "--batch-sizes", "full", "--learning-rates", "0.1",
            "--seeds", "1", "--epochs", "1", "--no-record", "--json"]
    summary = strict_json(_out(capsys, main([*grid, "--target-column", "label"])))
    assert (summary["settings"]["model"], summary["settings"]["metric"]) == ("MLP 4-8-2", "final_test_accuracy")
    summary = strict_json(_out(capsys, main([*grid, "--target-column", "label", "--task", "regression"])))
    assert (summary["settings"]["model"], summary["settings"]["metric"]) == ("MLP 4-8-1", "final_test_loss")
    for command, key in ((["sharpness"], "lambda_max"), (["noise-scale", "--small-batch", "4", "--big-batch", "16"],
                                                           "b_simple")):
        given = [*command, "--dataset", "data.csv", "--hidden", "8", "--json", "--no-progress"]
        labels = strict_json(_out(capsys, main([*given, "--target-column", "label"])))[key]
        last = strict_json(_out(capsys, main(given)))[key]  # column d, a regression
        assert labels != last  # the option chose the target


def _out(capsys, code: int) -> str:
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_compare_with_the_fused_kernel_gives_the_same_summary(tiny, capsys) -> None:
    grid = [*_grid(tiny), "--batch-sizes", "1,40", "--no-record", "--json"]
    code, fused = main([*grid, "--kernel", "fused", "--out", "f.html"]), json.loads(capsys.readouterr().out)
    assert code == 0 and fused["settings"]["kernel"] == "fused"
    code, xla = main([*grid, "--out", "x.html"]), json.loads(capsys.readouterr().out)
    assert code == 0 and xla["settings"]["kernel"] == "xla"
    for a, b in zip(fused["variants"], xla["variants"]):
        assert (a["label"], a["best_learning_rate"]) == (b["label"], b["best_learning_rate"])
        assert a["mean"] == pytest.approx(b["mean"], abs=1e-6)
        assert a["lowest_final_train_loss"] == pytest.approx(b["lowest_final_train_loss"], rel=1e-5)


def test_compare_test_every_measures_the_test_metrics_every_nth_epoch_and_at_the_last(tiny, capsys) -> None:
    grid = ["compare", "--dataset", str(tiny), "--hidden", "8", "--batch-sizes", "40", "--learning-rates", "0.1",
            "--seeds", "1", "--epochs", "3", "--no-record", "--json"]
    assert main([*grid, "--test-every", "2", "--out", "a.html", "--json-out", "a.json"]) == 0
    sparse = json.loads(capsys.readouterr().out)
    assert main([*grid, "--out", "b.html", "--json-out", "b.json"]) == 0
    every = json.loads(capsys.readouterr().out)
    assert sparse["settings"]["test_every"] == 2 and every["settings"]["test_every"] == 1
    a, b = load("a.json").histories[0]["test_accuracy"], load("b.json").histories[0]["test_accuracy"]
    assert math.isnan(a[0]) and (a[1], a[2]) == (b[1], b[2]) and not math.isnan(b[0])
    assert sparse["variants"][0]["mean"] == every["variants"][0]["mean"]


def test_compare_prints_the_table_and_the_conclusion(tiny, capsys) -> None:
    code = main(["compare", "--dataset", str(tiny), "--hidden", "8", "--batch-sizes", "40,full",
                 "--learning-rates", "0.1", "--seeds", "1", "--epochs", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "gdlab compare" in out and "mini-batch 40" in out and "batch GD" in out
    text = " ".join(out.split())
    assert "1 epoch for every variant (" in text and "), 1 seed " in text  # the table's title, not '1 epochs'
    assert "With the same budget of 1 epoch for every variant" in text and " (one seed) at learning rate" in text
    assert "± 0 (mean ± std over 1 seeds)" not in text
    assert "out: gdlab-compare.html" in out and Path("gdlab-compare.html").is_file()
    assert "mini-batch 40" in err and "writing the report" in err  # the progress bars


def _summary_html(page: str) -> str:
    """The report's summary table (its first table)."""
    return page[page.index("<h2>Summary</h2>"):page.index("</table>")]


def test_a_variant_none_of_whose_rates_trained_shows_no_best_learning_rate(capsys) -> None:
    # SGD diverges at both rates on linreg, batch GD trains at both (2 seeds, 2 epochs)
    code = main(["compare", "--dataset", "linreg", "--model", "linear", "--batch-sizes", "1,full",
                 "--learning-rates", "0.5,0.9", "--seeds", "2", "--epochs", "2", "--no-record", "--no-progress",
                 "--json-out", "s.json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    sgd = next(line for line in out.splitlines() if "│ SGD " in line)
    assert "— (all diverged)" in sgd and "4/4" in sgd and " 0.5 │ " not in sgd.replace("│ 0.5 │", "")
    text = " ".join(out.split())
    assert "No learning rate in the grid trained SGD (all 4 configs diverged) within 2 epochs, so it has no best " \
           "learning rate" in text
    assert "batch GD ended best" in text and "SGD ended best" not in text
    assert "At its best rate SGD" not in text  # no claim about the least bad rate as if it were the best
    table = _summary_html(Path("gdlab-compare.html").read_text())
    assert '<td>SGD</td><td>1</td><td>800</td><td class="failed">— (all diverged)</td><td>—</td>' in table
    assert "<td>batch GD</td><td>800 (all)</td><td>1</td><td>0.5</td>" in table
    assert main(["report", "s.json", "--json", "-o", "again.html"]) == 0
    sgd, batch = json.loads(capsys.readouterr().out)["variants"]
    assert (sgd["trained"], sgd["best_learning_rate"], sgd["diverged"], sgd["configs"]) == (False, 0.5, 4, 4)
    assert (batch["trained"], batch["best_learning_rate"]) == (True, 0.5)  # the numbers stay, with the flag


def test_without_a_target_the_table_has_no_target_columns(capsys) -> None:
    grid = ["compare", "--dataset", "linreg", "--model", "linear", "--batch-sizes", "full", "--learning-rates",
            "0.5", "--seeds", "1", "--epochs", "2", "--no-record", "--no-progress"]
    assert main(grid) == 0  # a regression: no default target loss
    out = capsys.readouterr().out
    header = out[: out.index("│ batch GD")]
    assert "target" not in header and "epochs to" not in header and "seconds to" not in header
    assert "final test loss" in header and "too high from" in header
    assert "seconds:" not in out  # the note on a column that is not there
    table = _summary_html(Path("gdlab-compare.html").read_text())
    assert "epochs to" not in table and "seconds to" not in table and table.count("<th>") == 8
    assert "<td>—</td>" not in table.replace("<td>—</td></tr>", "")  # too high from: the only empty cell
    assert main([*grid, "--target", "1"]) == 0  # with a target loss the columns are there, and filled
    out = " ".join(capsys.readouterr().out.split())
    assert "epochs to 1" in out and "seconds to 1" in out and "seconds: each variant" in out
    table = _summary_html(Path("gdlab-compare.html").read_text())
    assert "<th>epochs to 1</th><th>seconds to 1</th>" in table
    assert re.search(r"<td>0\.5</td><td>[^<]+</td><td>1</td><td>[0-9.e-]+</td><td>0/1</td>", table)  # epoch 1


def test_the_default_grid() -> None:
    assert DEFAULT_EPOCHS == CompareOptions().epochs
    assert inspect.signature(compare).parameters["epochs"].default.default == DEFAULT_EPOCHS
    assert CompareOptions().batch_sizes == "1,32,128,full" and CompareOptions().seeds == 3
    for size, first in ((1, 1e-4), (8, 1e-3), (32, 10**-2.5), (128, 10**-2.5), (256, 1e-2), (4000, 1e-2)):
        rates = default_learning_rates(size)
        assert len(rates) == 8
        assert rates[0] == pytest.approx(first)
        assert rates[0] >= min(1e-4 * size**0.7, 1e-2) * (1 - 1e-12)  # the first half-decade at or above it
        assert rates[0] / 10**0.5 < 1e-4 * size**0.7
        np.testing.assert_allclose(np.diff(np.log10(rates)), 0.5)


def test_the_largest_default_rate_of_every_variant_fails_for_every_seed(mnist1d: gd.Dataset) -> None:
    """The main job's grids reach far enough that their largest rate is too high: with compare's defaults
    (data, model, seeds, epochs, metrics), every seed of each variant's largest rate diverges or collapses
    (compare's own test, ``report.summary.failure``), so the report can say where the rate became too high.
    (The earlier grid stopped mini-batch 32 at 3.16, where one seed of three still trained.)"""
    options = CompareOptions()
    model = gd.models.mlp()
    seeds = list(range(options.seeds))
    initial = seed_initial_losses(model, mnist1d, seeds)
    for size, grid in _variants(parse_batch_sizes(options.batch_sizes), None, mnist1d.n_train):
        sweep = gd.sweep(model, mnist1d, learning_rate=grid[-1:], batch_size=[size], seeds=seeds,
                         epochs=options.epochs, metrics=options.metrics)
        failed = [failure({**row, "initial_train_loss": initial[row["seed"]]}) for row in sweep.rows]
        assert None not in failed, (size, grid[-1], failed)


def test_the_csv_has_every_column_even_when_the_first_config_has_no_final_metrics(tmp_path: Path) -> None:
    rows = [{"learning_rate": 10.0, "status": "diverged", "final_test_accuracy": 0.1},
            {"learning_rate": 0.1, "status": "max_epochs", "final_train_loss": 0.5, "final_test_accuracy": 0.6}]
    lines = write_csv(rows, tmp_path / "s.csv").read_text().splitlines()
    assert lines == ["learning_rate,status,final_test_accuracy,final_train_loss",
                     "10.0,diverged,0.1,", "0.1,max_epochs,0.6,0.5"]


def test_parse_learning_rates() -> None:
    assert parse_learning_rates("1e-3:3:8") == gd.logspace(1e-3, 3, 8)
    assert parse_learning_rates("0.1, 1") == [0.1, 1.0]
    assert parse_learning_rates("0.5") == [0.5]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--learning-rates", "fast"], "--learning-rates must be lo:hi:n .* got 'fast'"),
        (["--learning-rates", "1:0.1:3"], (r"--learning-rates must be lo:hi:n, n log-spaced rates from lo up to hi: the "
                                           r"low end lo must be below the high end hi; got '1:0.1:3' \(lo 1 > hi 0\.1: "
                                           r"write 0\.1:1:3\)\.$")),
        (["--learning-rates", "0:1:3"], r"--learning-rates must be lo:hi:n, .*, with lo and hi > 0 and finite; got '0:1:3'"),
        (["--learning-rates", "1:1:3"], r"--learning-rates must be lo:hi:n, .*: with n > 1, lo must be below hi"),
        (["--learning-rates", "0.1:1:1"], r"--learning-rates must be lo:hi:n, .*: with n = 1 \(one rate\), lo must equal hi"),
        (["--learning-rates", "0.1:1:0"], r"--learning-rates must be lo:hi:n, .*, with n >= 1; got '0.1:1:0'"),
        (["--learning-rates", "0.1,-1"], r"--learning-rates\[1\] must be a float in \(0, inf\); got -1.0"),
        (["--learning-rates", "0.1,0.1"], "--learning-rates must not repeat a value; got '0.1,0.1'"),
        (["--batch-sizes", ""], "--batch-sizes must list at least one batch size"),
        (["--batch-sizes", "1,0"], "--batch-sizes must hold integers >= 1 or 'full'; got '1,0'"),
        (["--batch-sizes", "1,big"], "--batch-sizes must be an integer >= 1 or 'full'; got 'big'"),
        (["--batch-sizes", "1,40,"], "--batch-sizes must be comma-separated batch sizes such as 1,32,128,full, none of them empty; got '1,40,'"),
        (["--seeds", "0"], r"--seeds must be an integer in \[1, "),
        (["--seeds", "1000000000"], r"--seeds must be an integer in \[1, 65536\]; got 1000000000"),
        (["--learning-rates", "1e-3:1:100000"], (r"^error: --learning-rates x --batch-sizes x --seeds must be at most "
                                                 r"10,000 configs for a comparison; got 100,000 x 2 x 3 = 600,000 \(gd.")),
        (["--seeds", "5001"], r"at most 10,000 configs for a comparison; got 8 x 2 x 5,001 = 80,016 "),
        (["--epochs", "0"], r"--epochs must be an integer in \[1, "),
        (["--target", "1.5"], r"--target must be a test accuracy in \(0, 1\]; got 1.5"),
        # it said "a float in (0, inf)", beside "(0, 1]" for 1.5: as if 50 would do
        (["--target", "-1"], (r"--target must be a test accuracy in \(0, 1\] \(classification\) or a test loss > 0 "
                             r"\(regression\); got -1.0")),
        (["--hidden", "0"], "--hidden must be comma-separated layer sizes"),
        (["--metrics", "fast"], r"--metrics must be one of \{'exact', 'running'\}; got 'fast'"),
        (["--test-every", "0"], r"--test-every must be an integer in \[1, "),
        (["--kernel", "triton"], r"--kernel must be one of \{'fused', 'xla'\}; got 'triton'"),
        (["--kernel", "fused", "--hidden", "200"], r"--kernel='fused' .* at most 128 wide; got a layer 200 wide"),
        (["--out", "missing/r.html"], "--out must be a file path in an existing directory; got 'missing/r.html'"),
        (["--out", "r.txt"], r"--out must end in .html or .htm; got 'r.txt'\.$"),  # was written as an HTML report
        (["--csv", "rows.json"], r"--csv must end in .csv; got 'rows.json'\.$"),
        (["--json-out", "."], r"--json-out must be a file path in an existing directory; got '.' \(a directory\)"),
        (["--csv", "-"], r"--csv must be a file path; got '-' \(writing to standard output is not supported\)\."),
        (["--out", "r.html", "--csv", "./r.html"], r"--csv must be another file than --out; got 'r.html' for both\."),
        (["--csv", "s.csv", "--json-out", "s.csv"], r"--json-out must be another file than --csv; got 's.csv' for both\."),
        (["--db", "runs.db", "--out", "runs.db"], r"--out must be another file than --db; got 'runs.db' for both\."),
        (["--batch-sizes", "1,500"], r"--batch-sizes must be an integer in \[1, 120\] \(120 training samples\) or 'full'; got 500"),
        (["--batch-sizes", "120,full"], r"--batch-sizes must not repeat a batch size \('full' is 120\)"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tiny, capsys, args: list[str], match: str) -> None:
    assert main(["compare", "--dataset", str(tiny), "--batch-sizes", "1,40", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert re.search(match, err), err
    assert not Path("gdlab-compare.html").exists()


def test_report_refuses_a_file_that_is_not_a_saved_sweep(capsys) -> None:
    Path("rows.json").write_text('[{"seed": 0}]')
    assert main(["report", "rows.json"]) == 2
    assert "error: ID_OR_FILE must be a saved comparison (format 'gdlab-comparison'" in capsys.readouterr().err
    Path("data.csv").write_text("a,y\n1,0\n")  # a data file is not a report's: named as --help shows the argument
    assert main(["report", "data.csv"]) == 2
    assert capsys.readouterr().err.startswith("error: ID_OR_FILE must be a saved comparison JSON file; got 'data.csv' (")
    assert main(["report", "nothing.json"]) == 2
    assert "(not found)" in capsys.readouterr().err


def test_compare_records_one_sweep_and_gdlab_report_of_its_id_writes_the_same_page(tiny, capsys) -> None:
    code = main([*_grid(tiny), "--out", "r.html", "--db", "runs.db", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["db"] == "runs.db"
    sweep_id = summary["sweep_id"]
    assert main(["runs", "list", "--sweeps", "--db", "runs.db", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["sweep_id"], listed["kind"], listed["status"], listed["configs"], listed["finished"]) == (
        sweep_id, "compare", "done", 12, 12)
    assert main(["runs", "list", "--db", "runs.db", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # members are listed with their sweep, not as runs
    assert main(["runs", "show", sweep_id[:6], "--db", "runs.db", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(m["batch_size"], m["learning_rate"], m["seed"]) for m in shown["members"]] == [
        (size, lr, seed) for size in (1, 40, "full") for lr in (0.01, 0.1) for seed in (0, 1)]  # all 120: "full"
    assert shown["sweep"]["config"]["cli"]["batch_sizes"] == "full,1,40"

    assert main(["report", sweep_id, "--db", "runs.db", "--output", "again.html", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["out"] == "again.html" and again["conclusion"] == summary["conclusion"]
    assert Path("again.html").read_text() == Path("r.html").read_text()  # the very same report, from the store

    # a member lost (as if killed before it ran): the report refuses; gdlab resume reruns only that config
    with sqlite3.connect("runs.db") as conn:
        lost = shown["members"][5]["run_id"]
        conn.execute("UPDATE runs SET status = 'interrupted', epochs_run = 0 WHERE id = ?", (lost,))
        conn.execute("DELETE FROM metrics WHERE run_id = ?", (lost,))
        conn.execute("UPDATE sweeps SET status = 'interrupted'")
    conn.close()
    assert main(["report", sweep_id, "--db", "runs.db"]) == 2
    assert f"has 1 unfinished config of 12 (interrupted); gdlab resume {sweep_id}" in capsys.readouterr().err
    Path("r.html").unlink()
    assert main(["resume", sweep_id, "--db", "runs.db"]) == 0
    out, err = capsys.readouterr()  # it finishes what the compare was asked: the table, conclusion and report
    assert out.startswith(f"sweep {sweep_id}: done: 12 max_epochs\n") and summary["conclusion"][:60] in out
    assert "\nout: r.html\n" in out and Path("r.html").exists()
    assert "batch size 40: 1 unfinished config from the start " in err and "2/2 done" in err  # its progress bar
    # the lost config had no checkpoint: it restarts (its bar's label said nothing of where it starts)
    assert main(["runs", "show", sweep_id, "--db", "runs.db", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)["members"]
    for before, now in zip(shown["members"], after, strict=True):
        assert now["final_train_loss"] == pytest.approx(before["final_train_loss"], rel=1e-5)
    assert main(["report", sweep_id, "--db", "runs.db", "-o", "third.html"]) == 0
    assert "\nout: third.html\n" in capsys.readouterr().out
    assert Path("r.html").read_text() == Path("third.html").read_text()  # the resume wrote the sweep's report


def test_report_of_a_saved_file_and_of_the_sweep_id_print_and_say_the_same(capsys) -> None:
    """The file printed the table and --json gave out, conclusion, variants; the id printed only its path and
    --json gave id, out, kind, status, conclusion."""
    assert main(["compare", "--dataset", "linreg", "--model", "linear", "--batch-sizes", "100,full",
                 "--learning-rates", "0.01,0.1", "--seeds", "1", "--epochs", "2", "--no-progress",
                 "--json-out", "s.json", "--db", "runs.db", "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)
    sweep_id = compared["sweep_id"]
    assert main(["report", "s.json", "-o", "file.html"]) == 0
    by_file = capsys.readouterr().out
    assert main(["report", sweep_id, "--db", "runs.db", "-o", "id.html"]) == 0
    by_id = capsys.readouterr().out
    assert by_id == f"sweep {sweep_id} (compare): done: 4 max_epochs\n" + by_file.replace("file.html", "id.html")
    assert "│ batch GD " in by_file and compared["conclusion"][:60] in " ".join(by_file.split())

    assert main(["report", "s.json", "-o", "file.html", "--json"]) == 0
    file_json = strict_json(capsys.readouterr().out)
    assert main(["report", sweep_id, "--db", "runs.db", "-o", "id.html", "--json"]) == 0
    id_json = strict_json(capsys.readouterr().out)
    shared = ["out", "settings", "variants", "first_by_epoch", "first_by_second", "conclusion", "notes", "paths"]
    assert list(file_json) == shared  # as gdlab compare --json says them, with the report's path
    assert list(id_json) == ["id", "kind", "status", "reason", *shared]
    assert (id_json["id"], id_json["kind"], id_json["status"]) == (sweep_id, "compare", "done")
    assert {k: v for k, v in id_json.items() if k in shared[1:]} == {k: file_json[k] for k in shared[1:]} == {
        k: compared[k] for k in shared[1:]}


def test_resume_of_a_compare_sweep_says_in_json_what_the_compare_said(capsys) -> None:
    """gdlab resume ID --json gave sweep_id, status, reason, db, conclusion and the files: no settings,
    variants, first_by_epoch or first_by_second."""
    assert main(["compare", "--dataset", "linreg", "--model", "linear", "--batch-sizes", "100,full",
                 "--learning-rates", "0.01,0.1", "--seeds", "1", "--epochs", "2", "--no-progress",
                 "--out", "r.html", "--db", "runs.db", "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)
    with sqlite3.connect("runs.db") as conn:  # a member lost, as if killed before it ran
        (lost,) = conn.execute("SELECT id FROM runs LIMIT 1").fetchone()
        conn.execute("UPDATE runs SET status = 'interrupted', epochs_run = 0 WHERE id = ?", (lost,))
        conn.execute("DELETE FROM metrics WHERE run_id = ?", (lost,))
        conn.execute("UPDATE sweeps SET status = 'interrupted'")
    conn.close()
    assert main(["resume", compared["sweep_id"], "--db", "runs.db", "--no-progress", "--json"]) == 0
    resumed = strict_json(capsys.readouterr().out)
    shared = ["settings", "variants", "first_by_epoch", "first_by_second", "conclusion", "notes", "paths", "out",
              "sweep_id", "db"]
    assert set(shared) <= set(resumed) and set(resumed) - set(shared) == {"status", "reason"}
    assert set(compared) - set(resumed) == {"seconds"}  # the compare's own time
    assert {k: resumed[k] for k in ("settings", "first_by_epoch", "first_by_second", "conclusion")} == {
        k: compared[k] for k in ("settings", "first_by_epoch", "first_by_second", "conclusion")}
    assert [v["best_learning_rate"] for v in resumed["variants"]] == [v["best_learning_rate"] for v in compared["variants"]]


def test_report_of_an_unknown_id_is_one_error_line(capsys) -> None:
    assert main(["report", "abc123"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: ID_OR_FILE must be a saved comparison file or an id in the database --db; "
                   "got 'abc123', and 'gdlab.db' does not exist.\n")
    gd.store.open("gdlab.db").close()
    assert main(["report", "abc123"]) == 2
    err = capsys.readouterr().err
    assert err == "error: ID_OR_FILE must name a run in 'gdlab.db' (see gdlab runs list); got 'abc123'.\n"


def test_a_variant_s_progress_label_with_one_rate_names_one() -> None:
    """--learning-rates 0.1 labelled its bar 'learning rates 0.1 to 0.1'."""
    from gdlab.commands.compare import _label

    assert _label(32, 100, [0.1]).split(maxsplit=1)[1].strip().endswith("learning rate 0.1")
    assert _label(32, 100, [0.01, 0.1]).endswith("learning rates 0.01 to 0.1")
