"""The summary table as text cells, the same in the terminal and on the HTML page."""

from __future__ import annotations

from gdlab.report.conclusion import metric_name, metric_text, target_text
from gdlab.report.summary import Summary


def headers(summary: Summary) -> list[str]:
    """Column titles; the target columns name the target."""
    target = "target" if summary.target is None else f"{target_text(summary.metric, summary.target)}"
    return ["variant", "batch size", "updates per epoch", "best learning rate", f"final {metric_name(summary.metric)}",
            f"epochs to {target}", f"seconds to {target}", "diverged", "collapsed",
            "too high from"]


def cells(summary: Summary) -> list[list[str]]:
    """One row of text per variant (— where a value does not exist)."""
    rows = []
    for v in summary.variants:
        rows.append([
            v.label,
            str(v.batch_size) + (" (all)" if v.steps_per_epoch == 1 else ""),
            str(v.steps_per_epoch),
            f"{v.best_learning_rate:.3g}",
            f"{metric_text(summary.metric, v.mean)} ± {metric_text(summary.metric, v.std)}",
            "—" if v.epochs_to_target is None else str(v.epochs_to_target),
            "—" if v.seconds_to_target is None else f"{v.seconds_to_target:.3g}",
            f"{v.diverged}/{v.configs}",
            f"{v.collapsed}/{v.configs}",
            "—" if v.too_high is None else f"{v.too_high:.3g}",
        ])
    return rows
