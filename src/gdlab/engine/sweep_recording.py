"""What a sweep tells its recorder: the configuration of each member, and each chunk's epochs by member position.

Member k is config k of ``SweepResult.rows``: (batch size, schedule) group g, pair j
(learning rate, momentum), seed i at position offset_g + j * seeds + i.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from gdlab.core.batching import batch_plan
from gdlab.core.dataset import Dataset
from gdlab.core.stopping import StopRule, describe, leaves, or_diverged
from gdlab.core.types import UpdateRule
from gdlab.engine.config_record import FIT_ONLY, rule_config
from gdlab.engine.recording import Ended, SweepEpoch, SweepRecorder, model_config
from gdlab.engine.sweep_start import ConfigState


class ChunkEpoch(NamedTuple):
    """One epoch of a chunk, arrays indexed [seed, pair] (the chunk's real pairs only).

    ``trained``: configs that ran this epoch (their metrics are ``row``);
    ``ended``: configs whose status was set this epoch; ``snapshot()``: the state of each
    config still training, by [seed, pair] (read from the device only when called; None after
    the last epoch, when every config ends); ``best_epoch``: with early_stopping(restore_best=True),
    the epoch whose params each config returns (0: the initial params; -1: none).
    """

    epoch: int
    trained: np.ndarray
    row: dict[str, np.ndarray]
    initial_loss: np.ndarray | None
    ended: np.ndarray
    status: np.ndarray
    reason: np.ndarray
    epochs_run: np.ndarray
    steps_run: np.ndarray
    snapshot: Callable[[], dict[tuple[int, int], ConfigState]] | None = None
    best_epoch: np.ndarray | None = None


ChunkObserver = Callable[[ChunkEpoch], None]


class RecordedGroup(NamedTuple):
    """What the records of a (batch size, schedule) group's members need of it: its batch size, schedule
    label, rule (its settings: nesterov, velocity, the schedule's kind), each learning rate's schedule numbers,
    and the devices each of its batches is split over (the mesh's data axis)."""

    batch_size: int
    label: str
    rule: UpdateRule
    numbers: dict[float, Any]
    devices: int


def sweep_configs(
    model: Any, data: Dataset, groups: list[RecordedGroup], momenta: list[float], seeds: list[int],
    settings: dict[str, Any], stop: StopRule | None, dtype: Any,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The sweep's configuration and one configuration per member, in position order.

    settings: epochs, nesterov, weight_decay, metrics, test_every, compute_dtype, kernel and the loss's
    name; dtype: the params' (the rule's numbers as they train). A member records the keys a gd.fit
    run of its settings records, with its values (engine/config_record.py).
    """
    common = {
        **model_config(model),
        "dataset": data.name, "dataset_fingerprint": data.fingerprint(), "n_train": data.n_train,
        "n_test": data.n_test, "task": data.task, **settings,
    }
    member_stop = or_diverged(stop)  # as gd.fit records its rule: with the diverged() every run has
    rates = list(groups[0].numbers)
    config = {**common, "learning_rate": rates, "batch_size": list(dict.fromkeys(g.batch_size for g in groups)),
              "schedule": list(dict.fromkeys(g.label for g in groups)), "momentum": momenta,
              "seeds": seeds, "stop": [leaf.name for leaf in leaves(stop)] if stop is not None else [],
              "stop_rule": None if stop is None else describe(stop)}
    weight_decay = np.asarray(settings["weight_decay"], dtype)
    members = []
    for group in groups:
        steps = batch_plan(data.n_train, group.batch_size).steps
        for (rate, momentum), seed in itertools.product(itertools.product(rates, momenta), seeds):
            numbers = {"learning_rate": jax.tree.map(lambda v: np.asarray(v, dtype), group.numbers[rate]),
                       "momentum": np.asarray(momentum, dtype), "weight_decay": weight_decay}
            members.append({**common, **FIT_ONLY, "devices": group.devices, "batch_size": group.batch_size,
                            "schedule": group.label, "learning_rate": rate, "momentum": momentum, "seed": seed,
                            "steps_per_epoch": steps, "rule": rule_config(numbers, _own(group.rule.settings, momentum)),
                            "stop": [leaf.name for leaf in leaves(member_stop)],
                            "stop_rule": describe(member_stop)})
    return config, members


def _own(settings: tuple[tuple[str, Any], ...], momentum: float) -> tuple[tuple[str, Any], ...]:
    """A member's rule settings as gd.fit records its sgd: a velocity buffer only with momentum > 0 (the group
    keeps one for all its members when any has momentum; at momentum 0 the iterates are plain SGD's)."""
    return tuple((k, momentum > 0 if k == "velocity" else v) for k, v in settings)


def chunk_observer(
    record: SweepRecorder, offset: int, first_pair: int, n_seeds: int, names: tuple[str, ...]
) -> ChunkObserver:
    """Hands a chunk's epochs to record by member position; names: the metrics members record."""

    def position(i: int, j: int) -> int:
        return offset + (first_pair + j) * n_seeds + i

    def observe(chunk: ChunkEpoch) -> None:
        metrics = {position(i, j): {name: float(chunk.row[name][i, j]) for name in names}
                   for i, j in zip(*np.nonzero(chunk.trained))}
        best = chunk.best_epoch
        ended = {position(i, j): Ended(str(chunk.status[i, j]), str(chunk.reason[i, j]),
                                       int(chunk.epochs_run[i, j]), int(chunk.steps_run[i, j]),
                                       None if best is None or best[i, j] < 0 else int(best[i, j]))
                 for i, j in zip(*np.nonzero(chunk.ended))}
        initial = {} if chunk.initial_loss is None else {
            position(i, j): float(chunk.initial_loss[i, j]) for i, j in np.ndindex(chunk.initial_loss.shape)}
        snapshot = chunk.snapshot
        states = None if snapshot is None else (
            lambda: {position(i, j): state for (i, j), state in snapshot().items()})
        record.sweep_epoch(SweepEpoch(chunk.epoch, metrics, ended, initial, states))

    return observe


def member_metrics(metrics: str, classification: bool) -> tuple[str, ...]:
    """The per-epoch metrics a member records (as gd.fit's history holds them)."""
    names = ["train_loss", "grad_norm", "learning_rate", "test_loss", "test_accuracy", "epoch_time", "wall_time"]
    if metrics != "exact":
        names.remove("grad_norm")
    if not classification:
        names.remove("test_accuracy")
    return tuple(names)
