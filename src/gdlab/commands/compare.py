"""``gdlab compare``: batch, stochastic and mini-batch gradient descent side by side, with an HTML report.

One sweep per batch size (learning rates x seeds as one vmapped program), the
same budget in epochs for every variant, then the summary table, the conclusion
and the report. Every option is checked before the data is loaded.
"""

from __future__ import annotations

import csv
import math
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.table import Table

import gdlab as gd
from gdlab.commands import hints
from gdlab.commands.data_files import file_record
from gdlab.commands.fit import build_model, load_data, parse_batch_size, parse_hidden
from gdlab.commands.interrupts import INTERRUPTS
from gdlab.commands.loss_paths import with_paths
from gdlab.commands.progress import Bars
from gdlab.core.batching import batch_plan, resolve_batch_size
from gdlab.core.checks import check_choice, check_float_range, check_int_range, check_positive_float
from gdlab.core.stopping import DIVERGED_FACTOR
from gdlab.engine.epoch import METRICS
from gdlab.engine.fused_mlp import KERNELS
from gdlab.engine.result import COLLAPSE_BAND
from gdlab.engine.setup import objective_and_params, seed_keys
from gdlab.engine.sweep import default_layout, param_template, seed_initial_losses
from gdlab.engine.sweep_grid import group_rule, schedule_params, seed_list
from gdlab.engine.sweep_recording import RecordedGroup, sweep_configs
from gdlab.report import Comparison, Summary, conclusion, from_sweep, save, summarize, write_html
from gdlab.report import table as summary_table
from gdlab.report.conclusion import counted, diverged_text, diverging_text
from gdlab.report.noise import summarize_paths
from gdlab.report.of_result import default_metric
from gdlab.report.summary import any_diverging
from gdlab.store.model_text import DEFAULT_ACTIVATION
from gdlab.store.schema import SQLITE_HEADER
from gdlab.store.sweep_recorder import CHECKPOINT_SECONDS

DEFAULT_EPOCHS = 5
DEFAULT_TARGET = 0.5  # test accuracy; a loss target has no default
RATES_PER_VARIANT = 8
RATE_EXPONENT = 0.7
FIRST_RATE_CAP = 1e-2
RATES_RULE = (f"{RATES_PER_VARIANT} per variant, half a decade apart, starting at the first half-decade at or "
              f"above 1e-4 * batch_size^{RATE_EXPONENT:g}, and at {FIRST_RATE_CAP:g} at most: smaller batches have "
              "noisier gradients and need smaller rates, while past some batch size the curvature alone sets the "
              "largest stable rate")


@dataclass(frozen=True)
class CompareOptions:
    """The comparison as given on the command line."""

    dataset: str = "mnist1d"
    target_column: str | None = None  # the target of a .csv/.npz file (None: the last column, or y)
    task: str | None = None  # of a .csv/.npz file (None: whole-number targets are class labels)
    model: str = "mlp"
    hidden: str = "100,100"
    activation: str = "relu"  # recorded since gdlab compare took --activation (a record from before: relu)
    learning_rates: str | None = None  # None: a range per batch size (RATES_RULE)
    batch_sizes: str = "1,32,128,full"
    seeds: int = 3
    epochs: int = DEFAULT_EPOCHS
    target: float | None = None  # None: DEFAULT_TARGET for an accuracy, no target for a loss
    metrics: str = "exact"
    test_every: int = 1  # the test metrics every n-th epoch and at the last
    out: str = "gdlab-compare.html"
    csv: str | None = None
    json_out: str | None = None
    db: str | None = None  # the gdlab database to record the comparison in (the CLI: --db); None: not recorded
    kernel: str = "xla"  # "fused": the fused MLP kernel for each step (a GPU; engine/fused_mlp.py)
    checkpoint_seconds: float = CHECKPOINT_SECONDS  # recorded: the least time between members' checkpoints


