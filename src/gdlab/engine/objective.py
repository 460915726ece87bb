"""What the engine minimises: a mean batch loss, and how a model is evaluated."""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax.numpy as jnp

from gdlab.core.losses import LOSSES, correct
from gdlab.core.types import Array, LossFn, Params


class Objective(NamedTuple):
    """loss(params, x, y) -> mean loss; evaluate(params, x, y) -> (mean loss, accuracy)."""

    loss: LossFn
    evaluate: Callable[[Params, Array, Array], tuple[Array, Array]]
    classification: bool


@functools.lru_cache(maxsize=None)
def model_objective(
    apply: Callable[[Params, Array], Array], loss_name: str, classification: bool
) -> Objective:
    """The objective of a model trained with a named per-example loss (built once per pair)."""
    per_example = LOSSES[loss_name]

    def loss(params: Params, x: Array, y: Array) -> Array:
        return jnp.mean(per_example(apply(params, x), y))

    def evaluate(params: Params, x: Array, y: Array) -> tuple[Array, Array]:
        outputs = apply(params, x)
        mean_loss = jnp.mean(per_example(outputs, y))
        if not classification:
            return mean_loss, jnp.full((), jnp.nan, mean_loss.dtype)
        return mean_loss, jnp.mean(correct(outputs, y))

    return Objective(loss=loss, evaluate=evaluate, classification=classification)


@functools.lru_cache(maxsize=None)
def function_objective(loss_fn: LossFn) -> Objective:
    """The objective of a user's differentiable loss_fn(params, x, y) (no accuracy)."""

    def evaluate(params: Params, x: Array, y: Array) -> tuple[Array, Array]:
        value = jnp.asarray(loss_fn(params, x, y))
        return value, jnp.full((), jnp.nan, value.dtype)

    return Objective(loss=loss_fn, evaluate=evaluate, classification=False)
