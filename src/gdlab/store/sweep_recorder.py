"""Recording a sweep as it happens: a sweep row, one member run per config, one transaction per chunk epoch.

A member is a run of kind ``sweep`` linked to its sweep at its position (the
order of ``SweepResult.rows``). Members are inserted, all at once, when the sweep
begins, with status ``running``; each epoch of each chunk commits the metrics
of the members that trained in it and the status of those that ended, so a
sweep killed at any moment leaves every completed epoch, and its unfinished
members are marked ``interrupted`` when the database is next opened. At the
first epoch end ``checkpoint_seconds`` after the last checkpoint, the same
transaction stores a checkpoint of each member still training (its params and
sgd state; a member that ends drops its own), from which
``gd.store.resume_sweep`` goes on. A checkpoint costs about 1 ms per member on
a CPU (thousands of members in a chunk: seconds), so the next one also waits
until checkpoints have taken at most CHECKPOINT_SHARE of the time.

A member's epoch_time and wall_time are those of the vmapped program that trains it with the other configs
of its chunk (the clock it trained by, as ``SweepResult.run(k).train_seconds``: its last wall_time); the
sweep's results hold each (batch size, schedule) group's seconds (``results["seconds"]``, by group label),
whose share per config is ``SweepResult.rows``' "seconds".

A recorder can also be given members to take over (``planned``): those already
in the store, matched by (batch_size, learning_rate, momentum, seed). That is how
``gdlab compare`` records several ``gd.sweep`` calls (one per batch size) as one
sweep, and how a resumed sweep goes on with only its unfinished members.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from gdlab.core.checks import check_float_range
from gdlab.engine.recording import SweepEpoch
from gdlab.engine.result import COLLAPSED, DIVERGING
from gdlab.engine.sweep_result import SweepResult
from gdlab.engine.sweep_start import ConfigState
from gdlab.store.hints import resume_sweep
from gdlab.store.member_checkpoints import member_checkpoint
from gdlab.store.processes import this_process
from gdlab.store.recorder import config_json, free_run_ids, insert_runs, real, save_checkpoints
from gdlab.store.records import failure_reason, stored_config, transaction
from gdlab.store.schema import CLOSE_COMPACT_BYTES, COMPACT_FREE, StoreError, compact_if_free, now

logger = logging.getLogger(__name__)

SWEEP_KINDS = ("sweep", "compare")
SWEEP_STATUSES = ("running", "done", "interrupted", "failed")
CHECKPOINT_SECONDS = 30.0
"""The least time between two checkpoints of a sweep's members, by default."""
CHECKPOINT_SHARE = 0.1
"""The most of a sweep's time that its checkpoints take (unless checkpoint_seconds is 0: every epoch)."""

Key = tuple[int, str, float, float, int]
"""A member's (batch_size, learning_rate, momentum, seed)."""


def group_label(config: dict[str, Any]) -> str:
    """The key of a (batch size, schedule) group in a sweep's results: "32", or "32 cosine"."""
    schedule = str(config.get("schedule", "constant"))
    return str(config["batch_size"]) + ("" if schedule == "constant" else f" {schedule}")


def member_key(config: dict[str, Any]) -> Key:
    """(batch_size, schedule, learning_rate, momentum, seed) of a member's config."""
    return (int(config["batch_size"]), str(config.get("schedule", "constant")), float(config["learning_rate"]),
            float(config.get("momentum", 0.0)), int(config["seed"]))


