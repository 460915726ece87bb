"""Reading and deleting run records: runs, their per-epoch metrics and their checkpoints."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from gdlab.core.checks import check_choice
from gdlab.datasets import NAMES as DATASET_NAMES
from gdlab.datasets.files import SUFFIXES
from gdlab.engine.result import STATUSES
from gdlab.store.checkpoints import StoredCheckpoint, unpack
from gdlab.store.hints import gdlab, resume_run, resume_sweep
from gdlab.store.processes import Process, is_alive
from gdlab.store.schema import StoreError, now

RECORD_STATUSES = ("running", "interrupted", "failed", "done", *STATUSES)
"""A run's status in the store: running, interrupted (its process ended), failed, done (a finished
learning-rate finder), or fit's status."""


@dataclass(frozen=True)
class Run:
    """One recorded run (a row of ``runs``); ``config`` is the full configuration fit reported."""

    id: str
    kind: str
    created_at: str
    updated_at: str
    status: str
    reason: str
    config: dict[str, Any]
    model: str
    dataset: str
    dataset_fingerprint: str
    seed: int
    epochs: int
    epochs_run: int
    steps_run: int
    checkpoint_every: int
    resumed: int
    gdlab_version: str
    jax_version: str
    device: str
    pid: int | None
    host: str | None
    initial_loss: float | None = None
    best_epoch: int | None = None
    """With early_stopping(restore_best=True): the epoch whose params the run returned (0: the initial params)."""


RUN_COLUMNS = tuple(Run.__dataclass_fields__)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """One transaction: all of it is committed, or (on any exception, Ctrl-C included) none of it."""
    conn.execute(f"BEGIN {mode}")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def list_runs(
    conn: sqlite3.Connection,
    status: str | None = None,
    dataset: str | None = None,
    since: str | datetime.datetime | None = None,
) -> list[Run]:
    """Runs, newest first; only those with this status, on this data set (``recorded_name``), created at or
    after since."""
    status = None if status is None else check_choice("status", status, RECORD_STATUSES)
    return [run_of(row) for row in newest_first(conn, "runs", RUN_COLUMNS,
                                               {"status": status, "dataset": recorded_name(dataset)}, since)]


def recorded_name(dataset: str | None) -> str | None:
    """A data set as runs record it: a named data set in any case ('MNIST1D' -> 'mnist1d'), as gdlab runs list
    --dataset reads it; a file's name (its stem) as given, since files differ by case, also when given as the
    file gdlab fit took ('data/my.csv' -> 'my': runs record the stem)."""
    if dataset is None:
        return None
    if dataset.lower() in DATASET_NAMES:
        return dataset.lower()
    path = PurePath(dataset)
    return path.stem if path.suffix.lower() in SUFFIXES else dataset


def newest_first(
    conn: sqlite3.Connection, table: str, columns: tuple[str, ...], equal: dict[str, Any],
    since: str | datetime.datetime | None,
) -> list[tuple[Any, ...]]:
    """Rows of table, newest first, whose columns (or SQL expressions of them) equal the given values (None: any),
    created at or after since."""
    where = [f"{name} = ?" for name, value in equal.items() if value is not None]
    args = [value for value in equal.values() if value is not None]
    if since is not None:
        where.append("created_at >= ?")
        args.append(utc_text(since))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return conn.execute(
        f"SELECT {', '.join(columns)} FROM {table} {clause} ORDER BY created_at DESC, rowid DESC", args
    ).fetchall()


def find_run(conn: sqlite3.Connection, run_id: str, path: Path) -> Run:
    """The run with this id, or the only run whose id starts with it."""
    select = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
    row = conn.execute(f"{select} WHERE id = ?", (run_id,)).fetchone()
    if row is not None:
        return run_of(row)
    rows = conn.execute(f"{select} WHERE substr(id, 1, ?) = ?", (len(run_id), run_id)).fetchall()
    if len(rows) == 1 and run_id:
        return run_of(rows[0])
    if len(rows) > 1 and run_id:
        ids = ", ".join(sorted(r[0] for r in rows)[:5])
        members = sum(run_of(r).kind == "sweep" for r in rows)  # runs list leaves them out: say where they are
        are = "is a member" if members == 1 else "are members"
        of_sweeps = (f" {members} of them {are} of sweeps, which {gdlab('runs list --sweeps', path)} lists."
                     if members else "")
        raise StoreError(f"run_id {run_id!r} is the start of {len(rows)} runs ({ids}); give more of it.{of_sweeps}")
    raise StoreError(
        f"run_id must name a run in {str(path)!r} (see gdlab runs list); got {run_id!r}."
    )


