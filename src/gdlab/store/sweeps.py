"""Reading recorded sweeps: the sweep rows, their members, and a member grid back as a ``SweepResult``."""

from __future__ import annotations

import datetime
import math
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from gdlab.core.checks import check_choice
from gdlab.engine.result import STATUSES
from gdlab.engine.sweep_result import Group, SweepResult
from gdlab.store.hints import resume_sweep
from gdlab.store.processes import Process, is_alive
from gdlab.store.records import (
    RUN_COLUMNS,
    Run,
    find_run,
    histories,
    newest_first,
    recorded_name,
    run_of,
    stored_config,
    stored_object,
    transaction,
)
from gdlab.store.schema import StoreError, now
from gdlab.store.sweep_recorder import SWEEP_STATUSES, Key, group_label, member_key

T = TypeVar("T")

FINISHED = ("done", *STATUSES)
"""Member statuses of a config that needs no rerun (every status a run ends with: all but running, interrupted,
failed). It named the rules "target" and "early_stopping" for their statuses, and left out "stalled": those members
counted as unfinished, and resume_sweep trained them again."""


@dataclass(frozen=True)
class Sweep:
    """One recorded sweep (a row of ``sweeps``) and its member runs' ids in position order."""

    id: str
    kind: str
    created_at: str
    updated_at: str
    status: str
    reason: str
    config: dict[str, Any]
    results: dict[str, Any]
    run_ids: tuple[str, ...]


SWEEP_METRICS = ("train_loss", "grad_norm", "learning_rate", "test_loss", "test_accuracy", "epoch_time", "wall_time")
"""The history of a sweep's group holds each of these (NaN where a member does not record it)."""

SWEEP_COLUMNS = ("id", "kind", "created_at", "updated_at", "status", "reason", "config", "results")


def list_sweeps(
    conn: sqlite3.Connection, status: str | None = None, since: str | datetime.datetime | None = None,
    dataset: str | None = None,
) -> list[Sweep]:
    """Sweeps, newest first; only those with this status, on this data set (its config's dataset, as a
    member run's), created at or after since."""
    status = None if status is None else check_choice("status", status, SWEEP_STATUSES)
    equal = {"status": status, "json_extract(config, '$.dataset')": recorded_name(dataset)}
    return [_sweep(conn, row) for row in newest_first(conn, "sweeps", SWEEP_COLUMNS, equal, since)]


def find_sweep(conn: sqlite3.Connection, sweep_id: str) -> Sweep | None:
    """The sweep with this id, or the only one whose id starts with it; None if none."""
    select = f"SELECT {', '.join(SWEEP_COLUMNS)} FROM sweeps"
    row = conn.execute(f"{select} WHERE id = ?", (sweep_id,)).fetchone()
    if row is None and sweep_id:
        rows = conn.execute(f"{select} WHERE substr(id, 1, ?) = ?", (len(sweep_id), sweep_id)).fetchall()
        row = rows[0] if len(rows) == 1 else None
    return None if row is None else _sweep(conn, row)


def find_record(conn: sqlite3.Connection, record_id: str, path: Path) -> Run | Sweep:
    """The run or the sweep with this id, else the only run or sweep whose id starts with it."""
    if conn.execute("SELECT 1 FROM runs WHERE id = ?", (record_id,)).fetchone():
        return find_run(conn, record_id, path)
    sweeps = sweep_ids_starting(conn, record_id)
    run_too = run_starting(conn, record_id) is not None
    if record_id in sweeps or (len(sweeps) == 1 and not run_too):
        found = find_sweep(conn, record_id)
        assert found is not None
        return found
    if sweeps and run_too:
        raise StoreError(f"run_id {record_id!r} is the start of a run and of a sweep ({sweeps[0]}); give more of it.")
    if len(sweeps) > 1:
        raise StoreError(f"run_id {record_id!r} is the start of {len(sweeps)} sweeps "
                         f"({', '.join(sweeps[:5])}); give more of it.")
    return find_run(conn, record_id, path)


