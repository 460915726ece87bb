"""``gdlab report ID_OR_FILE``: the HTML report of a recorded run, sweep or finder, or of a saved sweep file."""

from __future__ import annotations

import shlex
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import gdlab as gd
from gdlab.commands import hints
from gdlab.commands.compare import HTML_SUFFIXES, comparison_json, output_path, print_summary
from gdlab.commands.compare import run_report as report_file
from gdlab.commands.reading import open_to_read
from gdlab.report import (
    Comparison,
    Summary,
    conclusion,
    from_sweep,
    render_finder,
    render_run,
    summarize,
    write_html,
)
from gdlab.report.comparison import check_paths
from gdlab.report.of_result import LIBRARY_RATES, default_metric
from gdlab.store.model_text import recorded_model_text
from gdlab.store.sweeps import FINISHED


def run_report(
    target: str, out: str | None, db: str, *, as_json: bool, schedule: str | None = None
) -> dict[str, Any]:
    """Write the report of target (a saved comparison file, else a run, sweep or finder id in db).

    schedule picks one schedule of a sweep that trained a schedule grid.
    """
    if _is_file(target):
        if schedule is not None:
            raise ValueError(f"schedule applies to a sweep id in --db; got --schedule {schedule!r} with the file "
                             f"{target!r}, which holds one schedule per batch size already.")
        return report_file(target, unclaimed_default(target) if out is None else out, as_json=as_json)
    if not Path(db).exists():
        raise ValueError(f"ID_OR_FILE must be a saved comparison file or an id in the database --db; got "
                         f"{target!r}, and {db!r} does not exist.")
    with open_to_read(db) as store:
        record = store.find(target)
        path = output_path("out", f"gdlab-report-{record.id}.html" if out is None else out, HTML_SUFFIXES,
                           others={"db": db})
        if schedule is not None and not isinstance(record, gd.store.Sweep):
            raise ValueError(f"schedule applies to a sweep; got --schedule {schedule!r} with {record.kind} "
                             f"run {record.id}.")
        table: tuple[Summary, Comparison, str] | None = None
        if isinstance(record, gd.store.Sweep):
            comparison = sweep_comparison(store, record, schedule)
            write_html(comparison, path)
            shown = summarize(comparison)
            table = (shown, comparison, conclusion(shown))
            found = {**({} if schedule is None else {"schedule": schedule}), **comparison_json(*table)}
        elif record.kind == "lr_finder":
            result = store.finder(record.id)
            path.write_text(render_finder(asdict(record), result))
            found = {"suggestion": result.suggestion, "interval": list(result.interval)}
        else:
            sweep = member_of(store, record, db)
            path.write_text(render_run(asdict(record), store.history(record.id), sweep))
            found = {} if sweep is None else {"sweep_id": sweep["id"]}
    summary = {"id": record.id, "kind": record.kind, "status": record.status, "reason": record.reason,
               "out": str(path), **found}
    if not as_json:
        _print(summary, "sweep" if isinstance(record, gd.store.Sweep) else "run", table)
    return summary


def default_out(saved: str) -> str:
    """The report of a saved comparison when no --out is given: its name with .html, in the current folder
    (sweep.json -> sweep.html), as gdlab-report-ID.html for an id; not gdlab compare's own gdlab-compare.html."""
    return f"{Path(saved).stem or 'gdlab-report'}.html"


def unclaimed_default(saved: str) -> str:
    """default_out(saved), refused where that file exists: gdlab compare ... --out c.html --json-out c.json wrote
    the compare's own report there, which gdlab report c.json silently replaced."""
    out = default_out(saved)
    if Path(out).exists():
        raise ValueError(f"--out is needed: the default {out!r} exists (gdlab compare --out may have written it); "
                         f"give --out PATH, or --out {out} to replace it.")
    return out


SWEPT = ("batch_size", "learning_rate", "momentum", "schedule", "seeds")
"""A sweep's config keys that hold the values it swept (gdlab compare: learning_rate per batch size)."""


