"""Sweeps: every config equals its standalone fit; stops and divergence stay per config."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import textwrap
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdlab as gd
import gdlab.engine.sweep
from gdlab.engine.setup import objective_and_params
from gdlab.engine.sweep import seed_initial_losses
from gdlab.engine.sweep_result import Group, best_by_mean, failure
from gdlab.engine.sweep_start import Deferred


@pytest.fixture(scope="module")
def small(mnist1d: gd.Dataset) -> gd.Dataset:
    return gd.datasets.from_arrays(mnist1d.x_train[:600], mnist1d.y_train[:600], test_fraction=0.25, seed=1)


MODEL = gd.models.mlp(hidden=(24,))


def _close(result: gd.Result, other: gd.Result, rtol: float = 2e-5) -> None:
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(other.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=rtol)
    for name in ("train_loss", "test_loss", "test_accuracy", "learning_rate"):
        np.testing.assert_allclose(result.history[name], other.history[name], rtol=rtol, atol=rtol)


def test_every_config_equals_its_standalone_fit(small) -> None:
    result = gd.sweep(MODEL, small, learning_rate=[0.05, 0.3], batch_size=[50, "full"],
                      momentum=[0.0, 0.9], seeds=[3, 8], epochs=3)
    assert len(result) == len(result.rows) == 2 * 2 * 2 * 2
    for k, row in enumerate(result.rows):
        rule = gd.sgd(row["learning_rate"], momentum=row["momentum"])
        alone = gd.fit(MODEL, small, rule, batch_size=row["batch_size"], epochs=3, seed=row["seed"],
                       check_stability=False)
        run = result.run(k)
        assert (run.status, run.epochs_run, run.steps_run) == (alone.status, 3, alone.steps_run)
        _close(run, alone)
        assert row["final_test_loss"] == pytest.approx(alone.history["test_loss"][-1], rel=2e-5)


def test_a_diverging_config_freezes_and_never_poisons_the_others(small, tmp_path) -> None:
    stop = gd.stop.plateau(tol=1e-3, patience=1)
    result = gd.sweep(MODEL, small, learning_rate=[0.1, 1e4], batch_size=[50], seeds=1, epochs=4, stop=stop)
    good, bad = result.rows
    assert bad["status"] == "diverged" and bad["epochs_run"] == 1
    assert bad["reason"].startswith("diverged: non-finite")
    assert all(np.isfinite(np.asarray(a)).all() for a in jax.tree.leaves(result.run(1).params))
    with pytest.warns(gd.ConvergenceWarning):
        alone = gd.fit(MODEL, small, gd.sgd(0.1), batch_size=50, epochs=4, stop=stop)
    assert good["status"] == alone.status
    _close(result.run(0), alone)
    header = result.to_csv(tmp_path / "rows.csv").read_text().splitlines()[0].split(",")
    assert set(header) == set(good) | set(bad)  # every column of any row
    best = result.best("final_train_loss")
    assert (best["learning_rate"], best["diverged"], best["all_diverged"]) == (0.1, 0, False)


def test_a_config_that_diverged_at_its_first_update_has_the_history_keys_of_its_fit() -> None:
    """No update ran, so no learning rate was recorded (NaN): its history still holds the key, as gd.fit's
    does, and a regression has no test accuracy in either."""
    data = gd.datasets.linreg(n=40, features=2)
    model = gd.models.linear()
    result = gd.sweep(model, data, learning_rate=[1e30, 0.1], batch_size=[8], epochs=2)
    alone = gd.fit(model, data, gd.sgd(1e30), batch_size=8, epochs=2, check_stability=False)
    run = result.run(0)
    assert (run.status, run.steps_run, alone.status, alone.steps_run) == ("diverged", 0, "diverged", 0)
    assert set(run.history) == set(alone.history) == set(result.run(1).history)
    assert np.isnan(run.history["learning_rate"]).all() and np.isnan(alone.history["learning_rate"]).all()
    np.testing.assert_allclose(run.history["train_loss"], alone.history["train_loss"], rtol=1e-6)
    running = gd.sweep(model, data, learning_rate=[1e30, 0.1], batch_size=[8], epochs=2, metrics="running")
    # its running loss averages no batch: NaN (it was 0.0), and the row keeps the key the issue asks for
    assert np.isnan(running.run(0).history["train_loss"]).all()
    assert math.isnan(running.rows[0]["final_train_loss"]) and math.isnan(running.rows[0]["best_train_loss"])
    assert math.isfinite(running.rows[1]["final_train_loss"])


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("metrics", ["exact", "running"])
def test_a_run_without_a_test_set_has_the_history_keys_of_its_fit(tmp_path, task, metrics) -> None:
    """gd.fit's history holds test_loss (and a classifier's test_accuracy) as NaN with no test set; run(k)
    dropped them, in memory and read back from a store."""
    x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) if task == "classification" else x[:, 0]
    data = gd.datasets.from_arrays(x, y, test_fraction=0.0)
    model = gd.models.logistic() if task == "classification" else gd.models.linear()
    alone = gd.fit(model, data, gd.sgd(0.1), batch_size=16, epochs=2, metrics=metrics)
    with gd.store.open(tmp_path / "runs.db") as store:
        result = gd.sweep(model, data, learning_rate=[0.1], batch_size=[16], epochs=2, metrics=metrics,
                          record=store.sweep_recorder())
        stored = store.sweep_result(store.sweeps()[0].id)[0]
    assert "test_loss" in alone.history and ("test_accuracy" in alone.history) == (task == "classification")
    assert set(result.run(0).history) == set(stored.run(0).history) == set(alone.history)
    assert np.isnan(result.run(0).history["test_loss"]).all()
    assert "final_test_loss" not in result.rows[0]  # a row keeps only the metrics measured: best() names them


def test_a_configs_result_cannot_write_into_the_sweep(small) -> None:
    result = gd.sweep(MODEL, small, learning_rate=[0.1], batch_size=[50], seeds=1, epochs=2)
    before = result.groups[0].history["train_loss"].copy()
    run = result.run(0)
    for array in [*run.history.values(), *jax.tree.leaves(run.params)]:
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 123
    np.testing.assert_array_equal(result.groups[0].history["train_loss"], before)
    assert not np.any(result.run(0).history["train_loss"] == 123)


def test_a_scalar_param_comes_back_from_run_as_gradient_descent_on_least_squares_gives_it() -> None:
    x = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [2.0, -1.0]])
    y = np.array([1.0, -1.0, 0.5, 2.0])
    data = gd.datasets.from_arrays(x, y, task="regression", test_fraction=0.0)

    def loss_fn(p: tuple[jax.Array, jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
        return 0.5 * jnp.mean((x @ p[0] + p[1] - y) ** 2)

    result = gd.sweep(loss_fn, data, learning_rate=[0.1, 0.2], params=(jnp.zeros(2), jnp.zeros(())), epochs=3)
    xs, ys = np.c_[np.asarray(data.x_train, np.float64), np.ones(4)], np.asarray(data.y_train, np.float64)
    for k, learning_rate in enumerate((0.1, 0.2)):
        w, b = result.run(k).params  # b: a read-only 0-d array
        theta = np.zeros(3)
        for _ in range(3):  # batch gradient descent: theta <- theta - lr * X^T (X theta - y) / n
            theta -= learning_rate * xs.T @ (xs @ theta - ys) / 4
        assert np.shape(b) == () and not b.flags.writeable
        np.testing.assert_allclose(np.append(w, b), theta, rtol=1e-6)


def test_the_best_mean_ranks_a_non_finite_mean_last_and_keeps_the_first_of_equal_means() -> None:
    # the one ranking of SweepResult.best and the report's best learning rate
    values = {"a": [1.0, 3.0], "inf": [math.inf, 0.0], "-inf": [-math.inf], "nan": [math.nan], "b": [1.0, 1.0]}
    assert best_by_mean(values, maximise=True) == ("a", 2.0, 1.0)  # not the inf mean
    assert best_by_mean(values, maximise=False) == ("b", 1.0, 0.0)  # not the -inf mean
    assert best_by_mean({"x": [2.0], "y": [1.0, 3.0]}, maximise=False) == ("x", 2.0, 0.0)  # equal: the first
    assert best_by_mean({"nan": [math.nan], "inf": [math.inf]}, maximise=False)[0] == "nan"  # none finite: the first
    # a key some seed of which failed ranks after every other, even with the better mean
    assert best_by_mean({"edge": [0.9, 0.8], "safe": [0.6, 0.6]}, maximise=True, failed={"edge"})[0] == "safe"
    assert best_by_mean({"edge": [0.9, 0.8], "worse": [0.7, 0.6]}, maximise=True, failed={"edge", "worse"}) == (
        "edge", pytest.approx(0.85), pytest.approx(0.05))  # all failed: the best of them
    assert best_by_mean({"edge": [0.9], "nan": [math.nan]}, maximise=True, failed={"edge"})[0] == "edge"


def test_best_passes_over_a_rate_where_a_seed_diverged_for_one_where_every_seed_trained() -> None:
    # lr 0.5: seed 1 diverged in epoch 2 after reaching 0.9 (its params froze before the bad step)
    accuracy = np.array([[[0.8, 0.6], [0.85, 0.6]], [[0.9, 0.6], [0.9, 0.6]]])  # [epoch, seed, pair]
    group = Group(config={"batch_size": 10}, pairs=[(0.5, 0.0), (0.1, 0.0)], seeds=[0, 1], chunk_params=(),
                  history={"test_accuracy": accuracy, "train_loss": np.ones((2, 2, 2)), "test_loss": np.ones((2, 2, 2)),
                           "grad_norm": np.ones((2, 2, 2))},
                  status=np.array([["max_epochs", "max_epochs"], ["diverged", "max_epochs"]], object),
                  reason=np.full((2, 2), "", object), steps_run=np.full((2, 2), 2), epochs_run=np.full((2, 2), 2),
                  seconds=1.0)
    best = gd.SweepResult(groups=(group,)).best("final_test_accuracy")
    assert (best["learning_rate"], best["mean"], best["diverged"]) == (0.1, 0.6, 0)


def test_best_passes_over_a_rate_where_a_seed_collapsed_and_says_when_every_rate_did() -> None:
    # lr 0.5: seed 1 ended at its loss before training (2.3, chance level) with the best accuracy of all
    accuracy = np.array([[[0.8, 0.6], [0.85, 0.6]], [[0.9, 0.6], [0.95, 0.6]]])  # [epoch, seed, pair]
    train_loss = np.array([[[1.0, 1.5], [2.0, 1.5]], [[0.8, 1.4], [2.3, 1.4]]])

    def sweep(initial: list[float]) -> gd.SweepResult:
        return gd.SweepResult(groups=(Group(
            config={"batch_size": 10}, pairs=[(0.5, 0.0), (0.1, 0.0)], seeds=[0, 1], chunk_params=(),
            history={"test_accuracy": accuracy, "train_loss": train_loss, "test_loss": np.ones((2, 2, 2)),
                     "grad_norm": np.ones((2, 2, 2))},
            status=np.full((2, 2), "max_epochs", object), reason=np.full((2, 2), "", object),
            steps_run=np.full((2, 2), 2), epochs_run=np.full((2, 2), 2), seconds=1.0,
            initial_loss=np.array(initial)),))

    result = sweep([2.3, 2.3])
    assert [r["initial_train_loss"] for r in result.rows] == [2.3] * 4
    assert [failure(r) for r in result.rows] == [None, "collapsed", None, None]
    best = result.best("final_test_accuracy")
    assert (best["learning_rate"], best["mean"], best["collapsed"], best["trained"]) == (0.1, 0.6, 0, True)
    assert sweep([2.31, 2.31]).best("final_test_accuracy")["learning_rate"] == 0.5  # below its start: trained
    every = sweep([1.0, 1.0]).best("final_test_accuracy")  # every config ended above 1.0: the least bad
    assert (every["learning_rate"], every["collapsed"], every["diverged"], every["trained"]) == (0.5, 1, 0, False)


def test_best_counts_a_seed_still_diverging_at_its_end_apart_from_collapsed() -> None:
    """Its reason said diverging (engine.result.DIVERGING) and best() counted it collapsed."""
    from gdlab.engine.result import rise_note

    # [epoch, seed, pair]; lr 0.5 seed 1 ended above its start (2.3), still rising; lr 0.1 trained
    train_loss = np.array([[[1.0, 1.5], [2.4, 1.5]], [[0.8, 1.4], [2.6, 1.4]], [[0.7, 1.3], [2.9, 1.3]]])
    reason = np.full((2, 2), "ran 3 epochs", object)
    reason[1, 0] += rise_note([2.4, 2.6, 2.9], 2.3)
    group = Group(config={"batch_size": 10}, pairs=[(0.5, 0.0), (0.1, 0.0)], seeds=[0, 1], chunk_params=(),
                  history={"test_accuracy": np.full((3, 2, 2), 0.5), "train_loss": train_loss,
                           "test_loss": np.ones((3, 2, 2)), "grad_norm": np.ones((3, 2, 2))},
                  status=np.full((2, 2), "max_epochs", object), reason=reason, steps_run=np.full((2, 2), 3),
                  epochs_run=np.full((2, 2), 3), seconds=1.0, initial_loss=np.array([2.3, 2.3]))
    result = gd.SweepResult(groups=(group,))
    assert [(r["learning_rate"], r["seed"], failure(r)) for r in result.rows] == [
        (0.5, 0, None), (0.5, 1, "diverging"), (0.1, 0, None), (0.1, 1, None)]
    best = result.best("final_test_accuracy")  # a tie: the rate none of whose seeds failed
    assert (best["learning_rate"], best["diverging"], best["collapsed"], best["trained"]) == (0.1, 0, 0, True)
    every = gd.SweepResult(groups=(dataclasses.replace(group, initial_loss=np.array([0.5, 0.5])),))
    least = every.best("final_test_accuracy")  # every config ended above 0.5: a tie, the first rate the least bad
    assert (least["learning_rate"], least["diverging"], least["collapsed"], least["trained"]) == (0.5, 1, 1, False)


def test_rows_hold_each_configs_final_and_best_metrics_over_the_epochs_it_ran() -> None:
    # [epoch, seed, pair]; seed 0: pair 0 ran 3 epochs, pair 1 diverged in epoch 2 (a NaN loss, an inf
    # grad norm); seed 1: pair 0 ran 0 epochs (none of its numbers shown), pair 1 ran 2 of 3 (epoch 3 unrun).
    # A best over values all inf is inf, as the final is (it was NaN); over none (NaN only) it is NaN
    nan, inf = np.nan, np.inf
    loss = np.array([[[1.0, 2.0], [9.0, 4.0]], [[0.5, nan], [9.0, 3.0]], [[0.7, nan], [9.0, 1.0]]])
    accuracy = np.array([[[0.2, 0.1], [0.9, 0.3]], [[0.6, nan], [0.9, 0.5]], [[0.4, nan], [0.9, 0.99]]])
    grad_norm = np.array([[[inf, 3.0], [1.0, inf]], [[inf, inf], [1.0, inf]], [[inf, nan], [1.0, 1.0]]])
    group = Group(config={"batch_size": 10, "schedule": "cosine"}, pairs=[(0.5, 0.0), (0.1, 0.9)], seeds=[3, 7],
                  chunk_params=(), history={"train_loss": loss, "test_loss": np.full((3, 2, 2), nan),
                                            "test_accuracy": accuracy, "grad_norm": grad_norm},
                  status=np.array([["max_epochs", "diverged"], ["interrupted", "target"]], object),
                  reason=np.array([["a", "b"], ["c", "d"]], object), steps_run=np.array([[30, 14], [0, 20]]),
                  epochs_run=np.array([[3, 2], [0, 2]]), seconds=8.0, initial_loss=np.array([2.5, nan]))
    common = {"batch_size": 10, "schedule": "cosine", "seconds": 2.0}
    assert gd.SweepResult(groups=(group,)).rows == [
        {**common, "learning_rate": 0.5, "momentum": 0.0, "seed": 3, "status": "max_epochs", "reason": "a",
         "epochs_run": 3, "steps_run": 30, "initial_train_loss": 2.5, "final_train_loss": 0.7, "best_train_loss": 0.5,
         "final_test_accuracy": 0.4, "best_test_accuracy": 0.6, "final_grad_norm": inf, "best_grad_norm": inf},
        {**common, "learning_rate": 0.5, "momentum": 0.0, "seed": 7, "status": "interrupted", "reason": "c",
         "epochs_run": 0, "steps_run": 0},
        {**common, "learning_rate": 0.1, "momentum": 0.9, "seed": 3, "status": "diverged", "reason": "b",
         "epochs_run": 2, "steps_run": 14, "initial_train_loss": 2.5, "final_train_loss": pytest.approx(nan, nan_ok=True),
         "best_train_loss": 2.0, "final_test_accuracy": pytest.approx(nan, nan_ok=True), "best_test_accuracy": 0.1,
         "final_grad_norm": inf, "best_grad_norm": 3.0},
        {**common, "learning_rate": 0.1, "momentum": 0.9, "seed": 7, "status": "target", "reason": "d",
         "epochs_run": 2, "steps_run": 20, "final_train_loss": 3.0, "best_train_loss": 3.0,
         "final_test_accuracy": 0.5, "best_test_accuracy": 0.5, "final_grad_norm": inf, "best_grad_norm": inf},
    ]


def test_each_row_has_its_seeds_loss_before_training(small) -> None:
    result = gd.sweep(MODEL, small, learning_rate=[0.01, 0.1], batch_size=[50], seeds=2, epochs=1)
    before = seed_initial_losses(MODEL, small, [0, 1])
    assert [r["initial_train_loss"] for r in result.rows] == [before[r["seed"]] for r in result.rows]
    assert before[0] != before[1]


def test_best_says_when_every_config_diverged(small) -> None:
    result = gd.sweep(MODEL, small, learning_rate=[1e4, 1e5], batch_size=[50], seeds=2, epochs=2)
    assert {row["status"] for row in result.rows} == {"diverged"}
    best = result.best("final_train_loss")  # the least bad, flagged: no learning rate trained
    assert (best["diverged"], best["seeds"], best["all_diverged"]) == (2, 2, True)
    assert best["learning_rate"] in (1e4, 1e5) and best["metric"] == "final_train_loss"


def test_best_ranks_by_the_train_loss_where_the_data_has_no_test_split() -> None:
    """best() with no metric asked for final_test_loss, which a sweep of data with no test split lacks: it said
    "metric must be one of ['best_grad_norm', ...]; got 'final_test_loss'", a metric the user never gave."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    data = gd.datasets.from_arrays(x, x @ np.array([1.0, -2.0, 0.5], np.float32), test_fraction=0)
    result = gd.sweep(gd.models.linear(), data, learning_rate=[0.01, 0.1], batch_size=[10], epochs=3)
    best = result.best()
    assert best["metric"] == "final_train_loss" and best["learning_rate"] == 0.1
    assert best["mean"] == min(row["final_train_loss"] for row in result.rows)
    with_test = gd.sweep(gd.models.linear(), gd.datasets.from_arrays(x, x[:, 0], test_fraction=0.25),
                         learning_rate=[0.01], batch_size=[10], epochs=1)
    assert with_test.best()["metric"] == "final_test_loss"


