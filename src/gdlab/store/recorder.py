"""Recording a run as it happens: one transaction per epoch, checkpoints every N epochs and at the end."""

from __future__ import annotations

import json
import logging
import math
import secrets
import sqlite3
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from gdlab.core.checks import check_int_range
from gdlab.engine.config_record import SGD_OPTIONS
from gdlab.engine.loop import Checkpoint
from gdlab.engine.result import Result
from gdlab.store.checkpoints import pack
from gdlab.store.processes import this_process
from gdlab.store.records import Run, failure_reason, in_batches, transaction
from gdlab.store.schema import StoreError, now

logger = logging.getLogger(__name__)


class RunRecorder:
    """Records one ``gd.fit`` run into a store (pass it as ``gd.fit(..., record=...)``).

    ``run_id`` is chosen when the recorder is made. Each epoch's metrics (and,
    every ``checkpoint_every`` epochs, a checkpoint) are committed in one
    transaction, so a run killed at any moment leaves every completed epoch.
    With ``resume=(run, epoch)`` it goes on recording that run after its
    checkpoint at ``epoch`` (0: from the start), checking that the
    configuration is the run's. ``on_begin`` is told the run id once the run
    is in the store (``store.recorder()`` sets ``store.last_run_id`` so).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        checkpoint_every: int = 1,
        extra: dict[str, Any] | None = None,
        resume: tuple[Run, int] | None = None,
        on_begin: Callable[[str], None] | None = None,
    ) -> None:
        self.conn = conn
        self.on_begin = on_begin  # told the run id once the run is in the store (the store's last_run_id)
        self.checkpoint_every = check_int_range("checkpoint_every", checkpoint_every, 1)
        self.extra = dict(extra or {})
        self.resume = resume
        self.run_id = resume[0].id if resume else secrets.token_hex(4)
        self._last: Checkpoint | None = None  # the latest epoch's checkpoint, saved or not
        self._saved = True
        self._recorded = resume[1] if resume else 0  # epochs whose metrics are in the store
        self._steps_per_epoch = 0

    def begin(self, config: dict[str, Any]) -> None:
        self._steps_per_epoch = int(config.get("steps_per_epoch", 0))
        if self.resume is None:
            _insert_run(self, {**config, **self.extra})
        else:
            _continue_run(self.conn, self.resume[0], self.resume[1], config)
        if self.on_begin is not None:
            self.on_begin(self.run_id)

    def epoch(self, checkpoint: Checkpoint) -> None:
        due = checkpoint.epoch % self.checkpoint_every == 0
        with transaction(self.conn):
            insert_metrics(self.conn, self.run_id, checkpoint.history, checkpoint.epoch)
            if checkpoint.epoch == 1:
                self.conn.execute("UPDATE runs SET initial_loss = ? WHERE id = ?",
                                  (real(checkpoint.initial_loss), self.run_id))
            self.conn.execute(
                "UPDATE runs SET epochs_run = ?, steps_run = ?, updated_at = ? WHERE id = ?",
                (checkpoint.epoch, checkpoint.epoch * self._steps_per_epoch, now(), self.run_id),
            )
            if due:
                save_checkpoint(self.conn, self.run_id, checkpoint)
        self._last, self._saved, self._recorded = checkpoint, due, checkpoint.epoch

    def end(self, result: Result) -> None:
        with transaction(self.conn):
            for epoch in range(self._recorded + 1, result.epochs_run + 1):  # a diverged last epoch
                insert_metrics(self.conn, self.run_id, result.history, epoch)
            self._save_last()
            self.conn.execute(  # the initial loss too: a run that diverged in epoch 1 recorded no epoch
                "UPDATE runs SET status = ?, reason = ?, epochs_run = ?, steps_run = ?, updated_at = ?, "
                "initial_loss = COALESCE(initial_loss, ?), best_epoch = ? WHERE id = ?",
                (result.status, result.reason, result.epochs_run, result.steps_run, now(),
                 real(result.initial_loss), result.best_epoch, self.run_id),
            )

    def fail(self, error: BaseException) -> None:
        status, said = failure_reason(error)
        try:
            if self.conn.in_transaction:  # the error struck inside an epoch's transaction
                self.conn.execute("ROLLBACK")
            # the store's count: Ctrl-C may strike after an epoch's commit, before this recorder noted it
            (done,) = self.conn.execute("SELECT epochs_run FROM runs WHERE id = ?", (self.run_id,)).fetchone()
            reason = f"{said} after epoch {done}"
            with transaction(self.conn):
                self._save_last()
                self.conn.execute(
                    "UPDATE runs SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
                    (status, reason, now(), self.run_id),
                )
        except sqlite3.Error as err:  # the run's own error matters more; the row stays 'running'
            logger.warning("could not record that run %s %s: %s", self.run_id, status, err)

    def _save_last(self) -> None:
        if self._last is not None and not self._saved:
            save_checkpoint(self.conn, self.run_id, self._last)
            self._saved = True


def save_checkpoint(conn: sqlite3.Connection, run_id: str, checkpoint: Checkpoint) -> None:
    """Store the checkpoint and drop the run's older ones (inside the caller's transaction)."""
    save_checkpoints(conn, [(run_id, checkpoint)])


def save_checkpoints(conn: sqlite3.Connection, checkpoints: list[tuple[str, Checkpoint]]) -> None:
    """Store each (run id, checkpoint) and drop those runs' older ones (inside the caller's transaction),
    one statement for them all. The older ones go first, so the new ones take their pages: the other
    order held two checkpoints of every member at once and doubled the file (63.8 against 32.6 MB for
    256 members of the MNIST-1D MLP)."""
    stamp = now()
    rows = []
    for run_id, checkpoint in checkpoints:
        blob, sha256, structure = pack(checkpoint)
        rows.append((run_id, checkpoint.epoch, stamp, real(checkpoint.initial_loss), checkpoint.best_epoch,
                     structure, blob, sha256))
    conn.executemany("DELETE FROM checkpoints WHERE run_id = ? AND epoch < ?",
                     [(run_id, checkpoint.epoch) for run_id, checkpoint in checkpoints])
    conn.executemany(
        "INSERT OR REPLACE INTO checkpoints "
        "(run_id, epoch, created_at, initial_loss, best_epoch, structure, blob, sha256) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def config_json(config: Any) -> str:
    """A configuration (or one of its values) as JSON; NaN and inf kept as Python's json writes them."""
    return json.dumps(config, default=_plain)