def member_of(store: gd.store.Store, run: gd.store.Run, db: str) -> dict[str, Any] | None:
    """The sweep a run is a member of, as render_run shows it (None: a run of its own)."""
    sweep = store.sweep_of(run.id)
    if sweep is None:
        return None
    schedules = sweep.config.get("schedule")
    pick = f" --schedule {shlex.quote(str(run.config.get('schedule')))}" if (
        isinstance(schedules, list) and len(schedules) > 1) else ""
    return {"id": sweep.id, "kind": sweep.kind, "status": sweep.status, "position": sweep.run_ids.index(run.id),
            "configs": len(sweep.run_ids), "grid": {k: sweep.config[k] for k in SWEPT if k in sweep.config},
            "report": hints.gdlab(f"report {sweep.id}{pick}", db)}


def _print(summary: dict[str, Any], noun: str, table: tuple[Summary, Comparison, str] | None) -> None:
    """The record's line, then a sweep's table as for a saved file (gdlab compare's), else a finder's answer;
    then the report's path."""
    sys.stdout.write(f"{noun} {summary['id']} ({summary['kind']}): {summary['reason'] or summary['status']}\n")
    if table is not None:
        print_summary(*table, {"out": summary["out"]})
        return
    shown = {**summary}
    if "suggestion" in summary:  # as find-lr's table writes them: 0.562, not 0.5623413251903491
        low, high = summary["interval"]
        shown.update(suggestion=f"{summary['suggestion']:.3g}", interval=f"{low:.3g} .. {high:.3g}")
    for name in ("suggestion", "interval", "sweep_id", "out"):
        if name in shown:
            sys.stdout.write(f"{name}: {shown[name]}\n")


def sweep_comparison(store: gd.store.Store, sweep: gd.store.Sweep, schedule: str | None = None) -> Comparison:
    """A finished sweep as the comparison gdlab compare reports (one schedule of a grid)."""
    members = store.members(sweep.id)
    left = [run for run in members if run.status not in FINISHED]
    if left:
        raise ValueError(f"sweep {sweep.id} has {len(left)} unfinished config{'' if len(left) == 1 else 's'} of {len(members)} "
                         f"({left[0].status}); {hints.gdlab(f'resume {sweep.id}', store.path)} finishes it, then report it.")
    result, initial = store.sweep_result(sweep.id)
    stored_initial = sweep.results.get("initial_train_loss")
    if stored_initial:
        initial = {int(seed): float(loss) for seed, loss in stored_initial.items()}
    settings = sweep.config.get("settings") or _settings(sweep.config)
    if schedule is not None:
        result = result.select(schedule)
        settings = {**settings, "schedule": schedule}
    comparison = from_sweep(result, settings, initial)
    if sweep.kind == "compare" and sweep.status in ("interrupted", "failed") and "loss_paths" not in sweep.results:
        raise ValueError(f"sweep {sweep.id} stopped ({sweep.status}) before it measured its noise paths; "
                         f"{hints.gdlab(f'resume {sweep.id}', store.path)} measures them and writes the report.")
    paths = sweep.results.get("loss_paths") if schedule is None else None  # gdlab compare's: one schedule
    if paths is None:
        return comparison
    check_paths(paths, f"sweep {sweep.id}'s record is damaged")
    return replace(comparison, paths=paths)


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    """The report's settings for a sweep recorded by gd.sweep (gdlab compare records its own)."""
    metric = default_metric(config["task"], config["n_test"])
    return {"dataset": config["dataset"], "model": recorded_model_text(config["model"], config), "n_train": config["n_train"],
            "n_test": config["n_test"], "epochs": config["epochs"], "seeds": config["seeds"], "target": None,
            "metric": metric, "metrics": config["metrics"],
            "learning_rates": {str(size): config["learning_rate"] for size in config["batch_size"]},
            "rates_rule": LIBRARY_RATES, "gdlab": gd.__version__}


def _is_file(target: str) -> bool:
    path = Path(target)
    return path.exists() or path.suffix.lower() == ".json" or len(path.parts) > 1