def test_a_config_that_overflowed_at_once_has_an_infinite_best_as_its_final() -> None:
    """Its final_grad_norm was inf and its best_grad_norm NaN (only finite values counted as a best)."""
    rng = np.random.default_rng(1)
    x = 30 * rng.normal(size=(40, 3)).astype(np.float32)
    data = gd.datasets.from_arrays(x, x @ np.ones(3, np.float32), test_fraction=0)
    result = gd.sweep(gd.models.linear(), data, learning_rate=[0.001, 5.0], batch_size=[4], epochs=3)
    wild = result.rows[1]
    assert wild["status"] == "diverged" and wild["epochs_run"] == 1 and wild["final_grad_norm"] == math.inf, wild
    for name in ("train_loss", "grad_norm"):
        final, best = wild[f"final_{name}"], wild[f"best_{name}"]
        assert not math.isnan(best) and (best == final or math.isfinite(best)), (name, final, best)


def test_each_config_stops_on_its_own_epoch(small) -> None:
    stop = gd.stop.target("train_loss", 1.5)  # lr 0.5 gets there in epoch 5, lr 0.02 never
    result = gd.sweep(MODEL, small, learning_rate=[0.02, 0.5], batch_size=[30], seeds=1, epochs=12, stop=stop)
    slow, fast = result.rows
    assert fast["status"] == "target_reached" and fast["epochs_run"] < slow["epochs_run"]
    alone = gd.fit(MODEL, small, gd.sgd(0.5), batch_size=30, epochs=12, stop=stop)
    assert alone.epochs_run == fast["epochs_run"] and alone.reason == fast["reason"]
    _close(result.run(1), alone)