def sweep_of(conn: sqlite3.Connection, run_id: str) -> Sweep | None:
    """The sweep whose member the run is (None: a run of its own)."""
    row = conn.execute("SELECT sweep_id FROM sweep_runs WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else find_sweep(conn, row[0])


def sweep_ids_starting(conn: sqlite3.Connection, prefix: str) -> list[str]:
    """The ids of the sweeps that start with prefix (a non-empty one), sorted."""
    return sorted(s for (s,) in conn.execute("SELECT id FROM sweeps WHERE substr(id, 1, ?) = ?",
                                             (len(prefix), prefix))) if prefix else []


def run_starting(conn: sqlite3.Connection, prefix: str) -> tuple[str, str] | None:
    """(id, kind) of the first run whose id is prefix or starts with it (a non-empty one), else None."""
    if not prefix:
        return None
    row = conn.execute("SELECT id, kind FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id = ? DESC, id LIMIT 1",
                       (len(prefix), prefix, prefix)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def members(conn: sqlite3.Connection, sweep: Sweep) -> list[Run]:
    """The sweep's member runs in position order (one query: a sweep may have thousands)."""
    columns = ", ".join(f"r.{c}" for c in RUN_COLUMNS)
    rows = conn.execute(f"SELECT {columns} FROM sweep_runs s JOIN runs r ON r.id = s.run_id "
                        "WHERE s.sweep_id = ? ORDER BY s.position", (sweep.id,)).fetchall()
    found = [run_of(row) for row in rows]
    if len(found) != len(sweep.run_ids):
        missing = sorted(set(sweep.run_ids) - {run.id for run in found})
        raise StoreError(f"sweep {sweep.id} is damaged: its member runs {', '.join(missing[:5])} are missing.")
    return found


def member_histories(conn: sqlite3.Connection, sweep: Sweep) -> dict[str, dict[str, np.ndarray]]:
    """Every member's metrics (as ``history`` gives one run's), by run id."""
    return histories(conn, list(sweep.run_ids))


def unfinished(runs: list[Run]) -> dict[Key, str]:
    """Of a sweep's members (``members``), those that did not finish (running, interrupted or failed):
    key -> run id."""
    return {member_key(run.config): run.id for run in runs if run.status not in FINISHED}


def member_last_metrics(conn: sqlite3.Connection, sweep: Sweep) -> dict[str, dict[str, float]]:
    """Every member's metrics at its last recorded epoch (as ``last_metrics`` gives one run's), by run id,
    in one query."""
    rows = conn.execute(
        "SELECT m.run_id, m.name, m.value FROM sweep_runs s JOIN metrics m ON m.run_id = s.run_id "
        "WHERE s.sweep_id = ? AND m.epoch = (SELECT MAX(epoch) FROM metrics WHERE run_id = s.run_id) "
        "ORDER BY s.position, m.rowid", (sweep.id,))
    finals: dict[str, dict[str, float]] = {run_id: {} for run_id in sweep.run_ids}
    for run_id, name, value in rows:
        finals[run_id][name] = float("nan") if value is None else float(value)
    return finals


def sweep_result(conn: sqlite3.Connection, sweep: Sweep) -> tuple[SweepResult, dict[int, float]]:
    """The sweep's members as a SweepResult (no params), and each seed's train loss before training."""
    runs = members(conn, sweep)
    histories = member_histories(conn, sweep)
    by_group: dict[tuple[int, str], list[Run]] = {}  # (batch size, schedule) -> its members, in order
    for run in runs:
        by_group.setdefault(member_key(run.config)[:2], []).append(run)
    groups = [_group(sweep, part, histories) for part in by_group.values()]
    initial: dict[int, float] = {}
    for run in runs:
        if run.initial_loss is not None:
            initial.setdefault(run.seed, float(run.initial_loss))
    fingerprint = runs[0].dataset_fingerprint if runs else ""
    return SweepResult(groups=tuple(groups), data_fingerprint=fingerprint or ""), initial


def _group(sweep: Sweep, runs: list[Run], histories: dict[str, dict[str, np.ndarray]]) -> Group:
    """The members of one batch size as the arrays of a Group: [seed, pair], history [epoch, seed, pair]."""
    pairs = _indices((float(r.config["learning_rate"]), float(r.config.get("momentum", 0.0))) for r in runs)
    seeds = _indices(r.seed for r in runs)
    shape = (len(seeds), len(pairs))
    if len(runs) != len(seeds) * len(pairs):
        raise StoreError(f"sweep {sweep.id} is damaged: its members at batch_size {runs[0].config['batch_size']} "
                         "do not form a grid of learning rates, momenta and seeds.")
    where = {r.id: (seeds[r.seed], pairs[member_key(r.config)[2:4]]) for r in runs}
    epochs = max((len(next(iter(histories[r.id].values()), [])) for r in runs), default=0)
    names = list(dict.fromkeys([*SWEEP_METRICS, *(name for r in runs for name in histories[r.id])]))
    arrays = {name: np.full((epochs, *shape), np.nan) for name in names}
    status, reason = np.empty(shape, object), np.empty(shape, object)
    steps_run, epochs_run = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    best_epoch = np.full(shape, -1, np.int32)  # -1: none (Group.best_epoch)
    initial = np.full(len(seeds), np.nan)
    for run in runs:
        i, j = where[run.id]
        for name, values in histories[run.id].items():
            arrays[name][: len(values), i, j] = values
        status[i, j], reason[i, j], steps_run[i, j], epochs_run[i, j] = (
            run.status, run.reason, run.steps_run, run.epochs_run)
        if run.initial_loss is not None:
            initial[i] = float(run.initial_loss)
        if run.best_epoch is not None:
            best_epoch[i, j] = run.best_epoch
    first = runs[0].config
    config = {key: first.get(key) for key in ("batch_size", "loss", "epochs", "nesterov", "weight_decay",
                                              "metrics", "steps_per_epoch")}
    config["schedule"] = str(first.get("schedule", "constant"))
    seconds = sweep.results.get("seconds", {}).get(group_label(first))
    if seconds is None:  # not closed: the longest member's clock
        seconds = float(np.nanmax(arrays["wall_time"])) if "wall_time" in arrays and epochs else math.nan
    return Group(config=config, pairs=list(pairs), seeds=list(seeds), chunk_params=(), history=arrays,
                 status=status, reason=reason, steps_run=steps_run, epochs_run=epochs_run, seconds=float(seconds),
                 initial_loss=initial, best_epoch=best_epoch if any(r.best_epoch is not None for r in runs) else None,
                 recorded=tuple(name for name in names if any(name in histories[r.id] for r in runs)) or None)


def _indices(values: Iterable[T]) -> dict[T, int]:
    """Each distinct value -> its index in the order values first appear."""
    return {value: k for k, value in enumerate(dict.fromkeys(values))}


def delete_sweep(conn: sqlite3.Connection, sweep: Sweep) -> None:
    """Delete a sweep and its member runs (their metrics too); refuse one whose process still records it."""
    row = conn.execute("SELECT pid, host, process_start FROM sweeps WHERE id = ?", (sweep.id,)).fetchone()
    if sweep.status == "running" and row[0] is not None and is_alive(Process(*row)) is not False:
        raise StoreError(f"sweep {sweep.id} is running (pid {row[0]} on {row[1]}); stop it before deleting it.")
    with transaction(conn):
        conn.execute("DELETE FROM runs WHERE id IN (SELECT run_id FROM sweep_runs WHERE sweep_id = ?)", (sweep.id,))
        conn.execute("DELETE FROM sweeps WHERE id = ?", (sweep.id,))


def mark_sweeps_interrupted(conn: sqlite3.Connection, db: str | os.PathLike[str] | None = None) -> list[str]:
    """Mark ``interrupted`` every running sweep whose process (on this host) is gone; their ids (the reason's
    command names ``db``, the database's path as given, unless the default)."""
    rows = conn.execute("SELECT id, pid, host, process_start, kind, config FROM sweeps WHERE status = 'running'"
                        ).fetchall()
    dead = [r for r in rows if r[1] is not None and is_alive(Process(r[1], r[2], r[3])) is False]
    if not dead:
        return []
    with transaction(conn):
        for sweep_id, pid, host, start, kind, config in dead:
            then = resume_sweep(sweep_id, kind, db, stored_config(config))
            reason = f"interrupted: its process (pid {pid} on {host}) ended; {then} goes on with its unfinished configs"
            conn.execute(
                "UPDATE sweeps SET status = 'interrupted', reason = ?, updated_at = ? "
                "WHERE id = ? AND status = 'running' AND pid = ? AND process_start IS ?",
                (reason, now(), sweep_id, pid, start))
    return [r[0] for r in dead]


def _sweep(conn: sqlite3.Connection, row: tuple[Any, ...]) -> Sweep:
    fields = dict(zip(SWEEP_COLUMNS, row))
    fields["config"] = stored_object(fields["config"], f"sweep {fields['id']}'s config")
    fields["results"] = stored_object(fields["results"], f"sweep {fields['id']}'s results")
    ids = conn.execute("SELECT run_id FROM sweep_runs WHERE sweep_id = ? ORDER BY position", (fields["id"],))
    return Sweep(**fields, run_ids=tuple(r[0] for r in ids))
