"""Reduce the learning rate when an epoch metric stops improving (as torch's ReduceLROnPlateau).

The rule keeps a scale that multiplies the learning rate of any schedule, so it
composes with them: lr(step) = scale * schedule(step). Once per epoch:

    better  = metric < best - threshold * |best|   (losses; accuracy: > best + threshold * |best|;
              torch's best * (1 - threshold), the same for positive metrics, but for a negative loss it
              counts a slightly worse value as better)
    best, bad_epochs = (metric, 0) if better else (best, bad_epochs + 1)
    in cooldown: cooldown_left -= 1 and bad_epochs = 0
    if bad_epochs > patience: scale <- min(scale, max(scale * factor, min_lr / schedule lr)),
                              cooldown_left = cooldown, bad_epochs = 0

Example, patience=2 and cooldown=1, train losses 1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0, 1.1:
epochs 3, 4, 5 are bad, so it fires after epoch 5 (the rate drops from epoch 6 on);
epoch 6 is cooldown, epochs 7, 8, 9 are bad, so it fires again after epoch 9.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from gdlab.core.checks import check_choice, check_float_range, check_int_range, is_real

MAXIMIZED = ("test_accuracy",)
METRICS = ("train_loss", "test_loss", "grad_norm", "test_accuracy")


class PlateauLRState(NamedTuple):
    """scale multiplies the learning rate; reductions counts how often it fell."""

    scale: float
    best: float
    bad_epochs: int
    cooldown_left: int
    reductions: int


class ReduceOnPlateau(NamedTuple):
    """The rule's settings; ``init`` and ``update`` below are its functions."""

    factor: float
    patience: int
    threshold: float
    cooldown: int
    min_lr: float
    metric: str

    def init(self) -> PlateauLRState:
        best = -math.inf if self.metric in MAXIMIZED else math.inf
        return PlateauLRState(1.0, best, 0, 0, 0)

    def update(self, state: PlateauLRState, value: float, schedule_lr: float) -> PlateauLRState:
        """One epoch: value is the metric, schedule_lr the unscaled rate of the epoch's last step."""
        margin = self.threshold * abs(state.best) if math.isfinite(state.best) else 0.0
        if self.metric in MAXIMIZED:
            better = value > state.best + margin
        else:
            better = value < state.best - margin  # torch's best * (1 - threshold) counts a worse negative loss
        best, bad = (value, 0) if better else (state.best, state.bad_epochs + 1)
        cooldown_left = state.cooldown_left
        if cooldown_left > 0:
            cooldown_left, bad = cooldown_left - 1, 0
        if bad <= self.patience:
            return PlateauLRState(state.scale, best, bad, cooldown_left, state.reductions)
        floor = self.min_lr / schedule_lr if schedule_lr > 0 else 0.0
        scale = min(state.scale, max(state.scale * self.factor, floor))  # never raises the rate
        return PlateauLRState(scale, best, 0, self.cooldown, state.reductions + (scale < state.scale))


def reduce_on_plateau(
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    cooldown: int = 0,
    min_lr: float = 0.0,
    metric: str = "train_loss",
) -> ReduceOnPlateau:
    """Multiply the learning rate by factor after more than patience epochs without improvement.

    Patience and cooldown count epochs; see the module docstring for the exact rule
    and an example of the epochs it fires on.
    """
    return ReduceOnPlateau(
        factor=_check_factor(factor),
        patience=check_int_range("patience", patience, 0),
        threshold=check_float_range("threshold", threshold, 0.0, 1.0),
        cooldown=check_int_range("cooldown", cooldown, 0),
        min_lr=check_float_range("min_lr", min_lr, 0.0, math.inf),
        metric=check_choice("metric", metric, METRICS),
    )


def _check_factor(factor: Any) -> float:
    if not is_real(factor):
        raise TypeError(f"factor must be a float in (0, 1); got {factor!r}.")
    if not 0.0 < float(factor) < 1.0:
        raise ValueError(f"factor must be a float in (0, 1); got {factor!r}.")
    return float(factor)
