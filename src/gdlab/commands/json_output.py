"""What the commands' --json prints: strict JSON, with non-finite numbers as text."""

from __future__ import annotations

import json
from typing import Any

from gdlab.core.shortest import non_finite_as, shortest_floats


def jsonable(value: Any) -> Any:
    """Value with every non-finite float written as text ("nan", "inf", "-inf"), as strict JSON needs."""
    return non_finite_as(value, str)


def json_text(value: Any) -> str:
    """value as one line of strict JSON (no NaN or Infinity, which JSON.parse and jq refuse), each float32 number
    as its shortest text (0.1, not 0.10000000149011612; ``core.shortest.shortest_floats``), times as measured."""
    return json.dumps(jsonable(shortest_floats(value)), allow_nan=False)