def run_compare(options: CompareOptions, *, show_progress: bool, as_json: bool) -> dict[str, Any]:
    """Train every variant, write the report (and CSV/JSON when asked); print the table unless as_json."""
    start = time.perf_counter()
    model = build_model(options.model, options.hidden, options.activation)
    sizes = parse_batch_sizes(options.batch_sizes)
    rates = None if options.learning_rates is None else parse_learning_rates(options.learning_rates)
    seeds = seed_list(options.seeds)
    _check_grid_size(len(rates) if rates is not None else RATES_PER_VARIANT, len(sizes), len(seeds))
    epochs = check_int_range("epochs", options.epochs, 1)
    metrics = check_choice("metrics", options.metrics, METRICS)
    test_every = check_int_range("test_every", options.test_every, 1)
    kernel = check_choice("kernel", options.kernel, KERNELS)
    check_float_range("checkpoint_seconds", options.checkpoint_seconds, 0.0, math.inf)
    if options.db is None and options.checkpoint_seconds != CHECKPOINT_SECONDS:  # it would be ignored
        raise ValueError(f"checkpoint_seconds applies only to a recorded comparison; got checkpoint_seconds="
                         f"{options.checkpoint_seconds:g} with --no-record.")
    target = options.target
    if target is not None and not (isinstance(target, (int, float)) and target > 0):  # before the data is read
        raise ValueError(f"target must be a test accuracy in (0, 1] (classification) or a test loss > 0 "
                         f"(regression); got {target!r}.")
    paths = output_paths(options)
    console = Console(stderr=True)
    store: gd.store.Store | None = None
    try:
        with Bars(show_progress, console) as bars:
            data = bars.step("loading data", lambda: load_data(options.dataset, options.target_column, options.task,
                                                               model=options.model))
            plan = _variants(sizes, rates, data.n_train)
            metric = default_metric(data.task, data.n_test)
            target = _target(target, metric)
            gd.enable_compilation_cache()
            initial = seed_initial_losses(model, data, seeds, kernel=kernel)
            settings = {
                "dataset": data.name, "model": _model_text(options, data), "n_train": data.n_train,
                "n_test": data.n_test, "epochs": epochs, "seeds": seeds, "target": target, "metric": metric,
                "metrics": metrics, "test_every": test_every, "kernel": kernel, "learning_rates": {str(s): g for s, g in plan},
                "rates_rule": RATES_RULE if rates is None else "as given, the same for every variant",
                "diverged_factor": DIVERGED_FACTOR,  # gd.sweep's rule: no --stop
                "gdlab": gd.__version__,
            }
            store = None if options.db is None else gd.store.open(options.db)  # once every option is checked
            recorder = None if store is None else _plan(store, options, model, data, plan, settings, initial)
            sweep_options = {"seeds": seeds, "epochs": epochs, "metrics": metrics, "test_every": test_every,
                             "record": recorder, "kernel": kernel}
            groups = _train_variants(bars, console, model, data, plan, sweep_options, options.db)
            result = gd.SweepResult(groups=tuple(groups))
            comparison = from_sweep(result, settings, initial)
            try:
                comparison, summary = measured_paths(bars, comparison, summarize(comparison), model, data)
            except BaseException as error:  # every config done: gdlab resume measures the paths
                if recorder is not None:
                    recorder.fail_sweep(error)
                    if isinstance(error, KeyboardInterrupt):
                        console.print(paths_interrupted_text(recorder.sweep_id, options.db), style="yellow",
                                      highlight=False, soft_wrap=True)
                        INTERRUPTS.told = True
                raise
            if recorder is not None:  # closed once the paths are in ([] where none was measured)
                recorder.finish({"loss_paths": comparison.paths})
            bars.step("writing the report", lambda: write_outputs(comparison, paths))
    finally:
        if store is not None:
            store.close()
    paths_note: dict[str, Any] = {} if recorder is None else {"sweep_id": recorder.sweep_id, "db": options.db}
    text = conclusion(summary)
    if not as_json:
        print_summary(summary, comparison, text, {**paths, **paths_note})
    return {**comparison_json(summary, comparison, text), **{name: str(p) for name, p in paths.items()},
            **paths_note, "seconds": time.perf_counter() - start}


