"""Stopping rules for ``gd.fit(..., stop=...)``, combined with ``|`` (any) and ``&`` (all)."""

from gdlab.core.stop_syntax import parse
from gdlab.core.stopping import (
    METRIC_NAMES,
    StopRule,
    all_of,
    any_of,
    diverged,
    early_stopping,
    grad_norm,
    max_epochs,
    max_steps,
    plateau,
    target,
    time_budget,
)

__all__ = [
    "METRIC_NAMES",
    "StopRule",
    "all_of",
    "any_of",
    "diverged",
    "early_stopping",
    "grad_norm",
    "max_epochs",
    "max_steps",
    "parse",
    "plateau",
    "target",
    "time_budget",
]
