"""A sweep's grids: learning rates, momenta, seeds and schedules, each value checked, none repeated."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from gdlab.core.checks import (
    check_choice,
    check_float_range,
    check_int_range,
    check_positive_float,
    is_real,
)
from gdlab.core.rules import sgd
from gdlab.core.run_schedules import ScheduleOptions, build_schedules
from gdlab.core.schedules import SCHEDULES, Schedule, ScheduleFn
from gdlab.core.types import UpdateRule

ScheduleFactory = Callable[[float], Schedule]
"""A schedule shape: learning rate (the grid value) -> gd.schedules schedule."""

ScheduleGrid = Sequence[str | ScheduleFactory] | Mapping[str, str | ScheduleFactory]


def schedule_grid(grid: Any) -> dict[str, str | ScheduleFactory]:
    """The schedule grid as label -> shape (a SCHEDULES name or a function lr -> schedule)."""
    if isinstance(grid, Mapping):
        items = [(str(k), v) for k, v in grid.items()]
        names = [f"schedule[{k!r}]" for k in grid]  # by key, as given: schedule['x']
        if not items:
            raise ValueError("schedule must hold at least one value; got an empty grid.")
    else:
        items = [(_label(i, v), v) for i, v in enumerate(as_list("schedule", grid))]
        names = [f"schedule[{i}]" for i in range(len(items))]
    for name, (label, shape) in zip(names, items):
        if isinstance(shape, str):
            check_choice(name, shape, SCHEDULES)
        elif isinstance(shape, Schedule):
            raise TypeError(f"{name} is a gd.schedules schedule, built for one learning rate; a sweep sets the "
                            "learning rate from its grid, so give a name such as 'cosine' or a function "
                            "learning_rate -> schedule, e.g. lambda lr: gd.schedules.cosine(lr, 1000).")
        elif not callable(shape):
            raise TypeError(f"{name} must be a schedule name such as 'cosine' or a function "
                            f"learning_rate -> gd.schedules schedule; got {shape!r}.")
    labels = [label for label, _ in items]
    if len(set(labels)) != len(labels):
        raise ValueError(f"schedule must not repeat a label; got {labels!r} (pass a dict to name them).")
    return dict(items)


def _label(i: int, shape: Any) -> str:
    name = shape if isinstance(shape, str) else getattr(shape, "__name__", "")
    return name if name and name != "<lambda>" else f"schedule[{i}]"


def schedule_params(
    label: str, shape: str | ScheduleFactory, rates: list[float], steps: int
) -> tuple[str, ScheduleFn, dict[float, Any]]:
    """The shape's label, formula, and learning rate -> the numbers of its schedule."""
    if isinstance(shape, str):  # every rate gets the same kind of schedule: no need to check
        options = ScheduleOptions(schedule=shape)
        made = dict(zip(rates, build_schedules(rates, options, steps)))
        return label, made[rates[0]].fn, {lr: schedule.params for lr, schedule in made.items()}
    made = {lr: shape(lr) for lr in rates}
    first = made[rates[0]]
    for lr, schedule in made.items():
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule {label!r} must return a gd.schedules schedule for learning rate {lr}; "
                            f"got {schedule!r}.")
        if schedule.fn is not first.fn or str(jax.tree.structure(schedule.params)) != str(jax.tree.structure(first.params)):
            raise ValueError(f"schedule {label!r} must give every learning rate the same kind of schedule "
                             f"(only its numbers may change); learning rates {rates[0]} and {lr} differ.")
    return label, first.fn, {lr: s.params for lr, s in made.items()}


def group_rule(
    fn: ScheduleFn, numbers: dict[float, Any], momenta: list[float], nesterov: bool, weight_decay: float
) -> UpdateRule:
    """The sgd a (batch size, schedule) group trains with: the schedule's structure (its numbers, each config's,
    are traced), a velocity buffer when any momentum is > 0 (momentum 0 then gives plain SGD's iterates)."""
    return sgd(Schedule(fn, numbers[next(iter(numbers))]), momentum=max(momenta), nesterov=nesterov,
               weight_decay=weight_decay, velocity=any(m > 0 for m in momenta))


def logspace(low: float, high: float, n: int) -> list[float]:
    """n learning rates spaced evenly on a log scale from low to high (both included)."""
    low, high = check_positive_float("low", low), check_positive_float("high", high)
    n = check_int_range("n", n, 1)
    if high < low or (high == low and n > 1):
        raise ValueError(f"high must be {'>' if n > 1 else '>='} low{' for n > 1 rates' if n > 1 else ''}; "
                         f"got low={low}, high={high}.")
    return [float(v) for v in np.geomspace(low, high, n)]


def grid_values(name: str, values: Any, check: Callable[[str, Any], Any], trained: bool = False) -> list[Any]:
    """The grid's values, each checked; none may repeat (trained: compared as the float32 numbers they train
    with, where 0.1 and 0.1 + 1e-10 are one)."""
    items = as_list(name, values)
    checked = [check(f"{name}[{i}]", v) for i, v in enumerate(items)]
    with np.errstate(over="ignore"):  # a rate past float32's range is named by its own check later
        same = [float(np.float32(v)) for v in checked] if trained else checked
    if len(set(same)) != len(same):
        how = " (as the float32 numbers they train with)" if trained and len(set(checked)) == len(checked) else ""
        raise ValueError(f"{name} must not repeat a value{how}; got {list(items)!r}.")
    return checked


def as_list(name: str, values: Any) -> list[Any]:
    """A grid as a list: sequences, arrays, generators as they are; one value (0.1, "full", None) as [value]."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        if values is None or isinstance(values, str) or is_real(values):
            values = [values]
        elif getattr(values, "ndim", 1) == 1 and hasattr(values, "__iter__"):
            values = list(values)
        else:
            raise TypeError(f"{name} must be a list of values (or one value); got {values!r}.")
    if len(values) == 0:
        raise ValueError(f"{name} must hold at least one value; got an empty grid.")
    return list(values)


def check_momentum(name: str, value: Any) -> float:
    return check_float_range(name, value, 0.0, 1.0)


def check_nesterov(nesterov: bool, momenta: list[float]) -> bool:
    """Nesterov needs momentum > 0 in every config, as gd.sgd does (with 0 it is plain SGD)."""
    if nesterov and 0.0 in momenta:
        raise ValueError(f"nesterov=True needs every momentum > 0; got momentum[{momenta.index(0.0)}]=0.0 "
                         "(Nesterov with momentum 0 is plain SGD: sweep it in a second sweep with nesterov=False).")
    return nesterov


MAX_SEEDS = 2**16
"""The most seeds a count may ask for (each one its own initial params): 10**9 built a list of them first."""


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """A count n as seeds 0..n-1 (n at most MAX_SEEDS), or a list of distinct seeds (checked)."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return list(range(check_int_range("seeds", seeds, 1, MAX_SEEDS)))
    if isinstance(seeds, (bool, np.bool_)) or is_real(seeds):  # 2.0 or True: neither a count nor a list
        raise TypeError(f"seeds must be a count (an integer in [1, {MAX_SEEDS}]) or a list of seeds; got {seeds!r}.")
    return grid_values("seeds", seeds, lambda n, v: check_int_range(n, v, 0, 2**32 - 1))
