"""The gdlab command line in-process: JSON equals the library, one-line errors, help, entry point."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import re
import signal
import subprocess
import sys
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import pytest
import typer

import gdlab as gd
from cli_calls import json_cli as _json
from cli_calls import run_cli as _run
from cli_calls import strict_json
from gdlab.cli import app, app_commands, main
from gdlab.commands import fit as fit_command
from gdlab.commands import words
from gdlab.commands.option_names import as_options
from gdlab.engine.setup import seed_params

FIT = ["fit", "--dataset", "linreg", "--model", "linear", "--epochs", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def cache_dir(restore_jax_cache: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in tmp_path with GDLAB_CACHE_DIR there (restore_jax_cache undoes the CLI's JAX cache settings)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path / "cache"


def _write_csv(path: Path, n: int, features: int, target_column: int, seed: int = 0) -> Path:
    """A regression CSV: y = x @ w + 0.25 with the target at target_column."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).round(3)
    y = (x @ np.arange(1.0, features + 1) + 0.25).round(6) + 1e-3  # never a whole number
    table = np.insert(x, target_column, y, axis=1)
    names = [f"f{i}" for i in range(features)]
    names.insert(target_column, "y")
    lines = [",".join(names)] + [",".join(f"{v:.6f}" for v in row) for row in table]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- fit ---------------------------------------------------------------------------------


def test_fit_json_equals_the_library_run(capsys: pytest.CaptureFixture[str]) -> None:
    summary = _json(
        capsys,
        "fit",
        "--dataset",
        "linreg",
        "--model",
        "linear",
        "--epochs",
        "3",
        "--batch-size",
        "full",
        "--learning-rate",
        "0.1",
    )
    result = gd.fit(
        gd.models.linear(),
        gd.datasets.load("linreg"),
        gd.sgd(0.1),
        batch_size="full",
        epochs=3,
        seed=0,
    )
    assert (summary["status"], summary["epochs_run"], summary["steps_run"]) == ("max_epochs", 3, 3)
    assert np.float32(summary["final_train_loss"]) == np.float32(result.history["train_loss"][-1])  # float32 text
    assert np.float32(summary["final_test_loss"]) == np.float32(result.history["test_loss"][-1])
    assert np.float32(summary["final_grad_norm"]) == np.float32(result.history["grad_norm"][-1])
    assert (
        0.5 < summary["final_train_loss"] < 10
    )  # three steps of 0.1 from the init: far from the noise
    config = summary["config"]
    assert (config["dataset"], config["model"], config["loss"]) == ("linreg", "linear", "mse")
    assert (config["batch_size"], config["steps_per_epoch"], config["learning_rate"]) == (
        800,
        1,
        0.1,
    )


@pytest.mark.parametrize("record", [[], ["--no-record"]], ids=["recorded", "unrecorded"])
def test_fit_json_adds_the_options_to_a_copy_of_the_results_config(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, record: list[str]
) -> None:
    """The summary shared its config dict with the Result: the options written into it (dataset as given,
    learning_rate, schedule, stop, ...) changed result.config in place."""
    results: list[tuple[gd.Result, dict]] = []
    fit = gd.fit

    def kept(*args: object, **kwargs: object) -> gd.Result:
        result = fit(*args, **kwargs)  # type: ignore[arg-type]
        results.append((result, json.loads(json.dumps(result.config))))
        return result

    monkeypatch.setattr(gd, "fit", kept)
    summary = _json(capsys, *FIT, "--learning-rate", "0.05", *record)
    ((result, config),) = results
    assert result.config == config and "learning_rate" not in result.config
    assert summary["config"] == {**config, "learning_rate": 0.05, "momentum": 0.0, "nesterov": False,
                                 "weight_decay": 0.0, "schedule": "constant", "warmup_steps": 0, "stop": None}


def test_fit_options_reach_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    """Mini-batches, momentum, seed and running metrics as given, against the same library call."""
    summary = _json(
        capsys,
        *FIT,
        "--batch-size",
        "100",
        "--epochs",
        "2",
        "--momentum",
        "0.5",
        "--nesterov",
        "--weight-decay",
        "0.01",
        "--seed",
        "3",
        "--metrics",
        "running",
        "--learning-rate",
        "0.05",
    )
    result = gd.fit(
        gd.models.linear(),
        gd.datasets.load("linreg"),
        gd.sgd(0.05, momentum=0.5, nesterov=True, weight_decay=0.01),
        batch_size=100,
        epochs=2,
        seed=3,
        metrics="running",
    )
    assert summary["steps_run"] == 16 and summary["config"]["steps_per_epoch"] == 8
    assert np.float32(summary["final_train_loss"]) == np.float32(result.history["train_loss"][-1])
    assert "final_grad_norm" not in summary  # running metrics have no gradient norm
    assert (summary["config"]["seed"], summary["config"]["momentum"]) == (3, 0.5)


def test_fit_test_every_reaches_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    summary = _json(capsys, *FIT, "--epochs", "3", "--test-every", "2", "--learning-rate", "0.05")
    result = gd.fit(gd.models.linear(), gd.datasets.load("linreg"), gd.sgd(0.05), batch_size=32, epochs=3,
                    test_every=2)
    assert summary["config"]["test_every"] == 2
    assert np.float32(summary["final_test_loss"]) == np.float32(result.history["test_loss"][-1])
    assert np.isnan(result.history["test_loss"][0]) and np.isfinite(result.history["test_loss"][1])


def test_fit_on_a_csv_file_with_a_target_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _write_csv(tmp_path / "houses.csv", n=60, features=3, target_column=1)
    summary = _json(
        capsys,
        "fit",
        "--dataset",
        str(path),
        "--target",
        "y",
        "--model",
        "linear",
        "--batch-size",
        "full",
        "--epochs",
        "2",
        "--learning-rate",
        "0.1",
    )
    data = gd.datasets.from_file(path, target="y")
    result = gd.fit(gd.models.linear(), data, gd.sgd(0.1), batch_size="full", epochs=2)
    assert np.float32(summary["final_train_loss"]) == np.float32(result.history["train_loss"][-1])
    assert (summary["config"]["dataset"], summary["config"]["batch_size"]) == (str(path), 48)  # it was "houses"
    assert summary["config"]["loss"] == "mse" and summary["steps_run"] == 2
    assert "hidden" not in summary["config"] and "activation" not in summary["config"]  # a linear model has none
    mlp = _json(capsys, "fit", "--dataset", str(path), "--target", "y", "--model", "mlp", "--hidden", "4,3",
                "--activation", "tanh", "--epochs", "1", "--no-record")["config"]
    assert (mlp["model"], mlp["hidden"], mlp["activation"]) == ("mlp", [4, 3], "tanh")  # they were left out


