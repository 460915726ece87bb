"""``gdlab runs``: list, show, compare, export and delete the recorded runs."""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
import shlex
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np

import gdlab as gd
from gdlab.commands import hints
from gdlab.commands.json_output import json_text
from gdlab.commands.reading import open_to_read
from gdlab.commands.resume import group_text
from gdlab.core.checks import check_choice
from gdlab.core.shortest import is_time, shortest_floats
from gdlab.engine.config_record import SGD_OPTIONS
from gdlab.engine.epoch import is_test_epoch
from gdlab.engine.sweep_result import failure
from gdlab.report.conclusion import counted
from gdlab.store.model_text import model_text, recorded_model, recorded_model_text
from gdlab.store.records import flat_config
from gdlab.store.rule_options import is_default, momentum_text, rule_options
from gdlab.store.schedule_text import batch_size_as_given, rate_and_schedule
from gdlab.store.sweep_recorder import SWEEP_STATUSES
from gdlab.store.sweeps import FINISHED

SHOWN = ("train_loss", "test_loss", "test_accuracy")
"""The final metrics a listing shows."""
GIVEN = ("cli", "lab")
"""The keys under which a run records its options as given (gdlab fit's command line, the lab's form)."""


def run_list(
    db: str, *, status: str | None, dataset: str | None, since: str | None, as_json: bool
) -> list[dict[str, Any]]:
    """The runs (newest first; not the members of sweeps) as dicts; a table unless as_json, with a line
    naming the sweeps the same filters list (gdlab runs list --sweeps ...), if any."""
    with open_to_read(db) as store:
        rows = [brief(run, final_metrics(store, run, store.last_metrics(run.id)))
                for run in store.runs(status, dataset, since) if run.kind != "sweep"]
        n_sweeps = 0 if status not in (None, *SWEEP_STATUSES) else len(store.sweeps(status, since, dataset=dataset))
    if not as_json:
        columns = ["run_id", "kind", "created_at", "status", "dataset", "model", "epochs", "batch_size",
                   "learning_rate", *_rule_columns(rows), "schedule", *[f"final_{name}" for name in SHOWN]]
        columns = [c for c in columns if any(c in row for row in rows)] or columns[:1]
        _write(aligned([c.removeprefix("final_") for c in columns], [[_cell(row, c) for c in columns] for row in rows])
               or ["(no runs)"])
        if n_sweeps:
            filters = "".join(f" --{name} {shlex.quote(value)}" for name, value in
                              (("status", status), ("dataset", dataset), ("since", since)) if value is not None)
            command = hints.gdlab(f"runs list --sweeps{filters}", db)
            _write([f"and {n_sweeps} sweep{'s' if n_sweeps > 1 else ''}: {command}"])
    return rows


def sweep_list(
    db: str, *, status: str | None, dataset: str | None, since: str | None, as_json: bool
) -> list[dict[str, Any]]:
    """The sweeps (newest first) as dicts; a table unless as_json."""
    with open_to_read(db) as store:
        rows = []
        for sweep in store.sweeps(status, since, dataset=dataset):
            rows.append(sweep_brief(sweep, store.members(sweep.id), store.member_last_metrics(sweep.id)))
    if not as_json:
        columns = ["sweep_id", "kind", "created_at", "status", "dataset", "model", "configs", "finished",
                   "best_final_train_loss", "best_config"]
        _write(aligned(columns, [[_cell(row, c) for c in columns] for row in rows]) or ["(no sweeps)"])
    return rows


def final_metrics(store: gd.store.Store, run: gd.store.Run, last: dict[str, float]) -> dict[str, float]:
    """``last`` (the run's metrics at its last recorded epoch) with each test metric that epoch did not measure
    (a run tested every n-th epoch, stopped between) taken from the last epoch that did (``tested_epoch``)."""
    unmeasured = [name for name, value in last.items() if name.startswith("test_") and math.isnan(value)]
    tested = tested_epoch(run)
    if tested is None or not unmeasured:
        return last
    history = store.history(run.id)
    return last | {name: float(history[name][tested - 1]) for name in unmeasured}


