"""What a sweep tells its recorder: the configuration of each member, and each chunk's epochs by member position.

Member k is config k of ``SweepResult.rows``: (batch size, schedule) group g, pair j
(learning rate, momentum), seed i at position offset_g + j * seeds + i.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from gdlab.core.batching import batch_plan
from gdlab.core.dataset import Dataset
from gdlab.core.stopping import StopRule, describe, leaves, or_diverged
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


def sweep_configs(
    model: Any, data: Dataset, sizes: list[int], schedules: list[str], rates: list[float], momenta: list[float],
    seeds: list[int], settings: dict[str, Any], stop: StopRule | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The sweep's configuration and one configuration per member, in position order.

    schedules: the labels of the schedule grid; settings: epochs, nesterov,
    weight_decay, metrics, compute_dtype and the loss's name.
    """
    common = {
        **model_config(model),
        "dataset": data.name, "dataset_fingerprint": data.fingerprint(), "n_train": data.n_train,
        "n_test": data.n_test, "task": data.task, **settings,
    }
    member_stop = or_diverged(stop)  # as gd.fit records its rule: with the diverged() every run has
    config = {**common, "learning_rate": rates, "batch_size": sizes, "schedule": schedules, "momentum": momenta,
              "seeds": seeds, "stop": [leaf.name for leaf in leaves(stop)] if stop is not None else [],
              "stop_rule": None if stop is None else describe(stop)}
    members = []
    for size, schedule in itertools.product(sizes, schedules):
        steps = batch_plan(data.n_train, size).steps
        for (rate, momentum), seed in itertools.product(itertools.product(rates, momenta), seeds):
            rule = {"learning_rate": rate, "schedule": schedule, "momentum": momentum,
                    "weight_decay": settings["weight_decay"]}
            members.append({**common, "batch_size": size, "schedule": schedule, "learning_rate": rate,
                            "momentum": momentum, "seed": seed, "steps_per_epoch": steps, "rule": rule,
                            "stop": [leaf.name for leaf in leaves(member_stop)],
                            "stop_rule": describe(member_stop)})
    return config, members


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
