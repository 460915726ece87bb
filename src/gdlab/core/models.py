"""Models as (init, apply) pairs: linear, logistic (softmax) regression and MLPs.

Params are a tuple of layers ``{"w": (fan_in, fan_out), "b": (fan_out,)}``. Weights
and biases start uniform in (-1/sqrt(fan_in), 1/sqrt(fan_in)), the default of
PyTorch's ``nn.Linear``, so runs compare with PyTorch at the same scale.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from gdlab.core.checks import array_as_list, check_choice, check_int_range
from gdlab.core.types import Array, Model, Params, PRNGKey

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "gelu": jax.nn.gelu,
}


def linear(outputs: int | None = None) -> Model:
    """Linear regression: f(x) = x W + b."""
    return _dense_stack("linear", None, None, _check_outputs(outputs))


def logistic(outputs: int | None = None) -> Model:
    """Softmax (multinomial logistic) regression: logits = x W + b.

    With one output it is binary logistic regression (trained with binary
    cross-entropy on labels in {0, 1}).
    """
    return _dense_stack("logistic", None, None, _check_outputs(outputs))


def mlp(
    hidden: Sequence[int] = (100, 100), activation: str = "relu", outputs: int | None = None
) -> Model:
    """Multilayer perceptron: h_0 = x; h_l = act(h_{l-1} W_l + b_l); outputs = h_L W + b."""
    hidden = array_as_list(hidden)  # a 1-D NumPy or JAX array of sizes
    if isinstance(hidden, (int, str)) or not isinstance(hidden, Sequence):
        raise TypeError(f"hidden must be a sequence of layer sizes such as (100, 100); got {hidden!r}.")
    sizes = tuple(check_int_range(f"hidden[{i}]", h, 1) for i, h in enumerate(hidden))
    check_choice("activation", activation, ACTIVATIONS)
    return _dense_stack("mlp", sizes, activation, _check_outputs(outputs))


def input_size(input_shape: int | Sequence[int]) -> int:
    """The number of input features of one example, from an int or a shape tuple."""
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    if not shape:
        return 1
    for i, dim in enumerate(shape):
        check_int_range(f"input_shape[{i}]", dim, 1)
    return math.prod(shape)


def _check_outputs(outputs: int | None) -> int | None:
    return None if outputs is None else check_int_range("outputs", outputs, 1)


@functools.cache
def _dense_stack(
    name: str, hidden: tuple[int, ...] | None, activation: str | None, outputs: int | None
) -> Model:
    """Build a model once per structure, so compiled programs that use it are reused (hidden None: no hidden
    layers, and none recorded; activation None: none to apply)."""
    act = _identity if activation is None else ACTIVATIONS[activation]

    def init(
        key: PRNGKey, input_shape: int | Sequence[int], outputs: int | None = outputs
    ) -> Params:
        if outputs is None:
            raise ValueError(
                f"outputs must be an integer >= 1 to initialise {name}; got None "
                "(give outputs= to the model, or let gd.fit take it from the data)."
            )
        check_int_range("outputs", outputs, 1)
        sizes = (input_size(input_shape), *(hidden or ()), outputs)
        keys = jax.random.split(key, len(sizes) - 1)
        return tuple(
            _dense_init(k, fan_in, fan_out)
            for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:])
        )

    def apply(params: Params, x: Array) -> Array:
        h = x.reshape(x.shape[0], -1)
        for layer in params[:-1]:
            h = act(h @ layer["w"] + layer["b"])
        return h @ params[-1]["w"] + params[-1]["b"]

    def apply_vmapped(params: Params, x: Array) -> Array:
        """apply with the activations held features-first: h_l^T = act(W_l^T h_{l-1}^T + b_l).

        The same numbers; vmapped over configs, XLA's CPU runs its batched matrix
        products (weights' gradients above all) about 1.3x faster in this layout.
        """
        h = x.reshape(x.shape[0], -1).T
        for layer in params[:-1]:
            h = act(jnp.einsum("io,ib->ob", layer["w"], h) + layer["b"][:, None])
        return (jnp.einsum("io,ib->ob", params[-1]["w"], h) + params[-1]["b"][:, None]).T

    return Model(name=name, init=init, apply=apply, outputs=outputs, activation=activation,
                 apply_vmapped=apply_vmapped, hidden=hidden)


def _identity(h: Array) -> Array:
    """No activation (a model without hidden layers has none to apply)."""
    return h


def _dense_init(key: PRNGKey, fan_in: int, fan_out: int) -> dict[str, Array]:
    """w, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's nn.Linear default)."""
    bound = 1.0 / math.sqrt(fan_in)
    kw, kb = jax.random.split(key)
    return {
        "w": jax.random.uniform(kw, (fan_in, fan_out), minval=-bound, maxval=bound),
        "b": jax.random.uniform(kb, (fan_out,), minval=-bound, maxval=bound),
    }
