"""The report's figures as inline SVG: loss curves, the learning-rate U-curve and a heatmap.

Matplotlib's object API (``Figure``, no pyplot, no backend switch); text is drawn
as paths so the page looks the same everywhere, and every id is prefixed so
several figures can share one HTML page.
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter
from typing import Any

import matplotlib
import matplotlib.colors
import matplotlib.patches
import matplotlib.path
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from gdlab.report.comparison import Comparison
from gdlab.report.conclusion import (
    counted,
    failed_text,
    metric_name,
    metric_text,
    most_seeds,
    ranked_name,
    target_text,
)
from gdlab.report.noise import POINTS, of_kind, same_rate
from gdlab.report.noise_text import legend_text
from gdlab.report.summary import (
    Summary,
    VariantSummary,
    curves,
    failure,
    higher_is_better,
    history_name,
    untrained_text,
)

SGD_COLOR, BATCH_COLOR = "#d62728", "#3b3b98"
MINI_BATCH_COLORS = ("#2ca02c", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22")
RC = {"svg.fonttype": "path", "svg.hashsalt": "gdlab", "font.size": 10, "axes.spines.top": False,
      "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3}


def loss_curves(comparison: Comparison, summary: Summary) -> str:
    """Train loss and the test metric of each variant's best config, per epoch and per second."""
    with _style():
        return _svg(curves_figure(comparison, summary), "curves")


def curves_figure(comparison: Comparison, summary: Summary) -> Figure:
    """The figure of loss_curves: rows train loss and test metric; columns per epoch and per second."""
    fig = Figure(figsize=(11, 7.2), layout="constrained")
    axes = fig.subplots(2, 2, sharex="col")  # test metrics from epoch 1 on the train loss's epoch axis
    test = history_name(summary.metric)  # best_test_accuracy: its history is test_accuracy
    losses, metrics = [], []
    for k, v in enumerate(summary.variants):
        loss = curves(comparison, v.batch_size, v.best_learning_rate, "train_loss")
        loss = np.concatenate([np.full((loss.shape[0], 1), v.initial_train_loss), loss], axis=1)
        losses.append(loss)
        metric = curves(comparison, v.batch_size, v.best_learning_rate, test)
        metrics.append(metric)
        label = f"{v.label}, learning rate {v.best_learning_rate:.3g}" + ("" if v.trained else f" ({untrained_text(v)})")
        color = colors(summary)[k]
        for row, values, start in ((0, loss, 0), (1, metric, 1)):
            epochs = np.arange(start, start + values.shape[1])
            _band(axes[row, 0], epochs, values, color, label)
            _band(axes[row, 1], epochs * v.seconds_per_epoch, values, color, label)
    for row, name in ((0, "train loss"), (1, metric_name(test))):
        axes[row, 0].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        axes[row, 0].set_xlabel("epoch (the same samples seen for every variant)")
        axes[row, 1].set_xlabel("training time per config (each variant's median epoch time)")
        axes[row, 1].xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(unit="s"))  # not 0.00025 0.0005 ...
        axes[row, 1].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(6))
        for ax in axes[row]:
            ax.set_ylabel(name)
            ax.tick_params(labelbottom=True)
    starts = [float(loss[0, 0]) for loss in losses if loss.size and np.isfinite(loss[0, 0])]
    _loss_axis(axes[0], losses, starts)
    if "loss" in test:  # a regression's test loss, on the train loss's terms
        _loss_axis(axes[1], metrics, starts)
    if "accuracy" in test:
        for ax in axes[1]:
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    if summary.target is not None:
        for ax in axes[1]:
            ax.axhline(summary.target, color="black", ls="--", lw=1, label=f"target {target_text(test, summary.target)}")
    handles, labels = axes[1, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), fontsize=9)
    fig.suptitle("Each variant at its best learning rate, per epoch (left) and per second of compute (right)\n"
                 "lines: mean over seeds; bands: min to max over seeds")
    return fig


def loss_paths(comparison: Comparison, summary: Summary) -> str:
    """One seed's train loss on all the data along each variant's path at one learning rate (report/noise.py)."""
    with _style():
        return _svg(paths_figure(comparison, summary), "paths")


