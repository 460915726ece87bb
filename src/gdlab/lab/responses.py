"""What the lab sends: JSON whose float32 numbers read as their shortest text, as every CLI --json writes them.

A loss or rate the engine computed in float32 and handed on as a float64 (0.10000000149011612) goes out as
the float32's shortest text (0.1); a float64 proper (a time, a float64 run's loss) goes out as it is
(``core.shortest.shortest_floats``); a non-finite number as null (the page draws a gap).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

from gdlab.core.shortest import non_finite_as, shortest_floats


def lab_json(value: Any) -> Any:
    """value with each float32 number as its shortest text and each non-finite number as None."""
    return non_finite_as(shortest_floats(value), lambda _: None)


def lab_text(value: Any) -> str:
    """value as strict compact JSON (``lab_json``); what is not JSON data as its text."""
    return json.dumps(lab_json(value), allow_nan=False, separators=(",", ":"), default=str)


def event_text(event: dict[str, Any]) -> str:
    """One server-sent event: its type as the event's name, the whole event as its data."""
    return f"event: {event['type']}\ndata: {lab_text(event)}\n\n"


class ShortestJSONResponse(JSONResponse):
    """A JSON response written by ``lab_text`` (the lab app's default response class)."""

    def render(self, content: Any) -> bytes:
        return lab_text(content).encode("utf-8")
