"""Learning-rate schedules: pure, branch-free functions of the step.

A schedule maps the update count ``step`` (0 for the first update) to a learning
rate. Every argument is counted in steps, and every argument that counts steps
says so in its name (``decay_steps``, ``warmup_steps``, ``milestones_steps``, ...);
wrap a schedule in ``by_epoch`` to count them in epochs instead. Steps below 0
count as 0, and arrays of steps are mapped elementwise.

Each factory returns a ``Schedule(fn, params)``. ``params`` holds every number
(Python floats, step counts included) and ``fn(params, step)`` is the formula:
one function object per *structure* (the kind, flags such as ``staircase``, the
schedules wrapped by ``warmup``, ``join`` and ``by_epoch``), never per number.
So a program compiled with ``params`` as an argument serves every value, and a
sweep can ``vmap`` ``fn`` over stacked params. ``schedule(step)`` is
``fn(params, step)``. A ``Schedule`` is a pytree whose leaves are its params
(``fn`` is static), so it can itself be an argument of ``jit`` or ``vmap``.
Steps are compared as floats: exact up to 2**24 steps in float32.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.checks import (
    check_bool,
    check_float_range,
    check_increasing_steps,
    check_int_range,
    check_positive_float,
    check_steps,
    check_unit,
    is_real,
)
from gdlab.core.shortest import shortest_float32
from gdlab.core.types import Array

ScheduleFn = Callable[[Any, Any], Array]
"""fn(params, step) -> learning rate, with params the schedule's numbers."""


class Schedule(NamedTuple):
    """A learning-rate schedule: ``schedule(step) = fn(params, step)``."""

    fn: ScheduleFn
    params: Any

    def __call__(self, step: Any) -> Array:
        return self.fn(self.params, step)


jax.tree_util.register_pytree_node(
    Schedule, lambda s: ((s.params,), s.fn), lambda fn, children: Schedule(fn, children[0])
)


def clamped_step(step: Any) -> Array:
    """The step as a float array of the default float dtype, clamped at 0."""
    return jnp.maximum(jnp.asarray(step, jnp.result_type(float)), 0.0)


# --- base schedules --------------------------------------------------------------


def constant(learning_rate: float) -> Schedule:
    """Constant: lr(step) = learning_rate."""
    return Schedule(_constant, (check_positive_float("learning_rate", learning_rate),))


def _constant(params: Any, step: Any) -> Array:
    (learning_rate,) = params
    return learning_rate * jnp.ones_like(clamped_step(step))


def step(learning_rate: float, step_size_steps: int, factor: float) -> Schedule:
    """Step decay (torch StepLR): lr = learning_rate * factor^floor(step / step_size_steps)."""
    return Schedule(
        _step,
        (
            check_positive_float("learning_rate", learning_rate),
            check_steps("step_size_steps", step_size_steps),
            check_unit("factor", factor),
        ),
    )


def _step(params: Any, step: Any) -> Array:
    learning_rate, step_size_steps, factor = params
    return learning_rate * factor ** jnp.floor(clamped_step(step) / step_size_steps)


def multistep(learning_rate: float, milestones_steps: Sequence[int], factor: float) -> Schedule:
    """Multi-step decay (torch MultiStepLR): lr = learning_rate * factor^#{m : step >= m}.

    Args:
        milestones_steps: strictly increasing steps >= 1, at least one.
    """
    return Schedule(
        _multistep,
        (
            check_positive_float("learning_rate", learning_rate),
            check_increasing_steps("milestones_steps", milestones_steps),
            check_unit("factor", factor),
        ),
    )


def _multistep(params: Any, step: Any) -> Array:
    learning_rate, milestones_steps, factor = params
    t = clamped_step(step)
    passed = sum((t >= m).astype(t.dtype) for m in milestones_steps)
    return learning_rate * factor**passed


def exponential(
    learning_rate: float, decay_rate: float, decay_steps: int, staircase: bool = False
) -> Schedule:
    """Exponential decay: lr = learning_rate * decay_rate^(step / decay_steps).

    With staircase the exponent is floor(step / decay_steps) (optax's convention).
    """
    params = (
        check_positive_float("learning_rate", learning_rate),
        check_unit("decay_rate", decay_rate),
        check_steps("decay_steps", decay_steps),
    )
    return Schedule(_exponential(check_bool("staircase", staircase)), params)


@functools.cache
def _exponential(staircase: bool) -> ScheduleFn:
    def fn(params: Any, step: Any) -> Array:
        learning_rate, decay_rate, decay_steps = params
        t = clamped_step(step)
        exponent = jnp.floor(t / decay_steps) if staircase else t / decay_steps
        return learning_rate * decay_rate**exponent

    return named_fn(f"exponential(staircase={staircase})", fn)


def inverse_time(learning_rate: float, decay_rate: float, decay_steps: int = 1) -> Schedule:
    """Inverse-time decay: lr = learning_rate / (1 + decay_rate * step / decay_steps)."""
    return Schedule(
        _inverse_time,
        (
            check_positive_float("learning_rate", learning_rate),
            check_positive_float("decay_rate", decay_rate),
            check_steps("decay_steps", decay_steps),
        ),
    )


