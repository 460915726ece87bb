"""The numbers of a comparison: per variant the best learning rate, the time to a target and the failures.

A config *diverged* when its train loss became non-finite or rose above the divergence
rule's factor (gd.stop.diverged, 100 by default) times its loss before training, and
*collapsed* when it ended with a train loss at or above its loss before training, or within
2% below it after rising above it at some epoch (a too-large rate on a classifier can settle at
chance level, ln(classes), with no non-finite number), or *diverging* when it ended there still rising (its reason says so:
engine.result.DIVERGING) without having reached the divergence rule. A rate above the best that did neither can still do clearly worse within the budget: its mean final
train loss ended above the best rate's by more than WORSE x the best rate's fall from the loss before training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdlab.engine.sweep_result import best_by_mean, failure, mean_and_std
from gdlab.report.comparison import Comparison
from gdlab.report.noise import PathSummary, summarize_paths

WORSE = 0.1
"""A rate's mean final train loss is clearly worse than the best rate's b when above it by more than WORSE x (initial
- b): a tenth of the fall the best rate made, well above seed-to-seed noise (batch GD on mnist1d at 3.5 for 30
epochs ended at 2.18 against 1.68 at 1.5, from 2.30: 81% of the fall)."""


@dataclass(frozen=True)
class VariantSummary:
    """One batch size at its best learning rate (means over seeds); None where not reached.

    When no config of the variant trained (each diverged, collapsed or was diverging: ``trained`` is False),
    best_learning_rate and mean are those of the least bad rate, kept as numbers but no recommendation,
    and the target counts as not reached (a curve may pass it on its way up before it blows up).
    """

    label: str
    batch_size: int
    steps_per_epoch: int
    best_learning_rate: float
    mean: float  # the final metric at the best learning rate, mean over seeds
    std: float
    seeds: int
    epochs_to_target: int | None
    seconds_to_target: float | None
    seconds_per_epoch: float  # one config's share of an epoch of its vmapped group
    diverged: int
    collapsed: int
    diverging: int  # still diverging at their end, counted apart from collapsed (a sweep recorded before gdlab told
    # them apart counts them as collapsed)
    configs: int
    too_high: float | None  # the smallest learning rate at which most seeds failed (diverged, diverging, collapsed)
    lowest_learning_rate: float
    lowest_final_train_loss: float  # mean over seeds, at the smallest learning rate
    best_final_train_loss: float  # mean over seeds, at the best learning rate
    initial_train_loss: float  # mean over seeds
    rises: float  # epochs in which the train loss rose, at the best learning rate (mean over seeds)
    trained: bool  # some config did not fail; False: best_learning_rate is only the least bad
    worse_above: tuple[tuple[float, float, float], ...] = ()  # (rate, mean final train loss, mean metric) of each rate
    # above the best, below too_high, whose train loss ended clearly worse than the best rate's (``worse_above``)

@dataclass(frozen=True)
class Summary:
    """Every variant, and which reached the target first per epoch and per second."""

    metric: str
    target: float | None
    epochs: int
    variants: tuple[VariantSummary, ...]
    first_by_epoch: str | None
    first_by_second: str | None
    diverged_factor: float | None = None  # the divergence rule's factor (settings' diverged_factor); None: unknown
    paths: tuple[PathSummary, ...] = ()  # one seed's path per variant at one learning rate (report/noise.py)


def any_diverging(summary: Summary) -> bool:
    """Whether some config of the summary was still diverging at its end (the table's diverging column, and the
    words that name that kind of failure, are there only then)."""
    return any(v.diverging for v in summary.variants)


def untrained_text(v: VariantSummary) -> str:
    """Why a variant has no best rate: 'all diverged', 'all collapsed', 'all diverged or collapsed', 'all diverged,
    diverging or collapsed', ...: the kinds of failure its configs had."""
    kinds = [word for n, word in ((v.diverged, "diverged"), (v.diverging, "diverging"), (v.collapsed, "collapsed")) if n]
    return "all " + (kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1])


def higher_is_better(metric: str) -> bool:
    return "accuracy" in metric


def summarize(comparison: Comparison) -> Summary:
    """The summary of every variant, in the order of comparison.variants."""
    metric = comparison.settings["metric"]
    target = comparison.settings.get("target")
    variants = tuple(_variant(comparison, v, metric, target) for v in comparison.variants)
    reached = [v for v in variants if v.epochs_to_target is not None]
    by_epoch = min(reached, key=lambda v: (v.epochs_to_target, v.seconds_to_target), default=None)
    by_second = min(reached, key=lambda v: (v.seconds_to_target, v.epochs_to_target), default=None)
    return Summary(metric=metric, target=target, epochs=int(comparison.settings["epochs"]), variants=variants,
                   first_by_epoch=None if by_epoch is None else by_epoch.label,
                   first_by_second=None if by_second is None else by_second.label,
                   diverged_factor=comparison.settings.get("diverged_factor"), paths=summarize_paths(comparison))


def history_name(metric: str) -> str:
    """The history a row key is read off: 'final_test_accuracy' and 'best_test_accuracy' -> 'test_accuracy'."""
    return metric.removeprefix("final_").removeprefix("best_")


