"""``gdlab find-lr`` and ``gdlab noise-scale``: the learning-rate finder and batch-size guidance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import gdlab as gd
from gdlab.commands import hints
from gdlab.commands.compare import output_path
from gdlab.commands.fit import DEFAULT_BATCH_SIZE, build_model, load_data, parse_batch_size
from gdlab.commands.interrupts import INTERRUPTS
from gdlab.commands.progress import Bars
from gdlab.core.checks import check_int_range
from gdlab.engine.noise_scale import default_batches
from gdlab.engine.setup import seed_params

PLOT_SUFFIXES = (".png", ".svg")


def run_find_lr(
    *, dataset: str, target: str | None = None, task: str | None = None, model: str, hidden: str,
    batch_size: int | str | None = None, seeds: int, min_lr: float, max_lr: float,
    steps: int, validate_epochs: int, plot: str | None, as_json: bool, db: str | None = None,
    show_progress: bool = False, momentum: float = 0.0, activation: str = "relu",
) -> dict[str, Any]:
    """Run the range test and its validation; print a table, optionally save the plot; record it in db.

    batch_size None is gdlab fit's default: 32, or all training samples when fewer.
    """
    from gdlab.report.conclusion import counted
    from gdlab.report.finder import validation_json

    batch_size = parse_batch_size(batch_size)  # 'full' as in gdlab fit
    net = build_model(model, hidden, activation)
    plot_path = None if plot is None else output_path("plot", plot, PLOT_SUFFIXES, others={"db": db})  # before it runs
    store = None if db is None else gd.store.open(db)
    try:
        data = load_data(dataset, target, task, model=model)
        if batch_size is None:
            batch_size = min(DEFAULT_BATCH_SIZE, data.n_train)
        gd.enable_compilation_cache()
        with Bars(show_progress) as bars:
            tasks = {"range test": bars.add(f"range test: {steps} steps x {seeds} seeds", 1),
                     "validation": bars.add("validating the suggestions", validate_epochs)}

            def callback(stage: str, done: int, total: int) -> None:  # validation: the epochs of all its sweeps
                INTERRUPTS.check()  # a Ctrl-C Python dropped (commands/interrupts.py)
                sweeps = counted(total // validate_epochs, "sweep") + f" of {counted(validate_epochs, 'epoch')}"
                bars.bar.update(tasks[stage], completed=done, total=total,
                                status=sweeps if stage == "validation" else "")

            try:
                result = gd.find_learning_rate(net, data, batch_size=batch_size, seeds=seeds, min_lr=min_lr,
                                               max_lr=max_lr, steps=steps, validate_epochs=validate_epochs,
                                               momentum=momentum, record=store, callback=callback)
            except KeyboardInterrupt:  # typer turns it into exit code 130 without a word
                Console(stderr=True).print(interrupted_text(db), style="yellow", highlight=False, soft_wrap=True)
                INTERRUPTS.told = True
                raise
    finally:
        if store is not None:
            store.close()
    summary = {
        "suggestion": result.suggestion,
        "interval": list(result.interval),
        "suggestions": {k: {"value": s.value, "per_seed": list(s.per_seed)} for k, s in result.suggestions.items()},
        "validation": validation_json(result.validation),
        "batch_size": batch_size,
        "momentum": momentum,
        "seeds": seeds,
    }
    if store is not None:
        summary |= {"run_id": store.last_run_id, "db": str(db)}
    if plot_path is not None:
        summary["plot"] = str(save_finder_plot(result, plot_path))
    if not as_json:
        from gdlab.report.finder import (
            seeds_spread_text,
            suggestion_notes,
            suggestion_text,
            validation_cells,
            validation_notes,
        )

        table = Table(title=f"gdlab find-lr ({data.name}, batch_size {batch_size}, {seeds} seeds)")
        for column in ("rule", "suggestion", "spread over seeds"):
            table.add_column(column)
        for rule, s in result.suggestions.items():  # NaN: no rate in the range (suggestion_notes says why)
            table.add_row(rule, suggestion_text(s, _short), seeds_spread_text(s, _short))
        low, high = result.interval
        within = f"{low:.3g} .. {high:.3g} (within one std)" if high > low else "no other candidate within one std"
        table.add_row("validated", f"{result.suggestion:.3g}", within, style="bold")
        Console().print(table)
        for note in suggestion_notes(result):
            Console().print(note, highlight=False)
        cells = validation_cells(result)
        Console().print(validation_table(cells, validate_epochs))
        for note in validation_notes(cells):
            Console().print(note, highlight=False)
        if "plot" in summary:  # as gdlab compare names what it wrote
            Console().print(f"plot: {summary['plot']}", highlight=False, soft_wrap=True)
        if store is not None:
            Console().print(f"recorded as run {store.last_run_id} in {db} "
                            f"({hints.gdlab(f'report {store.last_run_id}', db)} writes its report)", highlight=False)
    return summary


def _short(value: float) -> str:
    return f"{value:.3g}"


def interrupted_text(db: str | None) -> str:
    """What to say when Ctrl-C stops the finder: it is recorded in one transaction once it ends, so nothing is."""
    if db is None:
        return "interrupted: nothing to record (--no-record)"
    return f"interrupted: nothing recorded in {db} (a finder is recorded only once it ends)"


def validation_table(cells: list[list[str]], epochs: int) -> Table:
    """The candidates' short sweep (report.finder.validation_cells): mean and std of the last epoch's train loss,
    'diverged' where a seed blew up."""
    from gdlab.report.conclusion import counted
    from gdlab.report.finder import VALIDATION_HEADERS
    from gdlab.report.table import Failed

    table = Table(title=f"validation: {counted(epochs, 'epoch')} per candidate")
    for k, column in enumerate(VALIDATION_HEADERS):
        table.add_column(column, justify="left" if k == len(VALIDATION_HEADERS) - 1 else "right")
    for row in cells:
        table.add_row(*row, style="red" if isinstance(row[1], Failed) else "bold" if row[3] else None)
    return table


def save_finder_plot(result: Any, path: Path, seeds: list[int] | None = None) -> Path:
    """Each seed's smoothed loss against the learning rate (log axis), with the suggestions marked (PNG or SVG)."""
    from gdlab.report import finder_figure

    finder_figure(result, seeds).savefig(path)
    return path


