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

RISE_TOLERANCE = 1e-6
"""A stretch rose when its loss went up by more than this share of where it began (float rounding is no rise)."""


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
    finite: bool  # the whole path stayed finite


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
        rises = int(np.sum(steps > RISE_TOLERANCE * np.abs(kept[:-1])))
        size = int(path["batch_size"])
        out.append(PathSummary(kind=str(path["kind"]), label=labels.get(size, str(size)), batch_size=size,
                               learning_rate=float(path["learning_rate"]), seed=int(path["seed"]),
                               every=int(path["every"]), steps_per_epoch=int(path["steps_per_epoch"]), rises=rises, stretches=len(steps),
                               start=float(losses[0]), end=float(kept[-1]) if len(kept) else math.nan,
                               finite=bool(finite.all())))
    order = [int(v["batch_size"]) for v in comparison.variants]
    return tuple(sorted(out, key=lambda p: (p.kind != "same", order.index(p.batch_size) if p.batch_size in order
                                            else len(order))))


def path_record(
    kind: str, batch_size: int, learning_rate: float, seed: int, every: int, steps_per_epoch: int, epoch: Any,
    train_loss: Any,
) -> dict[str, Any]:
    """A path as a Comparison holds it."""
    return {"kind": kind, "batch_size": int(batch_size), "learning_rate": float(learning_rate), "seed": int(seed),
            "every": int(every), "steps_per_epoch": int(steps_per_epoch), "epoch": [float(e) for e in epoch], "train_loss": [float(v) for v in train_loss]}


def same_rate(paths: tuple[PathSummary, ...]) -> float | None:
    """The one learning rate every path ran at, else None (a variant took the grid's nearest)."""
    rates = {p.learning_rate for p in paths}
    return next(iter(rates)) if len(rates) == 1 else None


def rises_text(p: PathSummary) -> str:
    """'rose in 64 of 160 stretches of 125 updates' ('of up to 4 updates' where the epoch's last stretch is shorter;
    'rose after 5 of 160 updates' where it measured after each)."""
    if p.every == 1:
        return f"rose after {p.rises} of {p.stretches} updates"
    up_to = "" if p.steps_per_epoch % p.every == 0 else "up to "
    return f"rose in {p.rises} of {p.stretches} stretches of {up_to}{p.every} updates"


def noisier_first(paths: tuple[PathSummary, ...]) -> bool:
    """Whether the smallest batch's path rose in a larger share of its stretches than every other path."""
    small = min(paths, key=lambda p: p.batch_size)
    share = _share(small)
    return all(share > _share(p) for p in paths if p is not small)


def noise_back(own: tuple[PathSummary, ...]) -> tuple[PathSummary, ...]:
    """At their own best rates: the larger batches that took a larger rate than the smallest batch and whose path
    rose, in at least as large a share of its stretches (their larger steps brought the noise back)."""
    small = min(own, key=lambda p: p.batch_size)
    return tuple(p for p in own if p is not small and p.learning_rate > small.learning_rate
                 and 0 < _share(p) >= _share(small))


def _share(p: PathSummary) -> float:
    """The share of a path's stretches in which its loss rose."""
    return p.rises / p.stretches if p.stretches else 0.0


def paths_sentence(paths: tuple[PathSummary, ...], best_of: str) -> str:
    """The conclusion's sentence on the paths ("" where no path rose: nothing to say of noise); best_of: the
    variant whose best rate the "same" paths ran at."""
    if not any(p.rises for p in paths):
        return ""
    same, own = of_kind(paths, "same"), of_kind(paths, "best")
    parts = []
    if same:
        small = min(same, key=lambda p: p.batch_size)
        rate = same_rate(same)
        at = (f"the same learning rate {rate:.3g} ({best_of}'s best)" if rate is not None
              else f"about {best_of}'s best learning rate")
        others = [f"{p.rises} of {p.stretches} for {p.label}" for p in same if p is not small]
        parts.append(f"At {at}, one seed's train loss on all the data, measured up to {POINTS} times an epoch, "
                     f"{rises_text(small).replace('rose', f'rose for {small.label}', 1)}, against {_join(others)}"
                     + (": the fewer samples an update averages, the noisier the path" if noisier_first(same) else ""))
    shown = [p for p in own if not same or p.learning_rate != same_rate(same)]  # those not said already
    if shown:
        listed = _join([f"{p.label} at {p.learning_rate:.3g} rose in {p.rises} of {p.stretches}" for p in shown])
        back = noise_back(own)
        parts.append(f"{'at' if same else 'At'} their own best rates {listed}" + (
            f": {_join([f'{p.label}' for p in back])}, with a larger rate than {min(own, key=lambda p: p.batch_size).label}, "
            f"rose as often" if back else ""))
    return "; ".join(parts) + "."


def _join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c' ('' for none)."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def paths_caption(paths: tuple[PathSummary, ...]) -> str:
    """The caption under the paths' figure: what was measured, how often, and what it shows."""
    same, own = of_kind(paths, "same"), of_kind(paths, "best")
    shown = same or own
    small = min(shown, key=lambda p: p.batch_size)
    spacing = _join([f"{'after every update' if p.every == 1 else f'every {p.every} updates'} for {p.label}"
                     for p in shown])
    text = (f"Each update moves the params by the learning rate times its batch's gradient, and the fewer samples "
            f"a batch averages, the further that gradient can be from the gradient of all the data. One seed "
            f"({small.seed}) per variant; the train loss on all the training data was measured {spacing}, and at "
            "each epoch's end.")
    if same:
        text += f" Left: every variant at one rate, {small.label}'s best."
        if noisier_first(same):
            text += (f" {small.label}'s path went up and down the most: it {rises_text(small)}. The per-epoch "
                     "curves above, measured once an epoch and averaged over seeds, smooth that noise away.")
        ends = [p for p in same if p.finite and math.isfinite(p.end)]
        if len(ends) >= 2:
            lowest = min(ends, key=lambda p: p.end)
            text += (f" After the last epoch at this rate {lowest.label} was lowest: "
                     + _join([f"{p.label} ended at {p.end:.3g}" for p in ends]) + f", from {small.start:.3g}.")
    if own:
        listed = _join([f"{p.label} at {p.learning_rate:.3g} {rises_text(p)}" for p in own])
        text += f" {'Right' if same else 'Here'}: each variant at its own best rate: {listed}."
        back = noise_back(own)
        if back:
            text += (f" A larger batch's gradient is less noisy, so it can take a larger rate, and the larger steps "
                     f"bring noise back: {_join([p.label for p in back])} rose as often as "
                     f"{min(own, key=lambda p: p.batch_size).label}.")
    return text