def test_fit_task_option_makes_whole_number_targets_a_regression(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "counts.csv"
    path.write_text("a,count\n" + "".join(f"{i / 10},{i % 4}\n" for i in range(20)))
    base = ("fit", "--dataset", str(path), "--epochs", "1")
    assert _json(capsys, *base, "--model", "logistic")["config"]["loss"] == "cross_entropy"
    regression = _json(capsys, *base, "--model", "linear", "--task", "regression")
    assert regression["config"]["loss"] == "mse"


@pytest.mark.parametrize("command", [["fit", "--no-record"], ["sharpness"], ["noise-scale"], ["find-lr", "--no-record"]])
def test_a_linear_model_on_whole_number_targets_names_the_task_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    """It said 'model linear is for regression; the data set 'counts' is classification (use logistic or mlp)',
    silent on why counts were classes and on --task."""
    path = tmp_path / "counts.csv"
    path.write_text("a,count\n" + "".join(f"{i / 10},{i % 4}\n" for i in range(20)))
    code, out, err = _run(capsys, *command, "--dataset", str(path), "--model", "linear")
    assert (code, out) == (2, "")
    assert err == (f"error: --model must be 'logistic' or 'mlp' for {str(path)!r}, whose whole-number targets are "
                   "read as class labels; got 'linear' (pass --task regression if they are quantities).\n")


def test_the_default_batch_size_is_32_or_all_samples_when_fewer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _json(capsys, *FIT)["config"]["batch_size"] == 32
    small = _write_csv(tmp_path / "small.csv", n=25, features=2, target_column=2)
    summary = _json(capsys, "fit", "--dataset", str(small), "--model", "mlp", "--epochs", "1")
    assert (summary["config"]["batch_size"], summary["steps_run"]) == (20, 1)


def test_fit_prints_a_summary_table_with_the_final_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(
        capsys,
        "fit",
        "--dataset",
        "linreg",
        "--model",
        "linear",
        "--epochs",
        "2",
        "--batch-size",
        "full",
    )
    result = gd.fit(
        gd.models.linear(), gd.datasets.load("linreg"), gd.sgd(0.1), batch_size="full", epochs=2
    )
    assert code == 0
    assert f"final train_loss │ {result.history['train_loss'][-1]:.4f}" in out
    assert f"final test_loss  │ {result.history['test_loss'][-1]:.4f}" in out
    assert "2 (2 updates)" in out and "batch_size full (800 samples, 1 update per epoch)" in out  # it said 800
    assert "2/2" in err and "error" not in err  # the progress bar goes to stderr


def test_fit_prints_the_noise_scale_it_tracked(capsys: pytest.CaptureFixture[str]) -> None:
    """--track-noise-scale measured B_simple, which --json and runs show had, but the table left it out."""
    args = ("fit", "--dataset", "linreg", "--model", "linear", "--epochs", "4", "--batch-size", "50",
            "--track-noise-scale", "2", "--no-record", "--no-progress")
    summary = _json(capsys, *args)
    code, out, _ = _run(capsys, *args)
    assert code == 0
    flat = " ".join(re.sub("│", " ", out).split())  # the table's cells, its wrapped lines joined
    assert (f"last noise_scale {summary['final_noise_scale']:.4g} at epoch 4 (B_simple, a batch size; interval "
            f"{summary['final_noise_scale_low']:.4g} to {summary['final_noise_scale_high']:.4g})") in flat, flat


def test_fit_with_restored_params_shows_their_epochs_metrics_beside_the_last(capsys: pytest.CaptureFixture[str]) -> None:
    """--stop early:test_loss:2 printed 'final test_loss' of the last epoch, 5, while the params were epoch 3's."""
    args = ("fit", "--dataset", "linreg", "--model", "linear", "--learning-rate", "0.05", "--epochs", "15",
            "--stop", "early:test_loss:2", "--no-record")
    summary = _json(capsys, *args)
    assert (summary["returned_epoch"], summary["epochs_run"]) == (3, 5)
    code, out, _ = _run(capsys, *args)
    assert code == 0 and "final test_loss" not in out
    flat = re.sub(r"[│\s]+", " ", out)  # the table wraps its cells over lines
    assert (f"test_loss {summary['returned_test_loss']:.4f} at epoch 3 (the params returned); "
            f"{summary['final_test_loss']:.4f} at epoch 5 (the last)") in flat
    assert "the params returned are those of epoch 3" in flat


@pytest.mark.parametrize(("value", "shown"), [(0.23456, "0.2346"), (0.0, "0.0000"), (1.5e19, "1.5e+19"),
                                              (3e-7, "3e-07"), (-2.5e-5, "-2.5e-05"), (math.inf, "inf")])
def test_the_fit_table_shows_huge_and_tiny_values_by_their_digits(value: float, shown: str) -> None:
    """A diverging grad norm printed as 11696474953909010432.0000, a tiny loss as 0.0000."""
    assert fit_command._fmt(value) == shown


def test_fit_uses_gdlab_cache_dir_for_the_compilation_cache(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, cache_dir: Path
) -> None:
    # a shape no other test compiles, so the programs are compiled (and stored) here
    path = _write_csv(tmp_path / "odd.csv", n=37, features=5, target_column=5)
    code, _, err = _run(
        capsys, "fit", "--dataset", str(path), "--model", "linear", "--epochs", "1", "--json"
    )
    assert code == 0, err
    assert jax.config.jax_compilation_cache_dir == str(cache_dir / "jax")
    assert any((cache_dir / "jax").iterdir())  # programs were written there


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--learning-rate", "-0.1"], "--learning-rate must be a float in (0, inf); got -0.1."),
        (["--learning-rate", "abc"], "--learning-rate must be a float; got 'abc'."),
        (["--batch-size", "0"], "--batch-size must be an integer in [1, 800] (800 training samples) or 'full'; got 0."),
        (["--batch-size", "801"], ("--batch-size must be an integer in [1, 800] (800 training samples) or 'full'; "
                                   "got 801.")),
        (["--batch-size", "abc"], "--batch-size must be an integer >= 1 or 'full'; got 'abc'."),
        (["--epochs", "0"], "--epochs must be an integer in [1, inf]; got 0."),
        (["--epochs", "1.5"], "--epochs must be an integer in [1, inf]; got '1.5'."),
        (["--epochs"], "'--epochs' requires an argument"),
        (
            ["--dataset", "mnist"],
            "--dataset must be one of {'linreg', 'mnist1d'} or a .csv/.npz file path; got 'mnist'.",
        ),
        (
            ["--dataset", "missing.csv"],
            (
                "--dataset must be a data set name or an existing .csv/.npz file; "
                "got 'missing.csv' (not found)."
            ),
        ),
        (["--model", "tree"], "--model must be one of {'linear', 'logistic', 'mlp'}; got 'tree'."),
        (["--model", "mlp", "--activation", "swish"], "--activation must be one of"),
        (
            ["--model", "mlp", "--hidden", "10,x"],
            "--hidden must be comma-separated layer sizes >= 1 such as 100,100; got '10,x'.",
        ),
        # options the model would ignore (as --nesterov without momentum)
        (["--hidden", "10"], "--hidden applies only to --model 'mlp'; got --hidden='10' with --model 'linear'."),
        (["--activation", "tanh"], ("--activation applies only to --model 'mlp'; got --activation='tanh' with --model "
                                     "'linear'.")),
        (["--model", "mlp", "--hidden", "10,"], "--hidden must be comma-separated layer sizes >= 1 such as 100,100; got '10,'."),
        (["--model", "mlp", "--hidden", "10,,10"], "--hidden must be comma-separated layer sizes >= 1 such as 100,100; got '10,,10'."),
        (["--momentum", "1.5"], "--momentum must be a float in [0.0, 1.0); got 1.5."),
        (["--nesterov"], "--nesterov needs momentum > 0 (Nesterov with momentum 0 is plain SGD); got --momentum=0.0."),
        (["--weight-decay", "-1"], "--weight-decay must be a float in [0.0, inf); got -1.0."),
        (["--learning-rate", "1e39"], "--learning-rate must be at most 3.403e+38 in size to fit float32; got 1e+39."),
        (["--learning-rate", "1e-320"],  # it trained with a rate of 0
         "--learning-rate must be at least 1.401e-45 in size (where not 0) to fit float32; got 1e-320."),
        (["--seed", "-1"], "--seed must be an integer in [0, 4294967295]; got -1."),
        (["--metrics", "fast"], "--metrics must be one of {'exact', 'running'}; got 'fast'."),
        (["--test-every", "0"], "--test-every must be an integer in [1, "),
        (
            ["--test-every", "2", "--stop", "early:test_loss:3"],
            "--stop 'early:test_loss:3' reads test_loss, which --test-every=2 measures only once every 2 epochs",
        ),
        (
            ["--target", "y"],
            "--target must be used with a .csv/.npz dataset file; got --dataset 'linreg'.",
        ),
        (
            ["--task", "ranking"],
            "--task must be one of {'classification', 'regression'}; got 'ranking'.",
        ),
        (["--colour", "blue"], "No such option: --colour"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_input_is_one_error_line_and_exit_code_2(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    code, out, err = _run(capsys, *FIT, *args)
    assert code == 2
    assert out == ""  # nothing trained, nothing printed
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and err.endswith("\n")
    assert expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "value"),
    [(["--epochs", "1.5"], "got '1.5'"), (["--learning-rate=abc"], "got 'abc'")],
)
def test_an_option_of_the_wrong_type_shows_the_value_given(
    capsys: pytest.CaptureFixture[str], args: list[str], value: str
) -> None:
    code, _, err = _run(capsys, *FIT, *args)
    assert code == 2 and value in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fit", "--epochs", "2.5"], "--epochs must be an integer in [1, inf]; got '2.5'."),
        (["fit", "--epochs=x"], "--epochs must be an integer in [1, inf]; got 'x'."),
        (["fit", "--warmup", "1.5"], "--warmup must be an integer in [0, inf]; got '1.5'."),  # as typed: the alias
        (["fit", "--warmup", "-1"], "--warmup must be an integer in [0, inf]; got -1."),
        (["fit", "--seed", "0.5"], "--seed must be an integer in [0, 4294967295]; got '0.5'."),
        (["fit", "--decay-steps", "1e3"], "--decay-steps must be an integer in [1, 2147483647]; got '1e3'."),
        (["fit", "--learning-rate", "fast"], "--learning-rate must be a float; got 'fast'."),
        (["compare", "--seeds", "two"], "--seeds must be an integer in [1, 65536]; got 'two'."),
        (["find-lr", "--steps", "19"], "--steps must be an integer in [20, inf]; got 19."),
        (["noise-scale", "--batches", "1.5"], "--batches must be an integer in [2, inf]; got '1.5'."),
        (["lab", "--port", "http"], "--port must be an integer in [1, 65535]; got 'http'."),
    ],
)
def test_a_number_option_given_what_is_not_one_says_what_it_takes(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    """--epochs 2.5 said "Invalid value for '--epochs': Input should be a valid integer, unable to parse string as
    an integer", with no range."""
    code, out, err = _run(capsys, *args)
    assert (code, out, err) == (2, "", f"error: {expected}\n")


def _click_commands() -> Iterator[tuple[str, Any]]:
    """(name, click command) of every command, the runs group's among them."""
    import typer

    from gdlab.cli import app

    def walk(prefix: str, command: Any) -> Iterator[tuple[str, Any]]:
        yield prefix, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(f"{prefix} {name}".strip(), sub)

    yield from walk("", typer.main.get_command(app))


def test_every_integer_option_declares_its_range() -> None:
    """Its error for a value not an integer (--epochs 2.5) shows the range: the option must declare it."""
    from gdlab.commands.cli_errors import _number_type

    found = []
    for name, command in _click_commands():
        for param in command.params:
            kind, low, _ = _number_type(param)
            if kind is int:
                found.append(param.name)
                assert low is not None, f"gdlab {name} {param.opts[0]} declares no min="
    assert {"epochs", "seed", "seeds", "steps", "batches", "port", "warmup_steps"} <= set(found)


def test_the_declared_ranges_are_the_library_s() -> None:
    from gdlab.commands import cli_options
    from gdlab.core.checks import MAX_STEPS
    from gdlab.engine.sweep_grid import MAX_SEEDS

    assert (cli_options.MAX_SEEDS, cli_options.MAX_STEPS, cli_options.SEED_MAX) == (MAX_SEEDS, MAX_STEPS, 2**32 - 1)
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 4294967295\]"):
        gd.fit(gd.models.linear(), gd.datasets.load("linreg"), gd.sgd(0.1), seed=2**32)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fit", "--dataset", "{csv}", "--task", "regression", "--model", "logistic", "--no-record"],
         "--model must be 'linear' or 'mlp' for --task 'regression'; got 'logistic', which is for classification."),
        (["fit", "--dataset", "linreg", "--model", "logistic", "--no-record"],
         ("--model must be 'linear' or 'mlp' for 'linreg', a regression data set; got 'logistic', which is for "
         "classification.")),
        (["compare", "--dataset", "linreg", "--model", "logistic", "--no-record"],
         ("--model must be 'linear' or 'mlp' for 'linreg', a regression data set; got 'logistic', which is for "
         "classification.")),
        (["sharpness", "--dataset", "{csv}", "--task", "regression", "--model", "logistic"],
         "--model must be 'linear' or 'mlp' for --task 'regression'; got 'logistic', which is for classification."),
    ],
)
def test_a_model_for_the_other_task_names_model_and_task(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], expected: str
) -> None:
    """It said 'model logistic is for classification; the data set 'ok' is regression (use linear or mlp)':
    neither --model nor the --task that made the data regression."""
    csv = str(_labels_csv(tmp_path / "ok.csv", 10))
    code, out, err = _run(capsys, *[arg.format(csv=csv) for arg in args], "--no-progress")
    assert (code, out, err) == (2, "", f"error: {expected}\n")