def _inverse_time(params: Any, step: Any) -> Array:
    learning_rate, decay_rate, decay_steps = params
    return learning_rate / (1.0 + decay_rate * clamped_step(step) / decay_steps)


def power(learning_rate: float, power: float, scale_steps: int = 1) -> Schedule:
    """Robbins-Monro decay: lr = learning_rate / (1 + step / scale_steps)^power.

    Args:
        power: in (0, 1]. Powers in (0.5, 1] meet the Robbins-Monro conditions
            (sum lr = inf, sum lr^2 < inf); (0, 0.5] decays more slowly, as used
            with iterate averaging (Polyak-Ruppert).
    """
    return Schedule(
        _power,
        (
            check_positive_float("learning_rate", learning_rate),
            check_unit("power", power, one_allowed=True),
            check_steps("scale_steps", scale_steps),
        ),
    )


def _power(params: Any, step: Any) -> Array:
    learning_rate, power, scale_steps = params
    return learning_rate / (1.0 + clamped_step(step) / scale_steps) ** power


def polynomial(learning_rate: float, end_value: float, power: float, decay_steps: int) -> Schedule:
    """Polynomial decay (optax polynomial_schedule), end_value from decay_steps on.

    lr = end_value + (learning_rate - end_value) * (1 - min(step, decay_steps) / decay_steps)^power.

    Args:
        end_value: in [0, learning_rate]; a decay does not end above where it starts.
    """
    lr = check_positive_float("learning_rate", learning_rate)
    return Schedule(
        _polynomial,
        (
            lr,
            check_float_range("end_value", end_value, 0.0, lr, high_open=False),
            check_positive_float("power", power),
            check_steps("decay_steps", decay_steps),
        ),
    )


def _polynomial(params: Any, step: Any) -> Array:
    learning_rate, end_value, power, decay_steps = params
    remaining = 1.0 - jnp.minimum(clamped_step(step), decay_steps) / decay_steps
    return end_value + (learning_rate - end_value) * remaining**power


def cosine(
    learning_rate: float, decay_steps: int, end_value: float = 0.0, restarts: bool = False
) -> Schedule:
    """Cosine decay (optax cosine_decay_schedule with alpha = end_value / learning_rate).

    lr = end_value + (learning_rate - end_value) * (1 + cos(pi * s / decay_steps)) / 2, with
    s = min(step, decay_steps), or with restarts s = step mod decay_steps: warm restarts
    (SGDR, torch CosineAnnealingWarmRestarts with T_0 = decay_steps, T_mult = 1).

    Args:
        end_value: in [0, learning_rate].
    """
    lr = check_positive_float("learning_rate", learning_rate)
    params = (
        lr,
        check_steps("decay_steps", decay_steps),
        check_float_range("end_value", end_value, 0.0, lr, high_open=False),
    )
    return Schedule(_cosine(check_bool("restarts", restarts)), params)


@functools.cache
def _cosine(restarts: bool) -> ScheduleFn:
    def fn(params: Any, step: Any) -> Array:
        learning_rate, decay_steps, end_value = params
        t = clamped_step(step)
        s = jnp.mod(t, decay_steps) if restarts else jnp.minimum(t, decay_steps)
        return _cos_anneal(learning_rate, end_value, s / decay_steps)

    return named_fn(f"cosine(restarts={restarts})", fn)


def _cos_anneal(start: Any, end: Any, pct: Array) -> Array:
    """start at pct = 0 to end at pct = 1 along half a cosine (torch's _annealing_cos)."""
    return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1.0)


def cyclic(learning_rate: float, max_learning_rate: float, half_cycle_steps: int) -> Schedule:
    """Triangular cyclical learning rate (Smith 2017), rising from learning_rate first.

    cycle = floor(1 + step / (2 * half_cycle_steps)); x = |step / half_cycle_steps - 2*cycle + 1|;
    lr = learning_rate + (max_learning_rate - learning_rate) * max(0, 1 - x).
    """
    lr = check_positive_float("learning_rate", learning_rate)
    high = check_float_range("max_learning_rate", max_learning_rate, lr, math.inf)
    return Schedule(_cyclic, (lr, high, check_steps("half_cycle_steps", half_cycle_steps)))


def _cyclic(params: Any, step: Any) -> Array:
    learning_rate, max_learning_rate, half_cycle_steps = params
    t = clamped_step(step)
    cycle = jnp.floor(1.0 + t / (2.0 * half_cycle_steps))
    x = jnp.abs(t / half_cycle_steps - 2.0 * cycle + 1.0)
    return learning_rate + (max_learning_rate - learning_rate) * jnp.maximum(0.0, 1.0 - x)


