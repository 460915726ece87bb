"""``gd.store.resume_sweep``: rerun a recorded sweep's unfinished configs, recording into the same members."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from gdlab.core.dataset import Dataset
from gdlab.core.schedules import SCHEDULES
from gdlab.core.stopping import StopRule, applied_text, describe, leaves
from gdlab.core.types import LossFn, Model, Params
from gdlab.engine.recording import model_config
from gdlab.engine.sweep import SweepCallback, param_template, sweep
from gdlab.engine.sweep_result import SweepResult
from gdlab.engine.sweep_start import ConfigStart, ConfigState, Deferred
from gdlab.store.database import Store
from gdlab.store.member_checkpoints import checkpoint_epochs, member_states
from gdlab.store.processes import Process, is_alive
from gdlab.store.recorder import check_settings
from gdlab.store.records import histories
from gdlab.store.schema import StoreError
from gdlab.store.sweep_recorder import CHECKPOINT_SECONDS, Key, SweepRecorder, take_sweep
from gdlab.store.sweeps import Sweep, members, unfinished


def resume_sweep(
    sweep_id: str,
    store: Store,
    model: Model | LossFn,
    data: Dataset,
    *,
    stop: StopRule | None = None,
    params: Params | None = None,
    max_memory: int | None = None,
    callback: SweepCallback | None = None,
    checkpoint_seconds: float = CHECKPOINT_SECONDS,
    finish: bool = True,
) -> SweepResult:
    """Go on with the configs of an interrupted or failed sweep that did not finish; the whole sweep as recorded.

    Finished configs are kept as they are; each unfinished one goes on from its
    last checkpoint (the sweep's recorder stores one every ``checkpoint_seconds``), or
    from the start where it has none, with its recorded settings and seed, so it
    ends as it would have without the interruption: one ``gd.sweep`` per batch size,
    schedule and checkpoint epoch, training only those configs. Give the sweep's
    model and data (checked against the record: the model's name, hidden sizes and
    activation, the data's fingerprint) and its stop rule, if it had one.
    ``callback(group, epoch, active)`` numbers the groups as ``unfinished_groups`` lists them.
    ``finish`` False leaves the sweep running in this process, for the caller to close
    (``Store.finish_sweep``) or to mark interrupted (``Store.record_sweep_error``), and takes over a sweep with no
    unfinished config instead of refusing it (gdlab resume measures a compare's noise paths so).
    """
    record = store.sweep(sweep_id)
    _check_resumable(store, record)
    runs = members(store.connection, record)
    todo = unfinished(runs)
    if not todo and finish:
        raise StoreError(f"sweep_id {record.id} has no unfinished configs; there is nothing to resume.")
    if not todo:  # the caller's work on the sweep is left (gdlab compare's paths): it holds the sweep now
        take_sweep(store.connection, record.id)
        store.last_sweep_id = record.id
        return store.sweep_result(record.id)[0]
    waiting = set(todo.values())
    first = next(run for run in runs if run.id in waiting)
    if data.fingerprint() != first.dataset_fingerprint:
        raise StoreError(
            f"data must be the data set sweep {record.id} was trained on ({first.dataset}, fingerprint "
            f"{first.dataset_fingerprint[:12]}); got {data.name} with fingerprint {data.fingerprint()[:12]}."
        )
    check_settings(record.config, model_config(model), "sweep", record.id)
    _check_stop(record, first.config.get("stop_rule"), stop)
    configs = {run.id: run.config for run in runs}
    from_epoch = checkpoint_epochs(store.connection, list(todo.values()))
    recorder = SweepRecorder(store.connection, record.kind, sweep_id=record.id, todo=todo, finish_on_end=False,
                             checkpoint_seconds=checkpoint_seconds, from_epoch=from_epoch, db=store.path)
    for index, ((size, schedule, epoch), keys) in enumerate(_by_group(todo, from_epoch).items()):
        progress = None if callback is None else (lambda g, e, a, i=index: callback(i, e, a))
        settings = configs[todo[keys[0]]]
        if schedule not in SCHEDULES:
            raise StoreError(f"sweep_id {record.id} trained schedule {schedule!r}, a function, which a record "
                             "cannot hold; only sweeps over named schedules can be resumed.")
        template = param_template(model, data, params, settings.get("loss"), settings.get("compute_dtype"),
                                  str(settings.get("kernel", "xla")))
        done = histories(store.connection, [todo[key] for key in keys], up_to=epoch) if epoch else {}
        load = functools.partial(member_states, store.connection, epoch, template)
        start = {key: _start(load, todo[key], epoch, done.get(todo[key], {})) for key in keys}
        sweep(model, data, learning_rate=_unique(k[2] for k in keys), batch_size=[size], schedule=[schedule],
              momentum=_unique(k[3] for k in keys), seeds=_unique(k[4] for k in keys),
              compute_dtype=settings.get("compute_dtype"), kernel=str(settings.get("kernel", "xla")),
              epochs=int(settings["epochs"]), stop=stop, nesterov=bool(settings.get("nesterov", False)),
              weight_decay=float(settings.get("weight_decay", 0.0)), metrics=str(settings["metrics"]),
              test_every=int(settings.get("test_every", 1)),
              loss=settings.get("loss"), params=params, max_memory=max_memory, callback=progress,
              record=recorder, start=start)
    if finish:
        recorder.finish()
    store.last_sweep_id = record.id
    return store.sweep_result(record.id)[0]


class UnfinishedGroup(NamedTuple):
    """Unfinished configs of a sweep that resume_sweep trains in one gd.sweep: their batch size, schedule,
    number, and the epoch they go on from (that of their checkpoint; 0: from the start)."""

    batch_size: int
    schedule: str
    configs: int
    from_epoch: int


def unfinished_groups(sweep_id: str, store: Store) -> list[UnfinishedGroup]:
    """Each gd.sweep that resume_sweep would run, in its order."""
    todo = unfinished(members(store.connection, store.sweep(sweep_id)))
    from_epoch = checkpoint_epochs(store.connection, list(todo.values()))
    return [UnfinishedGroup(size, schedule, len(keys), epoch)
            for (size, schedule, epoch), keys in _by_group(todo, from_epoch).items()]


def _start(load: Callable[[list[str]], list[ConfigState]], run_id: str, epoch: int,
           metrics: dict[str, np.ndarray]) -> ConfigStart:
    """Where a member goes on from (epoch 0: the start): its metrics up to its checkpoint at epoch, and
    its state read from that checkpoint with its chunk's others when the chunk is built (load)."""
    return ConfigStart(epoch, Deferred(load, run_id), metrics) if epoch else ConfigStart(0, None, {})


def _check_resumable(store: Store, record: Sweep) -> None:
    if record.status == "running":
        row = store.connection.execute("SELECT pid, host, process_start FROM sweeps WHERE id = ?",
                                       (record.id,)).fetchone()
        if row[0] is None or is_alive(Process(*row)) is not False:
            raise StoreError(f"sweep_id {record.id} is running (pid {row[0]} on {row[1]}); only an interrupted "
                             "or failed sweep can be resumed.")


def _check_stop(record: Sweep, applied: str | None, stop: StopRule | None) -> None:
    """stop must be the sweep's rule: the same rule as applied (``applied``: what its first unfinished member
    recorded, diverged() included, so stop=None and diverged() match), or the same text as the sweep recorded it;
    for a sweep recorded before it kept its rules' settings, the same rules by name."""
    if "stop_rule" in record.config:
        given_rule = None if stop is None else describe(stop)
        if given_rule != record.config["stop_rule"] and applied != applied_text(stop):
            raise StoreError(f"stop must be the sweep's to resume sweep {record.id}: it had "
                             f"{record.config['stop_rule'] or 'none'}; got {given_rule or 'none'}.")
        return
    recorded = [name for name in record.config.get("stop", []) if name != "diverged"]
    given = [leaf.name for leaf in leaves(stop) if leaf.name != "diverged"] if stop is not None else []
    if recorded != given:
        raise StoreError(f"stop must be the sweep's to resume sweep {record.id}: it had rules {recorded}; "
                         f"got {given}.")


def _by_group(todo: dict[Key, str], from_epoch: dict[str, int]) -> dict[tuple[int, str, int], list[Key]]:
    """The unfinished members by (batch size, schedule, checkpoint epoch): one gd.sweep each."""
    out: dict[tuple[int, str, int], list[Key]] = {}
    for key, run_id in todo.items():
        out.setdefault((*key[:2], from_epoch.get(run_id, 0)), []).append(key)
    return out


def _unique(values: Any) -> list[Any]:
    return list(dict.fromkeys(values))
