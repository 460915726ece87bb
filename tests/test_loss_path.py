"""gd.fit(..., loss_every=k): the train loss on all the data along the run, against a NumPy replay of the same
mini-batch SGD (the same orders, drawn by the engine's own permutation) and against the run's own history."""

from __future__ import annotations

import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import gdlab as gd
from gdlab.core.batching import batch_plan, epoch_permutation, path_updates
from gdlab.engine.setup import seed_keys


def _least_squares(n: int = 10, features: int = 3, seed: int = 0) -> tuple[gd.Dataset, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5][:features]) + 0.1 * rng.normal(size=n)).astype(np.float32)
    data = gd.datasets.from_arrays(x, y, task="regression", test_fraction=0.0)
    return data, {"w": np.zeros(features, np.float32)}


def _loss(params, x, y):
    return 0.5 * jnp.mean((x @ params["w"] - y) ** 2)


def _replay(data: gd.Dataset, lr: float, batch: int, epochs: int, every: int, seed: int) -> tuple[list, list]:
    """Mini-batch SGD on 0.5 mean (x w - y)^2 in float64: the update counts and losses a path measures."""
    x, y = data.x_train.astype(float), data.y_train.astype(float)
    n = len(x)
    w = np.zeros(x.shape[1])
    data_key = seed_keys(np.uint32(seed))[1]
    steps = -(-n // batch)
    updates, losses = [0], [0.5 * np.mean((x @ w - y) ** 2)]
    for epoch in range(epochs):
        order = np.asarray(epoch_permutation(data_key, epoch, n)) if batch < n else np.arange(n)
        for step in range(steps):
            rows = order[step * batch:(step + 1) * batch]
            w = w - lr * x[rows].T @ (x[rows] @ w - y[rows]) / len(rows)
            if (step + 1) % every == 0 and len(rows) == batch or step + 1 == steps:  # every k-th full batch, the last
                updates.append(epoch * steps + step + 1)
                losses.append(0.5 * np.mean((x @ w - y) ** 2))
    return updates, losses


@pytest.mark.parametrize(("batch", "every"), [(1, 3), (3, 2), (3, 1), (4, 3), ("full", 1)])
def test_the_path_is_the_loss_after_every_kth_update_and_each_epoch_s_last(batch, every) -> None:
    data, params = _least_squares()
    result = gd.fit(_loss, data, gd.sgd(0.1), params=params, batch_size=batch, epochs=3, seed=5, loss_every=every)
    size = data.n_train if batch == "full" else batch
    updates, losses = _replay(data, 0.1, size, 3, every, seed=5)
    path = result.loss_path
    assert path is not None
    np.testing.assert_array_equal(path.update, updates)
    steps = batch_plan(data.n_train, size).steps
    np.testing.assert_allclose(path.epoch, np.array(updates) / steps)
    np.testing.assert_allclose(path.train_loss, losses, rtol=2e-5)
    # where an epoch ends the path holds the history's loss (both measured on all the data), and the run is the one
    # trained without a path
    ends = path.train_loss[np.isin(path.update, np.arange(1, 4) * steps)]
    np.testing.assert_allclose(ends, result.history["train_loss"], rtol=1e-6)
    plain = gd.fit(_loss, data, gd.sgd(0.1), params=params, batch_size=batch, epochs=3, seed=5)
    assert plain.loss_path is None
    np.testing.assert_array_equal(plain.history["train_loss"], result.history["train_loss"])


def test_path_updates_marks_every_kth_full_batch_and_the_last_update() -> None:
    assert path_updates(batch_plan(10, 3), 2) == (2, 4)  # 3 full batches and a remainder: update 4 ends the epoch
    assert path_updates(batch_plan(10, 1), 3) == (3, 6, 9, 10)
    assert path_updates(batch_plan(10, 5), 1) == (1, 2)
    assert path_updates(batch_plan(10, 5), 2) == (2,)
    assert path_updates(batch_plan(10, 3, drop_last=True), 2) == (2, 3)


def test_an_mlp_s_path_on_mnist1d_passes_through_its_history(mnist1d: gd.Dataset) -> None:
    """An MLP with momentum at batch 32 (20 updates an epoch), measured every 4: 5 points an epoch, and the loss
    before training first."""
    small = gd.datasets.from_arrays(mnist1d.x_train[:800], mnist1d.y_train[:800], test_fraction=0.2, seed=0)
    model = gd.models.mlp(hidden=(16,))
    result = gd.fit(model, small, gd.sgd(0.3, momentum=0.5), batch_size=32, epochs=2, loss_every=4)
    path = result.loss_path
    assert path is not None
    assert path.update.tolist() == [0, *range(4, 17, 4), 20, *range(24, 37, 4), 40]  # 20 updates an epoch
    assert path.train_loss[0] == result.initial_loss
    np.testing.assert_allclose(path.train_loss[[5, 10]], result.history["train_loss"], rtol=1e-6)
    assert np.all(np.isfinite(path.train_loss))


def test_a_resumed_run_s_path_covers_the_epochs_it_trained() -> None:
    data, params = _least_squares()
    saved = []
    gd.fit(_loss, data, gd.sgd(0.1), params=params, batch_size=3, epochs=2, seed=1, on_epoch=saved.append)
    resumed = gd.fit(_loss, data, gd.sgd(0.1), params=params, batch_size=3, epochs=3, seed=1, resume=saved[0],
                     loss_every=2)
    whole = gd.fit(_loss, data, gd.sgd(0.1), params=params, batch_size=3, epochs=3, seed=1, loss_every=2)
    assert resumed.loss_path is not None and whole.loss_path is not None
    assert resumed.loss_path.update.tolist() == [6, 8, 10, 12]  # epochs 2 and 3, no loss before training
    np.testing.assert_allclose(resumed.loss_path.train_loss, whole.loss_path.train_loss[3:], rtol=1e-6)


def test_a_diverged_run_s_path_ends_with_nan_at_the_update_that_went_non_finite() -> None:
    """lr 1e19 on least squares: the loss grows by ~1e38 a step until float32 overflows; the epoch's careful rerun
    freezes the params there, and the path keeps no measurement of the frozen params after it."""
    data, params = _least_squares()
    result = gd.fit(_loss, data, gd.sgd(1e19), params=params, batch_size=1, epochs=3, seed=2, loss_every=1)
    path = result.loss_path
    assert result.status == "diverged" and path is not None
    assert path.update.tolist() == list(range(result.steps_run + 2))  # every applied update, then the bad one
    assert np.all(np.isfinite(path.train_loss[:-1])) and np.isnan(path.train_loss[-1])


def test_a_run_stopped_by_the_divergence_factor_on_a_finite_loss_has_no_made_up_point() -> None:
    """A finite loss past 100 x the start stops the run as diverged after its epoch ran whole: the path ends with
    that epoch's finite loss (a NaN at an update that never ran was added)."""
    data, params = _least_squares()
    result = gd.fit(_loss, data, gd.sgd(3.0), params=params, batch_size="full", epochs=20, loss_every=1,
                    check_stability=False)  # past 2/L = 1.4 on purpose
    path = result.loss_path
    assert result.status == "diverged" and "> 100 x the initial loss" in result.reason and path is not None
    assert path.update.tolist() == list(range(result.epochs_run + 1)) and np.all(np.isfinite(path.train_loss))
    assert path.train_loss[-1] == pytest.approx(result.history["train_loss"][-1], rel=1e-6)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"loss_every": 0}, ValueError, r"got 0\."),
    ({"loss_every": 5}, ValueError, r"got 5\."),
    ({"loss_every": 1.5}, TypeError, r"got 1\.5\."),
    ({"loss_every": True}, TypeError, r"got True\."),
])
def test_bad_loss_every_is_a_clear_error(kwargs, error, match) -> None:
    data, params = _least_squares()
    allowed = r"loss_every must be an integer in \[1, 4\] \(the updates per epoch at batch size 3\); "
    with pytest.raises(error, match="^" + allowed + match):
        gd.fit(_loss, data, gd.sgd(0.1), params=params, batch_size=3, epochs=1, **kwargs)


def test_loss_every_on_two_devices_is_a_clear_error() -> None:
    """Data parallel (devices=2, each device its share of a batch) measures no path: said before anything trains."""
    script = """
import gdlab as gd
data = gd.datasets.load("linreg", n=40)
try:
    gd.fit(gd.models.linear(), data, gd.sgd(0.1), batch_size=4, epochs=1, devices=2, loss_every=1)
except ValueError as err:
    print(err)
"""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    assert out == ("loss_every measures on one device (devices=1, or None in one process); got loss_every=1 with "
                   "devices=2.\n")
