"""The summary table as text cells, the same in the terminal and on the HTML page.

Without a target (a regression compared with no --target) the two target columns,
which could never hold a value, are left out, and so is the diverging column where no
config was still diverging at its end (a sweep recorded before gdlab told those apart
from collapsed ones has none). A variant none of whose configs
trained shows no best learning rate: "— (all diverged)" instead of the least bad one,
marked as a failure (Failed) for the HTML page's failure colour.
"""

from __future__ import annotations

import math

from gdlab.report.comparison import Comparison
from gdlab.report.conclusion import metric_text, ranked_name, spread_text, target_text
from gdlab.report.summary import Summary, any_diverging, untrained_text


class Failed(str):
    """A cell's text that reports a failure ("— (all diverged)", "diverged"): the HTML page colours it."""


def headers(summary: Summary) -> list[str]:
    """Column titles; the target columns name the target and are there only with one, the diverging column only
    where some config was diverging."""
    target = [] if summary.target is None else [f"epochs to {target_text(summary.metric, summary.target)}",
                                                 f"seconds to {target_text(summary.metric, summary.target)}"]
    return ["variant", "batch size", "updates per epoch", "best learning rate", ranked_name(summary.metric),
            *target, "diverged", "collapsed", *(["diverging"] if any_diverging(summary) else []), "too high from"]


def cells(summary: Summary) -> list[list[str]]:
    """One row of text per variant (— where a value does not exist), in the columns of headers."""
    rows = []
    for v in summary.variants:
        target = [] if summary.target is None else [
            "—" if v.epochs_to_target is None else str(v.epochs_to_target),
            "—" if v.seconds_to_target is None else f"{v.seconds_to_target:.3g}",
        ]
        rows.append([
            v.label,
            str(v.batch_size) + (" (all)" if v.steps_per_epoch == 1 else ""),
            str(v.steps_per_epoch),
            f"{v.best_learning_rate:.3g}" if v.trained else Failed(f"— ({untrained_text(v)})"),
            _final(summary.metric, v.mean, v.std, v.seeds),
            *target,
            f"{v.diverged}/{v.configs}",
            f"{v.collapsed}/{v.configs}",
            *([f"{v.diverging}/{v.configs}"] if any_diverging(summary) else []),
            "—" if v.too_high is None else f"{v.too_high:.3g}",
        ])
    return rows


def edge_notes(comparison: Comparison, summary: Summary) -> list[str]:
    """A note per variant whose best rate is the smallest or largest of its grid (of two rates or more):
    "SGD's best rate 0.01 is the smallest tried: the grid may not reach its best." """
    notes = []
    for v in summary.variants:
        rates = {r["learning_rate"] for r in comparison.rows if r["batch_size"] == v.batch_size}
        if not v.trained or len(rates) < 2 or v.best_learning_rate not in (min(rates), max(rates)):
            continue
        end = "smallest" if v.best_learning_rate == min(rates) else "largest"
        notes.append(f"{v.label}'s best rate {v.best_learning_rate:.3g} is the {end} tried: the grid may not "
                     "reach its best.")
    return notes


def _final(metric: str, mean: float, std: float, seeds: int) -> str:
    """'0.613 ± 0.02' ('0.613' from one seed, which has no spread), or — where the mean is not finite (every
    seed of the rate diverged)."""
    if not math.isfinite(mean):
        return "—"
    return metric_text(metric, mean) if seeds == 1 else f"{metric_text(metric, mean)} ± {spread_text(metric, std)}"