def test_a_stop_rule_reading_a_metric_the_run_lacks_is_named_as_typed(capsys: pytest.CaptureFixture[str]) -> None:
    """It said 'stop rule target reads test_accuracy ...': neither --stop nor the rule as typed."""
    code, out, err = _run(capsys, *LINREG, "--epochs", "1", "--stop", "plateau", "--stop", "target:test_accuracy:0.5")
    assert (code, out) == (2, "")
    assert err == ("error: --stop 'target:test_accuracy:0.5' reads test_accuracy (recorded for classification only; "
                   "this is a regression); this run records ['grad_norm', 'learning_rate', 'test_loss', "
                   "'train_loss'].\n")  # not epoch, step and time: no metric names (the budgets read them)
    code, out, err = _run(capsys, *LINREG, "--epochs", "1", "--metrics", "running", "--stop", "grad<1e-4 | plateau")
    assert (code, out) == (2, "") and err.startswith("error: --stop 'grad<1e-4 | plateau' reads grad_norm (needs "
                                                     "--metrics='exact'); "), err


def test_a_csv_without_the_target_column_lists_the_columns(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _write_csv(tmp_path / "data.csv", n=10, features=2, target_column=2)
    code, out, err = _run(
        capsys, "fit", "--dataset", str(path), "--target", "price", "--no-progress"
    )
    assert code == 2 and out == ""
    assert err == "error: --target must be one of the CSV columns ['f0', 'f1', 'y']; got 'price'.\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([*FIT, "--warmup", "100000"], "--warmup must be less than the run's 25 updates"),
        ([*FIT, "--warmup-steps", "100000"], "--warmup-steps must be less than the run's 25 updates"),
        (["compare", "--dataset", "linreg", "--target-column", "y", "--no-record"],
         "--target-column must be used with a .csv/.npz dataset file; got --dataset 'linreg'."),
        (["compare", "--target", "2", "--no-record"], "--target must be a test accuracy in (0, 1]; got 2.0."),
        (["runs", "list", "--sweeps", "--status", "lost"], "--status must be one of {"),
        (["find-lr", "--plot", "lr.txt", "--no-record"], "--plot must end in .png or .svg; got 'lr.txt'."),
        (["compare", "--dataset", "linreg", "--batch-sizes", "1,5000", "--no-record"],
         "--batch-sizes must be an integer in [1, 800] (800 training samples) or 'full'; got 5000."),
    ],
    ids=["warmup", "warmup-steps", "target-column", "target", "status", "plot", "batch-sizes"],
)
def test_messages_name_the_option_as_typed(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    """The library's learning_rate is the CLI's --learning-rate: it was 'warmup_steps must ...' after --warmup."""
    gd.store.open("gdlab.db").close()
    code, out, err = _run(capsys, *args)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1
    assert err.startswith(f"error: {expected}"), err
    with pytest.raises(ValueError, match=r"^learning_rate must be a float in \(0, inf\)"):
        gd.sgd(-0.1)  # the library keeps its own names


class _Option(NamedTuple):
    name: str
    opts: list[str]
    secondary_opts: tuple[str, ...] = ()
    param_type_name: str = "option"
    metavar: str | None = None


COMPARE_LIKE = [_Option("learning_rates", ["--learning-rates"]), _Option("epochs", ["--epochs"]),
                _Option("schedule", ["--schedule"]), _Option("target", ["--target"]),
                _Option("target_column", ["--target-column"]), _Option("out", ["--output", "--out", "-o"]),
                _Option("run_id", ["run_id"], param_type_name="argument")]


@pytest.mark.parametrize(
    ("message", "args", "expected"),
    [
        # a snake_case name anywhere, a plain word only where it stands as a name
        ("learning_rates must not repeat; got learning_rates=[1, 1].", [],
         "--learning-rates must not repeat; got --learning-rates=[1, 1]."),
        ("epochs must be >= 1; ran 3 epochs.", [], "--epochs must be >= 1; ran 3 epochs."),
        ("the file holds one schedule per batch size; got schedule 'x'.", [],
         "the file holds one schedule per batch size; got --schedule 'x'."),
        # never inside a quoted value, nor part of a longer or dotted name, nor an argument or another command's
        ("metric must be one of {'epochs', 'learning_rates'}; got 'epochs'.", [],
         "metric must be one of {'epochs', 'learning_rates'}; got 'epochs'."),
        ("cli.learning_rates and max_epochs and --epochs stay.", [],
         "cli.learning_rates and max_epochs and --epochs stay."),
        ("batch_size must be an integer.", [], "batch_size must be an integer."),
        # as typed: the short or the other long name
        ("out must be another file than target_column.", ["-o", "x"], "-o must be another file than --target-column."),
        ("out must be a file path.", ["--out=x"], "--out must be a file path."),
        ("out must be a file path.", [], "--output must be a file path."),
        # compare's target is --target, its target_column --target-column (load_data renames the loader's target)
        ("target_column must be one of the CSV columns; got 'y'.", ["--target", "2", "--target-column", "y"],
         "--target-column must be one of the CSV columns; got 'y'."),
        ("target must be a test accuracy; got 2.", ["--target", "2", "--target-column", "y"],
         "--target must be a test accuracy; got 2."),
        # an argument as the usage line shows it; the store's id names mean the command's one argument
        ("run_id must name a run; got 'x'.", [], "RUN_ID must name a run; got 'x'."),
        ("sweep_id x is a library sweep: gd.store.resume_sweep(sweep_id, store) goes on.", [],
         "RUN_ID x is a library sweep: gd.store.resume_sweep(sweep_id, store) goes on."),  # Python keeps its names
    ],
)
def test_as_options_renames_only_the_command_s_options(message: str, args: list[str], expected: str) -> None:
    assert as_options(message, COMPARE_LIKE, args) == expected


def test_a_data_file_s_target_and_compare_s_target_are_told_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With both --target and --target-column typed, an error of either said plain 'target'."""
    data = str(_write_csv(tmp_path / "data.csv", 400, 2, 2))
    for args, expected in [
        (["compare", "--dataset", data, "--target-column", "z", "--target", "0.5"],
         "--target-column must be one of the CSV columns ['f0', 'f1', 'y']; got 'z'."),
        (["compare", "--dataset", data, "--target-column", "y", "--target", "0"], "--target must be a test accuracy in (0, 1] (classification) or a test loss > 0"),
        (["fit", "--dataset", data, "--target", "z"], "--target must be one of the CSV columns"),
        (["sharpness", "--dataset", data, "--target-column", "z"], "--target-column must be one of the CSV columns"),
        (["runs", "show", "zzz"], "RUN_ID must name a run in 'gdlab.db' (see gdlab runs list); got 'zzz'."),
    ]:
        code, out, err = _run(capsys, *args)
        assert (code, out) == (2, "") and err.startswith(f"error: {expected}"), err
    with pytest.raises(ValueError, match=r"^target must be one of the CSV columns"):
        gd.datasets.from_file(data, target="z")  # the library keeps its own name


def test_a_data_file_s_errors_name_dataset_and_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The loader's messages said 'path must ...' (the CLI's --dataset), and an .npz file's NaN named no file."""
    (tmp_path / "text.csv").write_text("a,y\n1,2\nfoo,3\n")
    np.savez(tmp_path / "nan.npz", x=np.array([[1.0], [np.nan]]), y=np.array([0, 1]))
    for args, expected in [
        (["fit", "--dataset", "text.csv"], "--dataset must hold numeric CSV values; 'text.csv' data row 2, column 'a'"),
        (["compare", "--dataset", "text.csv"], "--dataset must hold numeric CSV values;"),
        (["fit", "--dataset", "nan.npz"], "x must hold finite values; got nan at index (1, 0) in 'nan.npz'."),
    ]:
        code, out, err = _run(capsys, *args)
        assert (code, out) == (2, "") and err.startswith(f"error: {expected}"), err


def test_a_csv_file_without_a_header_row_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its first data row was taken for the header: fit trained on the others without a word."""
    (tmp_path / "bare.csv").write_text("".join(f"{i}.5,{2 * i},{i % 2}\n" for i in range(20)))
    for command in ("fit", "find-lr"):
        code, out, err = _run(capsys, command, "--dataset", "bare.csv", "--no-record", "--no-progress")
        assert (code, out, err) == (2, "", ("error: --dataset must be a CSV file whose first line is a header row of "
                                           "column names; the first line of 'bare.csv' looks like data ('0.5,0,0': "
                                           "every field is a number): add a header row naming the columns.\n"))


def test_fit_warns_when_a_file_is_too_small_for_a_test_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "one.csv").write_text("a,y\n1,0\n")
    summary = _json(capsys, "fit", "--dataset", "one.csv", "--model", "logistic", "--epochs", "1", "--no-record")
    assert summary["warnings"] == [("the test split, 0.2 of the 1 sample, rounds down to no test sample: the test "
                                   "metrics will be NaN (at least 5 samples give one).")]  # no --test-fraction


def test_label_errors_of_a_data_file_name_what_the_command_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """They named the library's n_classes and task="regression": the commands have no --n-classes. A label's row
    was its index from 0 ('at index 0'), where the file's other errors say 'data row 1', counted from 1."""
    (tmp_path / "big.csv").write_text("a,y\n" + "".join(f"{i}.5,{i * 1000}\n" for i in range(40)))
    (tmp_path / "neg.csv").write_text("a,y\n" + "".join(f"{i}.5,{i % 2 - 1}\n" for i in range(40)))
    (tmp_path / "half.csv").write_text("a,y\n1,0\n2,1\n3,0.5\n4,1\n")
    for args, expected in [
        (["fit", "--dataset", "big.csv"],
         ("y must be class labels 0, 1, 2, ... when its whole numbers are read as labels; its largest, 39000 in "
          "'big.csv' data row 40, column 'y', would make 39001 classes for 40 samples (pass --task regression if y is a quantity, or renumber the labels "
          "0, 1, 2, ... if they are labels).")),
        (["compare", "--dataset", "neg.csv"],
         ("y labels must be in [0, 2) (2 classes: the largest label + 1, at least 2); got -1 in 'neg.csv' data row "
          "1, column 'y' (whole numbers read as class labels; pass --task regression if y is a quantity).")),
        (["fit", "--dataset", "half.csv", "--task", "classification"],
         "y must hold integer class labels for classification; got 0.5 in 'half.csv' data row 3, column 'y'."),
    ]:
        code, out, err = _run(capsys, *args)
        assert (code, out, err) == (2, "", f"error: {expected}\n")
    with pytest.raises(ValueError, match=r"\(n_classes=2\); got -1 .*pass task=\"regression\""):
        gd.datasets.from_file(tmp_path / "neg.csv")  # the library keeps its own names


def test_names_are_read_in_any_case(capsys: pytest.CaptureFixture[str]) -> None:
    """--batch-size FULL was read as full, --model MLP refused: every name now reads in any case."""
    summary = _json(capsys, "fit", "--dataset", "LINREG", "--model", "Linear", "--batch-size", "FULL", "--schedule",
                    "COSINE", "--metrics", "Running", "--stop", "EPOCHS:1", "--epochs", "3", "--no-record")
    config = summary["config"]
    assert (config["dataset"], config["model"], config["schedule"], config["metrics"]) == (
        "linreg", "linear", "cosine", "running")
    assert (config["batch_size"], summary["epochs_run"]) == (800, 1)  # the stop rule epochs:1 was read
    gd.store.open("gdlab.db").close()
    assert _json(capsys, "runs", "list", "--status", "DONE") == []
    for args, expected in [  # each name read, the command refuses a later option
        (["sharpness", "--dataset", "LinReg", "--model", "MLP", "--activation", "TANH", "--task", "REGRESSION"],
         "--task must be used with a .csv/.npz dataset file; got --dataset 'linreg'."),
        (["compare", "--model", "MLP", "--metrics", "EXACT", "--kernel", "XLA", "--checkpoint-seconds", "-1"],
         "--checkpoint-seconds must be a float in [0.0, inf); got -1.0."),
        (["runs", "export", "abc", "--format", "JSON", "--json"], "RUN_ID must name a run in 'gdlab.db'"),
        # a name that is none of them is refused as typed
        ([*FIT, "--model", "TREE"], "--model must be one of {'linear', 'logistic', 'mlp'}; got 'TREE'."),
    ]:
        code, out, err = _run(capsys, *args)
        assert (code, out) == (2, "") and err.startswith(f"error: {expected}"), err


def test_runs_list_reads_a_data_set_name_in_any_case(capsys: pytest.CaptureFixture[str]) -> None:
    """fit --dataset LINREG recorded 'linreg', but runs list --dataset LINREG listed no runs."""
    run_id = _json(capsys, *FIT)["run_id"]
    assert [run["run_id"] for run in _json(capsys, "runs", "list", "--dataset", "LINREG")] == [run_id]
    assert _json(capsys, "runs", "list", "--dataset", "Data.CSV") == []  # a path keeps its case


@pytest.mark.parametrize(
    ("option", "value", "read"),
    [("model", "MLP", "mlp"), ("dataset", "MNIST1D", "mnist1d"), ("dataset", "Data.CSV", "Data.CSV"),
     ("schedule", "One_Cycle", "one_cycle"), ("kernel", "Fused", "fused"), ("format", "Json", "json"),
     ("status", "Interrupted", "interrupted"), ("task", "Regression", "regression"), ("activation", "GELU", "gelu"),
     ("metrics", "Exact", "exact"), ("model", "Tree", "Tree"), ("model", None, None)],
)
def test_fold_reads_a_name_in_any_case_and_leaves_the_rest(option: str, value: str | None, read: str | None) -> None:
    assert words.fold(option, value) == read


def test_fold_stop_lowercases_a_rule_only_when_that_parses() -> None:
    assert words.fold_stop(["Plateau:1E-4:5", "grad<1e-3", "Plato:1"]) == ["plateau:1e-4:5", "grad<1e-3", "Plato:1"]


def test_a_bad_csv_cell_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n3,oops\n")
    code, _, err = _run(capsys, "fit", "--dataset", str(path), "--no-progress")
    assert code == 2 and len(err.splitlines()) == 1
    assert "data row 2, column 'b' has 'oops'" in err


def test_an_unknown_command_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "train")
    assert code == 2 and out == ""
    assert err == "error: No such command 'train'. (commands: compare, datasets, find-lr, fit, lab, noise-scale, report, resume, runs, sharpness, version)\n"
    code, out, err = _run(capsys, "runs", "remove")  # the runs group's own commands, not gdlab's
    assert (code, out) == (2, "")
    assert err == "error: No such command 'remove'. (commands: compare, delete, export, list, show)\n"


