"""core.shortest: a float32 held as float64 written back as its shortest text; any other number as it is."""

from __future__ import annotations

import math

import numpy as np

from gdlab.core.shortest import shortest_float32


def test_a_float32_reads_as_its_shortest_text_and_other_numbers_are_kept() -> None:
    for typed in (0.1, 0.01, 1e-7, 3.4028235e38, 0.010164874605834484):
        as_float64 = float(np.float32(typed))
        short = shortest_float32(as_float64)
        assert np.float32(short) == np.float32(typed) and len(repr(short)) <= len(repr(np.float32(typed))) + 2
    assert shortest_float32(float(np.float32(0.1))) == 0.1 and shortest_float32(float(np.float32(0.01))) == 0.01
    for kept in (0.1, 1 / 3, 1e300, -1e-300, 0.055438920000597136):  # float64 proper: not a float32
        assert shortest_float32(kept) == kept
    assert math.isnan(shortest_float32(math.nan)) and shortest_float32(-math.inf) == -math.inf


def test_every_commands_json_writes_float32_numbers_short_and_times_as_measured() -> None:
    """Only fit and the runs commands shortened them; compare, find-lr, noise-scale and sharpness --json wrote
    0.10000000149011612 (json_text is what every --json prints)."""
    from gdlab.commands.json_output import json_text

    rate = float(np.float32(0.1))
    assert json_text({"best": {"learning_rate": rate, "mean": float("nan")}, "epoch_time": rate, "rows": (rate,)}) == (
        '{"best": {"learning_rate": 0.1, "mean": "nan"}, "epoch_time": 0.10000000149011612, "rows": [0.1]}')