def test_restore_best_gives_each_config_its_best_epochs_params_as_fit_does_divergence_too() -> None:
    data = gd.datasets.load("linreg", n=200, features=5, noise=0.1, seed=0)
    stop = gd.stop.early_stopping("test_loss", 4)  # restore_best=True, the default
    result = gd.sweep(gd.models.linear(), data, learning_rate=[0.05, 0.3, 1.0], batch_size=[40], seeds=1,
                      epochs=25, stop=stop)
    assert [row["status"] for row in result.rows] == ["early_stopped", "early_stopped", "diverged"]
    for k, row in enumerate(result.rows):
        run = result.run(k)
        alone = gd.fit(gd.models.linear(), data, gd.sgd(row["learning_rate"]), batch_size=40, epochs=25, stop=stop,
                       check_stability=False)
        assert (run.best_epoch, run.reason) == (alone.best_epoch, alone.reason)
        assert run.best_epoch == int(np.nanargmin(run.history["test_loss"])) + 1 < run.epochs_run
        for a, b in zip(jax.tree.leaves(run.params), jax.tree.leaves(alone.params), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    first = result.run(2).history["test_loss"][0]
    assert result.rows[2]["reason"].endswith(f"; the params returned are those of epoch 1, the best test_loss ({first:.4g})")
    last = gd.sweep(gd.models.linear(), data, learning_rate=[0.3], batch_size=[40], seeds=1, epochs=25,
                    stop=gd.stop.early_stopping("test_loss", 4, restore_best=False)).run(0)
    assert last.best_epoch is None and not np.allclose(last.params[0]["w"], result.run(1).params[0]["w"])


@pytest.mark.usefixtures("x64")
def test_restore_best_returns_the_initial_params_when_no_epoch_betters_them_as_fit_does() -> None:
    """f(w) = a |w|^2 / 2: at learning_rate 3/a each epoch's loss is 4 times the last (none beats the start),
    at 0.5/a a quarter of it (the last epoch is the best)."""
    a = 2.0
    data = gd.datasets.from_arrays(np.zeros((2, 1)), np.zeros(2), task="regression", test_fraction=0.0)

    def loss_fn(params, x, y):
        return 0.5 * a * jnp.sum(params["w"] ** 2) + 0.0 * jnp.sum(x)

    w0 = {"w": jnp.asarray([0.7, -0.4])}
    stop = gd.stop.early_stopping("train_loss", patience=2) | gd.stop.diverged(1e6)
    result = gd.sweep(loss_fn, data, learning_rate=[0.5 / a, 3 / a], batch_size=["full"], seeds=1, epochs=4,
                      params=w0, stop=stop)
    calm, blown = result.run(0), result.run(1)
    assert (calm.status, calm.best_epoch, blown.status, blown.best_epoch) == ("max_epochs", 4, "early_stopped", 0)
    assert blown.reason.endswith("; the params returned are the initial ones (before epoch 1), whose train_loss 0.65 no epoch bettered")
    np.testing.assert_array_equal(blown.params["w"], w0["w"])
    np.testing.assert_allclose(calm.params["w"], np.asarray(w0["w"]) / 16, rtol=1e-12)
    for run in (calm, blown):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gd.ConvergenceWarning)  # calm ends on its budget
            alone = gd.fit(loss_fn, data, gd.sgd(run.config["learning_rate"]), epochs=4, params=w0, stop=stop,
                           check_stability=False)
        assert (run.status, run.reason, run.best_epoch) == (alone.status, alone.reason, alone.best_epoch)
        np.testing.assert_allclose(run.params["w"], alone.params["w"], rtol=1e-12)


