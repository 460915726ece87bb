"""Float32 numbers held as float64 (a loss, a rule's rate), written back as the shortest decimal of the float32."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)


def shortest_float32(value: float) -> float:
    """value, where it is exactly a float32, as the shortest decimal that reads back as that float32 (0.1, not
    0.10000000149011612); any other value (a float64 proper, a non-finite one) as it is."""
    if not (math.isfinite(value) and abs(value) <= FLOAT32_MAX) or float(np.float32(value)) != value:
        return value
    return float(str(np.float32(value)))


def shortest_floats(value: Any) -> Any:
    """value with each float that is a float32 written as the float32's shortest text (0.1, not
    0.10000000149011612: a rule's rate or a loss recorded from float32); other values as they are, and
    times (under a key ending in _time or seconds: float64 measures) untouched."""
    if isinstance(value, (list, tuple)):
        return [shortest_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: v if is_time(k) else shortest_floats(v) for k, v in value.items()}
    if isinstance(value, float):
        return shortest_float32(value)  # json writes the shortest repr of this float64
    return value


def is_time(name: Any) -> bool:
    """A float64 measure of time: epoch_time, wall_time, train_seconds, seconds."""
    return isinstance(name, str) and name.endswith(("_time", "seconds"))


def non_finite_as(value: Any, replace: Callable[[float], Any]) -> Any:
    """value with each non-finite float (NaN, inf, -inf) as replace(it), through dicts, lists and tuples (strict JSON
    has no such numbers: a CLI --json writes their text, the lab null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return replace(value)
    if isinstance(value, dict):
        return {k: non_finite_as(v, replace) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [non_finite_as(v, replace) for v in value]
    return value


def pair_text(a: float, b: float, digits: int = 4) -> tuple[str, str]:
    """a and b with the fewest significant digits (at least ``digits``) that tell them apart, so that a
    comparison stated between them reads true (1.9999 < 2, not 2 < 2)."""
    for d in range(digits, 18):
        texts = f"{a:.{d}g}", f"{b:.{d}g}"
        if a == b or texts[0] != texts[1]:
            return texts
    return texts