def best_learning_rate(rows: list[dict[str, Any]], metric: str) -> tuple[float, list[float]]:
    """The rate with the best mean of metric over seeds (best_by_mean, as SweepResult.best), and its values;
    a rate some seed of which failed (diverged, collapsed, diverging) ranks after every rate none of whose seeds
    did."""
    by_rate: dict[float, list[float]] = {}
    failed = set()
    for row in rows:
        by_rate.setdefault(row["learning_rate"], []).append(row.get(metric, math.nan))
        if failure(row) is not None:
            failed.add(row["learning_rate"])
    rate = best_by_mean(by_rate, maximise=higher_is_better(metric), failed=failed)[0]
    return rate, by_rate[rate]


def curves(comparison: Comparison, batch_size: int, learning_rate: float, name: str) -> np.ndarray:
    """History name of every seed at (batch_size, learning_rate): shape (seeds, epochs), NaN-padded."""
    picked = [h.get(name, []) for r, h in zip(comparison.rows, comparison.histories)
              if r["batch_size"] == batch_size and r["learning_rate"] == learning_rate]
    epochs = max((len(c) for c in picked), default=0)
    out = np.full((len(picked), epochs), np.nan)
    for i, c in enumerate(picked):
        out[i, : len(c)] = c
    return out


def seconds_per_epoch(comparison: Comparison, batch_size: int) -> float:
    """The median epoch time of the batch size's group divided by its configs.

    The epochs in which some config diverged (its history's last), re-run in part to find where, are left out
    while others remain: with two epochs a median is a mean, and a re-run counted in it.
    """
    group = [(r, h.get("epoch_time", [])) for r, h in zip(comparison.rows, comparison.histories)
             if r["batch_size"] == batch_size]
    rerun = {len(times) - 1 for r, times in group if r.get("status") == "diverged"}
    times = [t for _, ts in group for k, t in enumerate(ts) if k not in rerun] or [t for _, ts in group for t in ts]
    return float(np.median(times)) / len(group) if times else math.nan


def reach(curve: np.ndarray, target: float | None, metric: str) -> int | None:
    """The first epoch (from 1) at which the seed-mean curve reaches target, or None."""
    if target is None or curve.size == 0:
        return None
    mean = np.mean(curve, axis=0)
    hit = mean >= target if higher_is_better(metric) else mean <= target
    hits = np.nonzero(hit)[0]
    return int(hits[0]) + 1 if hits.size else None


def _variant(comparison: Comparison, info: dict[str, Any], metric: str, target: float | None) -> VariantSummary:
    size = info["batch_size"]
    rows = [r for r in comparison.rows if r["batch_size"] == size]
    rate, values = best_learning_rate(rows, metric)
    mean, std = mean_and_std(values)
    failures = [failure(r) for r in rows]
    trained = failures.count(None) > 0
    epochs = reach(curves(comparison, size, rate, history_name(metric)), target, metric) if trained else None
    per_epoch = seconds_per_epoch(comparison, size)
    lowest = min(r["learning_rate"] for r in rows)
    too_high = _too_high(rows)
    initial, best = float(np.mean([r["initial_train_loss"] for r in rows])), _mean_final_train_loss(rows, rate)
    train = curves(comparison, size, rate, "train_loss")
    return VariantSummary(
        label=info["label"], batch_size=size, steps_per_epoch=info["steps_per_epoch"],
        best_learning_rate=rate, mean=mean, std=std, seeds=len(values),
        epochs_to_target=epochs, seconds_to_target=None if epochs is None else epochs * per_epoch,
        seconds_per_epoch=per_epoch, diverged=failures.count("diverged"), collapsed=failures.count("collapsed"),
        diverging=failures.count("diverging"), configs=len(rows), too_high=too_high,
        lowest_learning_rate=lowest,
        lowest_final_train_loss=_mean_final_train_loss(rows, lowest),
        best_final_train_loss=best,
        initial_train_loss=initial,
        rises=float(np.mean(np.sum(np.diff(train, axis=1) > 0, axis=1))) if train.size else 0.0,
        trained=trained,
        worse_above=_worse_above(rows, (rate, best, initial - best), too_high, metric) if trained else (),
    )


def _worse_above(rows: list[dict[str, Any]], best_rate: tuple[float, float, float], too_high: float | None,
                metric: str) -> tuple[tuple[float, float, float], ...]:
    """(rate, mean final train loss, mean metric) of each rate above the best (and below too_high) whose mean final
    train loss L is clearly worse than the best's b: L - b > WORSE x fall. best_rate: (the best rate, b, fall: the
    mean loss before training less b)."""
    best, b, fall = best_rate
    above = sorted({r["learning_rate"] for r in rows if r["learning_rate"] > best
                    and (too_high is None or r["learning_rate"] < too_high)})
    worse = []
    for rate in above:
        loss = _mean_final_train_loss(rows, rate)
        if fall > 0 and math.isfinite(loss) and loss - b > WORSE * fall:
            values = [r.get(metric, math.nan) for r in rows if r["learning_rate"] == rate]
            worse.append((rate, loss, float(np.mean(values))))
    return tuple(worse)


def _mean_final_train_loss(rows: list[dict[str, Any]], rate: float) -> float:
    """The mean over seeds of the final train loss at learning rate rate (NaN where a row has none)."""
    return float(np.mean([r.get("final_train_loss", math.nan) for r in rows if r["learning_rate"] == rate]))


def _too_high(rows: list[dict[str, Any]]) -> float | None:
    """The smallest learning rate at which more than half of the seeds failed (diverged, collapsed, diverging)."""
    failed: dict[float, list[bool]] = {}
    for row in rows:
        failed.setdefault(row["learning_rate"], []).append(failure(row) is not None)
    bad = [rate for rate, flags in failed.items() if sum(flags) * 2 > len(flags)]
    return min(bad) if bad else None