@pytest.mark.usefixtures("x64")
def test_a_config_started_after_some_epochs_still_returns_the_initial_params_none_bettered() -> None:
    """f(w) = a |w|^2 / 2 at learning_rate 3/a: each epoch's loss is 4 times the last. Gone on from its state
    after epoch 2, the config returns the initial params (best epoch 0) as the uninterrupted sweep does (it
    returned its last ones); at 0.5/a each epoch is the best so far, the last one too."""
    a = 2.0
    data = gd.datasets.from_arrays(np.zeros((2, 1)), np.zeros(2), task="regression", test_fraction=0.0)

    def loss_fn(params, x, y):
        return 0.5 * a * jnp.sum(params["w"] ** 2) + 0.0 * jnp.sum(x)

    w0 = {"w": jnp.asarray([0.7, -0.4])}
    grid = {"learning_rate": [0.5 / a, 3 / a], "batch_size": ["full"], "seeds": 1, "epochs": 4, "params": w0,
            "stop": gd.stop.early_stopping("train_loss", patience=3) | gd.stop.diverged(1e6)}
    snapshots = _Snapshots(epoch=2)
    full = gd.sweep(loss_fn, data, **grid, record=snapshots)
    start = {(m["batch_size"], m["schedule"], m["learning_rate"], m["momentum"], m["seed"]): gd.ConfigStart(
        2, snapshots.states[k], {n: v[:2] for n, v in full.run(k).history.items()})
        for k, m in enumerate(snapshots.members)}
    resumed = gd.sweep(loss_fn, data, **grid, start=start)
    calm, blown = resumed.run(0), resumed.run(1)
    assert (full.run(1).status, full.run(1).best_epoch) == (blown.status, blown.best_epoch) == ("early_stopped", 0)
    assert blown.reason == full.run(1).reason
    assert blown.reason.endswith("; the params returned are the initial ones (before epoch 1), whose train_loss 0.65 no epoch bettered")
    np.testing.assert_array_equal(blown.params["w"], w0["w"])
    assert (full.run(0).best_epoch, calm.best_epoch) == (4, 4)  # epochs 3 and 4 ran after the start
    np.testing.assert_allclose(calm.params["w"], np.asarray(w0["w"]) / 16, rtol=1e-12)


def test_results_best_table_and_files(small, tmp_path) -> None:
    result = gd.sweep(MODEL, small, learning_rate=[0.01, 0.2], seeds=2, epochs=2, batch_size=[60])
    rows = result.rows
    rows[0]["status"] = "changed by the caller"
    assert result.rows[0]["status"] == "max_epochs"  # each call hands out fresh dicts
    rows = result.rows
    expected_keys = {"learning_rate", "batch_size", "seed", "status", "final_train_loss",
                     "final_test_loss", "final_test_accuracy"}
    assert expected_keys <= set(rows[0])
    best = result.best("final_test_loss")
    means = {lr: np.mean([r["final_test_loss"] for r in rows if r["learning_rate"] == lr]) for lr in (0.01, 0.2)}
    assert best["learning_rate"] == min(means, key=means.get)
    assert best["mean"] == pytest.approx(means[best["learning_rate"]])
    assert best["seeds"] == 2 and best["std"] >= 0
    assert result.best("final_test_accuracy")["metric"] == "final_test_accuracy"
    with pytest.raises(ValueError, match="metric must be one of .*'final_test_loss'.*got 'val'"):
        result.best("val")
    assert len(result.table().splitlines()) == 1 + len(rows)
    csv_rows = (result.to_csv(tmp_path / "s.csv")).read_text().splitlines()
    assert b"\r" not in (tmp_path / "s.csv").read_bytes()  # LF lines, as gdlab runs export writes
    assert len(csv_rows) == 1 + len(rows)
    assert json.loads(result.to_json(tmp_path / "s.json").read_text())[0]["seed"] == 0


