"""The Result of a training run."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import numpy as np

from gdlab.core.shortest import shortest_float32
from gdlab.core.stopping import LEVELLED
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
"""What the reason of a run that collapsed holds (``rise_note``): a sweep's recorded reason counts them by it."""

DIVERGING = "before training: diverging ("
"""What the reason of a run still diverging at its end holds (``rise_note``): counted apart from COLLAPSED."""

RISE = 1e-3
"""A final train loss above the loss before training by more than RISE of it is a rise, not rounding."""

RISING_EPOCHS = 3
"""A run whose train loss rose in each of its last RISING_EPOCHS epochs (the loss before training counting as
epoch 0's) is diverging, not collapsed: one rise is noise, three in a row by more than RISING each is a trend."""

RISING = 0.01
"""A rise counts towards diverging when loss > (1 + RISING) x |the epoch before's|: a classifier collapsed at
chance level jitters by less (2.302, 2.335, 2.342, 2.360 on mnist1d at rate 3.5, batch 32: a 0.3% step among them)."""


COLLAPSE_BAND = 0.02
"""A run whose train loss rose above its loss before training (by more than RISE of it) at some epoch and ended
less than COLLAPSE_BAND of it below collapsed too: a rate too high kicks a classifier up and leaves it about where
it started, near chance level (mnist1d, batch 32 at 3.16: 2.421 at epoch 3, 2.302 at the end, from 2.319; test
accuracy 10.7%). A rate too low never rises: it falls slowly from the start."""


def rise_note(losses: Sequence[float], initial: float, factor: float | None = None, peak: float = math.nan) -> str:
    """The words a run's reason ends with when its final train loss (losses[-1]) rose above its loss before
    training, else "": diverging when it rose by more than RISING in each of the last RISING_EPOCHS epochs
    (it had not reached the divergence rule, factor x initial, yet), else collapsed (a rate too high can settle
    there with no non-finite number). A tie is not a rise: a rate too low to move the loss, or batch GD's running
    loss after one epoch (the loss before its update). losses: the run's train losses, all of them or at least
    its last RISING_EPOCHS + 1 (fewer: the run had fewer epochs, and initial counts as epoch 0's). peak: the
    highest train loss of any epoch of the run (NaN: unknown); one above the start by more than RISE of it, and a
    final loss within COLLAPSE_BAND below the start, is collapsed too."""
    final = losses[-1]
    if not (math.isfinite(final) and math.isfinite(initial)):
        return ""
    if final - initial <= RISE * abs(initial):
        if peak - initial > RISE * abs(initial) and initial - final < COLLAPSE_BAND * abs(initial):
            return (f"; the train loss rose to {peak:.4g} and came back to {final:.4g}, within {COLLAPSE_BAND:.0%} of "
                    f"the {initial:.4g} {COLLAPSED}the learning rate is likely too high)")
        return ""
    start = f"; the train loss ended at {final:.4g}, above the {initial:.4g} "
    if rising(losses, initial):
        rule = "the divergence rule" if factor is None else f"the divergence rule, {factor:g} x the loss before training"
        return (f"{start}{DIVERGING}the loss rose by more than {RISING:.0%} in each of the last {RISING_EPOCHS} "
                f"epochs; it had not yet reached {rule}; the learning rate is likely too high)")
    return f"{start}{COLLAPSED}the learning rate is likely too high)"


def peak_loss(losses: Iterable[float]) -> float:
    """The highest finite loss of a run's epochs (NaN: none), what ``rise_note`` reads as its peak."""
    finite = [float(v) for v in losses if math.isfinite(float(v))]
    return max(finite) if finite else math.nan


DECAYED = 0.01
"""A plateau that converged while the learning rate was below this fraction of its peak says so (decay_note)."""