def tested_epoch(run: gd.store.Run) -> int | None:
    """The last epoch that measured the test metrics of a run tested every n-th epoch (``test_every``) when its
    last recorded epoch did not (it stopped between); None when that epoch did, or none has yet."""
    every, recorded = int(run.config.get("test_every", 1)), run.epochs_run
    if every == 1 or recorded < every or is_test_epoch(recorded - 1, run.epochs, every):
        return None
    return recorded - recorded % every


def sweep_brief(
    sweep: gd.store.Sweep, members: list[gd.store.Run], finals: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """One line of a sweep listing: id, kind, time, status, data, model, member counts, the best config.

    The best config has the lowest final train loss, mean over its seeds (``best_final_train_loss``), among the
    finished ones none of whose seeds failed (``engine.sweep_result.failure``: diverged, or collapsed at or above
    its initial loss; a diverged loss of 3e15 is finite, but no recommendation); none: '-'. Not the report's
    best, which ranks by its metric (a test metric by default); ``best_train_loss``, the key's old name, is
    kept for scripts (a sweep's rows use that name for a config's lowest train loss over its epochs).
    """
    done = [run for run in members if run.status in FINISHED]
    by_config: dict[str, list[float]] = {}
    for run in done:
        key = f"batch_size {batch_size_as_given(run.config)}, learning_rate {run.config['learning_rate']:.4g}"
        if run.config.get("momentum"):
            key += f", momentum {run.config['momentum']:.4g}"
        row: dict[str, Any] = {"status": run.status, "final_train_loss": finals[run.id].get("train_loss", math.nan)}
        if run.initial_loss is not None:
            row["initial_train_loss"] = run.initial_loss
        by_config.setdefault(key, []).append(math.nan if failure(row) else row["final_train_loss"])
    scored = [(float(np.mean(v)), k) for k, v in by_config.items() if math.isfinite(float(np.mean(v)))]
    best = min(scored, default=(None, None))
    hidden, activation = recorded_model(sweep.config)
    return {
        "sweep_id": sweep.id, "kind": sweep.kind, "created_at": sweep.created_at, "status": sweep.status,
        "dataset": sweep.config.get("dataset"), "model": sweep.config.get("model"), "hidden": hidden,
        "activation": activation, "configs": len(members),
        "finished": len(done), "best_final_train_loss": best[0], "best_config": best[1],
        "best_train_loss": best[0],  # the old name of best_final_train_loss
    }


def run_show(db: str, run_id: str, *, as_json: bool) -> dict[str, Any]:
    """A run's record and final metrics; with a text chart of its train loss unless as_json.

    A sweep shows its members instead, and a find-lr run its suggestions.
    """
    with open_to_read(db) as store:
        record = store.find(run_id)
        if isinstance(record, gd.store.Sweep):
            return _show_sweep(store, record, as_json)
        run = record
        final = final_metrics(store, run, store.last_metrics(run.id))
        history = store.history(run.id)
        finder = store.finder(run.id) if run.kind == "lr_finder" else None
    cli = run.config.get("cli")
    shown = {"run": shortest_floats(asdict(run)), "final": shortest_floats(final),
             "command": command_line(cli, run.checkpoint_every) if isinstance(cli, dict) else None}
    if finder is not None:
        shown["finder"] = finder_summary(finder)
    if not as_json:
        lines = [f"run {run.id}: {run.status}", f"  reason: {run.reason or '-'}"]
        for key in ("created_at", "updated_at", "dataset", "dataset_fingerprint", "model", "seed",
                    "epochs_run", "epochs", "steps_run", "checkpoint_every", "resumed",
                    "gdlab_version", "jax_version", "device", "pid", "host"):
            value = recorded_model_text(run.model, run.config) if key == "model" else getattr(run, key)
            lines.append(f"  {key}: {value}")
        if shown["command"] is not None:
            lines.append(f"command: {shown['command']}")
        lines.append("config:")
        config = {k: v for k, v in run.config.items() if k != "cli"}
        lines += [f"  {key}: {json.dumps(shortest_floats(value))}" for key, value in flat_config(config).items()]
        if final:  # a finder has no epochs: its steps are below
            lines.append("final:")
            tested = tested_epoch(run)
            lines += [f"  {name}: {_text(value)}" + (f" (epoch {tested}: tested every {run.config['test_every']} epochs)"
                                                     if tested is not None and name.startswith("test_") else "")
                      for name, value in final.items()]
        if "train_loss" in history:
            lines += ["train_loss:", *text_chart(history["train_loss"])]
        if finder is not None:
            lines += _finder_lines(finder)
        _write(lines)
    return shown


def finder_summary(finder: Any) -> dict[str, Any]:
    """A finder's answer, interval and every rule's suggestion with its spread over seeds."""
    from gdlab.report.finder import validation_json  # matplotlib: only for a finder

    return {"suggestion": finder.suggestion, "interval": list(finder.interval),
            "suggestions": {rule: {"value": s.value, "spread": list(s.spread), "per_seed": list(s.per_seed)}
                            for rule, s in finder.suggestions.items()},
            "validation": validation_json(finder.validation)}


def _finder_lines(finder: Any) -> list[str]:
    from gdlab.report.finder import (
        VALIDATION_HEADERS,
        seeds_spread_text,
        suggestion_notes,
        suggestion_text,
        validation_cells,
        validation_notes,
    )

    low, high = finder.interval
    lines = [f"suggestion: learning_rate {finder.suggestion:.4g} (validated; interval {low:.4g} to {high:.4g})",
             "suggestions by rule (geometric mean over seeds; spread):"]
    for rule, s in finder.suggestions.items():
        lines.append(f"  {rule}: {suggestion_text(s, _text)}; spread {seeds_spread_text(s, _text, ' to ')}")
    lines += [f"  {note}" for note in suggestion_notes(finder)]
    lines.append("validation (mean and std over seeds of the train loss in the last epoch):")
    cells = validation_cells(finder)
    return lines + ["  " + line for line in [*aligned(VALIDATION_HEADERS, cells), *validation_notes(cells)]]


def _show_sweep(store: gd.store.Store, sweep: gd.store.Sweep, as_json: bool) -> dict[str, Any]:
    """A sweep: its status, reason, configuration and one line per member."""
    members = store.members(sweep.id)
    finals = store.member_last_metrics(sweep.id)
    rows = [{**brief(run, final_metrics(store, run, finals[run.id])), "seed": run.seed} for run in members]
    shown: dict[str, Any] = {"sweep": shortest_floats(asdict(sweep)), "summary": sweep_brief(sweep, members, finals), "members": rows}
    if sweep.status in ("interrupted", "failed"):  # what gdlab resume would train, and from which epoch
        shown["unfinished"] = [group._asdict() for group in gd.store.unfinished_groups(sweep.id, store)]
    if not as_json:
        lines = [f"sweep {sweep.id} ({sweep.kind}): {sweep.status}", f"  reason: {sweep.reason or '-'}",
                 f"  created_at: {sweep.created_at}", f"  updated_at: {sweep.updated_at}", "config:"]
        config = {k: v for k, v in sweep.config.items() if k not in ("cli", "settings")}
        lines += [f"  {key}: {json.dumps(shortest_floats(value))}" for key, value in flat_config(config).items()]
        columns = ["run_id", "status", "batch_size", "learning_rate", "schedule", "momentum",
                   *[c for c in _rule_columns(rows) if c != "momentum"], "seed", "epochs",
                   *[f"final_{name}" for name in SHOWN]]
        columns = [c for c in columns if any(c in row for row in rows)]
        lines += [f"members ({len(rows)}):"]
        lines += ["  " + line for line in aligned([c.removeprefix("final_") for c in columns],
                                                  [[_cell(row, c) for c in columns] for row in rows])]
        best = shown["summary"]["best_config"]
        value = _text(shown["summary"]["best_final_train_loss"])
        lines.append(f"best by final train_loss: {best} ({value}, mean over seeds)" if best else
                     "best by final train_loss: -")
        if shown.get("unfinished"):
            lines.append(f"{hints.resume_sweep(sweep.id, sweep.kind, store.path, sweep.config)} goes on with:")
            lines += ["  " + group_text(gd.store.UnfinishedGroup(**g)) for g in shown["unfinished"]]
        _write(lines)
    return shown


def run_compare(db: str, run_ids: list[str], *, as_json: bool) -> dict[str, Any]:
    """Runs side by side: their status, final metrics and the configuration keys that differ."""
    if len(run_ids) < 2:
        raise ValueError(f"run_ids must name at least two runs to compare; got {run_ids}.")
    with open_to_read(db) as store:
        found = [store.find(run_id) for run_id in run_ids]
        sweep = next((r for r in found if isinstance(r, gd.store.Sweep)), None)
        if sweep is not None:  # store.run said 'must name a run ... (see gdlab runs list)', as if it did not exist
            raise ValueError(f"run_ids must name runs; {sweep.id} is a sweep ({sweep.kind}), whose configs "
                             f"{hints.gdlab(f'runs show {sweep.id}', db)} lists.")
        runs = [r for r in found if not isinstance(r, gd.store.Sweep)]
        ids = [run.id for run in runs]
        twice = next((i for i in ids if ids.count(i) > 1), None)
        if twice is not None:
            raise ValueError(f"run_ids must name different runs; got {run_ids}, which name {twice} twice.")
        rows = [brief(run, final_metrics(store, run, store.last_metrics(run.id))) for run in runs]
    # the options as given (gdlab fit's cli, the lab's) where a run has none (a library run, a sweep member): not
    # settings of their own, which their keys beside them compare
    given = tuple(f"{name}." for name in GIVEN if not all(isinstance(run.config.get(name), dict) for run in runs))
    configs = [{k: v for k, v in flat_config(run.config).items() if not k.startswith(given)} for run in runs]
    keys = list(dict.fromkeys(key for config in configs for key in config))
    differ = [k for k in keys if len({json.dumps(config.get(k)) for config in configs}) > 1]
    shown = {"dataset", "model", "hidden", "activation", "epochs"}  # in the rows above

    def repeated(key: str) -> bool:  # cli.batch_size beside batch_size; learning_rate when rule.learning_rate differs
        name = next((key.removeprefix(f"{g}.") for g in GIVEN if key.startswith(f"{g}.")), key)
        if key != name:  # as given (gdlab fit's, the lab's): 32 typed against the default None, for the same 32
            return name in keys or f"rule.{name}" in keys
        return key in shown or (key in SGD_OPTIONS and f"rule.{key}" in differ)  # read from the rule (members: as given)

    differences = {k: shortest_floats([config.get(k) for config in configs]) for k in differ if not repeated(k)}
    compared = {"runs": rows, "differences": differences}
    if not as_json:
        names = [n for n in ("status", "dataset", "model", "epochs", *[f"final_{m}" for m in SHOWN])
                 if any(n in row for row in rows)]
        cells = [[name, *(_cell(row, name) for row in rows)] for name in names]
        cells += [[key, *(json.dumps(v) for v in values)] for key, values in differences.items()]
        _write(aligned(["", *(row["run_id"] for row in rows)], cells))
        finals = {json.dumps([row.get(f"final_{m}") for m in SHOWN]) for row in rows}
        if not differences and len(finals) > 1:
            _write([ALIKE_APART])
    return compared


ALIKE_APART = ("No setting differs, yet the final metrics do: float32 rounding differs between programs (gd.fit's, "
               "a sweep's vmapped one, another machine's) and grows over training, most at a high learning rate.")
"""What runs compare adds for runs trained alike that ended apart (a student took it for a bug)."""


def run_export(db: str, run_id: str, fmt: str) -> str:
    """A run's per-epoch metrics as CSV (epoch, then one column per metric) or JSON (with its record).

    A sweep gives one row per config instead (as ``SweepResult.rows``), a find-lr run one row per step
    of its range test (the learning rate, then each seed's smoothed and raw loss).
    """
    fmt = check_choice("format", fmt, ("csv", "json"))
    with open_to_read(db) as store:
        record = store.find(run_id)
        if isinstance(record, gd.store.Sweep):
            return _export_rows("sweep", record, store.sweep_result(record.id)[0].rows, fmt)
        run = record
        if run.kind == "lr_finder":  # no epochs: its export was the header 'epoch' alone
            return _export_rows("run", run, _finder_rows(run, store.finder(run.id)), fmt)
        history = store.history(run.id)
    if fmt == "json":
        data = {"run": asdict(run), "history": {k: v.tolist() for k, v in history.items()}}
        return json_text(data)  # json_text: a float32 loss or rate as 0.1; times as measured
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *history])
    epochs = len(next(iter(history.values()))) if history else 0
    for i in range(epochs):
        writer.writerow([i + 1, *(_csv_number(name, float(values[i])) for name, values in history.items())])
    return out.getvalue()