def _insert_run(recorder: RunRecorder, config: dict[str, Any]) -> None:
    for _ in range(5):  # a new id if a random one is taken
        try:
            with transaction(recorder.conn):
                insert_run(recorder.conn, recorder.run_id, config, "fit", recorder.checkpoint_every)
            return
        except sqlite3.IntegrityError:
            recorder.run_id = secrets.token_hex(4)
    raise StoreError("could not find a free run id after 5 tries.")


def insert_run(conn: sqlite3.Connection, run_id: str, config: dict[str, Any], kind: str, checkpoint_every: int) -> None:
    """Insert a new run row (status running, this process) inside the caller's transaction."""
    insert_runs(conn, [(run_id, config)], kind, checkpoint_every)


def insert_runs(
    conn: sqlite3.Connection, runs: list[tuple[str, dict[str, Any]]], kind: str, checkpoint_every: int
) -> None:
    """Insert new run rows, (run id, config) each (status running, this process), inside the caller's
    transaction: one statement for them all (a sweep's thousands of members)."""
    import gdlab

    device = jax.devices()[0]
    stamp, process = now(), this_process()
    conn.executemany(
        "INSERT INTO runs (id, kind, created_at, updated_at, status, config, model, dataset, "
        "dataset_fingerprint, seed, epochs, checkpoint_every, gdlab_version, jax_version, "
        "device, pid, host, process_start) "
        "VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(run_id, kind, stamp, stamp, config_json(config), str(config.get("model", "")),
          str(config.get("dataset", "")), str(config.get("dataset_fingerprint", "")),
          int(config.get("seed", 0)), int(config.get("epochs", 0)), checkpoint_every,
          gdlab.__version__, jax.__version__, f"{device.device_kind} ({device})", *process)
         for run_id, config in runs],
    )