def history(conn: sqlite3.Connection, run_id: str, up_to: int | None = None) -> dict[str, np.ndarray]:
    """The run's metrics, name -> one float per epoch 1..up_to (all recorded epochs by default)."""
    return histories(conn, [run_id], up_to)[run_id]


def histories(
    conn: sqlite3.Connection, run_ids: list[str], up_to: int | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """Each run's ``history``, by run id, read 500 runs to a query (a sweep's thousands of members)."""
    by_run: dict[str, list[tuple[int, str, Any]]] = {run_id: [] for run_id in run_ids}
    for part, marks in in_batches(run_ids):
        rows = conn.execute(
            f"SELECT run_id, epoch, name, value FROM metrics WHERE run_id IN ({marks}) "
            "AND epoch <= ? ORDER BY run_id, epoch, rowid", (*part, up_to if up_to is not None else 2**62))
        for run_id, *rest in rows:
            by_run[run_id].append(tuple(rest))
    return {run_id: history_columns(run_id, rows) for run_id, rows in by_run.items()}


def in_batches(ids: list[str], size: int = 500) -> Iterator[tuple[list[str], str]]:
    """ids size at a time (SQLite limits a statement's variables), each part with its "?, ?, ..." for IN (...)."""
    for first in range(0, len(ids), size):
        part = ids[first : first + size]
        yield part, ", ".join("?" * len(part))


def history_columns(run_id: str, rows: list[tuple[int, str, Any]]) -> dict[str, np.ndarray]:
    """A run's (epoch, name, value) metric rows, in epoch and insertion order, as name -> one float per epoch;
    a metric that lacks an epoch another has is a StoreError."""
    columns: dict[str, list[float]] = {}
    last = max((r[0] for r in rows), default=0)
    for epoch, name, value in rows:
        column = columns.setdefault(name, [])
        if len(column) != epoch - 1:
            raise StoreError(f"metrics of run {run_id} are incomplete: {name} lacks epoch {len(column) + 1}.")
        column.append(float("nan") if value is None else float(value))
    for name, column in columns.items():
        if len(column) != last:
            raise StoreError(f"metrics of run {run_id} are incomplete: {name} lacks epoch {len(column) + 1}.")
    return {name: np.array(column, dtype=np.float64) for name, column in columns.items()}


def last_metrics(conn: sqlite3.Connection, run_id: str) -> dict[str, float]:
    """The run's metrics at its last recorded epoch (empty if none)."""
    rows = conn.execute(
        "SELECT name, value FROM metrics WHERE run_id = ? AND epoch = "
        "(SELECT MAX(epoch) FROM metrics WHERE run_id = ?) ORDER BY rowid",
        (run_id, run_id),
    )
    return {name: float("nan") if value is None else float(value) for name, value in rows}


def load_checkpoint(
    conn: sqlite3.Connection, run_id: str, epoch: int | None = None, metrics: bool = True
) -> StoredCheckpoint | None:
    """The run's checkpoint at epoch (default: the latest), checksum verified; None if it has none.
    metrics=False leaves its history empty (a sweep member's are read with its group's)."""
    query = "SELECT epoch, initial_loss, best_epoch, structure, blob, sha256 FROM checkpoints WHERE run_id = ?"
    with transaction(conn, "DEFERRED"):  # one snapshot: the checkpoint and its metrics agree
        if epoch is None:
            row = conn.execute(f"{query} ORDER BY epoch DESC LIMIT 1", (run_id,)).fetchone()
        else:
            row = conn.execute(f"{query} AND epoch = ?", (run_id, epoch)).fetchone()
        if row is None:
            return None
        found, initial_loss, best_epoch, structure, blob, sha256 = row
        stored = history(conn, run_id, up_to=found) if metrics else {}
    leaves = unpack(blob, sha256, structure, f"run {run_id} at epoch {found}")
    return StoredCheckpoint(
        run_id=run_id,
        epoch=found,
        leaves=leaves,
        history=stored,
        initial_loss=float("nan") if initial_loss is None else float(initial_loss),
        best_epoch=best_epoch,
    )


def delete_run(conn: sqlite3.Connection, run: Run) -> None:
    """Delete a run with its metrics and checkpoints; refuse one whose process still records it."""
    if run.status == "running" and _process_of(conn, run.id) is not False:
        raise StoreError(
            f"run_id {run.id} is running (pid {run.pid} on {run.host}); stop it before deleting it."
        )
    with transaction(conn):
        conn.execute("DELETE FROM runs WHERE id = ?", (run.id,))


def mark_interrupted(conn: sqlite3.Connection, db: str | os.PathLike[str] | None = None) -> list[str]:
    """Mark ``interrupted`` every running run whose process (on this host) is gone; their ids.

    The reason says how to go on: its command names ``db`` (the database's path as given, unless the default),
    and its checkpoint only where one was saved.
    """
    rows = conn.execute(
        "SELECT id, pid, host, process_start, epochs_run, config, "
        "(SELECT MAX(epoch) FROM checkpoints WHERE run_id = runs.id), "
        "(SELECT sweep_id FROM sweep_runs WHERE run_id = runs.id), "
        "(SELECT s.kind FROM sweep_runs m JOIN sweeps s ON s.id = m.sweep_id WHERE m.run_id = runs.id), "
        "(SELECT s.config FROM sweep_runs m JOIN sweeps s ON s.id = m.sweep_id WHERE m.run_id = runs.id) "
        "FROM runs WHERE status = 'running'"
    ).fetchall()
    dead = [r for r in rows if r[1] is not None and is_alive(Process(r[1], r[2], r[3])) is False]
    if not dead:
        return []
    with transaction(conn):
        for run_id, pid, host, start, epochs_run, config, checkpoint, sweep_id, kind, sweep_config in dead:
            stored = stored_config(config)
            by_cli = isinstance(stored.get("cli"), dict)  # a gdlab fit run: gdlab resume takes it
            then = (resume_run(run_id, by_cli, checkpoint, db, stored) if sweep_id is None
                    else f"{resume_sweep(sweep_id, kind, db, stored_config(sweep_config))} goes on with it")
            reason = f"interrupted: its process (pid {pid} on {host}) ended after epoch {epochs_run}; {then}"
            conn.execute(
                "UPDATE runs SET status = 'interrupted', reason = ?, updated_at = ? "
                "WHERE id = ? AND status = 'running' AND pid = ? AND process_start IS ?",
                (reason, now(), run_id, pid, start),
            )
    return [r[0] for r in dead]


def utc_text(when: str | datetime.datetime) -> str:
    """A date or time (ISO 8601 text or datetime; local time when it has no zone) as stored UTC text."""
    if isinstance(when, str):
        try:
            when = datetime.datetime.fromisoformat(when.strip())
        except ValueError:
            raise ValueError(
                f"since must be a date or time such as 2025-01-31 or 2025-01-31T14:00; got {when!r}."
            ) from None
    if not isinstance(when, datetime.datetime):
        raise TypeError(f"since must be a datetime or ISO 8601 text; got {when!r}.")
    try:
        when = when.astimezone(datetime.UTC)
    except (OverflowError, ValueError):  # within hours of year 1 or 9999: before or after every record
        when = (datetime.datetime.min if when.year == datetime.MINYEAR else datetime.datetime.max).replace(
            tzinfo=datetime.UTC)
    return when.isoformat(timespec="milliseconds")


def _process_of(conn: sqlite3.Connection, run_id: str) -> bool | None:
    row = conn.execute("SELECT pid, host, process_start FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None or row[0] is None else is_alive(Process(*row))


def run_of(row: tuple[Any, ...]) -> Run:
    fields = dict(zip(RUN_COLUMNS, row))
    fields["config"] = stored_object(fields["config"], f"run {fields['id']}'s config")
    return Run(**fields)


def stored_object(text: Any, what: str) -> dict[str, Any]:
    """A JSON object stored as text; a damaged one (edited by hand, cut short) is a StoreError naming what."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as err:
        raise StoreError(f"the database is damaged: {what} is not JSON ({err}).") from None
    if not isinstance(value, dict):
        raise StoreError(f"the database is damaged: {what} must be a JSON object; got {value!r:.60}.")
    return value


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys: {"rule": {"momentum": 0.9}} -> {"rule.momentum": 0.9}."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flat_config(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def stored_config(text: Any) -> dict[str, Any]:
    """A run's or sweep's stored config read back ({} where it is damaged: resuming it says what is wrong)."""
    try:
        return stored_object(text, "config")
    except StoreError:
        return {}


def failure_reason(error: BaseException) -> tuple[str, str]:
    """(status, reason) of a run or sweep that an exception ended: "interrupted: Ctrl-C" (a KeyboardInterrupt;
    one with a message says it: "interrupted: stopped from the lab"), "interrupted: the program exited (code 3)"
    (SystemExit), else "failed: ValueError: <its first line>"."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted", f"interrupted: {str(error).splitlines()[0] if str(error) else 'Ctrl-C'}"
    if isinstance(error, SystemExit):  # sys.exit(), sys.exit(3) or sys.exit("a message")
        code = 0 if error.code is None else error.code
        said = f"code {code}" if isinstance(code, int) else (str(code).splitlines() or [""])[0]
        return "interrupted", f"interrupted: the program exited ({said})"
    text = str(error).splitlines()[0] if str(error) else ""
    return "failed", f"failed: {type(error).__name__}{': ' + text if text else ''}"
