"""``gdlab fit``: parse the options, train with progress, print the summary."""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, overload

import jax
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import gdlab as gd
from gdlab.commands import hints
from gdlab.commands.data_files import check_unchanged, file_record, is_file
from gdlab.commands.data_messages import in_cli_words
from gdlab.commands.interrupts import INTERRUPTS
from gdlab.core.batching import batch_plan, resolve_batch_size
from gdlab.core.checks import check_choice, check_int_range, check_positive_float
from gdlab.core.dataset import TASKS
from gdlab.core.run_schedules import ScheduleOptions, build_schedule
from gdlab.engine.data_parallel import check_devices
from gdlab.engine.epoch import METRICS
from gdlab.engine.fit import Recorded, check_rules
from gdlab.engine.setup import MODEL_TASKS
from gdlab.store.hints import resume_run
from gdlab.store.member_checkpoints import checkpoint_epochs
from gdlab.store.model_text import recorded_model_text
from gdlab.store.schedule_text import schedule_text
from gdlab.store.seconds_text import TRAIN_SECONDS, seconds_text

DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class FitOptions:
    """The run configuration as given on the command line."""

    dataset: str = "mnist1d"
    target: str | None = None
    task: str | None = None
    model: str = "mlp"
    hidden: str = "100,100"
    activation: str = "relu"
    batch_size: str | None = None  # None: DEFAULT_BATCH_SIZE, or all samples when fewer
    learning_rate: float = 0.1
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    epochs: int = 30
    seed: int = 0
    metrics: str = "exact"
    test_every: int = 1  # the test metrics every n-th epoch and at the last
    stop: tuple[str, ...] = ()
    devices: int | None = None  # None: one device; N: data parallel over N
    schedule: ScheduleOptions = field(default_factory=ScheduleOptions)
    track_noise_scale: int = 0  # every n epochs; 0: off


@dataclass(frozen=True)
class RecordOptions:
    """Where the run is recorded: db None records nothing; resume names a run to go on with, and
    dataset_file the file to load it from (its recorded absolute path; None: --dataset as typed)."""

    db: str | None = None
    checkpoint_every: int = 1
    resume: str | None = None
    dataset_file: str | None = None


@dataclass(frozen=True)
class ProcessOptions:
    """Training across processes: coordinator None is one process."""

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    timeout: float = 60.0


def join_processes(processes: ProcessOptions) -> None:
    """gd.distributed.initialize when a coordinator is given (all three options, or none)."""
    given = {"coordinator": processes.coordinator, "num_processes": processes.num_processes,
             "process_id": processes.process_id}
    if all(v is None for v in given.values()):
        if processes.timeout != ProcessOptions.timeout:  # it would be ignored
            raise ValueError(f"coordinator_timeout must be left out without --coordinator (one process waits for "
                             f"none); got {processes.timeout!r}.")
        return
    missing = [name for name, v in given.items() if v is None]
    if missing:
        others = ", ".join("--" + k.replace("_", "-") for k in given if k != missing[0])
        raise ValueError(
            f"{missing[0]} must be given with {others} (--coordinator HOST:PORT --num-processes N --process-id I)."
        )
    timeout = check_positive_float("coordinator_timeout", processes.timeout)  # the flag's name, not initialize's
    gd.distributed.initialize(str(processes.coordinator), int(processes.num_processes or 0),
                              int(processes.process_id or 0), timeout=timeout)


