"""Names typed in any case: ``--model MLP`` is ``--model mlp``, as ``--batch-size FULL`` is ``full``.

A value is folded only when its lowercase is one of the option's names, so a wrong one is refused as
typed, and a file path (``--dataset Data.CSV``) keeps its case.
"""

from __future__ import annotations

import gdlab as gd
from gdlab.core.dataset import TASKS
from gdlab.core.models import ACTIVATIONS
from gdlab.core.schedules import SCHEDULES
from gdlab.engine.epoch import METRICS
from gdlab.engine.fused_mlp import KERNELS
from gdlab.store.records import RECORD_STATUSES
from gdlab.store.sweep_recorder import SWEEP_STATUSES

EXPORT_FORMATS = ("csv", "json")
WORDS: dict[str, tuple[str, ...]] = {
    "dataset": tuple(gd.datasets.NAMES),
    "task": TASKS,
    "model": tuple(gd.models.NAMES),
    "activation": tuple(ACTIVATIONS),
    "metrics": METRICS,
    "schedule": tuple(SCHEDULES),
    "kernel": KERNELS,
    "status": (*RECORD_STATUSES, *SWEEP_STATUSES),
    "format": EXPORT_FORMATS,
}
"""Option -> the names it takes (all lowercase)."""


def fold(option: str, value: str | None) -> str | None:
    """value as WORDS[option] spells it when it names one of them in another case ('MLP' -> 'mlp'); else as given."""
    if value is None or value.lower() not in WORDS[option]:
        return value
    return value.lower()


def fold_stop(texts: list[str]) -> list[str]:
    """Each --stop rule lowercased ('Plateau:1E-4:5' -> 'plateau:1e-4:5') when that parses; else as given."""
    return [text if text == text.lower() or not _parses(text.lower()) else text.lower() for text in texts]


def _parses(text: str) -> bool:
    try:
        gd.stop.parse(text)
    except ValueError:
        return False
    return True
