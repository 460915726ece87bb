"""The report as one self-contained HTML page: inline CSS and SVG, no external URL."""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from gdlab.engine.output_file import file_to_write
from gdlab.engine.result import COLLAPSE_BAND
from gdlab.report import plots, table
from gdlab.report.captions import curves_caption, heatmap_caption
from gdlab.report.comparison import Comparison
from gdlab.report.conclusion import (
    conclusion,
    counted,
    diverged_text,
    diverging_text,
    join,
    metric_name,
    metric_text,
    ranked_name,
    target_text,
)
from gdlab.report.noise_text import paths_caption
from gdlab.report.summary import Summary, failure, higher_is_better, summarize

CSS = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0;
       color: #1d1d1f; background: #f6f6f4; line-height: 1.5; }
main { max-width: 1140px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 26px; margin: 8px 0 2px; }
h2 { font-size: 19px; margin: 34px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #555; margin: 0 0 16px; }
table + .sub { margin-top: 8px; }  /* a note under a table (the finder's 'diverged') */
.conclusion { background: #fff; border-left: 5px solid #2ca02c; padding: 14px 18px; font-size: 16px;
              box-shadow: 0 1px 3px rgba(0,0,0,.08); }
.conclusion.bad { border-left-color: #b00020; }  /* a run that diverged or failed */
.conclusion.open { border-left-color: #d98c00; }  /* one interrupted, still running, or stalled */
table { border-collapse: collapse; background: #fff; font-size: 14px; width: 100%;
        box-shadow: 0 1px 3px rgba(0,0,0,.08); }
th, td { padding: 6px 10px; border-bottom: 1px solid #e5e5e5; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f0ee; font-weight: 600; }
figure { margin: 0; background: #fff; padding: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.08); overflow-x: auto; }
figure svg { width: 100%; min-width: 640px; height: auto; display: block; }  /* narrower: text too small to read */
.wide { overflow-x: auto; }  /* a table wider than a phone scrolls in its box, not the page */
figcaption { color: #444; font-size: 14px; padding: 6px 4px 2px; }
.notes li { margin: 4px 0; }
details { margin-top: 12px; }
details table { font-size: 12px; }
.failed { color: #b00020; }
@media (max-width: 900px) {  /* a narrow window: the ten- or eleven-column summary fits without a sideways scroll */
  main { padding: 16px 10px 40px; }
  table { font-size: 12px; }
  th, td { padding: 4px 4px; }
  details { overflow-x: auto; }
}
"""


def write_html(comparison: Comparison, path: str | Path) -> Path:
    """Write the report of comparison to path (one HTML file)."""
    file_to_write("path", path).write_text(render(comparison))
    return Path(path)


def render(comparison: Comparison, summary: Summary | None = None) -> str:
    """The report page as text."""
    summary = summarize(comparison) if summary is None else summary
    s = comparison.settings
    title = f"gdlab compare: batch, stochastic and mini-batch gradient descent on {s['dataset']}"
    sections = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(_subtitle(s, summary))}</p>',
        f'<p class="conclusion">{escape(conclusion(summary))}</p>',
        "<h2>Summary</h2>", _summary_table(summary),
        *(f'<p class="sub">{escape(note)}</p>' for note in table.edge_notes(comparison, summary)),
        "<h2>Loss curves</h2>", figure(plots.loss_curves(comparison, summary), curves_caption(comparison, summary)),
        *(["<h2>Noise along the way: one seed's path</h2>",
           figure(plots.loss_paths(comparison, summary), paths_caption(
               summary.paths, [(v.label, v.trained) for v in summary.variants], _seeds(summary),
               s.get("metrics") == "running"))] if summary.paths else []),
        "<h2>Final loss against learning rate</h2>", figure(plots.u_curve(comparison, summary), _U_CURVE),
        "<h2>Learning rate × batch size</h2>", figure(plots.heatmap(comparison, summary), heatmap_caption(summary)),
        "<h2>How to read this</h2>", _notes(s, summary),
        _all_configs(comparison, summary),
    ]
    return page(title, "\n".join(sections))


def page(title: str, body: str) -> str:
    """A whole HTML page: the title, the report's inline CSS and body (HTML); nothing fetched from elsewhere."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{escape(title)}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n")


_U_CURVE = ("The U-curve: on the left the rate is too low and the loss barely moves; on the right it is too high "
            "and the loss diverges (×, in the band above the axis: its final loss is not a number or far off the "
            "scale), is still rising above where it started when the budget runs out (△: diverging) or ends at or "
            "above where it started, or back near it after rising above it (○: collapsed; a △ or ○ above the "
            "axis's top is drawn at the top). Each batch size's best rate, chosen by the final test metric (boxed in "
            "the heatmap, whose caption says how it moved with the batch size), is usually at or near the bottom of "
            "its curve.")


def _subtitle(s: dict[str, Any], summary: Summary) -> str:
    seeds = len(s["seeds"]) if isinstance(s["seeds"], list) else s["seeds"]
    target = "" if summary.target is None else f"; target {metric_name(summary.metric)} " \
        f"{target_text(summary.metric, summary.target)}"
    schedule = f", learning-rate schedule {s['schedule']}" if s.get("schedule") else ""
    return (f"{s['model']}{schedule} on {s['dataset']} ({s['n_train']} training and {s['n_test']} test samples); "
            f"budget {counted(summary.epochs, 'epoch')} for every variant; {counted(seeds, 'seed')} per config{target}.")


def _summary_table(summary: Summary) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers(summary))
    body = "".join("<tr>" + "".join(td(c) for c in row) + "</tr>" for row in table.cells(summary))
    return f'<div class="wide"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>{body}</tbody>\n</table></div>'


def td(cell: str) -> str:
    """A table cell; one marked as a failure (table.Failed) in the failure colour."""
    return f'<td class="failed">{escape(cell)}</td>' if isinstance(cell, table.Failed) else f"<td>{escape(cell)}</td>"


def figure(svg: str, caption: str) -> str:
    return f"<figure>\n{svg}\n<figcaption>{escape(caption)}</figcaption>\n</figure>"


def _seeds(summary: Summary) -> int:
    return max((v.seeds for v in summary.variants), default=0)


def _notes(s: dict[str, Any], summary: Summary) -> str:
    grids = "; ".join(f"{v.label}: {_rates(s['learning_rates'][str(v.batch_size)])}" for v in summary.variants)
    items = [
        (f"Budget: {counted(summary.epochs, 'epoch')} for every variant, so every config sees the same "
         f"{summary.epochs * int(s['n_train'])} samples; an epoch makes "
         + join([f"{counted(v.steps_per_epoch, 'update')} for {v.label}" for v in summary.variants]) + "."),
        f"Learning rates ({s.get('rates_rule', 'as given')}): {grids}.",
        (f"The best learning rate of a variant is the one with the best mean {ranked_name(summary.metric)} "
         + ("over the seeds; ± is the standard deviation over the seeds (dividing by their number, not one less)." if _seeds(summary) > 1 else
            "(one seed per config, so no spread over seeds is shown).")),
        (("Seconds (the table's, and the loss curves' time axis) are" if summary.target is not None else
          "The loss curves' time axis is") + " compute time per config: the variant's median epoch time (all its configs train together in one "
         "vmapped program) divided by its configs, times the epochs. Compiling, and the one-off re-run of an "
         "epoch in which some config diverged, are left out; with metrics=exact an epoch's time includes measuring "
         "the train loss on all the data after it (for batch GD about as long as its one update), and a config's "
         "share of a vmapped program is not what it takes alone (gdlab fit times one run)."),
        (f"Diverged: {diverged_text(summary.diverged_factor)} (gd.stop.diverged, which stops the run). Collapsed: the "
         f"final train loss is at or above the loss before training, or less than {COLLAPSE_BAND:.0%} below it after rising above it "
         "at some epoch (a rate too low never rises), for a classifier often chance level (ln(classes)), with no "
         "non-finite number, so the status alone would miss it. Diverging: "
         f"{diverging_text()}, short of the divergence rule when the budget ran out (a sweep recorded before gdlab "
         "told these apart counts them as collapsed)."),
        _metrics_note(s.get("metrics", "exact")),
    ]
    return '<ul class="notes">' + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def _metrics_note(metrics: str) -> str:
    if metrics == "running":
        return ("Train loss is the mean of the batch losses seen during each epoch (metrics=running); test "
                "metrics are measured on all test data after each epoch.")
    return ("Train loss, gradient norm and test metrics are measured on all the data after each epoch "
            "(metrics=exact).")


LISTED_RATES = 16
"""A grid of more learning rates than this is told by its count and range, not listed."""


def _rates(rates: list[float]) -> str:
    """The grid's rates, or for a long one: "2500 from 0.0001 to 0.5, log-spaced"."""
    if len(rates) <= LISTED_RATES:
        return ", ".join(f"{r:.3g}" for r in rates)
    ordered = np.sort(np.asarray(rates, float))
    steps = np.diff(np.log(ordered)) if ordered[0] > 0 else np.array([np.nan])
    spaced = ", log-spaced" if np.allclose(steps, steps[0], rtol=1e-6) else ""
    return f"{len(rates)} from {ordered[0]:.3g} to {ordered[-1]:.3g}{spaced}"


LISTED_CONFIGS = 1000
"""A sweep of more configs than this lists only the best ones of each batch size (the page stays small)."""


def _all_configs(comparison: Comparison, summary: Summary) -> str:
    """Every config in a folded table; past LISTED_CONFIGS, the best of each batch size by the report's metric."""
    names = ["batch_size", "learning_rate", "seed", "status", "epochs_run", "final_train_loss", summary.metric]
    words = ["batch size", "learning rate", "seed", "status", "epochs run", "final train loss",
             metric_name(summary.metric), "failure"]  # the page's words, not the rows' field names
    head = "".join(f"<th>{escape(n)}</th>" for n in words)
    rows, title = comparison.rows, f"Every config ({len(comparison.rows)})"
    if len(rows) > LISTED_CONFIGS:
        each = max(1, LISTED_CONFIGS // len(comparison.variants))
        rows = best_rows(rows, summary.metric, each)
        title = (f"The best {each} configs of each batch size by {metric_name(summary.metric)}, of "
                 f"{len(comparison.rows)} (every config: gdlab runs export ID, or SweepResult.to_csv)")
    lines = []
    for row in rows:
        kind = failure(row)
        shown = {**row, "batch_size": f"{row['batch_size']} (all)" if row["batch_size"] == comparison.settings.get(
            "n_train") else row["batch_size"]}  # as the summary table writes batch GD's
        value = row.get(summary.metric)
        if "accuracy" in summary.metric and isinstance(value, float) and math.isfinite(value):
            shown[summary.metric] = metric_text(summary.metric, value)  # 13.9%, as the rest of the page
        cells = "".join(f"<td>{escape(_cell(shown.get(n)))}</td>" for n in names)
        mark = f'<td class="failed">{kind}</td>' if kind else "<td></td>"
        lines.append(f"<tr>{cells}{mark}</tr>")
    return (f"<details><summary>{escape(title)}</summary>\n<table><thead><tr>{head}</tr>"
            f"</thead><tbody>{''.join(lines)}</tbody></table></details>")


def best_rows(rows: list[dict[str, Any]], metric: str, each: int) -> list[dict[str, Any]]:
    """The each best rows of every batch size (in the rows' order of batch sizes), best first; a failed
    config (diverged, diverging, collapsed) or one without a finite metric after every other."""
    by_size: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        by_size.setdefault(row["batch_size"], []).append(row)
    sign = -1.0 if higher_is_better(metric) else 1.0

    def rank(row: dict[str, Any]) -> tuple[bool, float]:
        value = row.get(metric)
        if failure(row) is None and isinstance(value, (int, float)) and math.isfinite(value):
            return (False, sign * value)
        return (True, 0.0)

    return [row for part in by_size.values() for row in sorted(part, key=rank)[:each]]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return "" if value is None else str(value)
