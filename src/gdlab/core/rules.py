"""Update rules as (init, update) pairs of pure functions.

The new params are ``params + updates``. Numeric hyperparameters are stored in
the rule's state as arrays, so one compiled program serves every value of them
(and a sweep can vmap over them); only the structure (momentum on or off,
Nesterov, a schedule function) is fixed when the program is built.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.checks import check_bool, check_fits_dtype, check_float_range
from gdlab.core.schedules import Schedule, ScheduleFn, as_schedule, schedule_kind
from gdlab.core.types import Array, LearningRate, OptState, Params, UpdateRule, Updates


class SgdHyper(NamedTuple):
    """Traced hyperparameters of ``sgd``: the schedule's numbers (a tuple of scalars), momentum, decay."""

    learning_rate: Any
    momentum: Array
    weight_decay: Array


class SgdState(NamedTuple):
    """State of ``sgd``: the update count, the momentum buffer and the hyperparameters."""

    step: Array
    velocity: Params
    hyper: SgdHyper


def sgd(
    learning_rate: LearningRate | Schedule,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    velocity: bool | None = None,
) -> UpdateRule:
    """Stochastic gradient descent, with optional heavy-ball or Nesterov momentum.

    g <- grad + weight_decay*w;  v <- momentum*v + g;
    u = -lr(step) * v  (heavy ball)  or  u = -lr(step) * (g + momentum*v)  (Nesterov).
    With momentum = 0 this is plain gradient descent, u = -lr * g. The conventions
    match ``optax.sgd`` (momentum as a trace, no dampening) and ``torch.optim.SGD``
    (weight decay added to the gradient before momentum).

    Args:
        learning_rate: a float in (0, inf), a ``gd.schedules`` schedule, or any
            function step -> learning rate written with jnp (it is traced; called
            once at step 0 here: a non-finite or negative first rate, or one that
            stays 0, is refused; gd.fit checks every update of the run before it
            starts). A float is ``constant(learning_rate)``.
        velocity: keep a momentum buffer (default: when momentum > 0). True at
            momentum 0 gives the same iterates and lets runs with and without
            momentum share one compiled program (as a sweep does).
    """
    momentum = check_float_range("momentum", momentum, 0.0, 1.0)
    nesterov = check_bool("nesterov", nesterov)
    weight_decay = check_float_range("weight_decay", weight_decay, 0.0, float("inf"))
    if nesterov and momentum == 0.0:
        raise ValueError(
            "nesterov needs momentum > 0 (Nesterov with momentum 0 is plain SGD); got momentum=0.0."
        )
    schedule = as_schedule(learning_rate)
    use_velocity = momentum > 0 if velocity is None else check_bool("velocity", velocity)
    if momentum > 0 and not use_velocity:
        raise ValueError(f"velocity must be True when momentum > 0; got velocity=False with momentum={momentum}.")

    def init(params: Params) -> SgdState:
        dtype = _float_dtype(params)
        hyper = SgdHyper(
            learning_rate=jax.tree.map(lambda v: _scalar(v, dtype, "learning_rate"), schedule.params),
            momentum=_scalar(momentum, dtype, "momentum"),
            weight_decay=_scalar(weight_decay, dtype, "weight_decay"),
        )
        buffer = _zeros_like(params) if use_velocity else ()
        return SgdState(step=_scalar(0, np.int32), velocity=buffer, hyper=hyper)

    update = _sgd_update(use_velocity, nesterov, weight_decay > 0, schedule.fn)

    def limit(state: SgdState, curvature: float) -> tuple[float, str]:
        m, wd = float(state.hyper.momentum), float(state.hyper.weight_decay)
        return stability_limit(curvature, m, nesterov, wd), stability_formula(m, nesterov, wd)

    settings = (("kind", "sgd"), ("nesterov", nesterov), ("velocity", use_velocity),
                ("schedule", schedule_kind(schedule.fn)))
    return UpdateRule(init=init, update=update, learning_rate=_sgd_learning_rate(schedule.fn), stability_limit=limit,
                      settings=settings)