def _finder_rows(run: gd.store.Run, finder: Any) -> list[dict[str, Any]]:
    """One row per range-test step: step (from 1), learning_rate, loss_seedS and raw_loss_seedS per seed."""
    seeds = run.config.get("seeds") or list(range(len(finder.losses)))
    rows = []
    for i, rate in enumerate(finder.learning_rates):
        row = {"step": i + 1, "learning_rate": float(rate)}
        for k, seed in enumerate(seeds):
            row |= {f"loss_seed{seed}": float(finder.losses[k, i]), f"raw_loss_seed{seed}": float(finder.raw_losses[k, i])}
        rows.append(row)
    return rows


def _export_rows(kind: str, record: Any, rows: list[dict[str, Any]], fmt: str) -> str:
    """rows as CSV, or as JSON with the record under kind ("sweep" or "run")."""
    if fmt == "json":
        return json_text({kind: asdict(record), "rows": rows})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(dict.fromkeys(k for row in rows for k in row)), restval="",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _csv_number(k, v) if isinstance(v, float) else v for k, v in row.items()} for row in rows)
    return out.getvalue()


def _csv_number(name: str, value: float) -> str:
    """A CSV cell: a float32 number as its shortest text (0.1, not 0.10000000149011612), a time as measured."""
    return repr(value if is_time(name) else shortest_floats(value))


