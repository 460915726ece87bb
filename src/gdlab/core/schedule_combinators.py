"""Schedules made of schedules: ``warmup`` before one, ``join`` one after another, ``by_epoch`` counting epochs.

Each returns a ``Schedule`` whose params hold its children's params (core/schedules.py), with one function
per structure, so a new number never recompiles.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp

from gdlab.core.checks import check_float_range, check_increasing_steps, check_steps
from gdlab.core.schedules import (
    Schedule,
    ScheduleFn,
    clamped_step,
    named_fn,
    schedule_kind,
    to_schedule,
)
from gdlab.core.types import Array


def warmup(schedule: Any, warmup_steps: int, start_value: float = 0.0) -> Schedule:
    """Linear warm-up to schedule(0), then the schedule, its step counted from warmup_steps.

    lr = start_value + (schedule(0) - start_value) * step / warmup_steps  for step < warmup_steps,
    lr = schedule(step - warmup_steps)                                    afterwards.
    The warm-up is prepended, not counted inside the schedule: optax's
    warmup_cosine_decay_schedule(s, p, warmup_steps, decay_steps, e), whose decay_steps
    include the warm-up, is warmup(cosine(p, decay_steps - warmup_steps, e), warmup_steps, s).

    Args:
        schedule: a Schedule, a callable step -> learning rate, or a float (constant).
        start_value: in [0, inf).
    """
    inner = to_schedule("schedule", schedule)
    params = (
        inner.params,
        check_steps("warmup_steps", warmup_steps),
        check_float_range("start_value", start_value, 0.0, math.inf),
    )
    return Schedule(_warmup(inner.fn), params)


@functools.cache
def _warmup(inner_fn: ScheduleFn) -> ScheduleFn:
    def fn(params: Any, step: Any) -> Array:
        inner, warmup_steps, start_value = params
        t = clamped_step(step)
        peak = inner_fn(inner, jnp.zeros_like(t))
        ramp = start_value + (peak - start_value) * t / warmup_steps
        return jnp.where(t < warmup_steps, ramp, inner_fn(inner, t - warmup_steps))

    return named_fn(f"warmup({schedule_kind(inner_fn)})", fn)


def join(schedules: Sequence[Any], boundaries_steps: Sequence[int]) -> Schedule:
    """Schedules one after another (optax join_schedules).

    schedules[0] runs until boundaries_steps[0]; from boundaries_steps[i - 1] on,
    lr = schedules[i](step - boundaries_steps[i - 1]).

    Args:
        schedules: Schedules, callables or floats; at least one.
        boundaries_steps: strictly increasing steps >= 1, one fewer than schedules.
    """
    if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence):
        raise TypeError(f"schedules must be a sequence of schedules; got {schedules!r}.")
    if len(schedules) == 0:
        raise ValueError(f"schedules must hold at least one schedule; got {schedules!r}.")
    children = [to_schedule(f"schedules[{i}]", s) for i, s in enumerate(schedules)]
    boundaries = check_increasing_steps("boundaries_steps", boundaries_steps, allow_empty=True)
    if len(boundaries) != len(children) - 1:
        raise ValueError(
            f"boundaries_steps must hold len(schedules) - 1 = {len(children) - 1} steps;"
            f" got {len(boundaries)}: {boundaries_steps!r}."
        )
    params = (tuple(c.params for c in children), boundaries)
    return Schedule(_join(tuple(c.fn for c in children)), params)


@functools.cache
def _join(fns: tuple[ScheduleFn, ...]) -> ScheduleFn:
    def fn(params: Any, step: Any) -> Array:
        children, boundaries_steps = params
        t = clamped_step(step)
        lr = fns[0](children[0], t)
        for child_fn, child, boundary in zip(fns[1:], children[1:], boundaries_steps):
            lr = jnp.where(t < boundary, lr, child_fn(child, t - boundary))
        return lr

    return named_fn(f"join({', '.join(schedule_kind(f) for f in fns)})", fn)


def by_epoch(schedule: Any, steps_per_epoch: int) -> Schedule:
    """A schedule written in epochs, run in steps: lr = schedule(floor(step / steps_per_epoch)).

    The wrapped schedule's *_steps arguments then count epochs; the learning rate
    is constant within an epoch (torch's scheduler.step() once per epoch).
    """
    inner = to_schedule("schedule", schedule)
    params = (inner.params, check_steps("steps_per_epoch", steps_per_epoch))
    return Schedule(_by_epoch(inner.fn), params)


@functools.cache
def _by_epoch(inner_fn: ScheduleFn) -> ScheduleFn:
    def fn(params: Any, step: Any) -> Array:
        inner, steps_per_epoch = params
        return inner_fn(inner, jnp.floor(clamped_step(step) / steps_per_epoch))

    return named_fn(f"by_epoch({schedule_kind(inner_fn)})", fn)
