"""The learning-rate finder's figure and report page: each seed's curve on a log learning-rate axis, suggestions marked."""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from typing import Any

from matplotlib.figure import Figure

from gdlab.engine.lr_finder import LRFinderResult, Suggestion
from gdlab.report.conclusion import counted
from gdlab.report.html import figure, page
from gdlab.report.plots import _style, _svg
from gdlab.report.run_page import number, table
from gdlab.report.table import Failed
from gdlab.store.model_text import recorded_model_text

RULE_LINES = {"steepest": ("#d62728", ":"), "valley": ("#ff7f0e", "--"), "minimum/10": ("#9467bd", "-."),
              "largest_stable": ("#17becf", "-")}
"""Each rule's (colour, line style): told apart by both (red and brown dotted lines read alike)."""


TITLE = ("Learning-rate range test: one curve per seed\n"
         "vertical lines: each rule's suggestion (its own colour and dash); solid black: the validated rate")
"""Two lines: on one it ran past both sides of the 9-inch figure (its width in characters is tested)."""


def finder_figure(result: LRFinderResult, seeds: list[int] | None = None) -> Figure:
    """Each seed's smoothed loss against the learning rate (log axis), every rule's suggestion and the answer."""
    seeds = list(range(len(result.losses))) if seeds is None else seeds
    fig = Figure(figsize=(9, 5.2), layout="constrained")
    ax = fig.subplots()
    for seed, curve in zip(seeds, result.losses):
        ax.plot(result.learning_rates, curve, lw=1.2, alpha=0.8, label=f"seed {seed}")
    for value, rules in _lines(result):  # rules that agree share one line (one hid the other)
        color, style = RULE_LINES.get(rules[0], ("grey", ":"))
        ax.axvline(value, ls=style, lw=1.5, color=color, label=f"{' = '.join(rules)} {value:.3g}")
    low, high = result.interval
    if high > low:  # one rate alone within the interval: no band
        ax.axvspan(low, high, color="black", alpha=0.08, lw=0, label=f"interval {low:.3g} to {high:.3g}")
    ax.axvline(result.suggestion, color="black", lw=2, label=f"validated {result.suggestion:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning_rate (log scale)")
    ax.set_ylabel("smoothed train loss (batch)")
    ax.set_title(TITLE)
    handles, labels = ax.get_legend_handles_labels()  # below the axes: inside, it hid the curves' high start
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize=8)
    return fig


def _lines(result: LRFinderResult) -> list[tuple[float, list[str]]]:
    """Each offered suggestion's rate and the rules that gave it as printed (3 significant digits), in order."""
    lines: dict[str, tuple[float, list[str]]] = {}
    for rule, s in result.suggestions.items():
        if s.offered:
            lines.setdefault(f"{s.value:.3g}", (s.value, []))[1].append(rule)
    return list(lines.values())


def finder_svg(result: LRFinderResult, seeds: list[int] | None = None) -> str:
    with _style():
        return _svg(finder_figure(result, seeds), "finder")


def render_finder(run: dict[str, Any], result: LRFinderResult) -> str:
    """The page of a recorded finder run: the answer, the figure, every rule with its spread, the validation."""
    config = run.get("config", {})
    title = f"gdlab find-lr {run['id']}: {recorded_model_text(run.get('model'), config)} on {run.get('dataset', '')}"
    low, high = result.interval
    within = f"within one standard deviation of the best: {low:.3g} to {high:.3g}" if high > low else \
        "the only candidate within one standard deviation of the best"
    answer = f"Validated learning rate {result.suggestion:.3g} ({within})."
    rules = [[rule, suggestion_text(s, number), seeds_spread_text(s, number, " to "),
              ", ".join(_rate(v) for v in s.per_seed)] for rule, s in result.suggestions.items()]
    validation = validation_cells(result)
    sub = (f"batch_size {config.get('batch_size', '?')}, seeds {config.get('seeds', '?')}, learning rates "
           f"{number(config.get('min_lr'))} to {number(config.get('max_lr'))} over {config.get('steps', '?')} steps; "
           f"validated by {_epochs(config.get('validate_epochs'))} per candidate.")
    sections = [
        f"<h1>{escape(title)}</h1>", f'<p class="sub">{escape(sub)}</p>',
        f'<p class="conclusion">{escape(answer)}</p>',
        "<h2>Range test</h2>", figure(finder_svg(result, config.get("seeds")), _caption(high > low)),
        "<h2>Suggestions by rule</h2>", table(["rule", "suggestion (geometric mean)", "spread over seeds",
                                                 "per seed"], rules),
        *(f'<p class="sub">{escape(note)}</p>' for note in suggestion_notes(result)),
        "<h2>Validation</h2>", table(VALIDATION_HEADERS, validation),
        *(f'<p class="sub">{escape(note)}</p>' for note in validation_notes(validation)),
    ]
    return page(title, "\n".join(sections))