def measured_paths(
    bars: Bars, comparison: Comparison, summary: Summary, model: gd.Model, data: gd.Dataset
) -> tuple[Comparison, Summary]:
    """The comparison with one seed's loss path per variant (report/noise.py), and its summary (summary's, with the
    paths: nothing else in it depends on them)."""
    comparison = bars.step("one seed's path per variant", lambda: with_paths(comparison, summary, model, data))
    return comparison, replace(summary, paths=summarize_paths(comparison))


def paths_interrupted_text(sweep_id: str, db: str | Path | None) -> str:
    """What to say when Ctrl-C stops a recorded compare whose configs are done while it measures the paths."""
    return f"interrupted: {hints.gdlab(f'resume {sweep_id}', db)} measures the paths and writes the report"


def comparison_json(summary: Summary, comparison: Comparison, text: str) -> dict[str, Any]:
    """What --json says of a comparison (gdlab compare, and gdlab report of a saved file or a sweep id)."""
    return {"settings": comparison.settings, "variants": [asdict(v) for v in summary.variants],
            "first_by_epoch": summary.first_by_epoch, "first_by_second": summary.first_by_second,
            "conclusion": text, "notes": summary_table.edge_notes(comparison, summary),  # as the table and page say
            "paths": [asdict(p) for p in summary.paths]}


def _train_variants(
    bars: Bars, console: Console, model: gd.Model, data: gd.Dataset, plan: list[tuple[int, list[float]]],
    sweep_options: dict[str, Any], db: str | None,
) -> list[Any]:
    """One gd.sweep per variant (batch size, its rates), with its progress bar; on Ctrl-C, say how to go on."""
    groups = []
    try:
        for size, grid in plan:
            def work(callback: Any, size: int = size, grid: list[float] = grid) -> gd.SweepResult:
                return gd.sweep(model, data, learning_rate=grid, batch_size=[size], callback=callback, **sweep_options)

            groups.append(bars.sweep(_label(size, data.n_train, grid), sweep_options["epochs"], work).groups[0])
    except KeyboardInterrupt:  # typer turns it into exit code 130 without a word
        recorder = sweep_options["record"]
        if recorder is not None:
            console.print(interrupted_text(recorder.sweep_id, db), style="yellow", highlight=False, soft_wrap=True)
            INTERRUPTS.told = True
        raise
    return groups


def interrupted_text(sweep_id: str, db: str | Path | None) -> str:
    """What to say when Ctrl-C stops a recorded sweep (typer turns it into exit code 130 without a word)."""
    return f"interrupted: {hints.gdlab(f'resume {sweep_id}', db)} goes on with the unfinished configs"


def _plan(
    store: gd.store.Store, options: CompareOptions, model: gd.Model, data: gd.Dataset,
    plan: list[tuple[int, list[float]]], settings: dict[str, Any], initial: dict[int, float],
) -> gd.store.SweepRecorder:
    """Record the comparison as one sweep, with every config of every variant as a member from the start."""
    loss = objective_and_params(model, data, None, None, seed_keys(np.uint32(0))[0])[2]
    dtype = jnp.result_type(*jax.tree.leaves(param_template(model, data, None, None, None, settings["kernel"])))
    common = {"epochs": settings["epochs"], "nesterov": False, "weight_decay": 0.0, "metrics": settings["metrics"],
              "test_every": settings["test_every"], "loss": loss, "compute_dtype": "float32",
              "kernel": settings["kernel"]}  # as gd.sweep records them (it rewrites each member as it trains)
    members, grids = [], []
    for size, grid in plan:
        steps = settings["epochs"] * batch_plan(data.n_train, size).steps
        label, fn, numbers = schedule_params("constant", "constant", grid, steps)
        group = RecordedGroup(size, label, group_rule(fn, numbers, [0.0], False, 0.0), numbers,
                              default_layout(len(grid), size)[1])
        config, part = sweep_configs(model, data, [group], [0.0], settings["seeds"], common, None, dtype)
        members += part
        grids.append(config)
    config = {**grids[0], "batch_size": [s for s, _ in plan], "learning_rate": settings["learning_rates"],
              "settings": settings}
    extra = {"cli": asdict(options), **file_record(options.dataset)}  # resume finds the file from any folder
    recorder = store.sweep_recorder("compare", extra=extra, finish_on_end=False,
                                    checkpoint_seconds=options.checkpoint_seconds)
    recorder.plan(config, members, {"initial_train_loss": {str(k): v for k, v in initial.items()}})
    return recorder


