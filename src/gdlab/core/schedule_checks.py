"""The checks of a schedule's numbers: counts of steps, fractions in (0, 1)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from gdlab.core.checks import array_as_list, check_int_range, is_real

MAX_STEPS = 2**31 - 1
"""The largest count of steps (as gd.fit's epochs): 10**20 passed the check and made the run's loss NaN."""


def check_steps(name: str, value: Any) -> float:
    """A count of steps: an integer in [1, MAX_STEPS], stored as a float."""
    return float(check_int_range(name, value, 1, MAX_STEPS))


def check_unit(name: str, value: Any, *, one_allowed: bool = False) -> float:
    """A float in (0, 1), or (0, 1] when one_allowed."""
    allowed = f"a float in (0, 1{']' if one_allowed else ')'}"
    if not is_real(value):
        raise TypeError(f"{name} must be {allowed}; got {value!r}.")
    v = float(value)
    if not (0.0 < v < 1.0 or (one_allowed and v == 1.0)):
        raise ValueError(f"{name} must be {allowed}; got {value!r}.")
    return v


def check_increasing_steps(
    name: str, values: Any, *, allow_empty: bool = False
) -> tuple[float, ...]:
    """Strictly increasing integer steps >= 1, stored as floats."""
    allowed = "a strictly increasing sequence of integers in [1, inf)"
    values = array_as_list(values)
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be {allowed}; got {values!r}.")
    if not values and not allow_empty:
        raise ValueError(f"{name} must be a non-empty, {allowed[2:]}; got {values!r}.")
    steps = tuple(check_steps(f"{name}[{i}]", v) for i, v in enumerate(values))
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise ValueError(f"{name} must be {allowed}; got {values!r}.")
    return steps
