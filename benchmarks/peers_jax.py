"""JAX + optax peer: a ``jax.jit``-compiled step called once per batch from a Python loop.

The usual hand-written JAX training loop: the batch is picked on the host with
a NumPy permutation, the jitted step takes (params, opt_state, loss_sum, x, y)
and returns them updated, so the running loss costs no extra dispatch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.workload import LEARNING_RATE, SEED, Arrays, Layer, PeerRun, timed_epochs

JaxParams = tuple[tuple[jax.Array, jax.Array], ...]


def info() -> str:
    """The device the JAX peers run on."""
    return f"jax backend {jax.default_backend()}, {jax.device_count()} device(s)"


def mlp_apply(params: JaxParams, x: jax.Array) -> jax.Array:
    """logits = relu(relu(x W1 + b1) W2 + b2) W3 + b3."""
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    return x @ w + b


def mean_loss(params: JaxParams, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy over the batch."""
    return optax.softmax_cross_entropy_with_integer_labels(mlp_apply(params, x), y).mean()


def make_step(optimizer: optax.GradientTransformation) -> Callable[..., Any]:
    """The jitted step: (params, opt_state, loss_sum, x, y) -> (params, opt_state, loss_sum)."""

    @jax.jit
    def step(
        params: JaxParams, opt_state: Any, loss_sum: jax.Array, x: jax.Array, y: jax.Array
    ) -> Any:
        loss, grads = jax.value_and_grad(mean_loss)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss_sum + loss * x.shape[0]

    return step


@jax.jit
def evaluate_jit(params: JaxParams, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean test loss, accuracy)."""
    logits = mlp_apply(params, x)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, jnp.mean(jnp.argmax(logits, axis=-1) == y)


def run_jax_optax(
    arrays: Arrays, weights: tuple[Layer, ...], batch_size: int, epochs: int
) -> PeerRun:
    """optax.sgd(0.1); per batch: numpy indexing on the host, then one call of the jitted step."""
    optimizer = optax.sgd(LEARNING_RATE)
    step = make_step(optimizer)
    params: JaxParams = tuple((jnp.asarray(w), jnp.asarray(b)) for w, b in weights)
    opt_state = optimizer.init(params)
    x, y = arrays.x_train, arrays.y_train.astype(np.int32)
    x_test, y_test = jnp.asarray(arrays.x_test), jnp.asarray(arrays.y_test.astype(np.int32))
    rng = np.random.default_rng(SEED)

    def train_epoch(epoch: int) -> float:
        nonlocal params, opt_state
        order = rng.permutation(len(x))
        loss_sum = np.float32(0.0)
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            params, opt_state, loss_sum = step(params, opt_state, loss_sum, x[index], y[index])
        return float(loss_sum) / len(x)

    def evaluate() -> tuple[float, float]:
        loss, accuracy = evaluate_jit(params, x_test, y_test)
        return float(loss), float(accuracy)

    return timed_epochs(train_epoch, evaluate, epochs)