def decay_note(reason: str, rates: Sequence[float]) -> str:
    """The words a plateau's "converged" reason ends with when the learning rate of its last epoch (rates[-1], one
    per epoch) was below DECAYED x the highest of its epochs: a schedule that decayed to almost 0 (cosine, or
    reduce_lr) stops the loss moving wherever it is, near chance too; else ""."""
    if not reason.startswith(f"converged: {LEVELLED}"):
        return ""
    finite = [float(r) for r in rates if math.isfinite(float(r))]
    if not finite or not (max(finite) > 0 and finite[-1] < DECAYED * max(finite)):
        return ""
    last, peak = finite[-1], max(finite)
    return (f"; its learning rate had decayed to {last:.3g}, {100 * last / peak:.2g}% of its peak {peak:.3g}: the loss may "
            "have stopped falling because its steps did, not at a minimum")


def rising(losses: Sequence[float], initial: float) -> bool:
    """Whether each of the last RISING_EPOCHS losses of [initial, *losses] is above (1 + RISING) x |the one before|
    (losses: as ``rise_note`` takes them)."""
    last = [initial, *losses][-RISING_EPOCHS - 1:]
    return len(last) == RISING_EPOCHS + 1 and all(b > a + RISING * abs(a) for a, b in itertools.pairwise(last))


class LossPath(NamedTuple):
    """The train loss on all the training data along a run (``gd.fit(..., loss_every=k)``): after every k-th update
    of each epoch and after its last, with the loss before training first (update 0) when the run started there.

    update: the run's update count at each measurement; epoch: the same in epochs (update / updates per epoch).
    A run that diverged ends with NaN at the update that went non-finite (not applied). A resumed run's path
    starts after its checkpoint's epoch; one that trained no epoch (its rule had fired already) has none.
    """

    update: np.ndarray
    epoch: np.ndarray
    train_loss: np.ndarray


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
    loss_path: LossPath | None = None
    """With ``gd.fit(..., loss_every=k)``: the train loss on all the training data every k updates (None: not asked)."""

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

    @property
    def restored(self) -> bool:
        """Whether the params returned are not the last epoch's: early_stopping(restore_best=True) returned those
        of an earlier epoch, best_epoch (0: the initial ones)."""
        return self.best_epoch is not None and self.best_epoch != self.epochs_run

    def returned_metrics(self) -> dict[str, float]:
        """Each metric of the epoch whose params were returned, as the history has it: the last epoch's, or with
        restore_best best_epoch's (0, the initial params: only the train loss, ``initial_loss``, is known)."""
        names = [name for name in self.history if name not in ("epoch_time", "wall_time")]
        epoch = self.best_epoch if self.restored else None
        if epoch is None:
            return {name: float(self.history[name][-1]) for name in names if len(self.history[name])}
        if epoch == 0:
            return {"train_loss": self.initial_loss} if math.isfinite(self.initial_loss) else {}
        return {name: float(self.history[name][epoch - 1]) for name in names}

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: status, reason, counts, times and the last value of each metric (final_*); where
        the params returned are an earlier epoch's (restore_best), that epoch (returned_epoch) and its metrics
        (returned_*)."""
        last = {
            f"final_{name}": _json_float(values[-1]) if len(values) else None
            for name, values in self.history.items()
            if name not in ("epoch_time", "wall_time")
        }
        returned = {"returned_epoch": self.best_epoch,
                    **{f"returned_{k}": _json_float(v) for k, v in self.returned_metrics().items()}} if self.restored else {}
        return {
            "status": self.status,
            "reason": self.reason,
            "epochs_run": self.epochs_run,
            "steps_run": self.steps_run,
            "compile_seconds": round(self.compile_seconds, 4),
            "train_seconds": round(self.train_seconds, 4),
            **last,
            **returned,
            "config": self.config,
        }


def _json_float(value: Any) -> float | str:
    """A metric's last value: a float32 as its shortest text (0.01, not 0.009999999776482582); non-finite as text."""
    v = float(value)
    return shortest_float32(v) if np.isfinite(v) else str(v)