def stability_limit(curvature: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> float:
    """The largest stable constant rate of sgd on f = L w^2 / 2, L = curvature (inf when L + wd <= 0).

    With a = lr * (L + weight_decay), one step maps (w, lr*v) by a 2x2 matrix of trace T and
    determinant D; it is stable while 1 + T + D > 0 (the other Jury conditions hold below it):
    plain a < 2;  heavy ball (T = 1 - a + m, D = m) a < 2 + 2m;
    Nesterov (T = 1 - a(1 + m) + m, D = m(1 - a)) a < (2 + 2m) / (1 + 2m).
    """
    curvature = curvature + weight_decay
    if not curvature > 0:
        return float("inf")
    scale = 1.0 + 2.0 * momentum if nesterov else 1.0
    return (2.0 + 2.0 * momentum) / (scale * curvature)


def stability_formula(momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> str:
    """stability_limit's formula as text, e.g. "(2 + 2*momentum)/L with momentum 0.9"."""
    curvature = f"(L + weight_decay {weight_decay:g})" if weight_decay else "L"
    if momentum == 0:
        return f"2/{curvature}"
    if nesterov:
        return f"(2 + 2*momentum)/((1 + 2*momentum) {curvature}) with Nesterov momentum {momentum:g}"
    return f"(2 + 2*momentum)/{curvature} with momentum {momentum:g}"


@functools.cache
def _sgd_learning_rate(schedule: ScheduleFn) -> Callable[[OptState], Array]:
    """The learning rate the next update will use: schedule(numbers in the state, step)."""

    def learning_rate(state: SgdState) -> Array:
        return jnp.asarray(schedule(state.hyper.learning_rate, state.step), state.hyper.momentum.dtype)

    return learning_rate


@functools.cache
def _sgd_update(
    use_momentum: bool, nesterov: bool, use_weight_decay: bool, schedule: ScheduleFn
) -> Callable[..., tuple[Updates, SgdState]]:
    """Build (once per structure) the update function, so compiled programs are reused."""
    learning_rate = _sgd_learning_rate(schedule)

    def update(
        grads: Params, state: SgdState, params: Params | None = None
    ) -> tuple[Updates, SgdState]:
        hyper = state.hyper
        if use_weight_decay:
            if params is None:
                raise ValueError("params must be given to update when weight_decay > 0.")
            grads = jax.tree.map(lambda g, w: g + hyper.weight_decay * w, grads, params)
        lr = learning_rate(state)
        velocity = state.velocity
        if use_momentum:
            velocity = jax.tree.map(lambda v, g: hyper.momentum * v + g, velocity, grads)
            if nesterov:
                direction = jax.tree.map(lambda v, g: g + hyper.momentum * v, velocity, grads)
            else:
                direction = velocity
        else:
            direction = grads
        updates = jax.tree.map(lambda d: (-lr * d).astype(d.dtype), direction)
        return updates, SgdState(step=state.step + 1, velocity=velocity, hyper=hyper)

    return update


def apply_updates(params: Params, updates: Updates) -> Params:
    """w <- w + u, leaf by leaf, keeping each leaf's dtype."""
    return jax.tree.map(lambda w, u: (w + u).astype(w.dtype), params, updates)


def _zeros_like(tree: Params) -> Params:
    """Zeros shaped like tree, made on the host (no compiled op, so no compile on first use)."""
    return jax.tree.map(lambda p: jax.device_put(np.zeros(np.shape(p), p.dtype)), tree)


def _scalar(value: float, dtype: Any, name: str = "value") -> Array:
    """A scalar array made on the host and placed on the device (no compiled op); name: for the error
    when the number does not fit dtype (a learning rate of 1e39 in float32 params)."""
    return jax.device_put(check_fits_dtype(name, value, dtype))


def _float_dtype(params: Params) -> jnp.dtype:
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("params must hold at least one array; got an empty pytree.")
    dtype = jnp.result_type(*leaves)
    if not jnp.issubdtype(dtype, jnp.inexact):  # an integer learning rate 0.1 would be stored as 0
        raise TypeError(f"params must be floating-point arrays (gradient descent moves them by fractions); "
                        f"got dtype {np.dtype(dtype).name}.")
    return dtype
