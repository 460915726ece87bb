"""Type aliases and the small data types shared by every layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, TypeAlias

import jax

Array: TypeAlias = jax.Array
Params: TypeAlias = Any
"""A pytree of arrays: the weights being trained."""
Updates: TypeAlias = Any
"""A pytree shaped like Params; the new params are ``params + updates``."""
OptState: TypeAlias = Any
"""A rule's state: a NamedTuple of arrays."""
PRNGKey: TypeAlias = jax.Array
Schedule: TypeAlias = Callable[[Array], Array]
"""A learning-rate schedule: step -> learning rate (branch-free, traceable)."""
LearningRate: TypeAlias = float | Callable[[Any], Any]
LossFn: TypeAlias = Callable[[Params, Array, Array], Array]
"""loss_fn(params, x, y) -> scalar mean loss over the batch."""


class InitFn(Protocol):
    def __call__(self, params: Params) -> OptState: ...


class UpdateFn(Protocol):
    def __call__(
        self, grads: Params, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]: ...


class UpdateRule(NamedTuple):
    """An update rule as a pair of pure functions (the optax convention).

    ``state = init(params)``; ``updates, state = update(grads, state, params)``;
    the new params are ``params + updates``. Numeric hyperparameters live in the
    state so a compiled program can be reused (or vmapped) for new values.
    """

    init: InitFn
    update: UpdateFn
    learning_rate: Callable[[OptState], Array] | None = None
    """The learning rate the next update will use, read from the state (or None)."""
    stability_limit: Callable[[OptState, float], tuple[float, str]] | None = None
    """(state, L) -> the largest stable constant learning rate on a quadratic whose Hessian's top
    eigenvalue is L, and its formula as text (None: 2/L, plain gradient descent)."""
    settings: tuple[tuple[str, Any], ...] = ()
    """(name, value) pairs of what the state's numbers leave out: the rule's kind and the structure
    fixed when it was made (sgd: nesterov, velocity, the schedule's kind); a recorded run keeps them."""


class Model(NamedTuple):
    """A model as a pair of pure functions.

    ``params = init(key, input_shape, outputs=None)``; ``outputs = apply(params, x)``
    with x of shape (batch, *input_shape). ``outputs`` (the size of the last
    layer) may be left to ``gd.fit``, which takes it from the data.
    """

    name: str
    init: Callable[..., Params]
    apply: Callable[[Params, Array], Array]
    outputs: int | None
    activation: str | None = None  # a dense stack's hidden activation (None: no hidden layers, as linear, logistic)
    apply_vmapped: Callable[[Params, Array], Array] | None = None
    """The same function as apply, laid out to run fast vmapped over a leading config axis (sweeps); None: apply."""
    hidden: tuple[int, ...] | None = None
    """The sizes of a dense stack's hidden layers, input to output ((100, 100) for ``mlp()``); None: a model
    without hidden layers to size (linear, logistic) or one built by hand. A recorded run keeps them."""