def run_fit(
    options: FitOptions, *, show_progress: bool, as_json: bool, record: RecordOptions = RecordOptions(),
    processes: ProcessOptions = ProcessOptions(),
) -> dict[str, Any]:
    """Train as the options say (recording the run in record.db); print progress and a summary unless as_json.

    Every option that does not need the data is checked, and the database
    opened, before the data set is loaded (generating MNIST-1D takes seconds).
    Across processes (``processes``), each trains on its shard of the data
    and only process 0 opens the database.
    """
    join_processes(processes)  # before anything else starts JAX
    if jax.process_count() > 1 and record.resume is not None:
        raise ValueError("resume must run in one process; got --coordinator with a run to resume.")
    model = build_model(options.model, options.hidden, options.activation, all_used=record.resume is None)
    gd.sgd(  # checks the rule's options before the data is loaded
        options.learning_rate,
        momentum=options.momentum,
        nesterov=options.nesterov,
        weight_decay=options.weight_decay,
    )
    batch_size = parse_batch_size(options.batch_size)
    check_int_range("epochs", options.epochs, 1)
    check_int_range("seed", options.seed, 0, 2**32 - 1)
    check_choice("metrics", options.metrics, METRICS)
    check_int_range("test_every", options.test_every, 1)
    check_devices(options.devices, jax.device_count())
    stop = parse_stop(options.stop)
    if record.resume is None:  # a recorded run is resumed as it was recorded
        options.schedule.check_all_used()
    options.schedule.check()
    check_int_range("checkpoint_every", record.checkpoint_every, 1)
    if record.db is None and record.checkpoint_every != RecordOptions.checkpoint_every:  # nothing to save it in
        raise ValueError(f"checkpoint_every applies only to a recorded run; got checkpoint_every="
                         f"{record.checkpoint_every} with --no-record.")
    recording = record.db is not None and jax.process_index() == 0
    store = gd.store.open(str(record.db), create=record.resume is None) if recording else None
    try:
        return _train(options, model, batch_size, stop, store, record, show_progress, as_json)
    finally:
        if store is not None:
            store.close()


def _train(
    options: FitOptions,
    model: gd.Model,
    batch_size: int | str | None,
    stop: gd.stop.StopRule | None,
    store: gd.store.Store | None,
    record: RecordOptions,
    show_progress: bool,
    as_json: bool,
) -> dict[str, Any]:
    with warnings.catch_warnings(record=True) as loading:  # a file too small for a test split, say
        warnings.simplefilter("always")
        data = load_data(record.dataset_file or options.dataset, options.target, options.task, model=options.model)
    if jax.process_count() > 1:
        data = gd.distributed.shard(data)
    check_stop_reads(options.stop, Recorded.of(options.metrics, model, data), options.test_every)
    if batch_size is None:
        batch_size = min(DEFAULT_BATCH_SIZE, data.n_train)
    steps = batch_plan(data.n_train, resolve_batch_size(batch_size, data.n_train)).steps
    schedule = build_schedule(options.learning_rate, options.schedule, steps * options.epochs)
    rule = gd.sgd(
        schedule,
        momentum=options.momentum,
        nesterov=options.nesterov,
        weight_decay=options.weight_decay,
    )
    gd.enable_compilation_cache()
    console = Console(stderr=True)
    with _progress(console, options.epochs, show_progress) as callback, warnings.catch_warnings(
        record=True
    ) as caught:
        warnings.simplefilter("always")
        kwargs: dict[str, Any] = {
            "batch_size": batch_size,
            "epochs": options.epochs,
            "seed": options.seed,
            "metrics": options.metrics,
            "test_every": options.test_every,
            "stop": stop,
            "callback": callback,
            "track_noise_scale": options.track_noise_scale,
            "devices": options.devices,
        }
        result = _fit_or_resume(options, model, data, rule, store, record, console, kwargs)
    for warning in [*loading, *caught]:
        console.print(f"warning: {warning.message}", style="yellow", highlight=False)
    run_id = None if store is None else store.last_run_id
    summary = {"run_id": run_id, **result.summary()}
    summary["warnings"] = [str(w.message) for w in [*loading, *caught]]
    summary["config"] = dict(  # a copy: the summary's config was result.config itself, changed in place
        summary["config"],
        dataset=options.dataset,  # as given: a name, or the .csv/.npz file's path (the library keeps its stem)
        learning_rate=options.learning_rate,
        momentum=options.momentum,
        nesterov=options.nesterov,
        weight_decay=options.weight_decay,
        schedule=options.schedule.schedule,
        warmup_steps=options.schedule.warmup_steps,
        stop=" | ".join(options.stop) or None,
    )
    if not as_json:
        table = _summary_table(result, options, data.n_train)
        if store is not None:
            table.add_row("run", f"{run_id} in {store.path} ({hints.gdlab(f'runs show {run_id}', store.path)})")
        Console().print(table)
    return summary