def one_cycle(
    learning_rate: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    """One-cycle policy, as torch OneCycleLR(anneal_strategy='cos', three_phase=False).

    learning_rate is the peak; initial = learning_rate / div_factor, final = initial /
    final_div_factor; up_end = pct_start * total_steps - 1. Cosine from initial to the
    peak over steps [0, up_end], then from the peak to final over (up_end, total_steps - 1];
    final from then on (torch raises past total_steps).
    """
    lr = check_positive_float("learning_rate", learning_rate)
    total = float(check_int_range("total_steps", total_steps, 2))  # a warm-up of one step needs two
    pct = check_unit("pct_start", pct_start)
    if not pct * total > 1.0:
        raise ValueError(
            f"pct_start must be a float in ({1.0 / total}, 1) with total_steps={total_steps!r}"
            f" (a warm-up longer than one step); got {pct_start!r}."
        )
    params = (
        lr,
        total,
        pct,
        check_float_range("div_factor", div_factor, 1.0, math.inf),
        check_float_range("final_div_factor", final_div_factor, 1.0, math.inf),
    )
    return Schedule(_one_cycle, params)


def _one_cycle(params: Any, step: Any) -> Array:
    learning_rate, total_steps, pct_start, div_factor, final_div_factor = params
    t = clamped_step(step)
    initial = learning_rate / div_factor
    final = initial / final_div_factor
    up_end = pct_start * total_steps - 1.0
    down_end = total_steps - 1.0
    up = _cos_anneal(initial, learning_rate, jnp.clip(t / up_end, 0.0, 1.0))
    down = _cos_anneal(learning_rate, final, jnp.clip((t - up_end) / (down_end - up_end), 0.0, 1.0))
    return jnp.where(t <= up_end, up, down)


def as_schedule(learning_rate: Any) -> Schedule:
    """A float as constant(learning_rate), a callable step -> lr as a Schedule, a Schedule as is."""
    return to_schedule("learning_rate", learning_rate)


def to_schedule(name: str, value: Any) -> Schedule:
    if isinstance(value, Schedule):
        return value
    if callable(value):
        _check_callable_rate(name, value)
        return Schedule(_wrap(value), ())
    if not is_real(value):
        raise TypeError(
            f"{name} must be a float in (0, inf) or a schedule (step -> learning rate);"
            f" got {value!r}."
        )
    return Schedule(_constant, (check_positive_float(name, value),))


WARMUP_PROBE_STEPS = (1, 10, 100, 1_000, 10_000)
"""Where a callable rate that is 0 at step 0 must rise above 0 somewhere (a warm-up from 0)."""


def _check_callable_rate(name: str, fn: Callable[[Any], Any]) -> None:
    """fn(0), called once on the host with the run's first step (an int32 0): finite and >= 0.

    A 0 there is a warm-up only if some step in WARMUP_PROBE_STEPS gives a rate > 0.
    A result that is not one number is left to the run.
    """
    first = _rate_at(fn, 0)
    if first is None:
        return
    if not (math.isfinite(first) and first >= 0):
        raise ValueError(f"{name} must return a finite rate >= 0 at step 0 (the first update); "
                         f"got {shortest_float32(first)!r}.")  # a float32 -0.1, not -0.10000000149011612
    if first == 0 and not any((_rate_at(fn, s) or 0.0) > 0 for s in WARMUP_PROBE_STEPS):
        steps = ", ".join(map(str, (0, *WARMUP_PROBE_STEPS)))
        raise ValueError(f"{name} must return a rate > 0 at step 0, or rise above 0 after it (a warm-up); "
                         f"got 0.0 at steps {steps}.")


def _rate_at(fn: Callable[[Any], Any], step: int) -> float | None:
    """fn at a concrete int32 step as a float (None when it is not one real number)."""
    value = np.asarray(fn(jnp.asarray(step, jnp.int32)))
    if value.size != 1 or value.dtype.kind not in "biuf":
        return None
    return float(value.reshape(()))


@functools.cache
def _wrap(schedule: Callable[[Any], Array]) -> ScheduleFn:
    def fn(params: Any, step: Any) -> Array:
        return jnp.asarray(schedule(step), jnp.result_type(float))

    return named_fn(f"callable {_qualified(schedule)}", fn)


_KINDS: dict[ScheduleFn, str] = {}
"""Each schedule function's structure as text, by function (one per structure, so a small dict)."""


def named_fn(kind: str, fn: ScheduleFn) -> ScheduleFn:
    _KINDS[fn] = kind
    return fn


def schedule_kind(fn: ScheduleFn) -> str:
    """A schedule function's structure as text: its kind, flags and wrapped schedules, e.g.
    "warmup(cosine(restarts=False))" (a run records it beside the schedule's numbers)."""
    base: dict[ScheduleFn, str] = {
        _constant: "constant", _step: "step", _multistep: "multistep", _inverse_time: "inverse_time",
        _power: "power", _polynomial: "polynomial", _cyclic: "cyclic", _one_cycle: "one_cycle",
    }
    return base.get(fn) or _KINDS.get(fn) or f"function {_qualified(fn)}"


def _qualified(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant": constant,
    "step": step,
    "multistep": multistep,
    "exponential": exponential,
    "inverse_time": inverse_time,
    "power": power,
    "polynomial": polynomial,
    "cosine": cosine,
    "cyclic": cyclic,
    "one_cycle": one_cycle,
}
"""The schedules that take learning_rate first, by name (the CLI's --schedule)."""