def run_report(path: str, out: str, *, as_json: bool) -> dict[str, Any]:
    """Write the HTML report of a saved comparison (gdlab compare --json-out); print its table unless as_json."""
    from gdlab.report import load

    target = output_path("out", out, HTML_SUFFIXES, others={"ID_OR_FILE": path})
    try:
        comparison = load(path)
    except ValueError as err:  # the library's path is gdlab report's ID_OR_FILE, as --help shows it
        raise ValueError(re.sub(r"^path\b", "ID_OR_FILE", str(err))) from None
    try:  # load checked the file's outline; a field the report reads may still be missing or of another type
        summary = summarize(comparison)
        write_html(comparison, target)
        text = conclusion(summary)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as err:
        raise ValueError(f"ID_OR_FILE {path!r} is damaged: the report failed on it with {type(err).__name__}: {err}.") \
            from None
    if not as_json:
        print_summary(summary, comparison, text, {"out": target})
    return {"out": str(target), **comparison_json(summary, comparison, text)}


def default_learning_rates(batch_size: int, n: int = RATES_PER_VARIANT) -> list[float]:
    """n rates half a decade apart from the first half-decade >= 1e-4 * batch_size^0.7, at most 0.01.

    On MNIST-1D's MLP (5 epochs, 3 seeds) most seeds failed from 0.316 for SGD, from 3.16-10 for
    mini-batch 32, from 10 for mini-batch 128 and from 3.16 for batch GD: the largest stable rate
    grows with the batch, then stops. SGD's grid runs 1e-4 to 0.316, mini-batch 32's and 128's
    0.00316 to 10, batch GD's 0.01 to 31.6, so the largest rates of each fail and the smallest are slow.
    """
    first = math.ceil(2 * math.log10(1e-4 * batch_size**RATE_EXPONENT) - 1e-9)
    first = min(first, round(2 * math.log10(FIRST_RATE_CAP)))
    return [float(10 ** ((first + i) / 2)) for i in range(n)]


def parse_learning_rates(text: str) -> list[float]:
    """'lo:hi:n' (n log-spaced rates, both ends included) or a comma-separated list of rates."""
    wrong = (f"learning_rates must be lo:hi:n (such as 1e-3:3:8) or a comma-separated list of rates > 0; "
             f"got {text!r}.")
    parts = text.split(":")
    try:
        if len(parts) == 3:
            low, high, n = float(parts[0]), float(parts[1]), int(parts[2])
        elif len(parts) == 1:
            rates = [float(p) for p in text.split(",")]
        else:
            raise ValueError
    except ValueError:
        raise ValueError(wrong) from None
    if len(parts) == 3:
        _check_range(text, low, high, n)
        rates = gd.logspace(low, high, n)
    for i, rate in enumerate(rates):
        check_positive_float(f"learning_rates[{i}]", rate)
    if len(set(rates)) != len(rates):
        raise ValueError(f"learning_rates must not repeat a value; got {text!r}.")
    return rates


MAX_CONFIGS = 10_000
"""The most configs a comparison trains and records: 1e-3:1:100000 started 1,200,000 (a 2 GB --db within minutes);
gd.sweep trains any number from Python."""


def _check_grid_size(rates: int, sizes: int, seeds: int) -> None:
    """learning rates x batch sizes x seeds, at most MAX_CONFIGS."""
    configs = rates * sizes * seeds
    if configs > MAX_CONFIGS:
        raise ValueError(f"learning_rates x batch_sizes x seeds must be at most {MAX_CONFIGS:,} configs for a "
                         f"comparison; got {rates:,} x {sizes:,} x {seeds:,} = {configs:,} (gd.sweep trains any number "
                         "from Python).")