def test_an_unwritable_cache_dir_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path / "a_file"))
    code, out, err = _run(capsys, *FIT)
    assert (code, out) == (2, "")  # a bad value, exit 2 (was exit 1 with '[Errno 20] Not a directory: ...')
    assert err == (f"error: $GDLAB_CACHE_DIR/jax must be a directory that can be created and written; "
                   f"got '{tmp_path / 'a_file' / 'jax'}' (a file is in the way).\n")


def test_running_out_of_memory_is_one_error_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """XLA's error for --hidden 1000000,1000000 (what gd.fit raised under a memory limit) was a traceback."""
    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise jax.errors.JaxRuntimeError(
            "INTERNAL: Error dispatching computation: Out of memory allocating 4000000000000 bytes.")

    monkeypatch.setattr(gd, "fit", out_of_memory)
    code, out, err = _run(capsys, *FIT, "--no-record")
    assert (code, out) == (1, "")
    assert err == ("error: out of memory: INTERNAL: Error dispatching computation: Out of memory allocating "
                   "4000000000000 bytes. (a smaller model, batch size or data set needs less)\n")

    def another_error(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(gd, "fit", another_error)
    with pytest.raises(RuntimeError, match="a bug"):  # any other error keeps its traceback
        _run(capsys, *FIT, "--no-record")


# --- other commands and help -------------------------------------------------------------


def test_datasets_lists_the_named_data_sets(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "datasets") == (0, "linreg\nmnist1d\n", "")
    assert _run(capsys, "datasets", "--json") == (0, '["linreg", "mnist1d"]\n', "")


def test_version_prints_the_gdlab_and_jax_versions(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "version")
    assert code == 0
    assert (
        out == f"gdlab {gd.__version__} (jax {jax.__version__}, backend {jax.default_backend()})\n"
    )
    assert gd.__version__ == importlib.metadata.version("gdlab")
    code, out, _ = _run(capsys, "version", "--json")
    assert (code, json.loads(out)) == (0, {"gdlab": gd.__version__, "jax": jax.__version__,
                                           "backend": jax.default_backend()})


FIT_OPTIONS = [
    "--dataset",
    "--target",
    "--task",
    "--model",
    "--hidden",
    "--activation",
    "--batch-size",
    "--learning-rate",
    "--momentum",
    "--nesterov",
    "--weight-decay",
    "--epochs",
    "--seed",
    "--metrics",
    "--stop",
    "--schedule",
    "--warmup-steps",
    "--decay-steps",
    "--json",
    "--no-progress",
]


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ([], ["fit", "datasets", "sharpness", "version", "compare", "report"]),
        (["fit"], FIT_OPTIONS),
        (["sharpness"], ["--learning-rate", "--momentum", "--batch-size", "lambda_max"]),
        (["datasets"], ["List the named data sets"]),
        (["version"], ["Print the versions of gdlab and JAX"]),
        (["compare"], ["--learning-rates", "--batch-sizes", "--seeds", "--epochs", "--target", "--out", "--json-out",
                       "--hidden", "--activation"]),
        (["report"], ["path", "--out", "a saved sweep"]),
        (["find-lr"], ["--min-lr", "--max-lr", "--steps", "--seeds", "--plot", "validated", "--hidden", "--activation"]),
        (["noise-scale"], ["--small-batch", "--big-batch", "--batches", "B_simple", "--hidden", "--activation"]),
        (["lab"], ["--port", "--host", "--db", "web page"]),
    ],
    ids=["gdlab", "fit", "sharpness", "datasets", "version", "compare", "report", "find-lr", "noise-scale", "lab"],
)
def test_every_command_has_help(
    capsys: pytest.CaptureFixture[str], command: list[str], mentions: list[str]
) -> None:
    code, out, err = _run(capsys, *command, "--help")
    assert code == 0 and err == ""
    assert f"Usage: gdlab {' '.join(command)}".rstrip() in out
    for text in mentions:
        assert text in out, text


@pytest.mark.parametrize("command", [["fit"], ["compare"], ["find-lr"], ["report"], ["runs", "list"]], ids=" ".join)
def test_the_help_writes_every_option_name_whole_at_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """rich's option table, squeezed into 80 columns (a pipe), cut names: '--target,--targe…'. click's plain layout
    then broke lines after hyphens: '(with --num-processes, --process-' over 'id)', '[default: no-' over
    'nesterov]'."""
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = _run(capsys, *command, "--help")
    assert code == 0 and "…" not in out and "╭" not in out and "\ue000" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert not [line for line in out.splitlines() if re.search(r"[A-Za-z]-$", line)], out
    click_command = typer.main.get_command(app)
    for name in command:
        click_command = click_command.commands[name]  # type: ignore[attr-defined]
    names = {o for p in click_command.params for o in p.opts + p.secondary_opts if o.startswith("--")}
    assert names and all(name in out for name in names), sorted(n for n in names if n not in out)


def test_the_help_tests_cover_every_command() -> None:
    assert sorted(app_commands()) == [
        "compare", "datasets", "find-lr", "fit", "lab", "noise-scale", "report", "resume", "runs", "sharpness",
        "version",
    ]


def test_gdlab_alone_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys)
    assert code == 0 and "Usage: gdlab" in out and "fit" in out


# --- the installed entry point -----------------------------------------------------------


ROOT = Path(__file__).resolve().parents[1]
CTRL_C_WHILE_IMPORTING = """
class CtrlC:  # Ctrl-C pressed while the console script imports gdlab (as JAX is first imported)
    def find_spec(self, name, path=None, target=None):
        if name == "jax":
            raise KeyboardInterrupt
sys.meta_path.insert(0, CtrlC())
"""