def _fit_or_resume(
    options: FitOptions,
    model: gd.Model,
    data: gd.Dataset,
    rule: gd.UpdateRule,
    store: gd.store.Store | None,
    record: RecordOptions,
    console: Console,
    kwargs: dict[str, Any],
) -> gd.Result:
    """gd.fit (recording a new run when there is a store) or gd.resume; on Ctrl-C, say how to go on."""
    if store is None:
        return gd.fit(model, data, rule, **kwargs)
    extra = {"cli": asdict(options), **file_record(options.dataset)}  # resume finds the file from any folder
    recorder = None if record.resume else store.recorder(record.checkpoint_every, extra=extra)
    try:
        if recorder is None:
            run = store.run(str(record.resume))
            loaded = record.dataset_file or options.dataset
            check_unchanged(loaded, run.dataset_fingerprint, data.fingerprint(), f"run {run.id}")
            return gd.resume(run.id, store, model, data, rule, **kwargs)
        result = gd.fit(model, data, rule, record=recorder, **kwargs)
    except KeyboardInterrupt:
        run_id = recorder.run_id if recorder else record.resume
        recorded = store.connection.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None
        said = (resume_run(str(run_id), True, checkpoint_epochs(store.connection, [str(run_id)]).get(str(run_id)),
                           record.db) if recorded else "before the run was recorded (nothing to resume)")
        console.print(f"interrupted: {said}", style="yellow", highlight=False, soft_wrap=True)
        INTERRUPTS.told = True
        raise
    store.last_run_id = recorder.run_id
    return result


def options_from_dict(values: dict[str, Any]) -> FitOptions:
    """The FitOptions a run recorded as ``asdict(options)`` (the inverse of asdict)."""
    values = dict(values)
    values["schedule"] = ScheduleOptions(**values.get("schedule", {}))
    values["stop"] = tuple(values.get("stop", ()))
    return FitOptions(**values)


def parse_stop(texts: tuple[str, ...]) -> gd.stop.StopRule | None:
    """Each --stop is a rule in gd.stop.parse's syntax; several are or-ed."""
    rules = [gd.stop.parse(text) for text in texts]
    if not rules:
        return None
    return rules[0] if len(rules) == 1 else gd.stop.any_of(*rules)


def check_stop_reads(texts: tuple[str, ...], recorded: Recorded, test_every: int) -> None:
    """Each --stop rule against the metrics the run records, named as typed: the engine's check names a rule by
    its factory ('stop rule target reads test_accuracy ...'), which the user never typed."""
    for text in texts:
        try:
            check_rules(gd.stop.parse(text), None, recorded, test_every)
        except ValueError as err:
            raise ValueError(re.sub(r"^stop rule \w+ ", f"stop {text!r} ", str(err))) from None


def load_data(name: str, target: str | None, task: str | None = None, *, model: str | None = None) -> gd.Dataset:
    """A named data set, or a .csv/.npz file when the name ends in one of those suffixes.

    With model 'linear', a file whose whole-number targets were read as class labels (no --task) is refused
    naming --task regression: the engine's refusal said only that the data set 'is classification'.
    """
    data = _load_data(name, target, task)
    if model == "linear" and task is None and is_file(name) and data.task == "classification":
        raise ValueError(f"model must be 'logistic' or 'mlp' for {name!r}, whose whole-number targets are read as "
                         f"class labels; got {model!r} (pass --task regression if they are quantities).")
    made_for = MODEL_TASKS.get(model or "")
    if made_for is not None and made_for != data.task:  # the engine's check_task names no option
        fits = "'linear' or 'mlp'" if data.task == "regression" else "'logistic' or 'mlp'"
        read_as = f"task {task!r}" if task is not None else f"{name!r}, a {data.task} data set"
        raise ValueError(f"model must be {fits} for {read_as}; got {model!r}, which is for {made_for}.")
    return data