def _check_range(text: str, low: float, high: float, n: int) -> None:
    """lo:hi:n read as numbers: 0 < lo, lo below hi (lo equal to hi for n = 1), hi finite, n >= 1."""
    form = "learning_rates must be lo:hi:n, n log-spaced rates from lo up to hi"
    if not (0 < low < math.inf and 0 < high < math.inf):
        raise ValueError(f"{form}, with lo and hi > 0 and finite; got {text!r}.")
    if n < 1:
        raise ValueError(f"{form}, with n >= 1; got {text!r}.")
    if n == 1 and low != high:
        raise ValueError(f"{form}: with n = 1 (one rate), lo must equal hi; got {text!r} (or give n >= 2).")
    if low > high:
        raise ValueError(f"{form}: the low end lo must be below the high end hi; got {text!r} (lo {low:g} > hi "
                         f"{high:g}: write {high:g}:{low:g}:{n}).")
    if n > 1 and low == high:
        raise ValueError(f"{form}: with n > 1, lo must be below hi (or the rates repeat); got {text!r}.")


def parse_batch_sizes(text: str) -> list[int | str]:
    """'1,32,128,full' -> [1, 32, 128, 'full'] (checked against the data later)."""
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    if not parts:
        raise ValueError(f"batch_sizes must list at least one batch size such as 1,32,128,full; got {text!r}.")
    if "" in parts:
        raise ValueError(f"batch_sizes must be comma-separated batch sizes such as 1,32,128,full, none of them "
                         f"empty; got {text!r}.")
    sizes = [parse_batch_size(p) for p in parts]
    for size in sizes:
        if isinstance(size, int) and size < 1:
            raise ValueError(f"batch_sizes must hold integers >= 1 or 'full'; got {text!r}.")
    return sizes


def _variants(sizes: list[int | str], rates: list[float] | None, n_train: int) -> list[tuple[int, list[float]]]:
    """(batch size, its learning rates) per variant, smallest batch first; repeats refused."""
    resolved = sorted(resolve_batch_size(s, n_train) for s in sizes)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"batch_sizes must not repeat a batch size ('full' is {n_train}); got {sizes!r}.")
    return [(s, list(rates) if rates is not None else default_learning_rates(s)) for s in resolved]


def _target(target: float | None, metric: str) -> float | None:
    if "accuracy" not in metric:
        return target
    if target is None:
        return DEFAULT_TARGET
    if target > 1:
        raise ValueError(f"target must be a test accuracy in (0, 1]; got {target!r}.")
    return target


HTML_SUFFIXES = (".html", ".htm")
"""What a report's file name ends in (--out)."""


def output_path(
    name: str, value: str, suffixes: tuple[str, ...] = (), others: dict[str, str | Path | None] | None = None
) -> Path:
    """value as a file to write: a path in an existing directory (ending in one of suffixes, when given),
    and none of the files in others (option name -> path; None: not given), which writing it would destroy."""
    path = Path(value)
    if value == "-":  # not standard output: a file named '-' was written
        raise ValueError(f"{name} must be a file path; got '-' (writing to standard output is not supported).")
    if not value or path.is_dir() or not path.parent.is_dir():
        why = "empty" if not value else "a directory" if path.is_dir() else f"no directory {str(path.parent)!r}"
        raise ValueError(f"{name} must be a file path in an existing directory; got {value!r} ({why}).")
    for other, taken in (others or {}).items():
        if taken is not None and str(taken) and Path(taken).resolve() == path.resolve():
            raise ValueError(f"{name} must be another file than {other}; got {str(path)!r} for both.")
    if path.is_file():
        with path.open("rb") as f:
            if f.read(len(SQLITE_HEADER)) == SQLITE_HEADER:  # a run store (--no-record still wrote over it)
                raise ValueError(f"{name} must not be an SQLite database, which writing would destroy; got {value!r}.")
    if suffixes and path.suffix.lower() not in suffixes:  # after the files it would destroy: those say more
        raise ValueError(f"{name} must end in {' or '.join(suffixes)}; got {value!r}.")
    _check_writable(name, path)
    return path


