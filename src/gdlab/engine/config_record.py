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


def sgd_options(rule: dict[str, Any]) -> dict[str, Any]:
    """The sgd options of a recorded rule (``rule_config``) as a sweep member names them; None each for another rule.

    learning_rate: the schedule's learning rate, the first number of a ``gd.schedules.SCHEDULES``
    schedule, warmed up or not (None for another: a join, a function); schedule: such a schedule's name,
    else its kind; float32 numbers as their shortest text (0.05, not 0.05000000074505806).
    """
    if rule.get("kind") != "sgd":
        return dict.fromkeys(SGD_OPTIONS)
    kind, numbers = str(rule.get("schedule")), rule.get("learning_rate")
    inner = kind
    if kind.startswith(WARMUP) and kind.endswith(")") and isinstance(numbers, list) and numbers:
        inner, numbers = kind[len(WARMUP):-1], numbers[0]
    first = numbers[0] if isinstance(numbers, list) and numbers else None
    named = inner.split("(")[0] in SCHEDULES and isinstance(first, (int, float))
    return {"learning_rate": shortest_floats(first) if named else None,
            "schedule": inner.split("(")[0] if named and inner == kind else kind,
            "momentum": shortest_floats(rule.get("momentum")), "nesterov": rule.get("nesterov"),
            "weight_decay": shortest_floats(rule.get("weight_decay"))}