def test_the_table_keeps_the_metric_columns_when_the_first_config_has_no_metrics() -> None:
    """A resumed sweep skips the configs it was not asked to train: a skipped first config has no final
    metrics, and the table still shows the trained configs' numbers (a blank cell for the skipped one)."""
    data = gd.datasets.linreg(n=40, features=2)
    result = gd.sweep(gd.models.linear(), data, learning_rate=[0.1, 0.2], batch_size=[8], epochs=1,
                      start={(8, "constant", 0.2, 0.0, 0): gd.ConfigStart(0, None, {})})
    assert [row["status"] for row in result.rows] == ["skipped", "max_epochs"]
    header, skipped, trained = (line.split() for line in result.table().splitlines())
    assert header[-2:] == ["final_train_loss", "final_test_loss"]
    assert skipped[-1] == "0"  # epochs_run, then blanks
    assert float(trained[-2]) == pytest.approx(result.rows[1]["final_train_loss"], rel=1e-3)


def test_best_leaves_out_the_seeds_a_resumed_sweep_skipped() -> None:
    """Seed 1 of both rates skipped (start= named seed 0 only): best counted each skipped seed as diverged,
    so no rate had trained, and the means were NaN. It is the mean over the seeds that trained."""
    data = gd.datasets.linreg(n=40, features=2)
    result = gd.sweep(gd.models.linear(), data, learning_rate=[0.05, 0.1], batch_size=[8], seeds=2, epochs=2,
                      start={(8, "constant", lr, 0.0, 0): gd.ConfigStart(0, None, {}) for lr in (0.05, 0.1)})
    trained = [row for row in result.rows if row["status"] != "skipped"]
    assert [row["seed"] for row in trained] == [0, 0]
    best = result.best("final_train_loss")
    winner = min(trained, key=lambda row: row["final_train_loss"])
    assert (best["learning_rate"], best["mean"], best["std"]) == (winner["learning_rate"], winner["final_train_loss"], 0.0)
    assert (best["seeds"], best["diverged"], best["trained"], best["all_diverged"]) == (1, 0, True, False)
    nothing = gd.sweep(gd.models.linear(), data, learning_rate=[0.05], batch_size=[8], epochs=1, start={})
    with pytest.raises(ValueError, match=r"^best needs a config that trained; every config of this sweep was "
                                         r"skipped \(start= named none of them\)\.$"):
        nothing.best("final_train_loss")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"learning_rate": []}, "learning_rate must hold at least one value"),
        ({"learning_rate": [0.1, 0.1]}, r"learning_rate must not repeat a value; got \[0.1, 0.1\]"),
        ({"learning_rate": [0.1, 0.1 + 1e-10]}, (r"learning_rate must not repeat a value \(as the float32 numbers they "
                                                r"train with\); got \[0.1, 0.1000000001\]")),
        ({"learning_rate": [0.1], "momentum": [0.5, 0.5 + 1e-12]}, r"momentum must not repeat a value \(as the float32"),
        ({"learning_rate": [0.1, -1.0]}, r"learning_rate\[1\] must be a float in \(0, inf\); got -1.0"),
        ({"learning_rate": [0.1], "batch_size": [10_000]}, r"batch_size\[0\] must be an integer in \[1, 450\]"),
        ({"learning_rate": [0.1], "batch_size": [8, "ful"]}, r"batch_size\[1\] must be an integer in \[1, 450\] \(450 training samples\) or 'full'"),
        ({"learning_rate": [0.1], "batch_size": [450, "full"]}, r"batch_size must not repeat a value; got \[450, 'full'\]"),
        ({"learning_rate": [0.1], "momentum": [1.2]}, r"momentum\[0\] must be a float in \[0.0, 1.0\)"),
        ({"learning_rate": [0.1], "seeds": 0}, "seeds"),
        ({"learning_rate": [0.1], "seeds": [1, 1]}, "seeds must not repeat"),
        ({"learning_rate": [0.1], "seeds": 2.0}, (r"seeds must be a count \(an integer in \[1, 65536\]\) or a list of "
                                                r"seeds; got 2\.0")),
        ({"learning_rate": [0.1], "seeds": True}, r"seeds must be a count .*; got True"),
        ({"learning_rate": [0.1], "seeds": 10**9}, r"seeds must be an integer in \[1, 65536\]; got 1000000000"),
        ({"learning_rate": [0.1], "schedule": []}, "schedule must hold at least one value"),
        ({"learning_rate": [0.1], "schedule": ["cosine", "cosin"]}, r"schedule\[1\] must be one of .*got 'cosin'"),
        ({"learning_rate": [0.1], "schedule": {"x": "cosin"}}, r"^schedule\['x'\] must be one of .*got 'cosin'"),
        ({"learning_rate": [0.1], "schedule": ["cosine", "cosine"]}, "schedule must not repeat a label"),
        ({"learning_rate": [0.1, 0.2], "schedule": [lambda lr: gd.schedules.constant(lr) if lr < 0.15
                                                     else gd.schedules.cosine(lr, 10)]},
         r"schedule 'schedule\[0\]' must give every learning rate the same kind of schedule"),
        ({"learning_rate": [0.1], "schedule": {"c": gd.schedules.cosine(0.1, 10)}},
         r"schedule\['c'\] is a gd.schedules schedule, built for one learning rate; .* lambda lr: gd.schedules"),
        ({"learning_rate": [0.1], "momentum": [0.9, 0.0], "nesterov": True},
         r"nesterov=True needs every momentum > 0; got momentum\[1\]=0.0"),
        ({"learning_rate": [0.1], "compute_dtype": "float16"}, r"compute_dtype must be one of .*got 'float16'"),
        ({"learning_rate": [0.1, 1e39]}, r"learning_rate must be at most 3.403e\+38 in size to fit float32; got 1e\+39"),
        ({"learning_rate": [1e-320, 0.1]},  # the grid is checked as one array, the message names the number
         r"learning_rate must be at least 1.401e-45 in size \(where not 0\) to fit float32; got 1e-320\.$"),
        ({"learning_rate": [0.1], "weight_decay": 1e39}, r"weight_decay must be at most 3.403e\+38"),
    ],
)
def test_bad_grids(small, kwargs, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        gd.sweep(MODEL, small, **kwargs)


@pytest.fixture(scope="module")
def tiny() -> gd.Dataset:
    x = np.random.default_rng(0).normal(size=(24, 3)).astype(np.float32)
    return gd.datasets.from_arrays(x, (x[:, 0] > 0).astype(int), test_fraction=0.25)


def _losses(result: gd.SweepResult) -> list[tuple[float, float]]:
    return [(row["learning_rate"], row["final_train_loss"]) for row in result.rows]


@pytest.mark.parametrize(
    "grid",
    [np.float32(0.5), jnp.float32(0.5), np.array(0.5), (r for r in [0.5]), jnp.array([0.5]), {0.5}],
    ids=["np.float32", "jnp.float32", "np-0d", "generator", "jnp-1d", "set"],
)
def test_one_value_arrays_and_generators_are_grids(tiny, grid) -> None:
    """A NumPy or JAX scalar used to raise "'numpy.float32' object is not iterable"."""
    expected = gd.sweep(gd.models.logistic(), tiny, learning_rate=[0.5], epochs=2)
    got = gd.sweep(gd.models.logistic(), tiny, learning_rate=grid, momentum=np.float32(0.0), epochs=2)
    assert _losses(got) == _losses(expected)


def test_bad_hooks_are_named_before_anything_compiles(tiny, compile_counter) -> None:
    with pytest.raises(TypeError, match=r"callback must be None or a function callback\(group, epoch, active"):
        gd.sweep(gd.models.mlp((3,)), tiny, learning_rate=[0.1], callback=3)
    with pytest.raises(TypeError, match="record must be None or an object with methods begin_sweep, sweep_epoch"):
        gd.sweep(gd.models.mlp((3,)), tiny, learning_rate=[0.1], record=object())
    with pytest.raises(TypeError, match=r"learning_rate must be a list of values \(or one value\); got <object"):
        gd.sweep(gd.models.mlp((3,)), tiny, learning_rate=object())
    assert compile_counter.count == 0


@pytest.mark.parametrize(
    ("features", "kwargs", "error", "match"),
    [
        (29, {"stop": "plateau"}, TypeError, "stop must be a rule from gd.stop"),
        (30, {"stop": gd.stop.grad_norm(1e-3), "metrics": "running"}, ValueError,
         r"stop rule grad_norm reads grad_norm \(needs metrics='exact'\)"),
        (31, {"stop": gd.stop.early_stopping("test_accuracy", 2), "test_every": 2}, ValueError,
         "stop rule early_stopping reads test_accuracy, which test_every=2 measures only once every 2 epochs"),
        (32, {"schedule": ["one_cycle"]}, ValueError,  # one update: was "total_steps must be ... got 1", not a sweep argument
         (r"schedule 'one_cycle' needs a rise longer than one update: at pct_start 0\.3, at least 4 updates after "
         r"warmup_steps \(0\); the run has 1 ")),
        (33, {"schedule": ["one_cycle"], "epochs": 3}, ValueError,  # 3 updates: it blamed pct_start, never given
         r"at least 4 updates after warmup_steps \(0\); the run has 3 .*Give more epochs or a larger pct_start\.$"),
    ],
)
def test_stop_rules_and_schedules_that_cannot_run_are_refused_before_compiling(features, kwargs, error, match,
                                                                               compile_counter) -> None:
    """The stop rule was checked after each seed's initial params had compiled."""
    x = np.random.default_rng(5).normal(size=(12, features)).astype(np.float32)
    data = gd.datasets.from_arrays(x, np.arange(12) % 2, test_fraction=0.25)
    with pytest.raises(error, match=match):
        gd.sweep(gd.models.mlp((features,)), data, learning_rate=[0.1], **{"epochs": 1, **kwargs})
    assert compile_counter.count == 0


def test_a_schedule_one_group_cannot_run_is_refused_before_any_group_trains(tiny) -> None:
    """one_cycle over 2 epochs: 10 updates at batch size 4, 2 at full batch (too few for a warm-up of
    pct_start 0.3); the batch-4 group trained before the full-batch one failed."""
    epochs: list[int] = []
    with pytest.raises(ValueError, match=r"one_cycle. needs a rise longer than one update: .* the run has 2 "):
        gd.sweep(gd.models.logistic(), tiny, learning_rate=[0.1], batch_size=[4, "full"], schedule=["one_cycle"],
                 epochs=2, callback=lambda group, epoch, active: epochs.append(epoch))
    assert epochs == []


def test_result_accessors_name_bad_arguments(tiny, tmp_path, monkeypatch) -> None:
    result = gd.sweep(gd.models.logistic(), tiny, learning_rate=[0.1, 0.5], epochs=1)
    assert result.run(np.int64(1)).config["learning_rate"] == 0.5
    for k, error in ((2, ValueError), (-1, ValueError), (True, TypeError), (1.0, TypeError)):
        with pytest.raises(error, match=rf"k must be an integer in \[0, 1\]; got {k!r}"):
            result.run(k)  # 2 was a bare IndexError; -1 silently the last config
    with pytest.raises(ValueError, match=r"metric must be one of .*'final_train_loss'.*; got 'status'"):
        result.best("status")  # was a NumPy ufunc TypeError
    for write in (result.to_csv, result.to_json):
        with pytest.raises(ValueError, match="path must be in an existing directory; got .*nope' does not exist"):
            write(tmp_path / "nope" / "rows.out")
        with pytest.raises(ValueError, match="path must be a file path, not a directory; got "):
            write(tmp_path)  # a bare IsADirectoryError
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="to_pandas needs pandas.*pip install pandas"):
        result.to_pandas()


