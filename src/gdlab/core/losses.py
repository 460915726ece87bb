"""Per-example losses of model outputs, and the metrics read from them.

Each loss maps (outputs of shape (batch, k) or (batch,), targets) to per-example
losses of shape (batch,); the training loss is their mean.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gdlab.core.types import Array

PerExampleLoss = Callable[[Array, Array], Array]


def mean_squared_error(outputs: Array, targets: Array) -> Array:
    """l_i = mean_k (outputs_ik - targets_ik)^2 (the mean over outputs, as torch's MSELoss)."""
    diff = outputs.reshape(outputs.shape[0], -1) - targets.reshape(targets.shape[0], -1)
    return jnp.mean(diff * diff, axis=-1)


def softmax_cross_entropy(logits: Array, labels: Array) -> Array:
    """l_i = logsumexp(z_i) - z_i[y_i], for integer labels y_i in [0, k)."""
    picked = jnp.take_along_axis(logits, labels[:, None].astype(jnp.int32), axis=-1)[:, 0]
    return jax.nn.logsumexp(logits, axis=-1) - picked


def binary_cross_entropy(logits: Array, labels: Array) -> Array:
    """l_i = softplus(z_i) - y_i*z_i = -[y log s(z) + (1-y) log(1-s(z))], stable for any z."""
    z = logits.reshape(logits.shape[0])
    return jax.nn.softplus(z) - labels.reshape(z.shape).astype(z.dtype) * z


LOSSES: dict[str, PerExampleLoss] = {
    "mse": mean_squared_error,
    "cross_entropy": softmax_cross_entropy,
    "binary_cross_entropy": binary_cross_entropy,
}


def correct(outputs: Array, labels: Array) -> Array:
    """1.0 where the predicted class equals the label (argmax, or logit > 0 for one output)."""
    if outputs.ndim == 1 or outputs.shape[-1] == 1:
        predicted = (outputs.reshape(outputs.shape[0]) > 0).astype(jnp.int32)
    else:
        predicted = jnp.argmax(outputs, axis=-1)
    return (predicted == labels.astype(predicted.dtype)).astype(outputs.dtype)