def run_delete(db: str, run_id: str, *, yes: bool, confirm: Callable[[str], bool]) -> dict[str, Any]:
    """Delete a run after ``confirm`` says yes (or at once with yes); {"deleted": id or None, "kind": "run" or
    "sweep"} (with "kept": id when not deleted)."""
    with gd.store.open(db, create=False) as store:
        record = store.find(run_id)
        if isinstance(record, gd.store.Sweep):
            question = (f"Delete sweep {record.id} ({record.kind}, {record.status}, with its "
                        f"{len(record.run_ids)} member runs, created {record.created_at}) from {db}?")
        else:
            question = (
                f"Delete run {record.id} ({record.status}, {record.dataset}, {counted(record.epochs_run, 'epoch')}, "
                f"created {record.created_at}) from {db}?"
            )
        kind = "sweep" if isinstance(record, gd.store.Sweep) else "run"
        if not yes and not confirm(question):
            return {"deleted": None, "kept": record.id, "kind": kind}
        store.delete(record.id)
    return {"deleted": record.id, "kind": kind}


def brief(run: gd.store.Run, final: dict[str, float]) -> dict[str, Any]:
    """One line of a listing: the run's id, time, status, data, model, settings and final metrics."""
    rate, schedule = rate_and_schedule(run.config)  # as gdlab fit gives them, whoever recorded the run
    hidden, activation = recorded_model(run.config)  # a record from before they were kept: from its options
    return shortest_floats({  # a float32 loss as 0.01016, not 0.010164874605834484
        "run_id": run.id,
        "kind": run.kind,
        "created_at": run.created_at,
        "status": run.status,
        "dataset": run.dataset,
        "model": run.model,
        "hidden": hidden,
        "activation": activation,
        "epochs_run": run.epochs_run if run.kind != "lr_finder" else None,  # a finder runs steps, not epochs
        "epochs": run.epochs if run.kind != "lr_finder" else None,
        "batch_size": batch_size_as_given(run.config),
        "learning_rate": rate,
        **rule_options(run.config),
        "schedule": schedule,
        **{f"final_{name}": final[name] for name in SHOWN if name in final},
    })