VALIDATION_HEADERS = ["learning_rate", "mean train loss, last epoch", "std over seeds", "chosen"]
DIVERGED_NOTE = ("diverged: in at least one seed the train loss became non-finite or rose above 100 x its "
                 "initial loss (gdlab's divergence rule, gd.stop.diverged), so no mean is shown.")


def validation_cells(result: LRFinderResult) -> list[list[str]]:
    """The validation sweep as text, the same in the terminal and on the page: 'diverged' (marked Failed) instead
    of a blown-up loss (its mean is inf), and the answer marked.

    Every entry has 'diverged': the finder sets it, and store.finders.load_finder sets it for a recorded one.
    """
    return [[number(v["learning_rate"]), Failed("diverged") if v["diverged"] else number(v["mean"]),
             "—" if v["diverged"] else number(v["std"]), "answer" if v["learning_rate"] == result.suggestion else ""]
            for v in result.validation]


def validation_json(validation: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A finder's validation as --json writes it, as the table shows it: a diverged candidate has no mean
    or std (null; its mean is inf, a blown-up loss)."""
    return [{**v, "mean": None, "std": None} if v.get("diverged") else v for v in validation]


def validation_notes(cells: list[list[str]]) -> list[str]:
    """What to say under the validation cells: what 'diverged' means, where a row shows it."""
    return [DIVERGED_NOTE] if any(isinstance(row[1], Failed) for row in cells) else []


def suggestion_text(s: Suggestion, fmt: Callable[[float], str]) -> str:
    """A rule's suggestion as the tables show it: '1.17', '1.17 (2 of 3 seeds)' where not every seed gave one,
    '—' where most gave none."""
    if not s.offered:
        return "—"
    return fmt(s.value) + ("" if s.giving == len(s.per_seed) else f" ({_of_seeds(s)})")


def seeds_spread_text(s: Suggestion, fmt: Callable[[float], str], to: str = " .. ") -> str:
    """The spread over the seeds that gave a rate: '0.5 .. 2', '1.17 (1 of 3 seeds)' where most gave none
    (the suggestion is '—'), '—' where none did."""
    low, high = s.spread
    if math.isnan(low):
        return "—"
    text = fmt(low) if low == high else f"{fmt(low)}{to}{fmt(high)}"
    return text if s.offered else f"{text} ({_of_seeds(s)})"


def suggestion_notes(result: LRFinderResult) -> list[str]:
    """What to say under the rules' suggestions, in the terminal and on the page: why minimum/10 offers no rate
    for some seeds, and what the table then shows."""
    rule = result.suggestions.get("minimum/10")
    if rule is None or rule.giving == len(rule.per_seed):
        return []
    lowest = f"{result.learning_rates[0]:.3g}"
    n = len(rule.per_seed)
    none = n - rule.giving
    which = f"{'the seed' if n == 1 else f'all {n} seeds'}" if none == n else f"{none} of {n} seeds"
    shown = ("so it suggests none (—)" if not rule.offered else
             f"so its suggestion is the geometric mean over the other {counted(n - none, 'seed')}")
    note = (f"minimum/10 offered no rate for {which}: where a seed's lowest loss came within a decade of the lowest "
            f"rate tested ({lowest}), a tenth of it lies below the range tested; {shown}.")
    return [note]


def _epochs(value: Any) -> str:
    """'1 epoch', '2 epochs'; '? epochs' where the record has none."""
    return counted(value, "epoch") if isinstance(value, int) else "? epochs"


def _of_seeds(s: Suggestion) -> str:
    return f"{s.giving} of {len(s.per_seed)} seeds"


def _rate(value: float) -> str:
    """A suggested rate, or — where a rule found none (NaN: the seed's curve had no such point)."""
    return "—" if math.isnan(value) else number(value)


def _caption(band: bool) -> str:
    """The figure's caption; the grey band only where the interval holds more than the answer (finder_figure)."""
    return ("The learning rate grows exponentially step by step; each curve is a seed's bias-corrected moving average "
            "of the batch loss, cut where it blows up. The validated rate (solid black) won a short sweep of the candidates"
            + ("; the grey band is its interval." if band else "; no other came within one standard deviation of it."))