def _load_data(name: str, target: str | None, task: str | None) -> gd.Dataset:
    if task is not None:
        check_choice("task", task, TASKS)
    if is_file(name):
        if not Path(name).is_file():
            why = "a directory" if Path(name).is_dir() else "not found"
            raise ValueError(
                "dataset must be a data set name or an existing .csv/.npz file; "
                f"got {name!r} ({why})."
            )
        try:
            with warnings.catch_warnings(record=True) as caught:  # a file too small for a test split, say
                warnings.simplefilter("always")
                data = gd.datasets.from_file(name, target=target, task=task)
        except ValueError as err:  # from_file's path and target: every command's dataset and target_column
            message = re.sub(r"^target\b", "target_column", in_cli_words(str(err)))
            raise ValueError(re.sub(r"^path\b", "dataset", message)) from None
        for warning in caught:
            warnings.warn(in_cli_words(str(warning.message)), warning.category, stacklevel=3)
        return data
    if name not in gd.datasets.NAMES:
        names = "{" + ", ".join(repr(n) for n in gd.datasets.NAMES) + "}"
        raise ValueError(f"dataset must be one of {names} or a .csv/.npz file path; got {name!r}.")
    for option, value in (("target_column", target), ("task", task)):
        if value is not None:
            raise ValueError(
                f"{option} must be used with a .csv/.npz dataset file; got dataset {name!r}."
            )
    return gd.datasets.load(name)


def build_model(name: str, hidden: str, activation: str, *, all_used: bool = True) -> gd.Model:
    """A model by name; hidden is a comma-separated list of layer sizes (mlp only).

    all_used refuses a hidden or activation away from its default for a model without hidden
    layers, which would ignore it (a recorded run is resumed as it was: all_used=False).
    """
    check_choice("model", name, gd.models.NAMES)
    given = {"hidden": (hidden, FitOptions.hidden), "activation": (activation, FitOptions.activation)}
    for option, (value, default) in given.items():
        if all_used and name != "mlp" and value != default:
            raise ValueError(f"{option} applies only to model 'mlp'; got {option}={value!r} with model {name!r}.")
    if name == "mlp":
        return gd.models.mlp(hidden=parse_hidden(hidden), activation=activation)
    return gd.models.linear() if name == "linear" else gd.models.logistic()


