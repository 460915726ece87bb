"""The noise lesson: one seed's loss path of each variant at the same learning rate, measured many times an epoch.

An update moves the params by the rate times its batch's gradient. A batch of B samples estimates the gradient
of all the data with an error whose size falls as 1/sqrt(B), so at one rate the smaller the batch, the more the
train loss on all the data goes up and down between the epochs' measurements. The per-epoch curves cannot show
it: they are measured once an epoch, after thousands of SGD updates, and averaged over seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdlab.report.comparison import Comparison

POINTS = 32
"""A path measures the train loss on all the data at most this many times an epoch (and at each epoch's end)."""

HALF_DECADE = 0.5
"""A variant's path takes the rate of its grid nearest the chosen one, when within this many decades of it."""

RISE_SHARE = 1e-3
"""A stretch rose when its loss went up by more than this share of the path's whole fall (from the loss before
training to its lowest): float rounding, or a regression's 4e-5 on a fall of 5.5, is no rise a reader can see."""


@dataclass(frozen=True)
class PathSummary:
    """One variant's path: where it ran, and how often its train loss rose between measurements.

    kind: "same" (every variant at one rate, the smallest batch's best) or "best" (each at its own best rate).
    """

    kind: str
    label: str
    batch_size: int
    learning_rate: float
    seed: int
    every: int  # updates between measurements
    steps_per_epoch: int
    rises: int  # stretches (between consecutive finite measurements) in which the train loss rose
    stretches: int
    start: float  # the train loss before training
    end: float  # at the last finite measurement
    finite: bool  # the whole path stayed finite (else it diverged after its last finite measurement)
    largest_rise: float  # the largest rise of one stretch (0.0: none rose)


def measure_every(steps_per_epoch: int) -> int:
    """The updates between a path's measurements: at most POINTS of them an epoch."""
    return max(1, math.ceil(steps_per_epoch / POINTS))


def path_plan(comparison: Comparison, best: dict[int, tuple[float, bool]]) -> list[tuple[str, int, float]]:
    """(kind, batch size, learning rate) of each path to measure. best maps a batch size to (its best rate, whether
    it trained). "same": every variant at the rate of its grid nearest the smallest batch's best rate, where one
    lies within HALF_DECADE of it; "best": every variant that trained at its best rate. A kind with fewer than two
    variants is left out (nothing to compare); so is "same" when the smallest batch did not train."""
    sizes = sorted(best)
    same: list[tuple[str, int, float]] = []
    if sizes and best[sizes[0]][1]:
        chosen = best[sizes[0]][0]
        for size in sizes:
            grid = sorted({float(r["learning_rate"]) for r in comparison.rows if int(r["batch_size"]) == size})
            near = min(grid, key=lambda rate: abs(math.log10(rate / chosen)))
            if abs(math.log10(near / chosen)) <= HALF_DECADE + 1e-9:
                same.append(("same", size, near))
    own = [("best", size, best[size][0]) for size in sizes if best[size][1]]
    same = same if len(same) >= 2 else []
    if {(size, rate) for _, size, rate in own} <= {(size, rate) for _, size, rate in same}:  # said by "same"
        own = []
    return [*same, *(own if len(own) >= 2 else [])]


def of_kind(paths: tuple[PathSummary, ...], kind: str) -> tuple[PathSummary, ...]:
    """The paths of one kind ("same" or "best")."""
    return tuple(p for p in paths if p.kind == kind)


def summarize_paths(comparison: Comparison) -> tuple[PathSummary, ...]:
    """Each stored path's summary, in the comparison's order of variants."""
    labels = {int(v["batch_size"]): str(v["label"]) for v in comparison.variants}
    out = []
    for path in comparison.paths:
        losses = np.asarray(path["train_loss"], float)
        finite = np.isfinite(losses)
        kept = losses[: int(np.argmin(finite))] if not finite.all() else losses  # up to the first non-finite
        steps = np.diff(kept)
        fall = float(kept[0] - kept.min()) if len(kept) else 0.0
        rose = steps > RISE_SHARE * max(fall, 1e-6 * abs(float(kept[0])) if len(kept) else 0.0)
        size = int(path["batch_size"])
        out.append(PathSummary(kind=str(path["kind"]), label=labels.get(size, str(size)), batch_size=size,
                               learning_rate=float(path["learning_rate"]), seed=int(path["seed"]),
                               every=int(path["every"]), steps_per_epoch=int(path["steps_per_epoch"]),
                               rises=int(rose.sum()), stretches=len(steps), start=float(losses[0]),
                               end=float(kept[-1]) if len(kept) else math.nan, finite=bool(finite.all()),
                               largest_rise=float(steps[rose].max()) if rose.any() else 0.0))
    order = [int(v["batch_size"]) for v in comparison.variants]
    return tuple(sorted(out, key=lambda p: (p.kind != "same", order.index(p.batch_size) if p.batch_size in order
                                            else len(order))))


def path_record(
    kind: str, batch_size: int, learning_rate: float, seed: int, every: int, steps_per_epoch: int, epoch: Any,
    train_loss: Any,
) -> dict[str, Any]:
    """A path as a Comparison holds it."""
    return {"kind": kind, "batch_size": int(batch_size), "learning_rate": float(learning_rate), "seed": int(seed),
            "every": int(every), "steps_per_epoch": int(steps_per_epoch), "epoch": [float(e) for e in epoch],
            "train_loss": [float(v) for v in train_loss]}


def same_rate(paths: tuple[PathSummary, ...]) -> float | None:
    """The one learning rate every path ran at, else None (a variant took the grid's nearest)."""
    rates = {p.learning_rate for p in paths}
    return next(iter(rates)) if len(rates) == 1 else None


def noisier_first(paths: tuple[PathSummary, ...]) -> bool:
    """Whether the smallest batch's path rose in a larger share of its stretches than every other path (there is
    another)."""
    if len(paths) < 2:
        return False
    small = smallest(paths)
    share = _share(small)
    return all(share > _share(p) for p in paths if p is not small)


def noise_back(own: tuple[PathSummary, ...]) -> tuple[PathSummary, ...]:
    """At their own best rates: the larger batches that took a larger rate than the smallest batch and whose path
    rose, in at least as large a share of its stretches (their larger steps brought the noise back)."""
    small = smallest(own)
    if not small.rises:  # nothing to bring back
        return ()
    return tuple(p for p in own if p is not small and p.learning_rate > small.learning_rate
                 and _share(p) >= _share(small))


def smallest(paths: tuple[PathSummary, ...]) -> PathSummary:
    """The path of the smallest batch."""
    return min(paths, key=lambda p: p.batch_size)


def _share(p: PathSummary) -> float:
    """The share of a path's stretches in which its loss rose."""
    return p.rises / p.stretches if p.stretches else 0.0
