"""A metric of the initial params, before any update: the first candidate of early_stopping's restore_best.

A run that restores its best epoch returns the initial params when no epoch
betters them (a rate that blows up at once), so their metric is measured as
an epoch measures it exactly: the mean over all rows, in slices (``sliced_mean``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.types import Array, Params
from gdlab.engine.data_parallel import sum_of_squares
from gdlab.engine.epoch import sliced_mean
from gdlab.engine.objective import Objective


def initial_value(objective: Objective, metric: str, axes: int, params: Params, arrays: tuple[Array, ...],
                  train_loss: np.ndarray | float) -> np.ndarray:
    """``initial_metric``, except train_loss: fit and sweep measure it for their rules already (given here)."""
    if metric == "train_loss":
        return np.asarray(train_loss)
    return np.asarray(initial_metric(objective, metric, axes, params, arrays))


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def initial_metric(objective: Objective, metric: str, axes: int, params: Params, arrays: tuple[Array, ...]) -> Array:
    """metric (train_loss, grad_norm = |grad train_loss|, test_loss or test_accuracy) of params,
    vmapped over their ``axes`` leading axes (a sweep's stacked seeds: 1); arrays: (x, y, x_test, y_test)."""
    x, y, x_test, y_test = arrays[:4]

    def measure(p: Params) -> Array:
        if metric == "train_loss":
            return sliced_mean(objective.loss, p, x, y)
        if metric == "grad_norm":
            return jnp.sqrt(sum_of_squares(sliced_mean(jax.grad(objective.loss), p, x, y)))
        loss, accuracy = sliced_mean(objective.evaluate, p, x_test, y_test)
        return loss if metric == "test_loss" else accuracy

    for _ in range(axes):
        measure = jax.vmap(measure)
    return measure(params)