def command_line(cli: dict[str, Any], checkpoint_every: int) -> str:
    """The gdlab fit command that gives these recorded options and checkpoint interval (defaults left out)."""
    from gdlab.commands.fit import FitOptions, RecordOptions

    defaults = flat_config(asdict(FitOptions())) | {"checkpoint_every": RecordOptions.checkpoint_every}
    words = ["gdlab", "fit"]
    for key, value in (flat_config(cli) | {"checkpoint_every": checkpoint_every}).items():
        if value is None or (key in defaults and value == defaults[key]):
            continue
        flag = "--" + key.split(".")[-1].replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else flag.replace("--", "--no-", 1))
        elif isinstance(value, list):
            words += [w for item in value for w in (flag, shlex.quote(str(item)))]
        else:
            words += [flag, shlex.quote(str(value))]
    return " ".join(words)


def text_chart(values: np.ndarray, width: int = 60, height: int = 8) -> list[str]:
    """Values over epochs as rows of text: '*' per sampled epoch, 'x' (top row) where not finite.

    The scale is logarithmic when every finite value is positive and they span 10x or more.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if len(finite) == 0:
        return ["  (no finite values to chart)"]
    lo, hi = float(finite.min()), float(finite.max())
    log = lo > 0 and hi >= 10 * lo

    def scale(x: float) -> float:
        return math.log10(x) if log else x

    columns = np.unique(np.linspace(0, len(v) - 1, min(width, len(v))).round().astype(int))
    span = scale(hi) - scale(lo) or 1.0
    grid = [[" "] * len(columns) for _ in range(height)]
    for col, i in enumerate(columns):
        if not np.isfinite(v[i]):
            grid[0][col] = "x"
            continue
        level = round((scale(float(v[i])) - scale(lo)) / span * (height - 1))
        grid[height - 1 - level][col] = "*"
    labels = {0: f"{hi:.4g}", height - 1: f"{lo:.4g}"}
    lines = [f"{labels.get(r, ''):>10} |{''.join(row)}".rstrip() for r, row in enumerate(grid)]
    left, right = "epoch 1", f"epoch {len(v)}"
    lines.append(f"{'':>10} +{'-' * len(columns)}")
    lines.append(f"{'':>12}{left}{right:>{max(len(columns) - len(left), len(right) + 1)}}")
    if log:
        lines.append(f"{'':>12}(log scale)")
    return lines


def _rule_columns(rows: list[dict[str, Any]]) -> list[str]:
    """momentum (with nesterov) and weight_decay, where a listed run has one that is not the default (0, off)."""
    if all(is_default(row) for row in rows):
        return []
    return ["momentum", "weight_decay"] if any(row.get("weight_decay") for row in rows) else ["momentum"]


def aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    """A plain text table: columns padded to their widest cell, two spaces apart (never cut short)."""
    if not rows:
        return []
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in [header, *rows]]


def _write(lines: list[str]) -> None:
    sys.stdout.write("".join(f"{line}\n" for line in lines))


def _local_time(utc: str) -> str:
    """Stored UTC time as local 'YYYY-MM-DD HH:MM'."""
    return datetime.datetime.fromisoformat(utc).astimezone().strftime("%Y-%m-%d %H:%M")


def _cell(row: dict[str, Any], column: str) -> str:
    """A listing's cell: created_at in local time, epochs as run/planned ('3/5'; '-' for a finder), the model
    with its hidden sizes ('mlp 100,100')."""
    if column == "created_at":
        return _text(_local_time(row[column]))
    if column == "epochs" and row.get("epochs") is not None:
        return f"{row['epochs_run']}/{row['epochs']}"
    if column == "model":
        return model_text(row.get("model"), row.get("hidden"), row.get("activation"))
    if column == "momentum":
        return momentum_text(row.get("momentum"), row.get("nesterov"))
    return _text(row.get(column))


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):  # a record's raw numbers, float32 in float64: [0.1], not [0.10000000149...]
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)