def _console_script(tmp_path: Path, *args: str, before: str = "") -> subprocess.CompletedProcess[str]:
    """The gdlab program as pip's console script runs it: import pyproject's entry point, call it."""
    entry = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["gdlab"]
    module, function = entry.split(":")
    script = f"import sys\n{before}\nfrom {module} import {function}\nsys.argv[0] = 'gdlab'\nsys.exit({function}())\n"
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env=_program_env(tmp_path), timeout=120, check=False)


def _program_env(tmp_path: Path) -> dict[str, str]:
    """The environment a gdlab program runs in here: this checkout's gdlab, its cache in tmp_path."""
    path = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "GDLAB_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": path}


def test_the_console_script_turns_bad_input_into_one_line_and_exit_code_2(tmp_path: Path) -> None:
    done = _console_script(tmp_path, "fit", "--dataset", "linreg", "--learning-rate", "-1")
    assert done.returncode == 2
    assert done.stderr == "error: --learning-rate must be a float in (0, inf); got -1.0.\n"
    assert done.stdout == ""


def test_python_dash_m_gdlab_is_the_gdlab_program(tmp_path: Path) -> None:
    """Without the console script (an environment where scripts are not on PATH): 'No module named gdlab.__main__'."""
    done = subprocess.run([sys.executable, "-m", "gdlab", "fit", "--dataset", "linreg", "--learning-rate", "-1"],
                          capture_output=True, text=True, cwd=tmp_path, check=False, env=_program_env(tmp_path))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "error: --learning-rate must be a float in (0, inf); got -1.0.\n"


def test_ctrl_c_while_the_console_script_imports_is_one_line_and_exit_code_130(tmp_path: Path) -> None:
    """The entry point was gdlab.cli:run, whose import (gdlab, JAX) ran before any handler: a traceback."""
    done = _console_script(tmp_path, "version", before=CTRL_C_WHILE_IMPORTING)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "error: interrupted\n")


@pytest.mark.parametrize("module", ["jax", "typer"], ids=["the library", "the CLI"])
def test_ctrl_c_while_python_dash_m_gdlab_imports_is_one_line_and_exit_code_130(tmp_path: Path, module: str) -> None:
    """runpy imported the package gdlab (JAX: a second or more) before gdlab.__main__ could catch anything,
    and gdlab.__main__ imported the CLI outside any handler: a KeyboardInterrupt traceback either way."""
    before = CTRL_C_WHILE_IMPORTING.replace('"jax"', repr(module))
    script = f"import runpy, sys\n{before}\nrunpy.run_module('gdlab', run_name='__main__', alter_sys=True)\n"
    done = subprocess.run([sys.executable, "-c", script, "version"], capture_output=True, text=True, cwd=tmp_path,
                          check=False, env=_program_env(tmp_path), timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "error: interrupted\n")