def parse_hidden(text: str) -> tuple[int, ...]:
    """'100,100' -> (100, 100); an empty entry ('100,', '100,,100') is refused, not skipped."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise ValueError(f"hidden must be comma-separated layer sizes >= 1 such as 100,100; got {text!r}.")
    return sizes


@overload
def parse_batch_size(text: str | int) -> int | str: ...
@overload
def parse_batch_size(text: str | int | None) -> int | str | None: ...
def parse_batch_size(text: str | int | None) -> int | str | None:
    """As typed: 'full' stays 'full', digits become an int (checked against the data by fit);
    an int or None (called from Python) passes as it is."""
    if not isinstance(text, str):
        return text
    if text.strip().lower() == "full":
        return "full"
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"batch_size must be an integer >= 1 or 'full'; got {text!r}.") from None


class _progress:
    """A rich progress bar over epochs (or nothing), yielding the fit callback (which checks for interrupts)."""

    def __init__(self, console: Console, epochs: int, show: bool) -> None:
        self.epochs, self.show = epochs, show
        self.bar = Progress(
            TextColumn("epoch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )

    def __enter__(self) -> Any:
        def callback(epoch: int, row: dict[str, float]) -> None:
            INTERRUPTS.check()  # a Ctrl-C Python dropped (commands/interrupts.py) stops the run here
            if not self.show:
                return
            if not self.bar.tasks:  # start on the first epoch, after checks and compiling
                self.bar.start()
                self.bar.add_task("fit", total=self.epochs, metrics="")
            text = f"train_loss {row['train_loss']:.4f}"
            if "test_accuracy" in row:
                text += f"  test_accuracy {row['test_accuracy']:.3f}"
            self.bar.update(self.bar.tasks[0].id, completed=epoch, metrics=text)

        return callback

    def __exit__(self, *exc: object) -> None:
        if self.bar.tasks:  # stopping a bar that never started still writes a blank line
            self.bar.stop()


def _summary_table(result: gd.Result, options: FitOptions, n_train: int) -> Table:
    table = Table(title="gdlab fit", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    config = result.config
    table.add_row("status", result.status)
    table.add_row("reason", result.reason)
    table.add_row("data", f"{config['dataset']} ({recorded_model_text(config['model'], config)}, loss {config['loss']})")
    table.add_row(
        "variant",
        f"batch_size {_batch_text(config['batch_size'], n_train)}{_updates(config['steps_per_epoch'])} per epoch), "
        f"learning_rate {options.learning_rate:g} ({_schedule_text(options.schedule)}), "
        f"momentum {options.momentum:g}" + (" (nesterov)" if options.nesterov else "")
        + (f", weight_decay {options.weight_decay:g}" if options.weight_decay else ""),
    )
    table.add_row("epochs", f"{result.epochs_run} ({_updates(result.steps_run)})")
    if config.get("devices", 1) > 1:
        noise = result.history["device_noise_scale"][-1]
        table.add_row("devices", f"{config['devices']} (data parallel; last epoch's noise scale {_fmt(noise)})")
    returned = result.returned_metrics()
    for name in ("train_loss", "grad_norm", "test_loss", "test_accuracy"):
        if name in result.history and result.restored:  # restore_best: the params are an earlier epoch's
            value = _fmt(returned[name]) if name in returned else "not measured"
            table.add_row(name, f"{value} at epoch {result.best_epoch} (the params returned); "
                                f"{_fmt(result.history[name][-1])} at epoch {result.epochs_run} (the last)")
        elif name in result.history:
            last = float(result.history[name][-1])
            kept = result.status == "diverged" and not math.isfinite(last)  # "nan" read as a bug beside "params kept"
            table.add_row(f"final {name}", _fmt(last) + (" (at the params kept from the last finite update)" if kept
                                                         else ""))
    for name in ("noise_scale", "sharpness"):  # measured every n epochs (--track-noise-scale, track_sharpness)
        measured = _last_measured(result.history.get(name, []))
        if measured is not None:
            epoch, measure = measured
            text = f"{measure:.4g} at epoch {epoch}"
            if name == "noise_scale":
                low, high = (float(result.history[f"noise_scale_{end}"][epoch - 1]) for end in ("low", "high"))
                text += f" (B_simple, a batch size; interval {low:.4g} to {high:.4g})"
            table.add_row(f"last {name}", text)
    table.add_row("compile seconds", f"{result.compile_seconds:.2f}")
    per_epoch = result.train_seconds / max(result.epochs_run, 1)
    table.add_row(TRAIN_SECONDS, f"{seconds_text(result.train_seconds)} ({per_epoch * 1000:.1f} ms per epoch)")
    return table


def _batch_text(size: int, n_train: int) -> str:
    """'full (800 samples, ' for every training sample (batch gradient descent), else '32 ('."""
    return f"full ({size} samples, " if size == n_train else f"{size} ("


def _last_measured(values: Any) -> tuple[int, float] | None:
    """(epoch from 1, value) of the last finite value of a metric measured every n epochs (NaN between)."""
    finite = [(epoch, float(v)) for epoch, v in enumerate(values, start=1) if math.isfinite(float(v))]
    return finite[-1] if finite else None


def _schedule_text(o: ScheduleOptions) -> str:
    return schedule_text(o.schedule, o.warmup_steps)  # as gdlab runs list shows any run's schedule


def _updates(n: int) -> str:
    return f"{n} update" if n == 1 else f"{n} updates"


def _fmt(value: float) -> str:
    """4 decimals, or 4 significant digits where those would hide the value (1.17e+19, not 19 digits; 3e-07, not 0)."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e6 else f"{value:.4g}"
