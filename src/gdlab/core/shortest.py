"""Float32 numbers held as float64 (a loss, a rule's rate), written back as the shortest decimal of the float32."""

from __future__ import annotations

import math

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)


def shortest_float32(value: float) -> float:
    """value, where it is exactly a float32, as the shortest decimal that reads back as that float32 (0.1, not
    0.10000000149011612); any other value (a float64 proper, a non-finite one) as it is."""
    if not (math.isfinite(value) and abs(value) <= FLOAT32_MAX) or float(np.float32(value)) != value:
        return value
    return float(str(np.float32(value)))
