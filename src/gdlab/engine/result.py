"""The Result of a training run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from gdlab.core.shortest import shortest_float32
from gdlab.core.types import OptState, Params

STATUSES = (
    "converged",
    "stalled",
    "diverged",
    "early_stopped",
    "target_reached",
    "max_epochs",
    "max_steps",
    "time_budget",
)
"""Every value ``Result.status`` takes."""

COLLAPSED = "before training: collapsed ("
"""What the reason of a run that collapsed holds (``collapsed_note``): a sweep's recorded reason counts them by it."""

RISE = 1e-3
"""A final train loss above the loss before training by more than RISE of it is a rise, not rounding."""


def collapsed_note(final: float, initial: float) -> str:
    """The words a run's reason ends with when its final train loss rose above its loss before training (a rate
    too high can settle there with no non-finite number), else "". A tie is not a rise: a rate too low to move
    the loss, or batch GD's running loss after one epoch (the loss before its update)."""
    if not (math.isfinite(final) and math.isfinite(initial) and final - initial > RISE * abs(initial)):
        return ""
    return (f"; the train loss ended at {final:.4g}, above the {initial:.4g} {COLLAPSED}the learning rate is "
            "likely too high)")


class ConvergenceWarning(UserWarning):
    """A run ended on its budget before any convergence rule fired."""


@dataclass(frozen=True, eq=False)
class Result:
    """What ``gd.fit`` returns.

    ``history`` maps a metric name to one value per epoch run: train_loss,
    grad_norm, learning_rate, test_loss, test_accuracy (classification),
    epoch_time and wall_time (seconds).
    """

    params: Params
    history: dict[str, np.ndarray]
    status: str
    reason: str
    epochs_run: int
    steps_run: int
    opt_state: OptState
    compile_seconds: float
    train_seconds: float
    """Seconds of training (compiling and measurements left out): the last epoch's ``wall_time``. A sweep config
    (``SweepResult.run(k)``) trained in one vmapped program with others: that program's clock at its last epoch
    (its share of the time: ``SweepResult.rows[k]["seconds"]``)."""
    config: dict[str, Any] = field(default_factory=dict)
    best_epoch: int | None = None
    """With early_stopping(restore_best=True): the epoch whose params were returned (0: the initial params,
    which no epoch bettered)."""
    initial_loss: float = math.nan
    """The train loss of the initial params, before any update (NaN: not known)."""

    def __repr__(self) -> str:
        """One line: status, counts, the last value of each metric, the params' size and the reason (the
        arrays themselves: ``.params``, ``.history``; the dataclass's repr printed them all)."""
        leaves = jax.tree.leaves(self.params)
        last = ", ".join(f"{name} {float(values[-1]):.4g}" for name, values in self.history.items()
                         if len(values) and name not in ("epoch_time", "wall_time"))
        numbers = sum(int(np.size(a)) for a in leaves)
        params = (f"{len(leaves)} array{'' if len(leaves) == 1 else 's'}, {numbers} number{'' if numbers == 1 else 's'}"
                  if self.params is not None else "not kept")  # a sweep read back from a store keeps none
        return (f"Result(status={self.status!r}, epochs_run={self.epochs_run}, steps_run={self.steps_run}, "
                f"final: {last or 'none'}; params: {params}; reason={self.reason!r})")

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: status, reason, counts, times and the last value of each metric."""
        last = {
            f"final_{name}": _json_float(values[-1]) if len(values) else None
            for name, values in self.history.items()
            if name not in ("epoch_time", "wall_time")
        }
        return {
            "status": self.status,
            "reason": self.reason,
            "epochs_run": self.epochs_run,
            "steps_run": self.steps_run,
            "compile_seconds": round(self.compile_seconds, 4),
            "train_seconds": round(self.train_seconds, 4),
            **last,
            "config": self.config,
        }


def _json_float(value: Any) -> float | str:
    """A metric's last value: a float32 as its shortest text (0.01, not 0.009999999776482582); non-finite as text."""
    v = float(value)
    return shortest_float32(v) if np.isfinite(v) else str(v)
