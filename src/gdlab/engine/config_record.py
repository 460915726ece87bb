"""What a run's record keeps of its settings: the same keys for a ``gd.fit`` run and a sweep member.

A fit run and a sweep member trained alike record equal configurations (``gdlab runs compare`` lists
no difference between them): each records, beside its own settings, those of the other as it used
them. A fit records the sgd options a member records by name (``learning_rate``, ``schedule``,
``momentum``, ``nesterov``, ``weight_decay``: read from its rule; None for a rule other than sgd),
its data's ``n_test`` and ``task``, and ``compute_dtype`` "float32" and ``kernel`` "xla" (a fit has
neither option); a member records gd.fit's options as its sweep ran them (``FIT_ONLY``: no
``drop_last``, no ``reduce_lr``, no sharpness tracking; ``devices``: the devices each batch is split
over, the sweep mesh's data axis). Both record the rule as gd.fit always has (``rule_config``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdlab.core.schedules import SCHEDULES
from gdlab.core.shortest import shortest_floats

SGD_OPTIONS = ("learning_rate", "schedule", "momentum", "nesterov", "weight_decay")
"""The sgd options a record names beside its rule (a sweep's grid and settings)."""

FIT_ONLY = {"drop_last": False, "reduce_lr": None, "track_sharpness": 0}
"""gd.fit's options that a sweep does not take, as every sweep member trains: its value of each."""

WARMUP = "warmup("


def plain(value: Any) -> Any:
    """Arrays as numbers; tuples (a schedule's numbers, nested for warmup/join) as lists."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return np.asarray(value).tolist()


def rule_config(numbers: dict[str, Any], settings: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """A rule as a record keeps it: its numbers as the params' dtype holds them (sgd: the schedule's
    numbers, momentum, weight decay), then its settings (sgd: kind, nesterov, velocity, the schedule's kind)."""
    return {k: plain(v) for k, v in numbers.items()} | dict(settings)


def named_schedule(numbers: Any, kind: str) -> tuple[str, float, int] | None:
    """(name, learning rate, warmup steps) of a recorded schedule that ``gd.schedules.SCHEDULES`` names, warmed up
    or not (kind "cosine(...)" with numbers [lr, ...], or "warmup(cosine(...))" with [[lr, ...], steps, ...]);
    None for another (a join, a function)."""
    inner, warmup_steps = kind, 0
    if kind.startswith(WARMUP) and kind.endswith(")") and _is_list(numbers, 3) and _is_number(numbers[1]):
        inner, warmup_steps, numbers = kind[len(WARMUP):-1], int(numbers[1]), numbers[0]
    name = inner.split("(")[0]
    if name in SCHEDULES and _is_list(numbers) and _is_number(numbers[0]):
        return name, numbers[0], warmup_steps
    return None


def sgd_options(rule: dict[str, Any]) -> dict[str, Any]:
    """The sgd options of a recorded rule (``rule_config``) as a sweep member names them; None each for another rule.

    learning_rate: the first number of a schedule ``named_schedule`` names (None for another: a join, a
    function); schedule: such a schedule's name when not warmed up, else its kind; float32 numbers as their
    shortest text (0.05, not 0.05000000074505806).
    """
    if rule.get("kind") != "sgd":
        return dict.fromkeys(SGD_OPTIONS)
    kind = str(rule.get("schedule"))
    named = named_schedule(rule.get("learning_rate"), kind)
    return {"learning_rate": None if named is None else shortest_floats(named[1]),
            "schedule": named[0] if named is not None and not kind.startswith(WARMUP) else kind,
            "momentum": shortest_floats(rule.get("momentum")), "nesterov": rule.get("nesterov"),
            "weight_decay": shortest_floats(rule.get("weight_decay"))}


def _is_list(value: Any, length: int | None = None) -> bool:
    return isinstance(value, list) and len(value) > 0 and (length is None or len(value) == length)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
