"""What the engine minimises: a mean batch loss, and how a model is evaluated."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdlab.core.losses import LOSSES, correct
from gdlab.core.types import Array, LossFn, Params
from gdlab.engine.fused_mlp import fused_sgd_step, fused_value_and_grad


class Objective(NamedTuple):
    """loss(params, x, y) -> mean loss; evaluate(params, x, y) -> (mean loss, accuracy).

    value_and_grad, when given, computes (loss, gradient) of a training step in place of
    ``jax.value_and_grad(loss)`` (the fused kernel, engine/fused_mlp.py); sgd_step computes
    (loss, params - learning_rate * gradient) in one kernel, for plain SGD.
    """

    loss: LossFn
    evaluate: Callable[[Params, Array, Array], tuple[Array, Array]]
    classification: bool
    value_and_grad: Callable[[Params, Array, Array], tuple[Array, Params]] | None = None
    sgd_step: Callable[[Params, Array, Array, Array], tuple[Array, Params]] | None = None
    user_loss: bool = False
    """True for a user's loss_fn(params, x, y) (its errors are the user's, not a shape mismatch)."""


COMPUTE_DTYPES = ("float32", "bfloat16")
"""The dtypes a model's forward and backward pass can compute in (params stay in their own dtype)."""


@functools.cache
def model_objective(
    apply: Callable[[Params, Array], Array], loss_name: str, classification: bool,
    compute_dtype: str | None = None, fused: str | None = None,
) -> Objective:
    """The objective of a model trained with a named per-example loss (built once per pair).

    compute_dtype None computes in the params' dtype; "bfloat16" is mixed precision: outputs = apply(bf16(params), bf16(x))
    cast back to the params' dtype before the loss, so the loss, the gradients (through
    the casts) and the update stay in the params' dtype (float32 master weights).
    fused (an MLP's activation) computes training steps with the fused kernel, which
    keeps the activations in float32 and multiplies in compute_dtype.
    """
    per_example = LOSSES[loss_name]
    forward = apply if compute_dtype is None else _cast_forward(apply, jnp.dtype(compute_dtype))

    def loss(params: Params, x: Array, y: Array) -> Array:
        return jnp.mean(per_example(forward(params, x), y))

    def evaluate(params: Params, x: Array, y: Array) -> tuple[Array, Array]:
        outputs = forward(params, x)
        mean_loss = jnp.mean(per_example(outputs, y))
        if not classification:
            return mean_loss, jnp.full((), jnp.nan, mean_loss.dtype)
        return mean_loss, jnp.mean(correct(outputs, y))

    grads = None if fused is None else fused_value_and_grad(fused, compute_dtype)
    step = None if fused is None else fused_sgd_step(fused, compute_dtype)
    return Objective(loss=loss, evaluate=evaluate, classification=classification, value_and_grad=grads,
                     sgd_step=step)


def _cast_forward(apply: Callable[[Params, Array], Array], dtype: jnp.dtype) -> Callable[[Params, Array], Array]:
    def forward(params: Params, x: Array) -> Array:
        master = jnp.result_type(*jax.tree.leaves(params))
        low = jax.tree.map(lambda a: a.astype(dtype), params)
        return apply(low, x.astype(dtype)).astype(master)

    return forward


@functools.cache
def function_objective(loss_fn: LossFn) -> Objective:
    """The objective of a user's differentiable loss_fn(params, x, y) (no accuracy)."""

    def evaluate(params: Params, x: Array, y: Array) -> tuple[Array, Array]:
        value = jnp.asarray(loss_fn(params, x, y))
        return value, jnp.full((), jnp.nan, value.dtype)

    return Objective(loss=loss_fn, evaluate=evaluate, classification=False, user_loss=True)