def test_gdlab_main_catches_ctrl_c_around_the_import_of_the_cli(capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """gdlab.__main__ imported gdlab.cli (and ran it) at its own import, outside any handler."""
    import gdlab.__main__ as program

    class CtrlC:  # pressed while gdlab.cli is imported
        def find_spec(self, name: str, path: object = None, target: object = None) -> None:
            if name == "gdlab.cli":
                raise KeyboardInterrupt

    def leave(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.delitem(sys.modules, "gdlab.cli")
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # restored after: run() chains onto it
    monkeypatch.setattr(sys, "meta_path", [CtrlC(), *sys.meta_path])
    monkeypatch.setattr(os, "_exit", leave)
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as done:
            program.run()
    finally:
        signal.signal(signal.SIGINT, handler)  # run() installs the program's handler
    assert done.value.code == 130 and capsys.readouterr() == ("", "error: interrupted\n")


def test_an_interrupt_python_dropped_is_raised_at_the_next_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C handled inside a garbage-collector callback (JAX has one) was printed as 'Exception ignored' and
    dropped: gdlab fit trained on and exited 0. One inside jaxlib's import crashed the interpreter (signal 11).
    Then it was raised again at the next check, but still printed "Exception ignored in: <function
    _xla_gc_callback ...>" and a traceback (sys.unraisablehook); the program's hook passes over it."""
    import gc

    from gdlab.commands.interrupts import Interrupts

    reported: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)  # Python's printer, and install() chains onto it
    interrupts, handler = Interrupts(), signal.getsignal(signal.SIGINT)

    def collecting(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            signal.raise_signal(signal.SIGINT)  # handled here, inside the callback: its KeyboardInterrupt is lost

    try:
        interrupts.install()
        gc.callbacks.append(collecting)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(collecting)
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()  # noted, so raised again here
        assert reported == []  # not printed
        other = type("Unraisable", (), {"exc_value": ValueError("a real one")})()
        sys.unraisablehook(other)
        assert reported == [other]  # any other goes on to the hook before
        later = Interrupts()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # install() takes over Python's own handler only
        assert later.install()
        with pytest.raises(KeyboardInterrupt), later.deferred():
            signal.raise_signal(signal.SIGINT)  # noted only: an import would go on to its end
            imported = True
        assert imported and later.seen
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a job started with & from a script: its parent ignores it
        assert not Interrupts().install() and signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # it stays ignored
    finally:
        signal.signal(signal.SIGINT, handler)


def test_a_sweep_s_progress_raises_a_dropped_interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    """gdlab compare and resume move their bars from gd.sweep's callback: it checks too."""
    from gdlab.commands.interrupts import INTERRUPTS
    from gdlab.commands.progress import Bars

    with Bars(False) as bars:
        moved = bars.epochs(bars.add("sweep", 3))
        moved(0, 1, 4)
        monkeypatch.setattr(INTERRUPTS, "seen", True)
        with pytest.raises(KeyboardInterrupt):
            moved(0, 2, 4)


def test_a_dropped_interrupt_no_check_saw_ends_the_command_as_interrupted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One after the last epoch, or in a command with no progress callback, exited 0; and the flags outlived the
    command (a later command in the same process was taken as interrupted, or said nothing)."""
    from gdlab.commands.interrupts import INTERRUPTS

    monkeypatch.setattr(INTERRUPTS, "seen", True)
    assert main(["version"]) == 130 and capsys.readouterr().err == "error: interrupted\n"
    assert not INTERRUPTS.seen and main(["version"]) == 0  # forgotten once the command ended


@pytest.mark.parametrize("command", [["fit", "--epochs", "30"], ["compare", "--epochs", "30", "--seeds", "1"],
                                     ["find-lr", "--steps", "30", "--seeds", "1"]])
@pytest.mark.parametrize("record", [True, False], ids=["recorded", "--no-record"])
def test_a_command_stops_at_its_first_epoch_on_an_interrupt_python_dropped(
    command: list[str], record: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its progress callback checks (also with --no-progress); interrupted with --no-record, fit and compare exited
    130 without a word."""
    from gdlab.commands.interrupts import INTERRUPTS

    monkeypatch.setattr(INTERRUPTS, "seen", True)
    monkeypatch.setattr(INTERRUPTS, "told", False)
    args = [*command, "--dataset", "linreg", "--model", "linear", "--no-progress",
            *(["--db", str(tmp_path / "runs.db")] if record else ["--no-record"])]
    assert main(args) == 130
    out, err = capsys.readouterr()
    assert out == ""
    if command[0] == "find-lr":  # at its range test's first report
        assert err == ("interrupted: nothing recorded in " + str(tmp_path / "runs.db") + " (a finder is recorded only "
                       "once it ends)\n" if record else "interrupted: nothing to record (--no-record)\n"), err
    elif record and command[0] == "fit":
        assert err.startswith("interrupted: gdlab resume ") and "error" not in err, err
        with gd.store.open(tmp_path / "runs.db") as store:
            assert [(run.status, run.epochs_run) for run in store.runs()] == [("interrupted", 1)]
    else:  # compare: at its first check, a step before it records its sweep
        assert err == "error: interrupted\n"
        if (tmp_path / "runs.db").exists():
            with gd.store.open(tmp_path / "runs.db") as store:
                assert store.runs() == [] and store.sweeps() == []


@pytest.mark.parametrize("args", [["--help"], ["-h"], [], ["runs", "list", "-h"], ["fit", "--epochs", "3", "--help"]],
                         ids=["--help", "-h", "nothing", "runs list -h", "fit ... --help"])
def test_asking_for_help_prints_it_without_loading_the_library(tmp_path: Path, args: list[str]) -> None:
    """`gdlab --help` loaded JAX first (0.8 s against 0.25 s here) and -h was 'No such option'."""
    script = ("import sys\nfrom gdlab.cli import run\nsys.argv[0] = 'gdlab'\ntry:\n    run()\n"
              "except SystemExit as done:\n    print('jax loaded:', 'jax' in sys.modules, 'exit:', done.code)\n")
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env=_program_env(tmp_path), timeout=120, check=False)
    assert done.stderr == "" and "Usage: gdlab" in done.stdout
    assert done.stdout.rstrip().endswith("jax loaded: False exit: 0")


def test_a_command_still_loads_the_library_before_it_runs() -> None:
    from gdlab.cli import asks_for_help

    assert not asks_for_help(["fit", "--epochs", "3"]) and not asks_for_help(["version"])
    assert asks_for_help([]) and asks_for_help(["runs", "-h"]) and asks_for_help(["fit", "--help"])


# --- schedules, stopping rules and sharpness ----------------------------------------------------


LINREG = ["fit", "--dataset", "linreg", "--model", "linear", "--batch-size", "100", "--no-progress"]


def test_a_diverged_fit_says_where_its_final_losses_were_measured(capsys: pytest.CaptureFixture[str]) -> None:
    """'final train_loss inf' beside 'params kept from the last finite update' read as a bug: the losses are the
    kept params' (their full-data float32 mean overflowed)."""
    code, out, _ = _run(capsys, "fit", "--dataset", "linreg", "--model", "linear", "--batch-size", "32",
                        "--learning-rate", "5", "--epochs", "3", "--no-progress", "--no-record")
    flat = " ".join(out.split())
    assert code == 0 and "status │ diverged" in flat
    assert "final train_loss │ inf (at the params kept from the last finite update)" in flat, out
    assert "final grad_norm │ 6.109e+18 │" in flat  # a finite one: as it is


def test_fit_schedule_and_warmup_match_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    summary = _json(capsys, *LINREG, "--epochs", "4", "--schedule", "cosine", "--warmup", "8",
                    "--end-value", "0.01")
    # linreg: 800 train samples, 8 updates per epoch, 32 updates; cosine over the 24 after warmup
    schedule = gd.schedules.warmup(gd.schedules.cosine(0.1, 24, 0.01), 8)
    data = gd.datasets.load("linreg")
    result = gd.fit(gd.models.linear(), data, gd.sgd(schedule), batch_size=100, epochs=4)
    assert summary["final_learning_rate"] == pytest.approx(float(schedule(31)), rel=1e-6)
    assert summary["final_train_loss"] == pytest.approx(result.history["train_loss"][-1], rel=1e-6)
    assert summary["config"]["schedule"] == "cosine" and summary["config"]["warmup_steps"] == 8


def test_fit_stop_rules_set_status_and_reason(capsys: pytest.CaptureFixture[str]) -> None:
    full = ["fit", "--dataset", "linreg", "--model", "linear", "--batch-size", "full", "--no-progress"]
    summary = _json(capsys, *full, "--learning-rate", "0.5", "--epochs", "500", "--stop", "grad<1e-3")
    assert summary["status"] == "converged" and summary["epochs_run"] < 200
    assert summary["reason"].startswith("converged: gradient norm") and summary["warnings"] == []
    budget = _json(capsys, *LINREG, "--epochs", "2", "--stop", "grad<1e-9")
    assert budget["status"] == "max_epochs"
    assert budget["warnings"] and "before grad_norm fired" in budget["warnings"][0]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--schedule", "cosin"], "--schedule must be one of"),
        (["--stop", "plateau:x"], r"--stop 'plateau:x' does not parse at column 9"),
        (["--warmup", "100000"], r"--warmup must be less than the run's 8 updates"),
        (["--schedule", "step", "--factor", "2"], "factor"),
        (["--schedule", "multistep", "--milestones-steps", "a,b"], "--milestones-steps"),
        (["--schedule", "multistep", "--milestones-steps", "5,,10"], r"--milestones-steps must be .*; got '5,,10'\."),
        (["--schedule", "multistep", "--milestones-steps", "5,"], r"--milestones-steps must be .*; got '5,'\."),
        # past the run's updates a step never fires (they were accepted and did nothing)
        (["--schedule", "multistep", "--milestones-steps", "2,8"],
         r"--milestones-steps must each be less than the run's 8 updates, or the rate never steps there; got '2,8'\.$"),
        (["--schedule", "step", "--step-size-steps", "6", "--warmup", "2"],
         (r"--step-size-steps must be less than the run's 6 updates after --warmup \(2\), or the rate never steps; "
          r"got 6\.$")),
        (["--track-noise-scale", "2"], r"--track-noise-scale must be at most --epochs \(1\), or it never measures; got 2\.$"),
        # 0 is a value given, not 'use the default': each is refused by its schedule
        (["--schedule", "step", "--step-size-steps", "0"], r"--step-size-steps must be .*; got 0\."),
        (["--schedule", "exponential", "--decay-rate", "0"], r"--decay-rate must be .*; got 0\.0\."),
        (["--schedule", "exponential", "--decay-steps", "0"], r"--decay-steps must be .*; got 0\."),
        (["--schedule", "inverse_time", "--decay-steps", "0"], r"--decay-steps must be .*; got 0\."),
        (["--schedule", "power", "--scale-steps", "0"], r"--scale-steps must be .*; got 0\."),
        (["--schedule", "cosine", "--decay-steps", "0"], r"--decay-steps must be .*; got 0\."),
        (["--schedule", "cyclic", "--half-cycle-steps", "0"], r"--half-cycle-steps must be .*; got 0\."),
        (["--schedule", "cyclic", "--max-learning-rate", "0"], r"--max-learning-rate must be .*; got 0\.0\."),
        (["--schedule", "cosine", "--decay-steps", "99999999999999999999"],
         r"--decay-steps must be an integer in \[1, 2147483647\]; got 99999999999999999999\."),  # was a NaN loss
        # an option the schedule does not read was silently ignored
        (["--decay-rate", "0.5"], (r"--decay-rate applies only to schedules \{'exponential', 'inverse_time'\}; "
                                   r"got --decay-rate=0\.5 with --schedule 'constant'\.")),
        (["--schedule", "cosine", "--factor", "0.5"], (r"--factor applies only to schedules \{'multistep', 'step'\}; "
                                                        r"got --factor=0\.5 with --schedule 'cosine'\.")),
        (["--schedule", "step", "--restarts"], r"--restarts applies only to schedules \{'cosine'\}; got --restarts=True"),
        (["--schedule", "one_cycle", "--decay-steps", "5"], (r"--decay-steps applies only to schedules \{'cosine', "
                                                              r"'exponential', 'inverse_time', 'polynomial'\}")),
    ],
)
def test_bad_schedule_and_stop_options(capsys: pytest.CaptureFixture[str], args, match) -> None:
    code, out, err = _run(capsys, *LINREG, "--epochs", "1", *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert __import__("re").search(match, err), err


@pytest.mark.parametrize("rule", ["diverged:0.5", "plateau:1e-4:0", "early:test_loss:0", "early:test_loss:3:-1",
                                  "target:test_loss:nan", "time:0", "steps:0", "epochs:0", "grad<0"])
def test_a_stop_rule_s_bad_argument_names_the_stop_rule_not_an_option(
    capsys: pytest.CaptureFixture[str], rule: str
) -> None:
    """--stop diverged:0.5 said '--factor must be a float in [1.0, inf)': --factor is the step schedule's option;
    epochs:0 and steps:0 could as well have named --epochs."""
    code, out, err = _run(capsys, *LINREG, "--epochs", "1", "--schedule", "step", "--factor", "0.5", "--stop", rule)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1
    assert err.startswith(f"error: --stop {rule!r}: ") and " must be " in err, err
    assert [word for word in err.split() if word.startswith("--")] == ["--stop"], err


def test_sharpness_command_reports_lambda_max_the_limit_and_a_verdict(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = gd.datasets.load("linreg")
    x = np.hstack([data.x_train, np.ones((data.n_train, 1))]).astype(np.float64)
    top = 2 * np.linalg.eigvalsh(x.T @ x / len(x)).max()  # MSE: Hessian 2 X^T X / n
    code, out, _ = _run(capsys, "sharpness", "--dataset", "linreg", "--model", "linear",
                        "--learning-rate", "0.9", "--json")
    summary = strict_json(out)
    assert code == 0
    assert summary["lambda_max"] == pytest.approx(top, rel=1e-3)
    assert summary["stability_limit"] == pytest.approx(2 / top, rel=1e-3)
    assert summary["verdict"].startswith("diverges")
    code, out, _ = _run(capsys, "sharpness", "--dataset", "linreg", "--model", "linear",
                        "--learning-rate", "0.1", "--json")
    assert strict_json(out)["verdict"].startswith("converges")
    code, out, err = _run(capsys, "sharpness", "--dataset", "linreg", "--model", "linear")
    assert code == 0 and "lambda_max" in out and "Lanczos for lambda_max" in err  # its spinner (it said power iteration)
    # Nesterov's limit (2 + 2m)/((1 + 2m) L) is below heavy ball's (2 + 2m)/L: at 2/L with m = 0.5 only it diverges
    rate = f"{2 / top:.6g}"
    code, out, _ = _run(capsys, "sharpness", "--dataset", "linreg", "--model", "linear", "--learning-rate", rate,
                        "--momentum", "0.5", "--json")
    assert strict_json(out)["verdict"].startswith("converges")
    code, out, _ = _run(capsys, "sharpness", "--dataset", "linreg", "--model", "linear", "--learning-rate", rate,
                        "--momentum", "0.5", "--nesterov", "--json")
    summary = strict_json(out)
    assert summary["stability_limit"] == pytest.approx(1.5 / top, rel=1e-3)
    assert summary["verdict"].startswith("diverges") and summary["nesterov"] is True
    assert summary["formula"] == "(2 + 2*momentum)/((1 + 2*momentum) L) with Nesterov momentum 0.5"
    code, _, err = _run(capsys, "sharpness", "--dataset", "linreg", "--model", "linear", "--nesterov")
    assert code == 2 and err.startswith("error: --nesterov needs momentum > 0")


def test_sharpness_where_the_loss_overflows_says_lambda_max_is_not_measured(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "huge.csv"  # features near 1e26: the squared loss overflows float32
    path.write_text("a,y\n" + "".join(f"{i}e25,{i / 2 + 0.1}\n" for i in range(40)))
    code, out, err = _run(capsys, "sharpness", "--dataset", str(path), "--model", "linear", "--json")
    assert code == 0, err
    summary = strict_json(out)
    assert summary["lambda_max"] == "nan" and summary["stability_limit"] is None
    assert summary["verdict"].startswith("not measured: lambda_max is nan")  # it was "converges: ... < inf"


def test_a_warning_of_any_command_is_one_line_not_pythons_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """gdlab fit printed the small file's warning as 'warning: ...'; sharpness, noise-scale and find-lr let
    Python print it with its file, line and category, and the source line under it."""
    path = tmp_path / "tiny.csv"  # 3 rows: the default test split rounds down to no test sample
    path.write_text("a,b,label\n1,2,0\n2,3,1\n3,1,0\n")
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # as outside the tests (pytest turns warnings into errors)
        code, _, err = _run(capsys, "sharpness", "--dataset", str(path), "--target-column", "label", "--no-progress")
    assert code == 0
    assert err.splitlines() == [("warning: the test split, 0.2 of the 3 samples, rounds down to no test sample: the test "
                                "metrics will be NaN (at least 5 samples give one).")]


def test_noise_scale_where_the_loss_overflows_says_it_is_not_measured(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """It said B_simple inf ('all noise') and recommended the small batch, with numpy RuntimeWarnings."""
    path = tmp_path / "huge.csv"  # features near 1e26: the squared loss overflows float32
    path.write_text("a,y\n" + "".join(f"{i}e25,{i / 2 + 0.1}\n" for i in range(40)))
    base = ("noise-scale", "--dataset", str(path), "--model", "linear", "--big-batch", "32", "--no-progress")
    code, out, err = _run(capsys, *base, "--learning-rate", "0.1", "--json")
    assert (code, err) == (0, "")
    summary = strict_json(out)
    assert summary["b_simple"] == summary["grad_norm_sq"] == "nan" and summary["interval"] == ["nan", "nan"]
    assert summary["recommended_batch_size"] is None and summary["recommended_learning_rate"] is None
    assert summary["note"].startswith("not measured: the gradients are not finite")
    code, out, err = _run(capsys, *base)
    assert (code, err) == (0, "") and "not measured" in out and "recommended" not in out


def test_noise_scale_takes_the_mlps_activation_as_the_other_commands_do(capsys: pytest.CaptureFixture[str]) -> None:
    """noise-scale had --hidden but no --activation (it always measured a relu MLP): B_simple at tanh's
    initial params is gd.noise_scale's for that model."""
    base = ("noise-scale", "--dataset", "linreg", "--model", "mlp", "--hidden", "8", "--big-batch", "64",
            "--batches", "8", "--no-progress", "--json")
    found = {}
    for activation in ("relu", "tanh"):
        code, out, err = _run(capsys, *base, "--activation", activation)
        assert (code, err) == (0, "")
        found[activation] = strict_json(out)["b_simple"]
    data, model = gd.datasets.load("linreg"), gd.models.mlp((8,), activation="tanh")
    tanh = gd.noise_scale(model, seed_params(model, data, 0), data, big_batch=64, batches=8, seed=0)
    assert found["tanh"] == pytest.approx(tanh.b_simple, rel=1e-6) and found["tanh"] != found["relu"]
    code, out, err = _run(capsys, *base, "--activation", "swish")
    assert (code, out) == (2, "") and err.startswith("error: --activation must be one of") and err.count("\n") == 1


def test_sharpness_find_lr_and_noise_scale_take_batch_size_full_as_fit_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    n = gd.datasets.load("linreg").n_train
    base = ["--dataset", "linreg", "--model", "linear", "--json"]
    code, out, _ = _run(capsys, "sharpness", *base)
    every = strict_json(out)
    code, out, err = _run(capsys, "sharpness", *base, "--batch-size", "full")  # was: 'full' is not a valid integer
    assert code == 0, err
    full = strict_json(out)
    assert full["lambda_max"] == pytest.approx(every["lambda_max"], rel=1e-6)
    assert full["where"].endswith(", all training data")
    code, out, err = _run(capsys, "find-lr", *base, "--batch-size", "full", "--seeds", "1", "--steps", "20",
                          "--validate-epochs", "1", "--no-record")
    assert code == 0, err
    assert strict_json(out)["batch_size"] == "full"
    # noise-scale: --batch-size full is a rate tuned for batch GD on all n samples: lr * recommended / n
    code, out, err = _run(capsys, "noise-scale", *base, "--small-batch", "8", "--big-batch", "64",
                          "--learning-rate", "0.5", "--batch-size", "full")
    assert code == 0, err
    summary = strict_json(out)
    assert summary["recommended_learning_rate"] == pytest.approx(0.5 * summary["recommended_batch_size"] / n)
    for command in ("sharpness", "find-lr", "noise-scale"):
        code, out, err = _run(capsys, command, *base, "--batch-size", "fu11")
        assert (code, out) == (2, ""), command
        assert err == "error: --batch-size must be an integer >= 1 or 'full'; got 'fu11'.\n", command


# --- find-lr and noise-scale ----------------------------------------------------------------------


def test_find_lr_prints_the_validated_rate_and_saves_the_plot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plot = tmp_path / "lr.png"
    code, out, err = _run(capsys, "find-lr", "--dataset", "linreg", "--model", "linear", "--batch-size", "20",
                          "--seeds", "2", "--steps", "60", "--plot", str(plot), "--json")
    summary = strict_json(out)
    assert code == 0
    grid = [v["learning_rate"] for v in summary["validation"]]
    trained = [v for v in summary["validation"] if not v["diverged"]]
    assert all(v["mean"] is None and v["std"] is None for v in summary["validation"] if v["diverged"])  # as the table
    best = min(trained, key=lambda v: v["mean"])
    assert summary["suggestion"] == best["learning_rate"] and summary["suggestion"] in grid
    assert set(summary["suggestions"]) == {"steepest", "valley", "minimum/10", "largest_stable"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = _run(capsys, "find-lr", "--min-lr", "1", "--max-lr", "0.5")
    assert code == 2 and err == "error: --min-lr must be smaller than --max-lr (0.5); got 1.0.\n"


def _finder_result(minimum_per_seed: tuple[float, ...]) -> gd.LRFinderResult:
    """A finder's result whose minimum/10 gave per seed minimum_per_seed (NaN: no rate), the other rules 0.1."""
    from gdlab.engine.lr_finder import LRFinderResult, Suggestion

    nan = [v for v in minimum_per_seed if not math.isnan(v)]
    suggestions = {rule: Suggestion(0.1, (0.1,) * len(minimum_per_seed)) for rule in ("steepest", "valley",
                                                                                       "largest_stable")}
    suggestions["minimum/10"] = Suggestion(float(np.exp(np.mean(np.log(nan)))) if nan else math.nan,
                                           minimum_per_seed)
    rates = np.geomspace(1e-5, 10.0, 30)
    losses = np.tile(np.linspace(2.0, 1.0, 30), (len(minimum_per_seed), 1))
    validation = [{"learning_rate": 0.1, "mean": 1.0, "std": 0.01, "diverged": False}]
    return LRFinderResult(0.1, (0.1, 0.1), suggestions, rates, losses, losses, validation)


def test_find_lr_shows_no_suggestion_that_most_seeds_did_not_give(capsys, monkeypatch) -> None:
    """'minimum/10 │ 1.17 │ 1.17 .. 1.17' came from 1 of 3 seeds (per seed [nan, 1.17, nan]), while the note under
    it said the rule offers no rate."""
    nan = math.nan
    base = ["find-lr", "--dataset", "linreg", "--model", "linear", "--no-record", "--no-progress"]
    for per_seed, suggestion, spread, note in [
        ((nan, 1.17, nan), "—", "1.17 (1 of 3 seeds)", ("offered no rate for 2 of 3 seeds: where a seed's lowest "
         "loss came within a decade of the lowest rate tested (1e-05), a tenth of it lies below the range tested; "
         "so it suggests none (—).")),
        ((0.5, 2.0, nan), "1 (2 of 3 seeds)", "0.5 .. 2", ("offered no rate for 1 of 3 seeds: where a seed's "
         "lowest loss came within a decade of the lowest rate tested (1e-05), a tenth of it lies below the range "
         "tested; so its suggestion is the geometric mean over the other 2 seeds.")),
        ((0.5, 2.0, 1.0), "1", "0.5 .. 2", None),
    ]:
        monkeypatch.setattr(gd, "find_learning_rate", lambda *a, per_seed=per_seed, **k: _finder_result(per_seed))
        code, out, err = _run(capsys, *base)
        assert code == 0, err
        row = next(line.split("│") for line in out.splitlines() if line.startswith("│ minimum/10 "))
        assert [cell.strip() for cell in row[2:4]] == [suggestion, spread]
        words = " ".join(out.split())
        assert (note is None and "minimum/10 offered" not in words) or f"minimum/10 {note}" in words, words


def test_find_lr_takes_the_momentum_the_run_will_train_with(capsys: pytest.CaptureFixture[str]) -> None:
    """The library's find_learning_rate took momentum; gdlab find-lr had no --momentum."""
    data = gd.datasets.load("linreg")
    args = {"batch_size": 20, "seeds": 2, "steps": 60, "validate_epochs": 2}
    found = gd.find_learning_rate(gd.models.linear(), data, momentum=0.9, **args)
    plain = gd.find_learning_rate(gd.models.linear(), data, **args)
    base = ["find-lr", "--dataset", "linreg", "--model", "linear", "--batch-size", "20", "--seeds", "2", "--steps",
            "60", "--no-record"]
    summary = _json(capsys, *base, "--momentum", "0.9")
    assert (summary["suggestion"], summary["momentum"]) == (pytest.approx(found.suggestion), 0.9)
    assert [v["mean"] for v in summary["validation"]] == pytest.approx([v["mean"] for v in found.validation])
    assert [v["mean"] for v in found.validation] != pytest.approx([v["mean"] for v in plain.validation])
    code, out, err = _run(capsys, *base, "--momentum", "1.0")
    assert (code, out) == (2, "") and err == "error: --momentum must be a float in [0.0, 1.0); got 1.0.\n"


def test_find_lr_whose_candidates_lay_far_below_the_blow_up_names_steps_and_batch_size(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--batch-size 1 --steps 20 said 'raise --max-lr' (got 10) though the loss blew up near 5 and the candidates
    were near 1e-4: too few noisy steps, not too low a range."""
    monkeypatch.setattr("gdlab.engine.lr_finder._candidates", lambda *args: [1e-9])
    code, out, err = _run(capsys, "find-lr", "--dataset", "linreg", "--model", "linear", "--no-record",
                          "--no-progress", "--batch-size", "8", "--steps", "20", "--seeds", "1",
                          "--validate-epochs", "1", "--min-lr", "1e-6", "--max-lr", "10")
    assert (code, out, len(err.splitlines())) == (2, "", 1)
    assert err.startswith("error: --steps must be enough for the range test to place the candidates; got 20"), err
    assert err.endswith("(so --max-lr=10 reached high enough): try --steps=100 or more, or a larger --batch-size "
                        "(a smoother curve).\n"), err


def test_find_lr_gives_no_rate_that_did_not_train_and_names_the_end_of_the_range_to_move(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It printed 'validated 3.16e-08' for rates that left the loss at 5.544, and 'minimum/10 1.11e-10' below
    --min-lr 1e-9; for --min-lr 1e3 it said '--steps must leave at least 10 points ...; got 1 (raise steps ...)'."""
    base = ["find-lr", "--dataset", "linreg", "--model", "linear", "--no-record", "--no-progress"]
    code, out, err = _run(capsys, *base, "--min-lr", "1e-9", "--max-lr", "1e-6", "--seeds", "1")
    assert (code, out, len(err.splitlines())) == (2, "", 1)
    assert err.startswith("error: --max-lr must be high enough for the loss to fall; got 1e-06, and no validated "
                          "candidate (the rates 1e-09, ")
    assert err.endswith(") lowered the mean train loss by more than 1% within 2 epochs: raise --max-lr (or "
                        "--validate-epochs, if the loss starts to fall slowly).\n")
    code, out, err = _run(capsys, *base, "--min-lr", "1e3", "--max-lr", "1e6")
    assert (code, out) == (2, "")
    assert err == ("error: --min-lr must be low enough for the loss to fall before it blows up; got 1000, and the "
                   "loss blew up after 1 point of the range test, by the rate 1.04e+03 (10 points are needed): lower "
                   "--min-lr by a decade or more.\n")
    code, out, err = _run(capsys, *base, "--min-lr", "1e-5", "--max-lr", "1e30", "--steps", "20")
    assert (code, out) == (2, "") and err.endswith(": try --steps=77 or more, or a --max-lr below 1e+30.\n")
    code, out, err = _run(capsys, *base, "--min-lr", "0.1", "--max-lr", "100")  # minimum at about 0.5: no tenth
    assert code == 0
    row = next(line.split("│") for line in out.splitlines() if line.startswith("│ minimum/10 "))
    assert [cell.strip() for cell in row[2:4]] == ["—", "—"]  # suggestion and spread: none in the range
    assert "minimum/10 offered no rate for all 3 seeds: where a seed's lowest loss came within a decade of the lowest " \
           "rate tested (0.1)" in " ".join(
        out.split())  # the note, as wrapped to the terminal


def test_find_lr_says_where_it_wrote_its_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """It wrote the file and said nothing of it (gdlab compare names what it writes: out:, csv:)."""
    plot = tmp_path / "lr.svg"
    code, out, _ = _run(capsys, "find-lr", "--dataset", "linreg", "--model", "linear", "--seeds", "1", "--steps",
                        "20", "--validate-epochs", "1", "--no-progress", "--no-record", "--plot", str(plot))
    assert code == 0 and f"plot: {plot}\n" in out and plot.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    ("plot", "why"),
    [
        ("missing/lr.png", "got 'missing/lr.png' (no directory 'missing')."),
        (".", "got '.' (a directory)."),  # savefig wrote './.png' after the whole run
        ("", "got '' (empty)."),  # was silently no plot
        ("lr.txt", "--plot must end in .png or .svg; got 'lr.txt'."),  # matplotlib's error, after the run
    ],
)
def test_find_lr_refuses_a_bad_plot_path_before_the_range_test(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, plot: str, why: str
) -> None:
    code, out, err = _run(capsys, "find-lr", "--dataset", "linreg", "--model", "linear", "--seeds", "1",
                          "--steps", "20", "--validate-epochs", "1", "--no-progress", "--plot", plot)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and err.startswith("error: --plot must ")
    assert why in err
    assert list(tmp_path.iterdir()) == []  # nothing trained: no run recorded, no file written


def _labels_csv(path: Path, rows: int) -> Path:
    """rows samples of 2 features and a 0/1 label (a .csv of 10 rows holds 8 training samples)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 2)).round(3)
    path.write_text("a,b,label\n" + "".join(f"{a},{b},{int(a + b > 0)}\n" for a, b in x))
    return path


def test_find_lr_s_default_batch_size_adapts_to_a_small_data_set_as_fit_s_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """It said '--batch-size must be an integer in [1, 8]; got 32.' though no --batch-size was typed."""
    data = str(_labels_csv(tmp_path / "ok.csv", 10))
    base = ["find-lr", "--dataset", data, "--model", "logistic", "--seeds", "1", "--steps", "20", "--validate-epochs",
            "1", "--no-record"]
    assert _json(capsys, *base)["batch_size"] == 8  # all 8 training samples, as fit takes them
    assert _json(capsys, "find-lr", "--dataset", "linreg", "--model", "linear", "--seeds", "1", "--steps", "20",
                 "--validate-epochs", "1", "--no-record")["batch_size"] == 32
    code, out, err = _run(capsys, *base, "--batch-size", "32")  # typed: still refused
    assert (code, out, err) == (2, "", ("error: --batch-size must be an integer in [1, 8] (8 training samples) or "
                                        "'full'; got 32.\n"))


@pytest.mark.parametrize(
    ("rows", "args", "batches"),
    [(10, [], (4, 8)), (10, ["--big-batch", "6"], (3, 6)), (10, ["--small-batch", "2"], (2, 8)),
     (5, [], (2, 4)), (60, [], (16, 48)), (1000, [], (16, 512)), (1000, ["--small-batch", "600"], (600, 800))],
)
def test_noise_scale_s_default_batches_adapt_to_the_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rows: int, args: list[str], batches: tuple[int, int]
) -> None:
    """It said '--small-batch must be an integer in [1, 8]; got 16.' on 8 training samples, none typed."""
    data = str(_labels_csv(tmp_path / "ok.csv", rows))
    found = _json(capsys, "noise-scale", "--dataset", data, "--model", "logistic", "--batches", "4", *args)
    assert (found["small_batch"], found["big_batch"]) == batches


@pytest.mark.parametrize(
    ("rows", "args", "expected"),
    [
        # typed: refused, by the range --big-batch's default leaves (it said [1, 8], and 8 was then refused too)
        (10, ["--small-batch", "16"],
         ("--small-batch must be an integer in [1, 7], less than the 8 training samples, so that --big-batch (by "
          "default all of them) can be larger; got 16.")),
        (10, ["--small-batch", "16", "--big-batch", "8"], "--small-batch must be an integer in [1, 8]; got 16."),
        (10, ["--big-batch", "9"], "--big-batch must be an integer in [2, 8]; got 9."),
        (10, ["--small-batch", "8"],
         ("--small-batch must be an integer in [1, 7], less than the 8 training samples, so that --big-batch (by "
          "default all of them) can be larger; got 8.")),
        (1, [], ("--dataset '{data}' has 1 training sample; noise-scale compares gradients at two batch sizes, a "
                "smaller and a larger one, so it needs at least 2 (give a data set with more rows).")),
    ],
)
def test_noise_scale_says_why_the_data_leaves_no_pair_of_batches(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rows: int, args: list[str], expected: str
) -> None:
    data = str(_labels_csv(tmp_path / "ok.csv", rows))
    with warnings.catch_warnings():  # one row: no test split either (a warning; the error follows it)
        warnings.filterwarnings("ignore", "the test split")
        code, out, err = _run(capsys, "noise-scale", "--dataset", data, "--model", "logistic", *args)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == "error: " + expected.format(data=data), err


@pytest.mark.parametrize(("command", "text"), [
    ("find-lr", "Default: 32, or 'full' when there are fewer than 32 training samples."),
    ("noise-scale", "Default: 16, or half of --big-batch when that is under 32."),
    ("noise-scale", "Default: 512, or all training samples when there are fewer or when --small-batch is 512 or more."),
])
def test_the_help_tells_how_a_default_batch_adapts(capsys: pytest.CaptureFixture[str], command: str, text: str) -> None:
    code, out, _ = _run(capsys, command, "--help")
    assert code == 0 and text in " ".join(out.replace("│", " ").split()), out


def test_noise_scale_recommends_by_linear_scaling(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "noise-scale", "--dataset", "linreg", "--model", "linear", "--small-batch", "8",
                          "--big-batch", "256", "--learning-rate", "0.1", "--batch-size", "8", "--json")
    summary = strict_json(out)
    assert code == 0
    assert summary["interval"][0] <= summary["b_simple"] <= summary["interval"][1]
    assert summary["recommended_learning_rate"] == pytest.approx(0.1 * summary["recommended_batch_size"] / 8)
    code, out, err = _run(capsys, "noise-scale", "--dataset", "linreg", "--model", "linear", "--small-batch", "8",
                          "--big-batch", "256")
    assert code == 0 and "B_simple" in out and "measuring B_simple: 64 batches of 8 and of 256" in err
    code, out, err = _run(capsys, "noise-scale", "--small-batch", "64", "--big-batch", "32")
    assert code == 2 and err.startswith("error: --big-batch must be larger than --small-batch (64); got 32")
    code, out, err = _run(capsys, "noise-scale", "--seed", "99999999999999999999")  # was an OverflowError traceback
    assert (code, out) == (2, "") and err == "error: --seed must be an integer in [0, 4294967295]; got 99999999999999999999.\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fit", "--lr", "0.1"], "error: No such option: --lr (did you mean --learning-rate?)\n"),
        (["compare", "--schedule", "cosine"], "error: No such option: --schedule (gdlab compare --help lists the options)\n"),
        (["fit", "--epoch", "3"], "error: No such option: --epoch (did you mean --epochs?)\n"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_an_unknown_option_suggests_a_real_option_or_none(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    """It said 'No such option: --lr (Possible options: --help)': click's one close match to any short name."""
    code, out, err = _run(capsys, *args)
    assert (code, out, err) == (2, "", expected)


def test_the_sharpness_verdict_says_it_holds_at_the_initial_params_and_curvature_grows() -> None:
    """At 3.5 it said 'oscillates but converges: 1/L = 2.06 < learning_rate 3.5 < 2/L = 4.11', and the full-batch
    run at 3.5 diverged: L rose to 3.3 during training."""
    from gdlab.commands.sharpness import verdict

    assert verdict(3.5, 2 / 4.11) == ("oscillates but converges at the initial params: 1/L = 2.055 < learning_rate "
                                      "3.5 < 2/L = 4.11; curvature usually grows during training, so the stable "
                                      "range shrinks")
    assert verdict(1.0, 2 / 4.11).endswith("curvature usually grows during training, so the stable range shrinks")
    assert verdict(5.0, 2 / 4.11).startswith("diverges at the initial params: learning_rate 5 > 4.11")
    # the limit as the table shows it (4 digits): it showed stability_limit 4.115 beside "< 4.11"
    assert verdict(0.5, 2 / 4.1152).startswith("converges at the initial params: learning_rate 0.5 < 4.115;")
    # as many digits as tell the two apart, for both: it said "learning_rate 4.1152 < 4.115"
    assert verdict(4.1152, 2 / 4.11524).startswith("oscillates but converges at the initial params: 1/L = 2.058 < "
                                                   "learning_rate 4.1152 < 2/L = 4.11524;")