class SweepRecorder:
    """Records ``gd.sweep`` runs as one sweep in a store (pass it as ``gd.sweep(..., record=...)``).

    ``sweep_id`` is chosen when the recorder is made (or is the resumed sweep's).
    With ``finish_on_end`` (the default) the sweep is closed when ``gd.sweep``
    ends; otherwise several sweeps may be recorded into it until ``finish()``.
    ``checkpoint_seconds``: the least time between two checkpoints of the members
    (0: after every epoch). ``from_epoch``: of the members taken over (``todo``), those
    that go on from a checkpoint, by run id (their metrics up to it are kept).
    ``on_begin`` is told the sweep id once the sweep is in the store
    (``store.sweep_recorder()`` sets ``store.last_sweep_id`` so). ``db``: the database's path as the
    store was opened with, for the command an interrupted member's reason gives.
    """

    def __init__(
        self, conn: sqlite3.Connection, kind: str = "sweep", extra: dict[str, Any] | None = None,
        *, finish_on_end: bool = True, sweep_id: str | None = None, todo: dict[Key, str] | None = None,
        checkpoint_seconds: float = CHECKPOINT_SECONDS, from_epoch: dict[str, int] | None = None,
        on_begin: Callable[[str], None] | None = None, db: str | os.PathLike[str] | None = None,
    ) -> None:
        if kind not in SWEEP_KINDS:
            raise ValueError(f"kind must be one of {SWEEP_KINDS}; got {kind!r}.")
        self.checkpoint_seconds = check_float_range("checkpoint_seconds", checkpoint_seconds, 0.0, math.inf)
        self._from_epoch = dict(from_epoch or {})
        self._checkpointed = time.monotonic()  # when the last checkpoint ended
        self._checkpoint_cost = 0.0  # and how long it took
        self.conn = conn
        self.on_begin = on_begin  # told the sweep id once the sweep is in the store (the store's last_sweep_id)
        self.kind = kind
        self.db = db  # named by the members' reasons when interrupted (gdlab resume --db DB)
        self.extra = dict(extra or {})
        self.finish_on_end = finish_on_end
        self.sweep_id = sweep_id or secrets.token_hex(4)
        self._exists = sweep_id is not None
        self._taken = False  # whether this recorder made the sweep or took it over (it is running here)
        self._todo = dict(todo or {})  # members in the store to (re)run, by key
        self._insert_new = todo is None  # False once planned: only the planned members are recorded
        self._ids: dict[int, str] = {}  # position in the current gd.sweep call -> member run id
        self._steps: dict[int, int] = {}
        self._seconds: dict[str, float] = {}  # per group label, summed over this recorder's gd.sweep calls

    def plan(
        self, config: dict[str, Any], members: list[dict[str, Any]], results: dict[str, Any] | None = None
    ) -> None:
        """Create the sweep with all its members now (they are taken over as gd.sweep calls reach them)."""
        with transaction(self.conn):
            self._create(config)
            merge_results(self.conn, self.sweep_id, results or {})
            for member, run_id in zip(members, self._insert_members(members)):
                self._todo[member_key(member)] = run_id
        self._insert_new = False
        self._announce()

    def begin_sweep(self, config: dict[str, Any], members: list[dict[str, Any]]) -> None:
        self._ids, self._steps = {}, {}
        with transaction(self.conn):
            if self._exists:
                _take_sweep(self.conn, self.sweep_id, again=self._taken)
                self._taken = True
            else:
                self._create(config)
            new: list[int] = []
            taken: list[tuple[str, dict[str, Any], int]] = []
            for position, member in enumerate(members):
                key = member_key(member)
                if key in self._todo:
                    run_id = self._todo.pop(key)
                    taken.append((run_id, member, self._from_epoch.get(run_id, 0)))
                    self._ids[position] = run_id
                elif self._insert_new:
                    new.append(position)
                # else finished already, or skipped (a resumed sweep goes on with a grid that covers it)
            self._take_over(taken)
            for position, run_id in zip(new, self._insert_members([members[k] for k in new])):
                self._ids[position] = run_id
            self._steps = {position: int(members[position].get("steps_per_epoch", 0)) for position in self._ids}
        self._announce()

    def _announce(self) -> None:
        if self.on_begin is not None:
            self.on_begin(self.sweep_id)

    def sweep_epoch(self, epoch: SweepEpoch) -> None:
        """One epoch of a chunk, one transaction: its members' metrics and progress, initial losses, ends
        (and the checkpoint when one is due), each kind of row written by one statement."""
        stamp = now()
        ids = self._ids
        # in run id order: rows that go into the indexes in their order (16% faster for 10,000 members)
        trained = sorted(((position, ids[position]) for position in epoch.metrics if position in ids),
                         key=lambda pair: pair[1])
        with transaction(self.conn):
            self.conn.executemany(
                "INSERT INTO metrics (run_id, epoch, name, value) VALUES (?, ?, ?, ?)",
                [(run_id, epoch.epoch, k, real(v)) for position, run_id in trained
                 for k, v in epoch.metrics[position].items()])
            self.conn.executemany(
                "UPDATE runs SET epochs_run = ?, steps_run = ?, updated_at = ? WHERE id = ?",
                [(epoch.epoch, epoch.epoch * self._steps[position], stamp, run_id) for position, run_id in trained])
            self.conn.executemany("UPDATE runs SET initial_loss = ? WHERE id = ?",
                                  [(real(value), ids[position]) for position, value in epoch.initial_loss.items()
                                   if position in ids])
            ended = [(ended, ids[position]) for position, ended in epoch.ended.items() if position in ids]
            self.conn.executemany(
                "UPDATE runs SET status = ?, reason = ?, epochs_run = ?, steps_run = ?, best_epoch = ?, updated_at = ? "
                "WHERE id = ?", [(*end, stamp, run_id) for end, run_id in ended])
            self.conn.executemany("DELETE FROM checkpoints WHERE run_id = ?", [(run_id,) for _, run_id in ended])
            if epoch.snapshot is not None and checkpoint_due(time.monotonic() - self._checkpointed,
                                                             self._checkpoint_cost, self.checkpoint_seconds):
                self._checkpoint(epoch.epoch, epoch.snapshot)
            self.conn.execute("UPDATE sweeps SET updated_at = ? WHERE id = ?", (stamp, self.sweep_id))

    def end_sweep(self, result: SweepResult) -> None:
        for group in result.groups:  # a resumed group may come in several calls (one per checkpoint epoch)
            label = group_label(group.config)
            self._seconds[label] = self._seconds.get(label, 0.0) + group.seconds
        with transaction(self.conn):
            merge_results(self.conn, self.sweep_id, {"seconds": self._seconds})
            if self.finish_on_end:
                _close(self.conn, self.sweep_id)
        if self.finish_on_end:
            _compact(self.conn)

    def fail_sweep(self, error: BaseException) -> None:
        fail_sweep(self.conn, self.sweep_id, error, self.kind, self.db)

    def finish(self, results: dict[str, Any] | None = None) -> None:
        """Close the sweep (its status from its members'), merging results into its stored results."""
        finish_sweep(self.conn, self.sweep_id, results)

    def _create(self, config: dict[str, Any]) -> None:
        stamp = now()
        for _ in range(5):
            try:
                self.conn.execute(
                    "INSERT INTO sweeps (id, kind, created_at, updated_at, status, config, pid, host, process_start) "
                    "VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                    (self.sweep_id, self.kind, stamp, stamp, config_json({**config, **self.extra}),
                     *this_process()))
                self._exists = self._taken = True
                return
            except sqlite3.IntegrityError:
                self.sweep_id = secrets.token_hex(4)
        raise StoreError("could not find a free sweep id after 5 tries.")

    def _insert_members(self, members: list[dict[str, Any]]) -> list[str]:
        """Insert members as new runs of kind sweep at the next positions of the sweep; their run ids."""
        position = self.conn.execute(
            "SELECT COALESCE(MAX(position) + 1, 0) FROM sweep_runs WHERE sweep_id = ?", (self.sweep_id,)
        ).fetchone()[0]
        run_ids = free_run_ids(self.conn, len(members))
        insert_runs(self.conn, list(zip(run_ids, members)), "sweep", 0)
        self.conn.executemany("INSERT INTO sweep_runs (sweep_id, position, run_id) VALUES (?, ?, ?)",
                              [(self.sweep_id, position + k, run_id) for k, run_id in enumerate(run_ids)])
        return run_ids

    def _checkpoint(self, epoch: int, snapshot: Callable[[], dict[int, ConfigState]]) -> None:
        """Store each member's state after this epoch (inside the epoch's transaction)."""
        start = time.monotonic()
        save_checkpoints(self.conn, [(self._ids[position], member_checkpoint(epoch, state))
                                     for position, state in snapshot().items() if position in self._ids])
        self._checkpointed = time.monotonic()
        self._checkpoint_cost = self._checkpointed - start

    def _take_over(self, members: list[tuple[str, dict[str, Any], int]]) -> None:
        """Start planned or unfinished members, (run id, config, epoch) each, afresh (epoch 0: no metrics) or
        from their checkpoint at epoch (their metrics up to it kept): their full configuration, this process."""
        process, stamp = this_process(), now()
        self.conn.executemany("DELETE FROM metrics WHERE run_id = ? AND epoch > ?",
                              [(run_id, epoch) for run_id, _, epoch in members])
        self.conn.executemany("DELETE FROM checkpoints WHERE run_id = ? AND epoch != ?",
                              [(run_id, epoch) for run_id, _, epoch in members])
        self.conn.executemany(
            "UPDATE runs SET status = 'running', reason = '', best_epoch = NULL, config = ?, epochs = ?, epochs_run = ?, "
            "steps_run = ?, "
            "initial_loss = CASE WHEN ? > 0 THEN initial_loss END, "
            "resumed = resumed + (epochs_run > 0 OR status != 'running'), "
            "pid = ?, host = ?, process_start = ?, updated_at = ? WHERE id = ?",
            [(config_json(member), int(member.get("epochs", 0)), epoch,
              epoch * int(member.get("steps_per_epoch", 0)), epoch, *process, stamp, run_id)
             for run_id, member, epoch in members])


