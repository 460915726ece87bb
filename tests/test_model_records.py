"""A run records its model's architecture (name, hidden sizes, activation) from the Model, and runs shows it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gdlab as gd
from cli_calls import json_cli as _json
from cli_calls import run_cli as _run

KW = {"batch_size": 16, "epochs": 2}


pytestmark = pytest.mark.usefixtures("in_tmp_path")  # conftest: in tmp_path, no GDLAB_DB


@pytest.fixture(scope="module")
def data() -> gd.Dataset:
    return gd.datasets.load("linreg", n=64, features=3, noise=0.5, seed=0)


def _architecture(config: dict) -> tuple:
    return config["model"], config.get("hidden"), config.get("activation")


def _record_all(store: gd.store.Store, model: gd.Model, data: gd.Dataset) -> dict[str, str]:
    """A fit, a sweep and a finder of model recorded in store: their ids."""
    gd.fit(model, data, gd.sgd(0.05), record=store, **KW)
    ids = {"fit": str(store.last_run_id)}
    gd.sweep(model, data, learning_rate=[0.01, 0.05], seeds=[0], record=store, **KW)
    ids["sweep"] = str(store.last_sweep_id)
    gd.find_learning_rate(model, data, batch_size=16, seeds=1, steps=40, validate_epochs=1, record=store)
    ids["finder"] = str(store.last_run_id)
    return ids


def test_library_runs_record_the_mlps_hidden_sizes_and_activation_and_a_linear_model_none(data) -> None:
    """gd.fit, gd.sweep (its config and every member) and gd.find_learning_rate recorded an mlp as 'mlp'
    alone: its hidden sizes and activation now come from the Model; a linear model records its name only."""
    with gd.store.open("runs.db") as store:
        mlp = _record_all(store, gd.models.mlp((16, 8), activation="tanh"), data)
        linear = _record_all(store, gd.models.linear(), data)
        for ids, want in ((mlp, ("mlp", [16, 8], "tanh")), (linear, ("linear", None, None))):
            configs = [store.run(ids["fit"]).config, store.sweep(ids["sweep"]).config,
                       *(run.config for run in store.members(ids["sweep"])), store.run(ids["finder"]).config]
            assert len(configs) == 5
            assert all(_architecture(config) == want for config in configs)
        assert "hidden" not in store.run(linear["fit"]).config and "activation" not in store.run(linear["fit"]).config
    result = gd.fit(gd.models.mlp((16, 8)), data, gd.sgd(0.05), **KW)
    assert _architecture(result.config) == ("mlp", [16, 8], "relu")  # unrecorded too: the result's config


def test_runs_list_show_compare_and_export_give_the_models_hidden_sizes(capsys, data) -> None:
    """runs list (runs and sweeps), runs show, runs compare and runs export said 'mlp' for every mlp."""
    with gd.store.open("runs.db") as store:
        ids = _record_all(store, gd.models.mlp((16, 8), activation="tanh"), data)
        gd.fit(gd.models.mlp((4,)), data, gd.sgd(0.05), record=store, **KW)
        relu = str(store.last_run_id)
        gd.fit(gd.models.linear(), data, gd.sgd(0.05), record=store, **KW)
        linear = str(store.last_run_id)
    code, out, _ = _run(capsys, "runs", "list", "--db", "runs.db")
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert code == 0 and " mlp 16,8 tanh " in rows[ids["fit"]] and " mlp 16,8 tanh " in rows[ids["finder"]]
    assert " mlp 4 " in rows[relu] and " linear " in rows[linear]  # relu, the default, is left out
    listed = {row["run_id"]: row for row in _json(capsys, "runs", "list", "--db", "runs.db")}
    assert (listed[ids["fit"]]["model"], listed[ids["fit"]]["hidden"], listed[ids["fit"]]["activation"]) == (
        "mlp", [16, 8], "tanh")
    assert (listed[linear]["model"], listed[linear]["hidden"], listed[linear]["activation"]) == ("linear", None, None)
    code, out, _ = _run(capsys, "runs", "list", "--sweeps", "--db", "runs.db")
    assert code == 0 and " mlp 16,8 tanh " in out.splitlines()[1]
    for run_id in (ids["fit"], ids["finder"]):
        code, out, _ = _run(capsys, "runs", "show", run_id, "--db", "runs.db")
        assert code == 0 and "\n  model: mlp 16,8 tanh\n" in out and "\n  hidden: [16, 8]\n" in out
    code, out, _ = _run(capsys, "runs", "compare", ids["fit"], relu, "--db", "runs.db")
    assert code == 0 and [line.split() for line in out.splitlines() if line.startswith("model")] == [
        ["model", "mlp", "16,8", "tanh", "mlp", "4"]]
    exported = json.loads(_run(capsys, "runs", "export", ids["fit"], "--format", "json", "--db", "runs.db")[1])
    assert _architecture(exported["run"]["config"]) == ("mlp", [16, 8], "tanh")


def test_a_sweep_members_page_names_its_model_with_its_sizes(capsys, data) -> None:
    with gd.store.open("runs.db") as store:
        gd.sweep(gd.models.mlp((16, 8)), data, learning_rate=[0.05], seeds=[0], record=store, **KW)
        member = store.members(str(store.last_sweep_id))[0].id
    code, out, _ = _run(capsys, "runs", "show", member, "--db", "runs.db")
    assert code == 0 and "\n  model: mlp 16,8\n" in out


def _strip_architecture(store: gd.store.Store, run_id: str) -> None:
    """Make run_id's record as one from before the model's hidden sizes and activation were kept."""
    config = store.run(run_id).config
    for key in ("hidden", "activation"):
        config.pop(key, None)
    store.connection.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config), run_id))


def test_a_record_from_before_lists_as_its_name_or_with_the_sizes_its_gdlab_fit_options_kept(capsys, data) -> None:
    """A library run recorded before lists as 'mlp'; a gdlab fit run recorded before kept --hidden and
    --activation in its options, which runs list and runs show read."""
    fit = _json(capsys, "fit", "--dataset", "linreg", "--hidden", "8,4", "--activation", "tanh", "--epochs", "1",
                "--batch-size", "100", "--no-progress", "--db", "runs.db")
    assert _architecture(fit["config"]) == ("mlp", [8, 4], "tanh")  # from the library's config
    with gd.store.open("runs.db") as store:
        gd.fit(gd.models.mlp((16, 8)), data, gd.sgd(0.05), record=store, **KW)
        library = str(store.last_run_id)
        for run_id in (fit["run_id"], library):
            _strip_architecture(store, run_id)
    code, out, _ = _run(capsys, "runs", "list", "--db", "runs.db")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert code == 0 and rows[fit["run_id"]][6:9] == ["mlp", "8,4", "tanh"] and rows[library][6:8] == ["mlp", "2/2"]
    listed = {row["run_id"]: row for row in _json(capsys, "runs", "list", "--db", "runs.db")}
    assert (listed[fit["run_id"]]["hidden"], listed[library]["hidden"]) == ([8, 4], None)
    code, out, _ = _run(capsys, "runs", "show", library, "--db", "runs.db")
    assert code == 0 and "\n  model: mlp\n" in out and "hidden" not in out


def test_resume_checks_the_recorded_activation_and_a_record_from_before_still_resumes(data) -> None:
    """The recorded hidden sizes and activation are settings gd.resume checks (a tanh run resumed as relu went
    on silently); a run recorded before they were kept resumes unchecked there."""
    store = gd.store.open("runs.db")

    def interrupt(checkpoint: gd.Checkpoint) -> None:
        if checkpoint.epoch == 1:
            raise KeyboardInterrupt

    tanh = gd.models.mlp((16, 8), activation="tanh")
    ids = []
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            gd.fit(tanh, data, gd.sgd(0.05), record=store, on_epoch=interrupt, **KW)
        ids.append(str(store.last_run_id))
    with pytest.raises(gd.store.StoreError, match=r"activation must be the run's to resume run \w+: it was \"tanh\"; "
                                                  r"got \"relu\"\."):
        gd.resume(ids[0], store, gd.models.mlp((16, 8)), data, gd.sgd(0.05))
    assert gd.resume(ids[0], store, tanh, data, gd.sgd(0.05)).epochs_run == 2
    _strip_architecture(store, ids[1])
    assert gd.resume(ids[1], store, tanh, data, gd.sgd(0.05)).epochs_run == 2
    store.close()


def test_a_linear_run_recorded_with_an_unused_relu_still_resumes_and_lists_as_linear(capsys, data) -> None:
    """gd.models.linear() and logistic() carried activation 'relu' (never applied; now None): a run or sweep
    recorded with it beside the name resumes with linear() and lists as 'linear'."""
    store = gd.store.open("runs.db")

    def interrupt(checkpoint: gd.Checkpoint) -> None:
        if checkpoint.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gd.fit(gd.models.linear(), data, gd.sgd(0.05), record=store, on_epoch=interrupt, **KW)
    run_id = str(store.last_run_id)
    sweep_id = _interrupted_sweep(store, gd.models.linear(), data)
    old = {"hidden": None, "activation": "relu"}
    with store.connection:
        store.connection.execute("UPDATE runs SET config = ? WHERE id = ?",
                                 (json.dumps(store.run(run_id).config | old), run_id))
        store.connection.execute("UPDATE sweeps SET config = ? WHERE id = ?",
                                 (json.dumps(store.sweep(sweep_id).config | old), sweep_id))
        for run in store.members(sweep_id):
            store.connection.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(run.config | old), run.id))
    assert gd.resume(run_id, store, gd.models.linear(), data, gd.sgd(0.05)).epochs_run == 2
    gd.store.resume_sweep(sweep_id, store, gd.models.linear(), data)
    assert store.sweep(sweep_id).status == "done"
    store.close()
    code, out, _ = _run(capsys, "runs", "list", "--db", "runs.db")
    assert code == 0 and " linear " in {line.split()[0]: line for line in out.splitlines()[1:]}[run_id]
    listed = {row["run_id"]: row for row in _json(capsys, "runs", "list", "--db", "runs.db")}
    assert (listed[run_id]["model"], listed[run_id]["hidden"], listed[run_id]["activation"]) == ("linear", None, None)
    code, out, _ = _run(capsys, "runs", "show", run_id, "--db", "runs.db")
    assert code == 0 and "\n  model: linear\n" in out


def _interrupted_sweep(store: gd.store.Store, model: gd.Model, data: gd.Dataset) -> str:
    """A sweep of model stopped by Ctrl-C in its first epoch: every member unfinished; its id."""
    def interrupt(group: int, epoch: int, active: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gd.sweep(model, data, learning_rate=[0.01, 0.05], seeds=[0], callback=interrupt, record=store, **KW)
    return str(store.last_sweep_id)


def test_resume_sweep_checks_the_recorded_model_and_a_record_from_before_still_resumes(data) -> None:
    """resume_sweep went on with a relu mlp (or other sizes) given for a tanh sweep, rewriting its unfinished
    members' configs with the given model's: two models in one sweep. Refused as gd.resume refuses a run."""
    tanh = gd.models.mlp((16, 8), activation="tanh")
    with gd.store.open("runs.db") as store:
        sweep_id = _interrupted_sweep(store, tanh, data)
        configs = [run.config for run in store.members(sweep_id)]
        for given, message in (
            (gd.models.mlp((16, 8)), rf"activation must be the sweep's to resume sweep {sweep_id}: it was \"tanh\"; got \"relu\"\.$"),
            (gd.models.mlp((8,), activation="tanh"), r"hidden must be the sweep's .*: it was \[16, 8\]; got \[8\]\.$"),
            (gd.models.linear(), r"model must be the sweep's .*: it was \"mlp\"; got \"linear\"\.$"),
        ):
            with pytest.raises(gd.store.StoreError, match=message):
                gd.store.resume_sweep(sweep_id, store, given, data)
            assert [run.config for run in store.members(sweep_id)] == configs  # untouched
        gd.store.resume_sweep(sweep_id, store, tanh, data)
        assert [_architecture(run.config) for run in store.members(sweep_id)] == [("mlp", [16, 8], "tanh")] * 2
        assert store.sweep(sweep_id).status == "done"

        before = _interrupted_sweep(store, tanh, data)  # recorded before the sizes were kept: resumes unchecked
        config = store.sweep(before).config
        del config["hidden"], config["activation"]
        store.connection.execute("UPDATE sweeps SET config = ? WHERE id = ?", (json.dumps(config), before))
        for run in store.members(before):
            _strip_architecture(store, run.id)
        store.connection.commit()
        gd.store.resume_sweep(before, store, tanh, data)
        assert store.sweep(before).status == "done"


def test_gdlab_resume_of_a_compare_sweep_whose_model_differs_is_one_line_and_exit_code_2(capsys) -> None:
    """gdlab resume rebuilds the model from the compare's options: options that give another model than the
    members trained (here a record whose --hidden was changed) are refused, not trained on silently."""
    assert _run(capsys, "compare", "--dataset", "linreg", "--hidden", "16,8", "--batch-sizes", "100",
                "--learning-rates", "0.01", "--seeds", "1", "--epochs", "1", "--no-progress", "--db", "runs.db",
                "--out", "r.html")[0] == 0
    with gd.store.open("runs.db") as store:
        sweep = store.sweep(store.connection.execute("SELECT id FROM sweeps").fetchone()[0])
        config = sweep.config | {"cli": sweep.config["cli"] | {"hidden": "8"}}
        with store.connection:
            store.connection.execute("UPDATE sweeps SET status = 'interrupted', config = ? WHERE id = ?",
                                     (json.dumps(config), sweep.id))
            store.connection.execute("UPDATE runs SET status = 'interrupted', epochs_run = 0")
            store.connection.execute("DELETE FROM metrics")
    code, out, err = _run(capsys, "resume", sweep.id, "--db", "runs.db", "--no-progress")
    assert (code, out) == (2, "")
    assert err == f"error: hidden must be the sweep's to resume sweep {sweep.id}: it was [16, 8]; got [8].\n"


def test_report_pages_the_labs_run_endpoints_and_gdlab_fit_give_the_models_hidden_sizes(capsys, data) -> None:
    """The report pages of a run, a finder and a library sweep, a report made from a gd.sweep result, the lab's
    runs list and run curves, and gdlab fit's summary named an mlp 'mlp' alone."""
    from fastapi.testclient import TestClient

    from gdlab.lab import create_app

    tanh = gd.models.mlp((16, 8), activation="tanh")
    with gd.store.open("runs.db") as store:
        ids = _record_all(store, tanh, data)
        result = store.sweep_result(ids["sweep"])[0]
    for kind, heading in (("fit", "gdlab run"), ("finder", "gdlab find-lr")):
        assert _run(capsys, "report", ids[kind], "--db", "runs.db", "-o", f"{kind}.html")[0] == 0
        assert f"<h1>{heading} {ids[kind]}: mlp 16,8 tanh on linreg</h1>" in Path(f"{kind}.html").read_text()
    reported = _json(capsys, "report", ids["sweep"], "--db", "runs.db", "-o", "sweep.html")
    assert reported["settings"]["model"] == "mlp 16,8 tanh"
    assert "mlp 16,8 tanh on linreg (" in Path("sweep.html").read_text()
    assert gd.report.from_result(result, data, model=tanh).settings["model"] == "mlp 16,8 tanh"
    assert gd.report.from_result(result, data, model=gd.models.mlp((4,))).settings["model"] == "mlp 4"
    with TestClient(create_app("runs.db")) as client:
        listed = {row["id"]: row["model_text"] for row in client.get("/api/runs").json()["runs"]}
        assert (listed[ids["fit"]], listed[ids["finder"]]) == ("mlp 16,8 tanh", "mlp 16,8 tanh")
        shown = client.get(f"/api/runs/{ids['fit']}").json()
        assert [shown[k] for k in ("model", "hidden", "activation", "model_text")] == ["mlp", [16, 8], "tanh",
                                                                                      "mlp 16,8 tanh"]
    code, out, _ = _run(capsys, "fit", "--dataset", "linreg", "--hidden", "8,4", "--activation", "tanh", "--epochs",
                        "1", "--batch-size", "100", "--no-progress", "--no-record")
    assert code == 0 and "linreg (mlp 8,4 tanh, loss " in out


