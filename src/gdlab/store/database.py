"""``gd.store.open(path)``: an open gdlab database, and a recorder for ``gd.fit(..., record=...)``."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any, Self

import numpy as np

from gdlab.engine.loop import Checkpoint
from gdlab.engine.lr_finder import LRFinderResult
from gdlab.engine.recording import SweepEpoch
from gdlab.engine.result import Result
from gdlab.engine.sweep_result import SweepResult
from gdlab.store import finders, records, sweeps
from gdlab.store.checkpoints import StoredCheckpoint
from gdlab.store.recorder import RunRecorder
from gdlab.store.records import Run
from gdlab.store.schema import COMPACT_FREE, StoreError, compact_if_free, connect
from gdlab.store.sweep_recorder import CHECKPOINT_SECONDS, SweepRecorder, fail_sweep, finish_sweep
from gdlab.store.sweeps import Sweep


class Store:
    """An open gdlab database: its runs, their metrics and checkpoints, its sweeps and finders.

    A store is itself a recorder: ``gd.fit(..., record=store)`` records a new
    run (checkpoint every epoch) whose id is then ``store.last_run_id``; for
    other options use ``store.recorder(checkpoint_every=..)``.
    ``gd.sweep(..., record=store)`` records a new sweep (``store.last_sweep_id``)
    and ``gd.find_learning_rate(..., record=store)`` a finder run (``store.last_run_id``).
    Close it with ``close()`` or use it in a ``with`` block.
    """

    def __init__(self, path: Path, create: bool = True, read_only: bool = False) -> None:
        self.path = path
        self.connection = connect(path, create=create, read_only=read_only)
        self.last_run_id: str | None = None
        self.last_sweep_id: str | None = None
        self._active: RunRecorder | None = None
        self._sweep: SweepRecorder | None = None
        if read_only:  # a run whose process is gone reads as it was left (running)
            return
        try:
            records.mark_interrupted(self.connection, path)
            sweeps.mark_sweeps_interrupted(self.connection, path)
        except BaseException:
            self.connection.close()
            raise

    def recorder(self, checkpoint_every: int = 1, extra: dict[str, Any] | None = None) -> RunRecorder:
        """A recorder of one new run; ``extra`` is merged into the stored configuration."""
        return RunRecorder(self.connection, checkpoint_every, extra, on_begin=self._set_last_run_id)

    def runs(
        self, status: str | None = None, dataset: str | None = None,
        since: str | datetime.datetime | None = None,
    ) -> list[Run]:
        """Runs, newest first, optionally only those with a status, on a data set (a named one in any case:
        'MNIST1D' is 'mnist1d'; a file's name as recorded), or since a time."""
        return records.list_runs(self.connection, status, dataset, since)

    def run(self, run_id: str) -> Run:
        """The run with this id (or the only one whose id starts with it)."""
        return records.find_run(self.connection, _record_id("run_id", run_id), self.path)

    def history(self, run_id: str) -> dict[str, np.ndarray]:
        """The run's per-epoch metrics, as in ``Result.history``."""
        return records.history(self.connection, self.run(run_id).id)

    def last_metrics(self, run_id: str) -> dict[str, float]:
        """The run's metrics at its last recorded epoch."""
        return records.last_metrics(self.connection, self.run(run_id).id)

    def checkpoint(self, run_id: str, epoch: int | None = None) -> StoredCheckpoint | None:
        """The run's latest checkpoint (or the one at epoch), checksum verified; None if none."""
        return records.load_checkpoint(self.connection, self.run(run_id).id, epoch)

    def delete(self, run_id: str) -> None:
        """Delete a run, its metrics and checkpoints (or a sweep and its member runs). Where that leaves most of the
        file free (``COMPACT_FREE``), the file shrinks (``schema.compact_if_free``); SQLite kept its size."""
        record = self.find(_record_id("run_id", run_id))
        if isinstance(record, Sweep):
            sweeps.delete_sweep(self.connection, record)
        elif record.kind == "sweep":
            raise StoreError(f"run_id {record.id} is a member of a sweep (gdlab runs list --sweeps); delete the "
                             "sweep with its members instead.")
        else:
            records.delete_run(self.connection, record)
        compact_if_free(self.connection, COMPACT_FREE)

    def find(self, record_id: str) -> Run | Sweep:
        """The run or sweep with this id (or the only one whose id starts with it)."""
        return sweeps.find_record(self.connection, _record_id("record_id", record_id), self.path)

    def sweeps(
        self, status: str | None = None, since: str | datetime.datetime | None = None, *, dataset: str | None = None,
    ) -> list[Sweep]:
        """Sweeps, newest first, optionally only those with a status, since a time, or on a data set (as runs)."""
        return sweeps.list_sweeps(self.connection, status, since, dataset)

    def sweep(self, sweep_id: str) -> Sweep:
        """The sweep with this id (or the only one whose id starts with it)."""
        sweep_id = _record_id("sweep_id", sweep_id)
        found = sweeps.find_sweep(self.connection, sweep_id)  # the sweeps alone: find's messages named a run_id
        if found is not None:
            return found
        starting = sweeps.sweep_ids_starting(self.connection, sweep_id)
        if len(starting) > 1:
            raise StoreError(f"sweep_id {sweep_id!r} is the start of {len(starting)} sweeps "
                             f"({', '.join(starting[:5])}); give more of it.")
        run = sweeps.run_starting(self.connection, sweep_id)
        if run is not None:
            raise StoreError(f"sweep_id must name a sweep; {run[0]} is a run of kind {run[1]}.")
        raise StoreError(f"sweep_id must name a sweep in {str(self.path)!r} (see gdlab runs list --sweeps); "
                         f"got {sweep_id!r}.")

    def sweep_of(self, run_id: str) -> Sweep | None:
        """The sweep whose member the run is (None: a run of its own)."""
        return sweeps.sweep_of(self.connection, self.run(run_id).id)

    def members(self, sweep_id: str) -> list[Run]:
        """A sweep's member runs, in the order of ``SweepResult.rows``."""
        return sweeps.members(self.connection, self.sweep(sweep_id))

    def member_last_metrics(self, sweep_id: str) -> dict[str, dict[str, float]]:
        """Each member's metrics at its last recorded epoch, by run id (``last_metrics`` of each, at once)."""
        return sweeps.member_last_metrics(self.connection, self.sweep(sweep_id))

    def sweep_result(self, sweep_id: str) -> tuple[SweepResult, dict[int, float]]:
        """A sweep's members as a ``SweepResult`` (without params) and each seed's loss before training."""
        return sweeps.sweep_result(self.connection, self.sweep(sweep_id))

    def sweep_recorder(
        self, kind: str = "sweep", extra: dict[str, Any] | None = None, finish_on_end: bool = True,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> SweepRecorder:
        """A recorder of one new sweep; ``extra`` is merged into its stored configuration; a checkpoint of
        the members still training at most every ``checkpoint_seconds`` (0: every epoch)."""
        return SweepRecorder(self.connection, kind, extra, finish_on_end=finish_on_end,
                             checkpoint_seconds=checkpoint_seconds, on_begin=self._set_last_sweep_id, db=self.path)

    def finish_sweep(self, sweep_id: str, results: dict[str, Any] | None = None) -> None:
        """Close a recorded sweep whose members have all ended (its status from theirs), merging results into its
        stored results (gdlab resume's: a compare's loss paths, measured once its configs are done)."""
        finish_sweep(self.connection, self.sweep(sweep_id).id, results)  # a missing id: a StoreError that says so

    def record_sweep_error(self, sweep_id: str, error: BaseException) -> None:
        """Record that work on a sweep this process holds (``resume_sweep(..., finish=False)``) stopped on error:
        interrupted (Ctrl-C) or failed, as a sweep's recorder records it."""
        sweep = self.sweep(sweep_id)
        fail_sweep(self.connection, sweep.id, error, sweep.kind, self.path)

    def finder(self, run_id: str) -> LRFinderResult:
        """A recorded learning-rate finder run's result (curves, suggestions, validated answer)."""
        return finders.load_finder(self.connection, self.run(run_id))

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def _set_last_run_id(self, run_id: str) -> None:
        self.last_run_id = run_id

    def _set_last_sweep_id(self, sweep_id: str) -> None:
        self.last_sweep_id = sweep_id

    # the Recorder protocol: each begin starts a new run
    def begin(self, config: dict[str, Any]) -> None:
        self._active = self.recorder()
        self._active.begin(config)

    def epoch(self, checkpoint: Checkpoint) -> None:
        assert self._active is not None, "begin comes first"
        self._active.epoch(checkpoint)

    def end(self, result: Result) -> None:
        assert self._active is not None, "begin comes first"
        self._active.end(result)

    def fail(self, error: BaseException) -> None:
        assert self._active is not None, "begin comes first"
        self._active.fail(error)

    # the SweepRecorder protocol: each begin_sweep starts a new sweep
    def begin_sweep(self, config: dict[str, Any], members: list[dict[str, Any]]) -> None:
        self._sweep = self.sweep_recorder()
        self._sweep.begin_sweep(config, members)

    def sweep_epoch(self, epoch: SweepEpoch) -> None:
        assert self._sweep is not None, "begin_sweep comes first"
        self._sweep.sweep_epoch(epoch)

    def end_sweep(self, result: SweepResult) -> None:
        assert self._sweep is not None, "begin_sweep comes first"
        self._sweep.end_sweep(result)

    def fail_sweep(self, error: BaseException) -> None:
        assert self._sweep is not None, "begin_sweep comes first"
        self._sweep.fail_sweep(error)

    # the FinderRecorder protocol
    def record_finder(self, config: dict[str, Any], result: LRFinderResult) -> None:
        self.last_run_id = finders.record_finder(self.connection, config, result)


def _record_id(name: str, value: object) -> str:
    """The id as given, if it is text (None: no run or sweep recorded yet, e.g. a fresh store's last_run_id)."""
    if not isinstance(value, str):
        kind = "a sweep id" if name == "sweep_id" else "a run id"
        raise TypeError(f"{name} must be {kind} string; got {value!r}.")
    return value


def open_store(path: str | os.PathLike[str], create: bool = True, read_only: bool = False) -> Store:
    """Open the gdlab database at path (a new one is made unless create=False), migrating it if older.

    With create=False an empty file (0 bytes, or SQLite without tables) is refused and left as it is.
    Runs whose process on this host is gone are marked ``interrupted``. read_only
    opens an existing database only to read it (an archived or shared file this
    user cannot write; nothing is marked or migrated). Raises
    ``gd.store.StoreError`` (a ValueError) for a directory, an unwritable
    place, a file that is not a gdlab database or one from a newer gdlab.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or Path); got {path!r}.")
    if os.fspath(path) == "":  # Path('') is '.', which the message would show instead
        raise StoreError("db must be a database file path; got '' (empty).")
    return Store(Path(path), create, read_only)