def paths_figure(comparison: Comparison, summary: Summary) -> Figure:
    """The figure of loss_paths: left every variant at one rate, right each at its own best (where measured); one
    line per variant against epochs, its rises counted in the legend below; a diverged path's last finite point ×."""
    kinds = [kind for kind in ("same", "best") if of_kind(summary.paths, kind)]
    fig = Figure(figsize=(11, 5.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(kinds), sharey=True))
    palette = dict(zip((v.batch_size for v in summary.variants), colors(summary), strict=True))
    stored = {(str(path["kind"]), int(path["batch_size"])): path for path in comparison.paths}
    shown = []
    for ax, kind in zip(axes, kinds, strict=True):
        paths = of_kind(summary.paths, kind)
        for p in paths:
            path = stored[kind, p.batch_size]
            epoch, loss = np.asarray(path["epoch"], float), np.asarray(path["train_loss"], float)
            shown.append(loss[np.isfinite(loss)])
            few = p.every == p.steps_per_epoch  # one measurement an epoch (batch GD): points, under the others
            ax.plot(epoch, loss, "-o" if few else "-", ms=3.5, lw=1.4 if few else 1.1, color=palette[p.batch_size],
                    zorder=1.9 if few else 2.0, label=legend_text(p))
            if not p.finite:  # where it diverged: its last finite measurement
                last = int(np.argmin(np.isfinite(loss))) - 1
                ax.plot(epoch[last], loss[last], "x", ms=9, mew=2, color=palette[p.batch_size])
        rate = same_rate(paths)
        ax.set_title(f"every variant at {rate:.3g}" if kind == "same" and rate is not None else
                     "every variant at about the same rate" if kind == "same" else "each variant at its best rate",
                     fontsize=10)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=summary.epochs > 2, steps=[1, 2, 2.5, 5, 10]))
        ax.set_xlabel("epoch (the same samples seen for every variant)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8, frameon=False)
    _path_axis(axes, np.concatenate(shown) if shown else np.empty(0))
    axes[0].set_ylabel("train loss on all the training data")
    fig.suptitle(f"One seed's path, its train loss measured up to {POINTS} times an epoch")
    return fig


def _path_axis(axes: Any, losses: np.ndarray) -> None:
    """The paths' y axis around their finite losses (a little below the lowest, above the highest), logarithmic
    where they span more than LOG_SPAN: the noise is a small part of the fall, lost on an axis from 0."""
    positive = losses[losses > 0]
    if not positive.size:
        return
    low, high = float(positive.min()), float(positive.max())
    for ax in axes:
        if high / low > LOG_SPAN:
            ax.set_yscale("log")
            ax.set_ylim(low / 1.3, high * 1.3)
        else:
            pad = 0.05 * (high - low) or 0.05 * high
            ax.set_ylim(max(0.0, low - pad), high + pad)


LABELLED_RATES = 16
"""Past this many learning rates the heatmap labels only the best cell and this many of its rates, and
hatches the failed cells instead of a × in each (a 2,500-rate sweep's cells are too narrow for text)."""


ROOM = 1.1
"""A loss axis whose curves all stayed at or below their start ends this many times above it."""
LOG_SPAN = 30.0
"""The U-curve's loss axis is logarithmic when its top (1.6 x the loss before training) is more than this many
times its bottom (0.8 x the lowest final loss): a regression's losses span decades."""
SEED_ROWS = 0.5
"""The diverged seeds of one rate spread over this much of their variant's row of the U-curve's band (rows 1 apart)."""
BAND_INCHES = 0.3
"""The height of a variant's row in the U-curve's band of diverged configs: room for three seeds' x apart."""
RASTERIZED_SEEDS = 1000
"""Past this many configs the U-curve draws its seed marks as one embedded image under the vector mean lines:
a mark costs about 150 bytes of SVG (10,000 took 1.6 MB), the image 10-60 KB whatever the count."""
RASTER_DPI = 150
"""Pixels per inch of that image (sharp at twice the page's scale); vector parts do not depend on it."""


def u_curve(comparison: Comparison, summary: Summary) -> str:
    """Final train loss against learning rate for each batch size; diverged, diverging and collapsed configs marked."""
    with _style():
        return _svg(u_curve_figure(comparison, summary), "ucurve")


def u_curve_figure(comparison: Comparison, summary: Summary) -> Figure:
    """The figure of u_curve, its legend below the axes. A diverged config has no final loss to draw: its seeds'
    × sit in a band of their own above the loss axis, a row per batch size (on the axis, in rows above its top,
    they read as losses)."""
    n = len(summary.variants)
    kinds = {failure(r) for r in comparison.rows}  # the legend names the kinds of failure drawn, no other
    fig = Figure(figsize=(11, 4.6 + (BAND_INCHES * n if "diverged" in kinds else 0.0)), layout="constrained",
                 dpi=RASTER_DPI)
    band = None
    if "diverged" in kinds:
        grid = fig.add_gridspec(2, 1, height_ratios=[BAND_INCHES * n, 4.0])
        ax = fig.add_subplot(grid[1])
        band = fig.add_subplot(grid[0], sharex=ax)
    else:
        ax = fig.subplots()
    rasterized = len(comparison.rows) > RASTERIZED_SEEDS
    start = float(np.mean([r["initial_train_loss"] for r in comparison.rows]))
    finite = [r["final_train_loss"] for r in comparison.rows if failure(r) is None]
    top = start * 1.6
    bottom = min(finite, default=start) * 0.8
    cells = _cells(comparison.rows)
    log = 0 < bottom and top / bottom > LOG_SPAN  # a regression's loss falls decades: on a linear axis it lay flat
    for k, v in enumerate(summary.variants):
        color = colors(summary)[k]
        rates = sorted(lr for size, lr in cells if size == v.batch_size)
        means = [_trained_mean(cells[v.batch_size, lr]) for lr in rates]
        ax.plot(rates, means, "-", color=color, lw=2, label=v.label)  # broken where a seed failed
        alone = _isolated(means)  # a line through one point draws nothing: a short dash instead
        if alone.any():
            ax.plot(np.asarray(rates)[alone], np.asarray(means)[alone], ls="none", marker="_", ms=16, mew=2,
                    color=color)
        _seeds(ax, [r for lr in rates for r in cells[v.batch_size, lr]], color, top, (band, k), rasterized)
    ax.axhline(start, color="grey", ls="--", lw=1)
    ax.text(0.005, start, " loss before training", transform=ax.get_yaxis_transform(), va="bottom",
            fontsize=8, color="grey")
    if band is not None:
        ax.plot([], [], "x", color="black", label="diverged (the band above, a row per batch size)")
        _diverged_band(band, summary)
    if "diverging" in kinds:  # at most the axis's top, as the collapsed marks (the caption says so)
        ax.plot([], [], "^", mfc="none", color="black", label="diverging (still rising at the end)")
    if "collapsed" in kinds:
        ax.plot([], [], "o", mfc="none", color="black", label="collapsed (ended near or above the start)")
    ax.plot([], [], "-", color="grey", lw=2, label="mean over seeds, where every seed trained")
    ax.set_xscale("log")
    if log:
        ax.set_yscale("log")
    ax.set_ylim(bottom, top * 1.05)
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"final train loss after {counted(summary.epochs, 'epoch')}")
    fig.suptitle("Too low a rate barely moves the loss; too high a rate diverges or collapses (dots: seeds)")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(-(-len(labels) // 2), 4), fontsize=8)  # rows of
    # at most 4, filled column by column: of 5 entries, 4 columns paired two long ones and ran past the figure
    return fig


def _diverged_band(band: Any, summary: Summary) -> None:
    """The band of diverged configs: a row per variant (first on top), named on the left; no loss scale."""
    n = len(summary.variants)
    band.set_ylim(n - 0.5, -0.5)
    band.set_yticks(range(n), [v.label for v in summary.variants], fontsize=8)
    band.set_ylabel("diverged", fontsize=8, rotation=0, ha="right", va="center")
    band.tick_params(which="both", labelbottom=False, length=0)
    band.grid(axis="y", visible=False)
    for spine in band.spines.values():
        spine.set_visible(False)


def heatmap(comparison: Comparison, summary: Summary) -> str:
    """Mean final test metric over (batch size, learning rate); failed cells crossed (hatched past
    LABELLED_RATES), missing ones grey."""
    with _style(grid=False):
        return _svg(heatmap_figure(comparison, summary), "heatmap")


def heatmap_figure(comparison: Comparison, summary: Summary) -> Figure:
    """The figure of heatmap: colours over the cells that trained, failed ones in the worst colour."""
    rates = sorted({r["learning_rate"] for r in comparison.rows})
    grid = np.full((len(summary.variants), len(rates)), np.nan)
    failed = np.zeros(grid.shape, bool)
    cells = _cells(comparison.rows)
    for i, v in enumerate(summary.variants):
        for j, lr in enumerate(rates):
            rows = cells.get((v.batch_size, lr), [])
            if rows:
                grid[i, j] = np.mean([r.get(summary.metric, math.nan) for r in rows])
                failed[i, j] = 2 * sum(failure(r) is not None for r in rows) > len(rows)
    fig = Figure(figsize=(11, 1.3 + 0.62 * len(summary.variants)), layout="constrained")
    ax = fig.subplots()
    ax.set_facecolor("#eeeeee")
    cmap = matplotlib.colormaps["viridis" if higher_is_better(summary.metric) else "viridis_r"]
    shown = _shown(grid, failed, summary.metric)
    image = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, aspect="auto", interpolation="none",
                      norm=_norm(grid[~failed & np.isfinite(grid)], summary.metric))
    labelled = len(rates) <= LABELLED_RATES
    for (i, j), value in np.ndenumerate(grid):
        best = _best(summary.variants[i], rates[j])
        if (not math.isnan(value) or failed[i, j]) and (labelled or best):
            ink = "black" if _light(image.to_rgba(shown[i, j])) else "white"
            _cell(ax, i, j, value, bool(failed[i, j]), summary.metric, best, ink)
    if not labelled:
        _hatch(ax, failed)
    ticks = np.unique(np.linspace(0, len(rates) - 1, min(len(rates), LABELLED_RATES)).round().astype(int))
    ax.set_xticks(ticks, [f"{rates[j]:.3g}" for j in ticks], rotation=45)
    ax.set_yticks(range(len(summary.variants)), [v.label for v in summary.variants])
    ax.set_xlabel("learning rate (grey: not in this variant's grid)")
    bar = fig.colorbar(image, ax=ax, label=ranked_name(summary.metric), pad=0.01)
    if "accuracy" in summary.metric:  # in percent, as the cells
        bar.ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    seeds = "one seed" if all(v.seeds == 1 for v in summary.variants) else "mean over seeds"
    ax.set_title(f"{ranked_name(summary.metric).capitalize()} ({seeds}); {'×' if labelled else 'hatched'}: "
                 f"{most_seeds(summary)} {failed_text(summary, one=most_seeds(summary) == 'the seed')}; box: the best rate")
    return fig


def _style(grid: bool = True) -> Any:
    """Matplotlib settings for one figure (restored when the block ends)."""
    settings: Any = {**RC, "axes.grid": grid}
    return matplotlib.rc_context(settings)


def colors(summary: Summary) -> list[str]:
    """One color per variant: red for SGD, dark blue for batch GD, others for the mini-batches."""
    n = max(v.batch_size for v in summary.variants)
    middle = iter(MINI_BATCH_COLORS * len(summary.variants))
    return [SGD_COLOR if v.batch_size == 1 else BATCH_COLOR if v.batch_size == n and n > 1 else next(middle)
            for v in summary.variants]


def _loss_axis(axes: Any, losses: list[np.ndarray], starts: list[float]) -> None:
    """A loss row's y axis from 0.8 x the lowest loss to 1.6 x the highest loss before training (starts), as the
    U-curve's, where some curve rose past 1.05 x it, else to ROOM x it (a third of each panel stood empty above
    the curves); a diverged curve (1e21) leaves it at the top instead of flattening the others at 0; logarithmic
    when that spans more than LOG_SPAN (a regression's loss falls decades: on a linear axis it lay flat)."""
    values = np.concatenate([loss.ravel() for loss in losses]) if losses else np.empty(0)
    if not starts:
        return
    rose = bool(np.any(values[np.isfinite(values)] > 1.05 * max(starts))) or not np.all(np.isfinite(values))
    top = (1.6 if rose else ROOM) * max(starts)
    shown = values[np.isfinite(values) & (values <= top) & (values > 0)]
    bottom = 0.8 * float(np.min(shown)) if shown.size else top / 10
    for ax in axes:
        if top / bottom > LOG_SPAN:
            ax.set_yscale("log")
            ax.set_ylim(bottom, top)
        else:
            ax.set_ylim(min(0.0, bottom), top)


def _band(ax: Any, x: np.ndarray, values: np.ndarray, color: str, label: str) -> None:
    """The seed mean joined over the epochs where it was measured (test_every skips some), and the seeds' range."""
    mean = np.mean(values, axis=0)
    shown = np.isfinite(mean) | np.all(np.isnan(mean))  # a curve never measured still gets its legend entry
    ax.plot(x[shown], mean[shown], "-o", ms=3, color=color, lw=1.8, label=label)
    if values.shape[0] > 1:
        ax.fill_between(x[shown], np.min(values, axis=0)[shown], np.max(values, axis=0)[shown], color=color,
                        alpha=0.18, lw=0)


def _trained_mean(rows: list[dict[str, Any]]) -> float:
    """The seeds' mean final train loss; NaN (no point: the line breaks) where a seed failed (``failure``),
    whose loss says only that the rate failed."""
    if any(failure(r) is not None for r in rows):
        return math.nan
    return float(np.mean([r["final_train_loss"] for r in rows]))


def _isolated(means: list[float]) -> np.ndarray:
    """Where a mean is finite and neither neighbour is: the points a line cannot draw."""
    finite = np.isfinite(np.asarray(means, float))
    before = np.concatenate([[False], finite[:-1]])
    after = np.concatenate([finite[1:], [False]])
    return finite & ~before & ~after


def _cells(rows: list[dict[str, Any]]) -> dict[tuple[int, float], list[dict[str, Any]]]:
    """The rows of each (batch size, learning rate), in one pass (a sweep may have thousands of rates)."""
    cells: dict[tuple[int, float], list[dict[str, Any]]] = {}
    for row in rows:
        cells.setdefault((row["batch_size"], row["learning_rate"]), []).append(row)
    return cells


def _seeds(ax: Any, rows: list[dict[str, Any]], color: str, top: float, band: tuple[Any, int],
           rasterized: bool = False) -> None:
    """One mark per seed: × diverged (in the band's row band[1], the seeds of one rate side by side in it, so 1 of 3
    diverged reads apart from 3 of 3), △ diverging and ○ collapsed (at most top), • trained; one line of marks per
    kind.

    rasterized: the marks as pixels, drawn before (under) every line so all variants' marks make one image.
    """
    points: dict[str | None, tuple[list[float], list[float]]] = {"diverged": ([], []), "diverging": ([], []),
                                                                 "collapsed": ([], []), None: ([], [])}
    crossed: dict[float, int] = {}  # diverged seeds per rate so far
    seeds = max(Counter(row["learning_rate"] for row in rows).values(), default=1)
    for row in rows:
        kind = failure(row)
        rate = row["learning_rate"]
        points[kind][0].append(rate)
        if kind == "diverged":
            crossed[rate] = crossed.get(rate, -1) + 1
            points[kind][1].append(band[1] + SEED_ROWS * (crossed[rate] - (seeds - 1) / 2) / max(seeds - 1, 1))
        else:
            points[kind][1].append(min(row["final_train_loss"], top))
    hollow = {"mfc": "none", "ms": 8, "mew": 1.5}
    style = {"diverged": {"marker": "x", "ms": 6, "mew": 1.8}, "diverging": {"marker": "^", **hollow},
             "collapsed": {"marker": "o", **hollow}, None: {"marker": ".", "ms": 5, "alpha": 0.7}}
    layer = {"rasterized": True, "zorder": 1.9} if rasterized else {}  # lines are at 2
    for kind, (x, y) in points.items():
        if x:
            on = band[0] if kind == "diverged" else ax
            on.plot(x, y, ls="none", color=color, clip_on=kind is None, **style[kind], **layer)  # a mark at the
            # axis's top is drawn whole


def _best(v: VariantSummary, rate: float) -> bool:
    """The variant's best rate (none boxed where no rate of the variant trained)."""
    return v.trained and v.best_learning_rate == rate


def _light(rgba: Any) -> bool:
    red, green, blue = rgba[:3]
    return 0.299 * red + 0.587 * green + 0.114 * blue > 0.55


def _shown(grid: np.ndarray, failed: np.ndarray, metric: str) -> np.ndarray:
    """The colours' values: a failed cell with no finite value takes the worst colour (grey means not trained)."""
    finite = grid[np.isfinite(grid)]
    worst = 0.0 if higher_is_better(metric) else float(np.max(finite, initial=1.0))
    return np.where(failed & ~np.isfinite(grid), worst, grid)


def _norm(good: np.ndarray, metric: str) -> Any:
    """The colour scale over the cells that trained (a diverged loss of 1e30 would flatten the rest).

    Logarithmic for a loss spanning more than two decades; cells past the scale take its end colour.
    """
    if good.size == 0:
        return None
    low, high = float(np.min(good)), float(np.max(good))
    if not higher_is_better(metric) and low > 0 and high > 100 * low:
        return matplotlib.colors.LogNorm(low, high, clip=True)
    return matplotlib.colors.Normalize(low, high if high > low else low + 1e-12, clip=True)


def _hatch(ax: Any, failed: np.ndarray) -> None:
    """Hatch each row's runs of failed cells, a grid too fine for a × per cell; one path for all of them."""
    vertices: list[tuple[float, float]] = []
    for i, row in enumerate(failed):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))  # run starts, stops
        for start, stop in zip(edges[::2] - 0.5, edges[1::2] - 0.5):
            vertices += [(start, i - 0.5), (stop, i - 0.5), (stop, i + 0.5), (start, i + 0.5), (start, i - 0.5)]
    if vertices:
        codes = [matplotlib.path.Path.MOVETO, *[matplotlib.path.Path.LINETO] * 3, matplotlib.path.Path.CLOSEPOLY]
        path = matplotlib.path.Path(vertices, codes * (len(vertices) // 5))
        ax.add_patch(matplotlib.patches.PathPatch(path, fill=False, lw=0, hatch="xx", hatchcolor="white"))


def _cell(ax: Any, i: int, j: int, value: float, failed: bool, metric: str, best: bool, ink: str) -> None:
    """The cell's mean, or × for a failed one (with its accuracy; a failed loss says nothing)."""
    if "accuracy" in metric:
        text = ("× " if failed else "") + (metric_text(metric, value) if math.isfinite(value) else "")  # as the table
    else:
        text = "×" if failed else f"{value:.3g}"
    ax.text(j, i, text.strip(), ha="center", va="center", fontsize=9, color=ink,
            weight="bold" if best else "normal")
    if best:
        ax.add_patch(matplotlib.patches.Rectangle((j - 0.46, i - 0.44), 0.92, 0.88, fill=False, ec=ink, lw=2))


def _svg(fig: Figure, prefix: str) -> str:
    """The figure as an <svg> element for an HTML page: no XML header, namespaces or metadata; ids prefixed."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text, count=2)
    ids = set(re.findall(r'id="([^"]+)"', text))
    text = re.sub(r'id="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r"#([\w.\-]+)(?=[\")])", lambda m: f"#{prefix}-{m[1]}" if m[1] in ids else m[0], text)
    return re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