def run_noise_scale(
    *, dataset: str, target: str | None = None, task: str | None = None, model: str, hidden: str,
    activation: str = "relu", seed: int, small_batch: int | None = None, big_batch: int | None = None, batches: int,
    learning_rate: float | None, batch_size: int | str | None, as_json: bool, show_progress: bool = False,
) -> dict[str, Any]:
    """B_simple at the model's initial params (seeded), its interval and the recommendations (small_batch and
    big_batch None: noise_batches' defaults for the data)."""
    batch_size = parse_batch_size(batch_size)  # 'full': the rate was tuned for batch GD (all samples)
    net = build_model(model, hidden, activation)
    check_int_range("seed", seed, 0, 2**32 - 1)  # before seeding (10**20 was an OverflowError traceback)
    data = load_data(dataset, target, task, model=model)
    small_batch, big_batch = noise_batches(small_batch, big_batch, data, dataset)
    gd.enable_compilation_cache()
    params = seed_params(net, data, seed)
    with Bars(show_progress) as bars:
        r = bars.step(f"measuring B_simple: {batches} batches of {small_batch} and of {big_batch}",
                      lambda: gd.noise_scale(net, params, data, small_batch, big_batch, batches=batches, seed=seed,
                                             learning_rate=learning_rate, batch_size=batch_size))
    summary = {**r._asdict(), "interval": list(r.interval)}
    if not as_json:
        table = Table(title="gdlab noise-scale", show_header=False)
        if r.note is not None:  # non-finite gradients: no B_simple, no recommendation
            table.add_row("B_simple = tr(Sigma)/|G|^2", r.note)
        else:
            table.add_row("B_simple = tr(Sigma)/|G|^2",
                          f"{r.b_simple:.4g} ({r.interval[0]:.4g} .. {r.interval[1]:.4g})")
            table.add_row("recommended batch_size", str(r.recommended_batch_size))
        if r.recommended_learning_rate is not None:
            table.add_row("recommended learning_rate",
                          f"{r.recommended_learning_rate:.4g} (linear scaling; use a warmup)")
        table.add_row("measured", f"{r.batches} batches of {r.small_batch} and of {r.big_batch}")
        Console().print(table)
    return summary


def noise_batches(small: int | None, big: int | None, data: gd.Dataset, dataset: str) -> tuple[int, int]:
    """The two batch sizes noise-scale measures at (``engine.noise_scale.default_batches``), with data too small for
    any pair named by the --dataset given."""
    n = data.n_train
    if n < 2:
        raise ValueError(f"dataset {dataset!r} has {n} training sample{'' if n == 1 else 's'}; noise-scale compares "
                         "gradients at two batch sizes, a smaller and a larger one, so it needs at least 2 (give a "
                         "data set with more rows).")
    return default_batches(small, big, n)