COMPARE = ["compare", "--dataset", "linreg", "--hidden", "8", "--batch-sizes", "100", "--learning-rates", "0.01",
           "--seeds", "1", "--epochs", "1", "--no-progress", "--db", "runs.db", "--out", "r.html"]
FIND_LR = ["find-lr", "--dataset", "linreg", "--hidden", "8", "--batch-size", "100", "--seeds", "1", "--steps", "20",
           "--validate-epochs", "1", "--no-progress", "--db", "runs.db"]


def test_compare_and_find_lr_take_activation_into_the_model_and_its_record(capsys) -> None:
    """gdlab fit took --activation; compare and find-lr trained every mlp with relu. gdlab resume of a compare
    sweep rebuilds its model with the recorded activation (relu before compare took it)."""
    compared = _json(capsys, *COMPARE, "--activation", "TANH")
    assert compared["settings"]["model"].startswith("MLP ") and compared["settings"]["model"].endswith("-8-1 tanh")
    found = _json(capsys, *FIND_LR, "--activation", "tanh")
    with gd.store.open("runs.db") as store:
        sweep = store.sweep(compared["sweep_id"])
        members = [run.config for run in store.members(sweep.id)]
        assert [_architecture(config) for config in (sweep.config, *members)] == [("mlp", [8], "tanh")] * 2
        assert sweep.config["cli"]["activation"] == "tanh"
        assert _architecture(store.run(found["run_id"]).config) == ("mlp", [8], "tanh")
        with store.connection:
            store.connection.execute("UPDATE sweeps SET status = 'interrupted'")
            store.connection.execute("UPDATE runs SET status = 'interrupted', epochs_run = 0 WHERE id = ?",
                                     (sweep.run_ids[0],))
            store.connection.execute("DELETE FROM metrics WHERE run_id = ?", (sweep.run_ids[0],))
    code, _, err = _run(capsys, "resume", sweep.id, "--db", "runs.db", "--no-progress")
    assert code == 0, err  # rebuilt as relu, it was refused: activation must be the sweep's


@pytest.mark.parametrize("command", [COMPARE, FIND_LR], ids=["compare", "find-lr"])
def test_a_bad_activation_of_compare_and_find_lr_is_one_line_and_exit_code_2(capsys, command) -> None:
    code, out, err = _run(capsys, *command, "--activation", "swish")
    assert (code, out) == (2, "") and len(err.splitlines()) == 1
    assert err.startswith("error: --activation must be one of") and "got 'swish'" in err
    code, out, err = _run(capsys, *command, "--model", "linear", "--hidden", "100,100", "--activation", "tanh")  # hidden: the default
    assert (code, out) == (2, "")
    assert err == "error: --activation applies only to --model 'mlp'; got --activation='tanh' with --model 'linear'.\n"
