"""The comparison report's captions: how to read a figure, then what its numbers show in this report.

A caption states no rule the figure may contradict ("the smaller the batch, the faster the loss falls":
SGD fell slower per epoch than mini-batch 32, and batch GD's epoch cost more than mini-batch 32's). Which
variant fell fastest, per epoch and per second, and which rate was best, are read off the plotted numbers.
"""

from __future__ import annotations

import math

import numpy as np

from gdlab.report.comparison import Comparison
from gdlab.report.conclusion import join
from gdlab.report.summary import Summary, VariantSummary, curves

CURVES_HOW = ("Each variant at its best learning rate. Left: per epoch, every variant has seen the same samples. "
              "Right: the same curves against compute time, each epoch at its variant's median epoch time.")
HEATMAP_HOW = "Where each batch size works: the colour is the mean over seeds, the box each batch size's best rate."


def curves_caption(comparison: Comparison, summary: Summary) -> str:
    """How to read the loss curves, then which variant had the lowest train loss per epoch and per second."""
    losses = {v.label: _train_loss(comparison, v) for v in summary.variants if v.trained}
    timed = [v for v in summary.variants if v.label in losses and math.isfinite(v.seconds_per_epoch)]
    return " ".join([CURVES_HOW, *_per_epoch(losses), *_per_second(timed, losses)])


def heatmap_caption(summary: Summary) -> str:
    """How to read the heatmap, then how the best rate moved with the batch size here: the variants in the order
    of their batch sizes (a sweep's are in its grid's order, batch_size=[512, 32] the larger first), naming those
    no rate of which trained (no best rate to place)."""
    ordered = sorted(summary.variants, key=lambda v: v.batch_size)
    best = [(v.label, v.best_learning_rate) for v in ordered if v.trained]
    if len(best) < 2:
        return HEATMAP_HOW
    untrained = [v.label for v in ordered if not v.trained]
    left_out = "" if not untrained else f" ({join(untrained)}: no rate trained)"
    steps = np.diff([rate for _, rate in best])
    if np.all(steps == 0):
        which = "every batch size" if not untrained else "every batch size that trained"
        return f"{HEATMAP_HOW} Here the best rate was {best[0][1]:.3g} for {which}{left_out}."
    trend = ("rising with the batch size" if np.all(steps > 0) else
             "never falling as the batch grows" if np.all(steps >= 0) else
             "falling as the batch grows" if np.all(steps < 0) else
             "never rising as the batch grows" if np.all(steps <= 0) else "not ordered by the batch size")
    listed = join([f"{rate:.3g} for {label}" for label, rate in best])
    return f"{HEATMAP_HOW} Here the best rate was {listed}: {trend}{left_out}."


def _train_loss(comparison: Comparison, v: VariantSummary) -> np.ndarray:
    """The seed-mean train loss at the variant's best rate: before training, then after each epoch."""
    loss = curves(comparison, v.batch_size, v.best_learning_rate, "train_loss")
    mean = np.mean(loss, axis=0) if loss.size else np.zeros(0)
    return np.concatenate([[v.initial_train_loss], mean])


def _per_epoch(losses: dict[str, np.ndarray]) -> list[str]:
    """'Here, after epoch 1, SGD had the lowest train loss (0.52) and batch GD the highest (1.9); after epoch 4,
    mini-batch 32 had the lowest (0.31).' Nothing with fewer than two variants measured."""
    epochs = min((len(curve) - 1 for curve in losses.values()), default=0)
    if len(losses) < 2 or epochs < 1:
        return []
    low, high = _lowest(losses, 1), _lowest(losses, 1, highest=True)
    if low is None or high is None:
        return []
    if f"{losses[low][1]:.3g}" == f"{losses[high][1]:.3g}":
        text = f"Here, after epoch 1, every variant had a train loss of {losses[low][1]:.3g}"
    else:
        text = (f"Here, after epoch 1, {low} had the lowest train loss ({losses[low][1]:.3g}) and {high} the "
                f"highest ({losses[high][1]:.3g})")
    last = _lowest(losses, epochs)
    if epochs > 1 and last is not None:
        again = "still " if last == low else ""
        text += f"; after epoch {epochs}, {last} {again}had the lowest ({losses[last][epochs]:.3g})"
    return [text + "."]


def _per_second(timed: list[VariantSummary], losses: dict[str, np.ndarray]) -> list[str]:
    """'An epoch took 2.2 ms for mini-batch 32 and 5.5 ms for batch GD; at 4.4 ms, where the shortest curve
    ends, mini-batch 32 had the lowest train loss (0.61).'"""
    if len(timed) < 2:
        return []
    cost = "An epoch took " + join([f"{duration_text(v.seconds_per_epoch)} for {v.label}" for v in timed])
    ends = {v.label: (len(losses[v.label]) - 1) * v.seconds_per_epoch for v in timed}
    at = min(ends.values())
    if not at > 0:
        return [cost + "."]
    shown = {v.label: np.interp(at, np.arange(len(losses[v.label])) * v.seconds_per_epoch, losses[v.label])
             for v in timed}
    finite = {label: value for label, value in shown.items() if math.isfinite(value)}
    if len(finite) < 2:
        return [cost + "."]
    best = min(finite, key=lambda label: finite[label])
    return [(f"{cost}; at {duration_text(at)}, where the shortest curve ends, {best} had the lowest train loss "
             f"({finite[best]:.3g}).")]


def _lowest(losses: dict[str, np.ndarray], epoch: int, highest: bool = False) -> str | None:
    """The variant with the lowest (or highest) finite train loss after epoch; None where none is finite."""
    finite = {label: curve[epoch] for label, curve in losses.items() if math.isfinite(curve[epoch])}
    if not finite:
        return None
    pick = max if highest else min
    return pick(finite, key=lambda label: finite[label])


def duration_text(seconds: float) -> str:
    """A time in its unit, three digits: '5.5 ms', '1.2 s', '310 µs'."""
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"