def _take_sweep(conn: sqlite3.Connection, sweep_id: str, again: bool) -> None:
    """Mark the sweep running in this process (inside the caller's transaction); unless this recorder has it
    already (again), only if it is not running: another resume (process or thread) may have taken it over
    since it was found interrupted."""
    taken = conn.execute(
        "UPDATE sweeps SET status = 'running', reason = '', updated_at = ?, pid = ?, host = ?, process_start = ? "
        "WHERE id = ? AND (? OR status != 'running')", (now(), *this_process(), sweep_id, again)).rowcount
    if taken != 1:
        raise StoreError(f"sweep_id {sweep_id} is running in another process; it cannot be resumed twice.")


def checkpoint_due(since: float, cost: float, every: float) -> bool:
    """Whether to checkpoint now, ``since`` seconds after the last checkpoint ended, which took ``cost``:
    after ``every`` seconds, and late enough that checkpoints take at most CHECKPOINT_SHARE of the time,
    since >= cost x (1 / share - 1); ``every`` 0 checkpoints every epoch, whatever it costs."""
    return every == 0 or since >= max(every, cost * (1 / CHECKPOINT_SHARE - 1))


def fail_sweep(
    conn: sqlite3.Connection, sweep_id: str, error: BaseException, kind: str, db: str | os.PathLike[str] | None
) -> None:
    """Record that a sweep stopped on error: its running members and itself interrupted (Ctrl-C, a signal) or
    failed, each member's reason naming the call that goes on with it (kind, db: as its resume hint names them)."""
    status, reason = failure_reason(error)
    try:
        if conn.in_transaction:  # the error struck inside an epoch's transaction
            conn.execute("ROLLBACK")
        with transaction(conn):
            row = conn.execute("SELECT config FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
            hint = resume_sweep(sweep_id, kind, db, stored_config(row and row[0]))
            conn.execute(
                "UPDATE runs SET status = ?, reason = ?, updated_at = ? WHERE status = 'running' AND id IN "
                "(SELECT run_id FROM sweep_runs WHERE sweep_id = ?)",
                (status, f"{reason}; {hint} goes on with it", now(), sweep_id))
            conn.execute("UPDATE sweeps SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
                         (status, reason, now(), sweep_id))
    except sqlite3.Error as err:  # the sweep's own error matters more
        logger.warning("could not record that sweep %s %s: %s", sweep_id, status, err)


def take_sweep(conn: sqlite3.Connection, sweep_id: str) -> None:
    """Mark a sweep that is not running elsewhere running in this process (a StoreError if it is)."""
    with transaction(conn):
        _take_sweep(conn, sweep_id, again=False)


def finish_sweep(conn: sqlite3.Connection, sweep_id: str, results: dict[str, Any] | None = None) -> None:
    """Close a sweep (its status from its members'), merging results into its stored results."""
    with transaction(conn):
        merge_results(conn, sweep_id, results or {})
        _close(conn, sweep_id)
    _compact(conn)


def merge_results(conn: sqlite3.Connection, sweep_id: str, results: dict[str, Any]) -> None:
    """Merge results into a sweep's stored results (a dict value into the stored dict), in the caller's
    transaction."""
    stored = json.loads(conn.execute("SELECT results FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()[0])
    for key, value in results.items():
        if isinstance(value, dict) and isinstance(stored.get(key), dict):
            stored[key] = {**stored[key], **value}
        else:
            stored[key] = value
    conn.execute("UPDATE sweeps SET results = ? WHERE id = ?", (config_json(stored), sweep_id))


def _noted(members: int, collapsed: int, diverging: int) -> str:
    """' (2 of them collapsed)', ' (all diverging)' or ' (2 collapsed, 1 diverging)' after a count of members;
    '' where none collapsed or was diverging."""
    kinds = [(n, word) for n, word in ((collapsed, "collapsed"), (diverging, "diverging")) if n]
    if not kinds:
        return ""
    if len(kinds) == 2:
        return f" ({collapsed} collapsed, {diverging} diverging)"
    n, word = kinds[0]
    return f" ({n} of them {word})" if n < members else f" (all {word})" if members > 1 else f" ({word})"


def _compact(conn: sqlite3.Connection) -> None:
    """A closed sweep's file shrinks where its members' checkpoints, dropped as each ended, left most pages free
    (when what is left is small enough to copy at once: CLOSE_COMPACT_BYTES; else gdlab runs delete compacts it)."""
    compact_if_free(conn, COMPACT_FREE, CLOSE_COMPACT_BYTES)


def _close(conn: sqlite3.Connection, sweep_id: str) -> None:
    """The sweep's status from its members': running, interrupted or failed if any is, else done; its reason
    counts them by status, and those that collapsed or were still diverging (their reason says so): 'done: 6
    diverged, 18 max_epochs (2 of them collapsed)'."""
    rows = conn.execute(
        "SELECT r.status, COUNT(*), SUM(instr(r.reason, ?) > 0), SUM(instr(r.reason, ?) > 0) FROM sweep_runs s "
        "JOIN runs r ON r.id = s.run_id WHERE s.sweep_id = ? GROUP BY r.status ORDER BY r.status",
        (COLLAPSED, DIVERGING, sweep_id)).fetchall()
    unfinished = [s for s in ("running", "interrupted", "failed") if any(row[0] == s for row in rows)]
    status = unfinished[0] if unfinished else "done"
    reason = f"{status}: " + ", ".join(f"{n} {s}{_noted(n, c, d)}" for s, n, c, d in rows)
    conn.execute("UPDATE sweeps SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
                 (status, reason, now(), sweep_id))
