"""``gd.store.resume_sweep``: rerun a recorded sweep's unfinished configs, recording into the same members."""

from __future__ import annotations

from typing import Any

from gdlab.core.dataset import Dataset
from gdlab.core.schedules import SCHEDULES
from gdlab.core.stopping import StopRule, leaves
from gdlab.core.types import LossFn, Model, Params
from gdlab.engine.sweep import SweepCallback, sweep
from gdlab.engine.sweep_result import SweepResult
from gdlab.store.database import Store
from gdlab.store.processes import Process, is_alive
from gdlab.store.schema import StoreError
from gdlab.store.sweep_recorder import Key, SweepRecorder
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
) -> SweepResult:
    """Rerun the configs of an interrupted or failed sweep that did not finish; the whole sweep as recorded.

    Finished configs are kept as they are; each unfinished one is trained
    again from the start with its recorded settings and seed (so it ends as it
    would have in the first place), one ``gd.sweep`` per batch size and schedule over the
    unfinished learning rates, momenta and seeds. Give the sweep's model and
    data (checked against the record) and its stop rule, if it had one.
    ``callback(group, epoch, active)`` numbers the groups as ``unfinished_groups`` lists them.
    """
    record = store.sweep(sweep_id)
    _check_resumable(store, record)
    todo = unfinished(store.connection, record)
    if not todo:
        raise StoreError(f"sweep_id {record.id} has no unfinished configs; there is nothing to resume.")
    first = next(run for run in members(store.connection, record) if run.id in todo.values())
    if data.fingerprint() != first.dataset_fingerprint:
        raise StoreError(
            f"data must be the data set sweep {record.id} was trained on ({first.dataset}, fingerprint "
            f"{first.dataset_fingerprint[:12]}); got {data.name} with fingerprint {data.fingerprint()[:12]}."
        )
    _check_stop(record, stop)
    configs = {run.id: run.config for run in members(store.connection, record)}
    recorder = SweepRecorder(store.connection, record.kind, sweep_id=record.id, todo=todo, finish_on_end=False)
    for index, ((size, schedule), keys) in enumerate(_by_group(todo).items()):
        progress = None if callback is None else (lambda g, e, a, i=index: callback(i, e, a))
        settings = configs[todo[keys[0]]]
        if schedule not in SCHEDULES:
            raise StoreError(f"sweep_id {record.id} trained schedule {schedule!r}, a function, which a record "
                             "cannot hold; only sweeps over named schedules can be resumed.")
        sweep(model, data, learning_rate=_unique(k[2] for k in keys), batch_size=[size], schedule=[schedule],
              momentum=_unique(k[3] for k in keys), seeds=_unique(k[4] for k in keys),
              compute_dtype=settings.get("compute_dtype"), kernel=str(settings.get("kernel", "xla")),
              epochs=int(settings["epochs"]), stop=stop, nesterov=bool(settings.get("nesterov", False)),
              weight_decay=float(settings.get("weight_decay", 0.0)), metrics=str(settings["metrics"]),
              test_every=int(settings.get("test_every", 1)),
              loss=settings.get("loss"), params=params, max_memory=max_memory, callback=progress,
              record=recorder)
    recorder.finish()
    store.last_sweep_id = record.id
    return store.sweep_result(record.id)[0]


def unfinished_groups(sweep_id: str, store: Store) -> list[tuple[int, str, int]]:
    """(batch size, schedule, unfinished configs) of each gd.sweep that resume_sweep would run, in its order."""
    todo = unfinished(store.connection, store.sweep(sweep_id))
    return [(size, schedule, len(keys)) for (size, schedule), keys in _by_group(todo).items()]


def _check_resumable(store: Store, record: Sweep) -> None:
    if record.status == "running":
        row = store.connection.execute("SELECT pid, host, process_start FROM sweeps WHERE id = ?",
                                       (record.id,)).fetchone()
        if row[0] is None or is_alive(Process(*row)) is not False:
            raise StoreError(f"sweep_id {record.id} is running (pid {row[0]} on {row[1]}); only an interrupted "
                             "or failed sweep can be resumed.")


def _check_stop(record: Sweep, stop: StopRule | None) -> None:
    recorded = [name for name in record.config.get("stop", []) if name != "diverged"]
    given = [leaf.name for leaf in leaves(stop) if leaf.name != "diverged"] if stop is not None else []
    if recorded != given:
        raise StoreError(f"stop must be the sweep's to resume sweep {record.id}: it had rules {recorded}; "
                         f"got {given}.")


def _by_group(todo: dict[Key, str]) -> dict[tuple[int, str], list[Key]]:
    """The unfinished members by (batch size, schedule): one gd.sweep each."""
    out: dict[tuple[int, str], list[Key]] = {}
    for key in todo:
        out.setdefault(key[:2], []).append(key)
    return out


def _unique(values: Any) -> list[Any]:
    return list(dict.fromkeys(values))