def free_run_ids(conn: sqlite3.Connection, n: int) -> list[str]:
    """n new random run ids (8 hex digits), distinct, none of them a run's already."""
    ids: dict[str, None] = {}
    while len(ids) < n:
        fresh = [i for i in dict.fromkeys(secrets.token_hex(4) for _ in range(n - len(ids))) if i not in ids]
        for part, marks in in_batches(fresh):
            taken = {row[0] for row in conn.execute(f"SELECT id FROM runs WHERE id IN ({marks})", part)}
            ids.update(dict.fromkeys(i for i in part if i not in taken))
    return list(ids)


NEWER_KEYS = {"stop_rule": "stop", "reduce_lr": "reduce_lr", "track_sharpness": "track_sharpness",
              "hidden": "hidden", "activation": "activation", "n_test": "data", "task": "data",
              "compute_dtype": "compute_dtype", "kernel": "kernel"}
"""Settings recorded since resume checked them (by the name a message gives them); a run recorded before lacks them
and is resumed unchecked there."""
RECORDED_DEFAULTS = {"test_every": 1}
"""Settings a run recorded before it held them always lacks where it had this value."""
NEWER_RULE_KEYS = ("kind", "nesterov", "velocity", "schedule")
"""A rule's settings recorded beside its numbers since then (unchecked where the record lacks them)."""


def check_config(run: Run, config: dict[str, Any]) -> None:
    """Every setting of config is the run's (those a run recorded before them lacks are not checked):
    one StoreError naming the first that differs, the run's value and the one given."""
    check_settings(run.config, config, "run", run.id)


def check_settings(recorded_config: dict[str, Any], config: dict[str, Any], kind: str, record_id: str) -> None:
    """Every setting of config is the recorded one of the run or sweep (kind) record_id, as check_config: one
    StoreError naming the first that differs, the recorded value and the one given."""
    for key, value in config.items():
        if (key in NEWER_KEYS and key not in recorded_config) or key in SGD_OPTIONS:  # those: read from the rule
            continue
        if key == "stop" and "stop_rule" in recorded_config and "stop_rule" in config:  # names: in the rule's text
            continue
        name, recorded = NEWER_KEYS.get(key, key), recorded_config.get(key, RECORDED_DEFAULTS.get(key))
        if key == "rule" and isinstance(recorded, dict) and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in recorded or k not in NEWER_RULE_KEYS}
        if config_json(recorded) == config_json(value):
            continue
        whose = f"{name} must be the {kind}'s to resume {kind} {record_id}"
        if isinstance(recorded, dict) and isinstance(value, dict):
            part = next(k for k in dict.fromkeys([*value, *recorded])
                        if config_json(recorded.get(k)) != config_json(value.get(k)))
            raise StoreError(f"{whose}: its {part} was {config_json(recorded.get(part))}; "
                             f"got {config_json(value.get(part))}.")
        raise StoreError(f"{whose}: it was {config_json(recorded)}; got {config_json(value)}.")


def _continue_run(conn: sqlite3.Connection, run: Run, epoch: int, config: dict[str, Any]) -> None:
    """Check the resumed run's configuration; take the run over; drop what came after the checkpoint."""
    check_config(run, config)
    with transaction(conn):
        taken = conn.execute(
            "UPDATE runs SET status = 'running', reason = '', pid = ?, host = ?, process_start = ?, "
            "resumed = resumed + 1, epochs_run = ?, updated_at = ? WHERE id = ? AND status != 'running'",
            (*this_process(), epoch, now(), run.id),
        ).rowcount
        if taken != 1:
            raise StoreError(f"run_id {run.id} is running in another process; it cannot be resumed twice.")
        conn.execute("DELETE FROM metrics WHERE run_id = ? AND epoch > ?", (run.id, epoch))
        conn.execute("DELETE FROM checkpoints WHERE run_id = ? AND epoch > ?", (run.id, epoch))


def insert_metrics(conn: sqlite3.Connection, run_id: str, history: dict[str, np.ndarray], epoch: int) -> None:
    conn.executemany(
        "INSERT INTO metrics (run_id, epoch, name, value) VALUES (?, ?, ?, ?)",
        [(run_id, epoch, name, real(values[epoch - 1])) for name, values in history.items()],
    )


def real(value: Any) -> float | None:
    """A float for SQLite; NaN becomes NULL (SQLite has no NaN) and reads back as NaN."""
    v = float(value)
    return None if math.isnan(v) else v


def _plain(value: Any) -> Any:
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"config values must be JSON data (numbers, text, lists, dicts); got {value!r}.")
