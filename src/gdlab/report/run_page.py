"""The report of one run as a self-contained HTML page: status, summary, curves per epoch and per second, config.

The run is given as plain data (the store's record as a dict, and its history),
so the page does not depend on where it came from.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from gdlab.core.shortest import shortest_floats
from gdlab.report.html import figure, page, td
from gdlab.report.plots import _style, _svg
from gdlab.store.model_text import recorded_model_text
from gdlab.store.records import flat_config
from gdlab.store.seconds_text import TRAIN_SECONDS, seconds_text

LOSSES = ("train_loss", "test_loss")
DIAGNOSTICS = {
    "learning_rate": "learning rate (of the epoch's last update)",
    "grad_norm": "gradient norm |G| on all training data",
    "sharpness": "sharpness: top Hessian eigenvalue",
    "noise_scale": "gradient noise scale B_simple",
    "device_noise_scale": "gradient noise scale B_simple from per-device gradients (data parallel)",
}


def render_run(run: dict[str, Any], history: dict[str, np.ndarray], sweep: dict[str, Any] | None = None) -> str:
    """The page of a run: run holds id, status, reason, model, dataset, config, ...; history: name -> per epoch.

    sweep, for a sweep's member: the sweep's id, kind, status, the member's position and the number of
    configs, its grid (batch_size, learning_rate, ...: the values swept) and report (the command that
    writes the sweep's report).
    """
    model = recorded_model_text(run.get("model"), run.get("config", {}))
    title = f"gdlab run {run['id']}: {model} on {run.get('dataset', '')}"
    sections = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(_subtitle(run))}</p>',
        *([] if sweep is None else [_membership(sweep)]),
        f'<p class="{_verdict_class(run)}">{escape(_verdict(run))}</p>',
        "<h2>Summary</h2>", _summary(history, SECONDS[sweep is not None]),
    ]
    if not any(np.isfinite(history.get(name, [])).any() for name in LOSSES) and len(history.get("train_loss", [])):
        sections.append("<p>No finite loss was recorded: the run diverged in its first epoch (see above).</p>")
    elif history.get("train_loss") is not None and len(history["train_loss"]):
        member = sweep is not None
        drawn = curves(history, SECONDS[member], run.get("initial_loss"))
        sections += [f"<h2>{_curves_title(history)}</h2>", figure(drawn, _CURVES[member])]
        tracked = [name for name in DIAGNOSTICS if name in history and np.isfinite(history[name]).any()]
        if tracked:
            sections += ["<h2>Diagnostics</h2>", figure(diagnostics(history, tracked), _diagnostics_caption(tracked))]
    else:
        sections.append("<p>No epoch was recorded.</p>")
    sweep_row = [] if sweep is None else [["sweep_id", str(sweep["id"])]]
    sections += ["<h2>Configuration</h2>", table(["setting", "value"], sweep_row + _config_rows(run))]
    return page(title, "\n".join(sections))


SECONDS = (TRAIN_SECONDS, f"{TRAIN_SECONDS} of its vmapped group (all its configs together)")
"""The time's name on a run's page, and on a sweep member's, whose history holds its group's wall time."""
_CURVES = ("Left: per epoch. Right: the same curves against the run's wall-clock seconds (compiling left out).",
           ("Left: per epoch. Right: the same curves against the wall-clock seconds of the vmapped program that "
            "trained this config together with the other configs of its batch size (compiling left out), not "
            "this config's share of them."))
"""The curves' captions (a run's, a sweep member's): how to read them; no claim about batch sizes, which one
run cannot show (a batch GD run's page said an epoch of many small updates costs more)."""


def _curves_title(history: dict[str, np.ndarray]) -> str:
    """'Loss and accuracy' where curves draws a test accuracy, else 'Loss' (a regression has none)."""
    return "Loss and accuracy" if _has_accuracy(history) else "Loss"


def _has_accuracy(history: dict[str, np.ndarray]) -> bool:
    return "test_accuracy" in history and bool(np.isfinite(history["test_accuracy"]).any())


def _diagnostics_caption(tracked: list[str]) -> str:
    """What the diagnostics figure shows: the rate and gradient norm every epoch; sharpness and the noise
    scale only where tracked."""
    parts = ["Measured after each epoch"]
    if {"sharpness", "noise_scale", "device_noise_scale"} & set(tracked):
        parts.append("; sharpness and the noise scale only after the epochs where they were tracked (gd.fit "
                     "track_sharpness, track_noise_scale)")
    if {"noise_scale", "device_noise_scale"} & set(tracked):
        parts.append("; B_simple is the batch size above which larger batches buy little (McCandlish et al. 2018)")
    return "".join(parts) + "."


def curves(history: dict[str, np.ndarray], seconds_name: str = SECONDS[0], initial_loss: float | None = None) -> str:
    """Losses (top) and test accuracy (bottom, when recorded) per epoch (left) and per second (right, its axis
    named seconds_name); the train loss starts at epoch 0 and second 0 from initial_loss, the loss before
    training, where it is known (as the compare report's curves do)."""
    start = initial_loss is not None and bool(np.isfinite(initial_loss))
    accuracy = _has_accuracy(history)
    rows = 2 if accuracy else 1
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    seconds = history.get("wall_time", np.full(len(epochs), np.nan))
    with _style():
        fig = Figure(figsize=(11, 3.8 * rows), layout="constrained")
        axes = np.atleast_2d(fig.subplots(rows, 2))
        for x, col, label in ((epochs, 0, "epoch"), (seconds, 1, seconds_name)):
            for name in LOSSES:
                if name in history and np.isfinite(history[name]).any():
                    shown = np.isfinite(history[name])  # joined over the measured epochs (test_every)
                    xs, ys = x[shown], history[name][shown]
                    if start and name == "train_loss":
                        xs, ys = np.concatenate([[0], xs]), np.concatenate([[initial_loss], ys])
                    axes[0, col].plot(xs, ys, "-o", ms=3, label=name.replace("_", " "))
            axes[0, col].set_xlabel(label)
            axes[0, col].set_ylabel("loss")
            if _spans_decades(history):
                axes[0, col].set_yscale("log")
            if accuracy:
                shown = np.isfinite(history["test_accuracy"])
                axes[1, col].plot(x[shown], history["test_accuracy"][shown], "-o", ms=3, color="#2ca02c",
                                  label="test accuracy")
                axes[1, col].yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
                axes[1, col].set_xlabel(label)
                axes[1, col].set_ylabel("test accuracy")
        broke = np.flatnonzero(~np.isfinite(np.asarray(history["train_loss"], np.float64)))
        if broke.size:  # the epoch whose loss became non-finite, on both axes
            marks = [(0, epochs)] + ([(1, seconds)] if np.isfinite(seconds[broke[0]]) else [])
            for col, x in marks:
                axes[0, col].axvline(x[broke[0]], color="#b00020", ls=":", lw=1.5,
                                     label=f"diverged (epoch {broke[0] + 1}: non-finite loss)")
        for ax in axes[:, 0]:
            _epoch_axis(ax, len(epochs), start)
        axes[0, 0].legend(fontsize=9)
        return _svg(fig, "run-curves")


def diagnostics(history: dict[str, np.ndarray], names: list[str]) -> str:
    """Each tracked diagnostic per epoch (markers only where measured)."""
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    with _style():
        fig = Figure(figsize=(11, 2.8 * len(names)), layout="constrained")
        axes = np.atleast_1d(fig.subplots(len(names), 1, squeeze=False)[:, 0])
        for ax, name in zip(axes, names):
            values = np.asarray(history[name], np.float64)
            measured = np.isfinite(values)
            ax.plot(epochs[measured], values[measured], "-o", ms=4)
            low, high = history.get(f"{name}_low"), history.get(f"{name}_high")
            if low is not None and high is not None:
                ax.fill_between(epochs[measured], np.asarray(low)[measured], np.asarray(high)[measured], alpha=0.2,
                                lw=0, label="bootstrap interval")
                ax.legend(fontsize=8)
            ax.set_ylabel(name)
            ax.set_title(DIAGNOSTICS[name], fontsize=10)
            _epoch_axis(ax, len(epochs))
        axes[-1].set_xlabel("epoch")
        return _svg(fig, "run-diagnostics")


def table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(td(c) for c in row) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>{body}</tbody>\n</table>"


def number(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}" if math.isfinite(value) else str(float(value))
    return "-" if value is None else str(value)


def _verdict_class(run: dict[str, Any]) -> str:
    """The banner's colour: green for a run that ended well, red for diverged or failed, amber for one not ended."""
    status = str(run["status"])
    return "conclusion" + (" bad" if status in ("diverged", "failed") else
                           " open" if status in ("running", "interrupted", "stalled") else "")


def _verdict(run: dict[str, Any]) -> str:
    """'status: reason', once: a recorded reason starts with its status ('diverged: non-finite loss ...')."""
    status, reason = str(run["status"]), str(run.get("reason") or "-")
    return reason if reason.startswith(f"{status}:") else f"{status}: {reason}"


def _epoch_axis(ax: Any, epochs: int, from_zero: bool = False) -> None:
    """Whole epochs 1..epochs (0..epochs from_zero: the loss before training drawn), half an epoch of margin
    (one epoch is not 0.95 to 1.05)."""
    ax.set_xlim(-0.5 if from_zero else 0.5, epochs + 0.5)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def _membership(sweep: dict[str, Any]) -> str:
    """Which sweep the run is a member of, the values it swept, and how to get the sweep's report."""
    grid = "; ".join(f"{name} {json.dumps(shortest_floats(values))}" for name, values in sweep["grid"].items())
    by = ", recorded by gdlab compare" if sweep["kind"] == "compare" else ""
    text = (f"A member of sweep {sweep['id']} ({sweep['status']}{by}): config {sweep['position'] + 1} of its "
            f"{sweep['configs']}, which swept {grid}. The sweep's report: ")
    return f'<p class="sub">{escape(text)}<code>{escape(sweep["report"])}</code></p>'


def _subtitle(run: dict[str, Any]) -> str:
    config = run.get("config", {})
    parts = [f"{run.get('epochs_run', '?')} of {run.get('epochs', '?')} epochs ({run.get('steps_run', '?')} updates)",
             f"batch_size {config.get('batch_size', '?')}", f"seed {run.get('seed', '?')}",
             f"recorded {run.get('created_at', '?')}"]
    return "; ".join(parts) + "."


def _summary(history: dict[str, np.ndarray], seconds_name: str) -> str:
    rows = []
    for name, values in history.items():
        if name in ("epoch_time", "wall_time") or not len(values):
            continue
        v = np.asarray(values, np.float64)
        finite = np.isfinite(v)
        pick = np.nanargmax if "accuracy" in name else np.nanargmin
        best = int(pick(np.where(finite, v, np.nan))) if finite.any() else None
        rows.append([name, number(float(v[-1])), "" if name == "learning_rate"  # a rate has no best
                     else "-" if best is None else f"{number(float(v[best]))} (epoch {best + 1})"])
    if "wall_time" in history and len(history["wall_time"]):
        rows.append([seconds_name, seconds_text(float(history["wall_time"][-1])), ""])
    return table(["metric", "last epoch", "best (epoch)"], rows)


def _config_rows(run: dict[str, Any]) -> list[list[str]]:
    rows = [[key, number(run.get(key))] for key in ("id", "kind", "status", "dataset_fingerprint", "gdlab_version",
                                                    "jax_version", "device") if key in run]
    shown = {row[0] for row in rows}
    for key, value in flat_config(run.get("config", {})).items():
        if key not in shown:  # the config repeats dataset_fingerprint
            rows.append([key, value if isinstance(value, str) else json.dumps(shortest_floats(value))])
    return rows




def _spans_decades(history: dict[str, np.ndarray]) -> bool:
    values = np.concatenate([np.asarray(history[n], np.float64) for n in LOSSES if n in history])
    finite = values[np.isfinite(values)]
    return bool(len(finite)) and finite.min() > 0 and finite.max() >= 100 * finite.min()