def _check_writable(name: str, path: Path) -> None:
    """Opening path to append (nothing written; a file made here is removed) says now, before any training,
    whether it can be written at the end."""
    existed = path.exists()
    try:
        with path.open("a"):
            pass
    except OSError as err:
        raise ValueError(f"{name} must be a file this user can write; got {str(path)!r} ({err.strerror}).") from None
    if not existed:
        path.unlink()


def _model_text(options: CompareOptions, data: gd.Dataset) -> str:
    """'MLP 40-100-100-10' (inputs, hidden sizes, outputs), with an activation other than relu after it."""
    if options.model != "mlp":
        return options.model
    sizes = [data.input_shape[-1], *parse_hidden(options.hidden), data.outputs]
    activation = "" if options.activation == DEFAULT_ACTIVATION else f" {options.activation}"
    return "MLP " + "-".join(str(s) for s in sizes) + activation


def _label(size: int, n_train: int, grid: list[float]) -> str:
    from gdlab.report import variant_label

    rates = f"learning rate {grid[0]:.3g}" if len(grid) == 1 else f"learning rates {grid[0]:.3g} to {grid[-1]:.3g}"
    return f"{variant_label(size, n_train):<22} {rates}"


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """One line per config; columns are every key of any row (a config that diverged in its first
    epoch may have no final metrics), blank where a row has none."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="", lineterminator="\n")  # as gdlab runs export
        writer.writeheader()
        writer.writerows(rows)
    return path


def output_paths(options: CompareOptions) -> dict[str, Path]:
    """The files to write (out, csv, json_out), each checked: its own file, writable, not the database (the
    report was written over it)."""
    paths: dict[str, Path] = {}
    suffixes = {"out": HTML_SUFFIXES, "csv": (".csv",), "json_out": (".json",)}  # x.txt was taken for a report
    for name, value in (("out", options.out), ("csv", options.csv), ("json_out", options.json_out)):
        if value is not None:
            paths[name] = output_path(name, value, suffixes[name], others={"db": options.db, **paths})
    return paths


def write_outputs(comparison: Comparison, paths: dict[str, Path]) -> None:
    """The report, and the CSV and JSON files where asked for."""
    write_html(comparison, paths["out"])
    if "csv" in paths:
        write_csv(comparison.rows, paths["csv"])
    if "json_out" in paths:
        save(comparison, paths["json_out"])


def _stdout() -> Console:
    """The console for the table: a terminal's width, else 150 columns (pipes, files, tests)."""
    console = Console()
    return console if console.is_terminal else Console(width=150)


def print_summary(summary: Summary, comparison: Comparison, text: str, paths: dict[str, Any]) -> None:
    """The table, the notes under it, the conclusion and the files written, on standard output."""
    console = _stdout()
    s = comparison.settings
    grid = Table(title=f"gdlab compare: {s['model']} on {s['dataset']}, {counted(summary.epochs, 'epoch')} for every "
                 f"variant ({summary.epochs * int(s['n_train'])} samples seen), {counted(len(s['seeds']), 'seed')}")
    for k, header in enumerate(summary_table.headers(summary)):  # the variant, and the metric's "61.3% ± 2.1%" whole
        grid.add_column(header, justify="left" if k == 0 else "right", no_wrap=k in (0, 4))
    for row in summary_table.cells(summary):
        grid.add_row(*row)
    console.print(grid)
    for note in summary_table.edge_notes(comparison, summary):
        console.print(note, highlight=False)
    console.print(f"learning rates: {s['rates_rule']}.", highlight=False)
    seconds = ("" if summary.target is None else  # no target: no seconds column
               "seconds: each variant's median epoch time over its configs (compile time left out); ")
    rising = any_diverging(summary)
    diverging = "" if not rising else f"; diverging: {diverging_text()}"
    console.print(f"{seconds}diverged: {diverged_text(summary.diverged_factor)}; collapsed: final train loss >= "
                  f"the loss before training, or within {COLLAPSE_BAND:.0%} below it after rising above it"
                  f"{', not diverging' if rising else ''}{diverging}.", highlight=False)
    console.print()
    console.print(text, highlight=False)
    console.print()
    for name, path in paths.items():
        console.print(f"{name}: {path}", highlight=False)