def test_schedule_grid_configs_equal_their_standalone_fits(small) -> None:
    warm = {"warm_cosine": lambda lr: gd.schedules.warmup(gd.schedules.cosine(lr, 30), 5)}
    result = gd.sweep(MODEL, small, learning_rate=[0.05, 0.4], batch_size=[90], seeds=[2],
                      schedule={"constant": "constant", "cosine": "cosine", **warm}, epochs=6)
    rows = result.rows
    assert [r["schedule"] for r in rows] == ["constant"] * 2 + ["cosine"] * 2 + ["warm_cosine"] * 2
    steps = 6 * (450 // 90)
    rules = {"constant": lambda lr: gd.sgd(lr), "cosine": lambda lr: gd.sgd(gd.schedules.cosine(lr, steps)),
             "warm_cosine": lambda lr: gd.sgd(warm["warm_cosine"](lr))}
    for k, row in enumerate(rows):
        alone = gd.fit(MODEL, small, rules[row["schedule"]](row["learning_rate"]), batch_size=90, epochs=6,
                       seed=2, check_stability=False)
        _close(result.run(k), alone)
    cosine_rates = result.run(3).history["learning_rate"]
    last = steps - 1  # the rate of the run's last update, near the end of the decay to 0
    assert cosine_rates[-1] == pytest.approx(0.4 * (1 + np.cos(np.pi * last / steps)) / 2, rel=1e-5)
    assert cosine_rates[0] == pytest.approx(0.4 * (1 + np.cos(np.pi * 4 / steps)) / 2, rel=1e-5)
    assert result.best("final_train_loss")["schedule"] in {"constant", "cosine", "warm_cosine"}


def test_bfloat16_compute_keeps_float32_weights_and_tracks_float32(small) -> None:
    grid = {"learning_rate": [0.1, 0.3], "batch_size": [50], "seeds": 2, "epochs": 4}
    full = gd.sweep(MODEL, small, **grid)
    low = gd.sweep(MODEL, small, compute_dtype="bfloat16", **grid)
    assert all(np.asarray(a).dtype == np.float32 for a in jax.tree.leaves(low.run(0).params))
    assert low.run(0).config["compute_dtype"] == "bfloat16"
    key = jax.random.PRNGKey(0)  # "float32" is no cast: the same objective (and programs) as the default
    assert objective_and_params(MODEL, small, None, None, key, "float32")[0] is \
        objective_and_params(MODEL, small, None, None, key)[0]
    for a, b in zip(full.rows, low.rows):
        assert b["final_train_loss"] == pytest.approx(a["final_train_loss"], rel=0.05)
        assert b["final_train_loss"] != a["final_train_loss"]  # it did compute in another precision
        assert abs(b["final_test_accuracy"] - a["final_test_accuracy"]) < 0.05


def test_logspace() -> None:
    np.testing.assert_allclose(gd.logspace(0.001, 1.0, 4), [0.001, 0.01, 0.1, 1.0])
    with pytest.raises(ValueError, match=r"^high must be > low for n > 1 rates; got low=1.0, high=0.1\.$"):
        gd.logspace(1.0, 0.1, 3)
    with pytest.raises(ValueError, match=r"^high must be > low for n > 1 rates; got low=0.1, high=0.1\.$"):
        gd.logspace(0.1, 0.1, 3)  # three equal rates, which sweep refuses
    assert gd.logspace(0.1, 0.1, 1) == [0.1]


def test_a_sweep_sharded_over_four_devices_equals_the_unsharded_one(small, data_cache) -> None:
    script = textwrap.dedent("""
        import json, sys
        import numpy as np
        import gdlab as gd
        import gdlab.engine.sweep
        import jax
        d = gd.datasets.load("mnist1d", cache_path=sys.argv[1])
        small = gd.datasets.from_arrays(d.x_train[:600], d.y_train[:600], test_fraction=0.25, seed=1)
        grid = dict(learning_rate=[0.05, 0.1, 0.3], batch_size=[50], momentum=[0.0, 0.5], seeds=1, epochs=2)
        r = gd.sweep(gd.models.mlp(hidden=(24,)), small, **grid)
        class After1:  # each config's state after epoch 1, read from the four devices
            def begin_sweep(self, config, members): self.members, self.states = members, {}
            def sweep_epoch(self, epoch): self.states.update(epoch.snapshot() if epoch.epoch == 1 else {})
            def end_sweep(self, result): pass
            def fail_sweep(self, error): pass
        after1 = After1()
        gd.sweep(gd.models.mlp(hidden=(24,)), small, **grid, record=after1)
        start = {(m["batch_size"], m["schedule"], m["learning_rate"], m["momentum"], m["seed"]):
                 gd.ConfigStart(1, after1.states[k], {n: v[:1] for n, v in r.run(k).history.items()})
                 for k, m in enumerate(after1.members)}
        resumed = gd.sweep(gd.models.mlp(hidden=(24,)), small, **grid, start=start)  # placed, then sharded
        gdlab.engine.sweep.config_block = lambda *args: 1  # each device: one config at a time
        blocks = gd.sweep(gd.models.mlp(hidden=(24,)), small, **grid)
        print(json.dumps({"devices": len(jax.devices()), "losses": [x["final_train_loss"] for x in r.rows],
                          "blocks": [x["final_train_loss"] for x in blocks.rows],
                          "resumed": [x["final_train_loss"] for x in resumed.rows]}))
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    out = subprocess.run([sys.executable, "-c", script, str(data_cache)], env=env, capture_output=True,
                         text=True, check=True, timeout=300)
    sharded = json.loads(out.stdout.strip().splitlines()[-1])
    assert sharded["devices"] == 4
    local = gd.sweep(MODEL, small, learning_rate=[0.05, 0.1, 0.3], batch_size=[50], momentum=[0.0, 0.5],
                     seeds=1, epochs=2)
    np.testing.assert_allclose(sharded["losses"], [r["final_train_loss"] for r in local.rows], rtol=1e-5)
    np.testing.assert_allclose(sharded["blocks"], sharded["losses"], rtol=1e-6)
    assert sharded["resumed"] == sharded["losses"]  # going on from the states after epoch 1: bit for bit


class _Snapshots:
    """A sweep recorder that keeps the members' configs and their states after one epoch."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.members, self.states = epoch, [], {}

    def begin_sweep(self, config, members) -> None:
        self.members = members

    def sweep_epoch(self, epoch) -> None:
        if epoch.epoch == self.epoch:
            self.states.update(epoch.snapshot())

    def end_sweep(self, result) -> None: ...

    def fail_sweep(self, error) -> None: ...


def test_configs_started_from_their_state_after_an_epoch_end_exactly_as_uninterrupted(small) -> None:
    """Going on from the states after epoch 2 (momentum buffers, update counts, the plateau rule's
    streaks replayed over the recorded epochs) gives the uninterrupted sweep's numbers bit for bit; the
    configs given no start are skipped."""
    grid = {"learning_rate": [0.05, 0.5, 50.0], "momentum": [0.0, 0.9], "batch_size": [32], "seeds": 2,
            "epochs": 6, "stop": gd.stop.plateau(tol=0.1, patience=2)}
    snapshots = _Snapshots(epoch=2)
    full = gd.sweep(MODEL, small, **grid, record=snapshots)
    start, asked, loads = {}, [], []

    def load(refs: list[int]) -> list[gd.ConfigState]:  # the Deferred configs of a chunk, read at once
        loads.append(refs)
        return [snapshots.states[k] for k in refs]

    for k, state in snapshots.states.items():
        m = snapshots.members[k]
        history = {name: values[:2] for name, values in full.run(k).history.items()}
        # a state may also be a function, called once when its chunk is built, or a Deferred
        given = {0: state, 1: lambda s=state, k=k: asked.append(k) or s, 2: Deferred(load, k)}[k % 3]
        start[m["batch_size"], m["schedule"], m["learning_rate"], m["momentum"], m["seed"]] = gd.ConfigStart(
            2, given, history)
    going_on = sorted(snapshots.states)
    # lr 0.05 without momentum stops at epoch 3 on a streak begun at epoch 2 (before the start): replayed
    assert [full.rows[k]["epochs_run"] for k in going_on] == [3, 3, 6, 6, 3, 3, 3, 3]
    assert {full.rows[k]["status"] for k in going_on} == {"converged", "stalled"}
    resumed = gd.sweep(MODEL, small, **grid, start=start)
    assert sorted(asked) == [k for k in going_on if k % 3 == 1]  # each function called once
    assert [sorted(refs) for refs in loads] == [[k for k in going_on if k % 3 == 2]]  # one load for the chunk
    for k, (a, b) in enumerate(zip(full.rows, resumed.rows, strict=True)):
        if k not in going_on:
            assert (a["status"], b["status"]) == ("diverged", "skipped"), k
            continue
        assert {key: v for key, v in a.items() if key != "seconds"} == {
            key: v for key, v in b.items() if key != "seconds"}, k
        ha, hb = full.run(k).history, resumed.run(k).history
        for name in ha.keys() - {"epoch_time", "wall_time"}:
            np.testing.assert_array_equal(ha[name], hb[name], err_msg=f"config {k} {name}")
        for x, y in zip(jax.tree.leaves(full.run(k).params), jax.tree.leaves(resumed.run(k).params), strict=True):
            np.testing.assert_array_equal(x, y)


def test_deferred_states_are_loaded_a_bounded_part_at_a_time_and_each_written_where_it_belongs(monkeypatch) -> None:
    from typing import NamedTuple

    from gdlab.engine import sweep_start

    class State(NamedTuple):
        step: jax.Array
        velocity: dict

    seeds, pairs = [0, 1], [(0.1 * p, 0.0) for p in range(1, 6)]  # 2 seeds x 5 pairs, all started at epoch 1
    params = {"w": jnp.zeros((2, 5, 3))}
    state = State(jnp.zeros((2, 5), jnp.int32), {"w": jnp.zeros((2, 5, 3))})
    loads = []

    def load(refs):
        loads.append(list(refs))
        return [gd.ConfigState({"w": np.full(3, ref)}, ref, {"w": np.full(3, -ref)}) for ref in refs]

    def start_of(lr, m, seed):
        return gd.ConfigStart(1, Deferred(load, round(100 * seed + 10 * lr)), {})

    monkeypatch.setattr(sweep_start, "LOADED_AT_ONCE", 4)
    placed, new = sweep_start.place_states(params, state, start_of, pairs, seeds)
    refs = [[100 * i + j + 1 for j in range(5)] for i in range(2)]
    assert loads == [[1, 2, 3, 4], [5, 101, 102, 103], [104, 105]]  # at most 4 at once, in chunk order
    np.testing.assert_array_equal(new.step, refs)
    np.testing.assert_array_equal(placed["w"], np.repeat(np.array(refs)[..., None], 3, -1))
    np.testing.assert_array_equal(new.velocity["w"], -placed["w"])
    short = Deferred(lambda refs: [], 0)
    with pytest.raises(ValueError, match="a Deferred's load must give one state per ref; it gave 0 for 4"):
        sweep_start.place_states(params, state, lambda lr, m, seed: gd.ConfigStart(1, short, {}), pairs, seeds)


def test_a_start_outside_the_grid_or_at_two_epochs_of_a_group_is_refused(small) -> None:
    params = MODEL.init(jax.random.PRNGKey(0), small.input_shape, small.outputs)
    state = gd.ConfigState(params, 3, None)
    grid = {"learning_rate": [0.1, 0.2], "batch_size": [32], "seeds": 1, "epochs": 3}
    with pytest.raises(ValueError, match=r"start must name configs of the grid .*got \(32, 'constant', 0.3, 0.0, 0\)"):
        gd.sweep(MODEL, small, **grid, start={(32, "constant", 0.3, 0.0, 0): gd.ConfigStart(1, state, {})})
    with pytest.raises(ValueError, match=r"must give the configs of batch size 32, schedule 'constant' one epoch; "
                                         r"got epochs \[1, 2\]"):
        gd.sweep(MODEL, small, **grid, start={(32, "constant", 0.1, 0.0, 0): gd.ConfigStart(1, state, {}),
                                              (32, "constant", 0.2, 0.0, 0): gd.ConfigStart(2, state, {})})
    with pytest.raises(ValueError, match=r"start\[\(32, 'constant', 0.1, 0.0, 0\)\] must be a ConfigStart at an "
                                         r"epoch from 0 to epochs=3; got ConfigStart\(epoch=4"):
        gd.sweep(MODEL, small, **grid, start={(32, "constant", 0.1, 0.0, 0): gd.ConfigStart(4, state, {})})
    with pytest.raises(TypeError, match="start must map .* to a ConfigStart; got list"):
        gd.sweep(MODEL, small, **grid, start=[])


def test_a_result_and_a_sweep_result_print_in_one_line() -> None:
    """repr(SweepResult) printed every array of every group (210 lines for 4 configs), repr(Result) ~8,800
    characters of params and history."""
    data = gd.datasets.load("linreg")
    swept = gd.sweep(gd.models.linear(), data, learning_rate=[0.1, 0.2, 3.0], batch_size=[100, "full"], seeds=2,
                     epochs=3)
    statuses = [row["status"] for row in swept.rows]
    assert repr(swept) == (
        "SweepResult(12 configs: batch_size 100, 800; schedule constant; learning_rate 0.1, 0.2, 3; momentum 0; "
        f"seed 0, 1; {statuses.count('max_epochs')} max_epochs, {statuses.count('diverged')} diverged; "
        ".rows, .table(), .best(), .run(k))")
    run = swept.run(0)
    loss = run.history["train_loss"][-1]
    assert repr(run).startswith(f"Result(status='max_epochs', epochs_run=3, steps_run=24, final: train_loss {loss:.4g}, ")
    assert repr(run).endswith(f"; params: 2 arrays, 11 numbers; reason={run.reason!r})") and "\n" not in repr(run)
    assert "; params: not kept; " in repr(dataclasses.replace(run, params=None))  # as a store's sweep gives it
    many = gd.sweep(gd.models.linear(), data, learning_rate=gd.logspace(1e-3, 1, 8), batch_size=[100], epochs=1)
    assert "learning_rate 8 values 0.001..1;" in repr(many)


def test_a_combined_rule_stops_each_config_where_its_standalone_fit_stops() -> None:
    """Inside &, grad_norm, plateau and early_stopping hold only while their condition does (they latched): a
    sweep reads the rules on (seeds, pairs) arrays, and each config stops at the epoch, with the status and
    reason, of its own gd.fit."""
    data = gd.datasets.load("linreg", n=200, features=5, noise=0.1, seed=0)
    stop = (gd.stop.grad_norm(1.129) & gd.stop.max_epochs(6)) | (gd.stop.plateau(1e-3, 2) & gd.stop.max_epochs(9))
    rates, momentum = [0.01, 0.05, 0.3], 0.95  # momentum: gradient norms that fall below tol and rise again
    swept = gd.sweep(gd.models.linear(), data, learning_rate=rates, momentum=[momentum], batch_size=[32], seeds=[0],
                     epochs=25, stop=stop)
    for i, rate in enumerate(rates):
        fit = gd.fit(gd.models.linear(), data, gd.sgd(rate, momentum=momentum), batch_size=32, epochs=25, seed=0,
                     stop=stop)
        run = swept.run(i)
        assert (run.status, run.epochs_run) == (fit.status, fit.epochs_run), rate
        assert run.reason.split(" at epoch")[0] == fit.reason.split(" at epoch")[0], (run.reason, fit.reason)
    oscillating = swept.run(2)  # its norm fell below tol at epoch 4 and was back above at 6: it trains on
    assert oscillating.history["grad_norm"][3] < 1.129 < oscillating.history["grad_norm"][5]
    assert oscillating.epochs_run > 6 and not oscillating.reason.startswith("converged")
