"""One chunk of a sweep group: its program's inputs, its epochs, and how each of its configs ended.

A chunk is every seed of some (learning rate, momentum) pairs, trained by one
compiled epoch program (engine/epoch.py) epoch after epoch. After each epoch
the host reads the configs' stats: a non-finite config is rerun careful to find
its step (engine/sweep_careful.py) and freezes as diverged, one whose stop rule
fired freezes as stopped, and the others go on until the budget of epochs.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from gdlab.core.rules import SgdHyper
from gdlab.core.stopping import (
    StopRule,
    divergence_factor,
    fired_flags,
    metric_sign,
    restore_names_epoch,
    restored_metric,
)
from gdlab.core.types import Params
from gdlab.engine.data_parallel import CONFIGS
from gdlab.engine.epoch import EpochSpec, EpochStats, is_test_epoch, measure_test
from gdlab.engine.epoch_program import compiled_epoch
from gdlab.engine.loop import max_epochs_reason, non_finite_reason, restored_note
from gdlab.engine.result import RISING_EPOCHS, decay_note, peak_loss, rise_note
from gdlab.engine.sweep_best import BestParams, restored, returned_epochs, start_best, track_best
from gdlab.engine.sweep_careful import rerun_careful, shard_configs
from gdlab.engine.sweep_recording import ChunkEpoch, ChunkObserver
from gdlab.engine.sweep_result import config_of
from gdlab.engine.sweep_start import (
    SKIPPED,
    ChunkStart,
    ConfigState,
    StartOf,
    place_states,
    replay,
    stop_metrics,
)

ROW_STATS = ("train_loss", "grad_norm", "learning_rate", "test_loss", "test_accuracy")
"""The EpochStats fields a chunk's history keeps, per epoch and config."""

HISTORY = (*ROW_STATS, "epoch_time", "wall_time")
"""The metrics of a chunk's history rows: ROW_STATS and the epoch's and the chunk's seconds."""


class _Ends(NamedTuple):
    """How each config of a chunk ended (seeds x pairs arrays; status "" while it trains), in
    ChunkEpoch's order."""

    status: np.ndarray
    reason: np.ndarray
    epochs_run: np.ndarray
    steps_run: np.ndarray


def train_chunk(
    spec: EpochSpec, rule: Any, inits: list[Params], keys: list[Any], pairs: list[tuple[float, float]],
    lr_params: dict[float, Any], epoch_plan: tuple[int, int], stop: StopRule, arrays: tuple[jax.Array, ...],
    progress: Callable[[int, int], None] | None,
    mesh: Mesh | None, observe: ChunkObserver | None = None, pad_to: int = 1,
    inputs: tuple[tuple[Any, ...], int] | None = None, *, initial_loss: np.ndarray,
    start: ChunkStart | None = None, initial_best: np.ndarray | None = None,
) -> dict[str, Any]:
    """Train one chunk of (learning rate, momentum) pairs for every seed; return its arrays.

    The pair axis is padded with inactive copies of the last pair to pad_to
    pairs (every chunk of a group then has one shape: one compiled program)
    and, with a mesh, to a multiple of its configs axis, over which it is
    sharded; with a data axis each batch is split over that. inputs: these pairs' program
    arguments when already built (the first chunk's, built to compile and measure it). epoch_plan:
    (epochs, test_every); a config's last epoch always has test metrics. initial_loss: each seed's
    train loss before training (``initial_train_loss`` of its params). start: where a resumed
    chunk goes on from (engine/sweep_start.py; inputs then hold its configs' states). initial_best:
    with early_stopping(restore_best=True), each seed's value of its metric at its initial params
    (the first candidate for the best epoch).
    """
    epochs, test_every = epoch_plan
    args, real = inputs or chunk_inputs(rule, inits, keys, pairs, lr_params, arrays, mesh, pad_to,
                                        None if start is None else start.source)
    params, state, data_keys, _, scale, active, _, arrays = args
    shape = np.shape(active)
    program, _ = compiled_epoch(spec, *args, configs=2)
    ends = _Ends(np.full(shape, "", dtype=object), np.full(shape, "", dtype=object), np.zeros(shape, np.int32),
                 np.zeros(shape, np.int32))
    before = np.broadcast_to(np.asarray(initial_loss, np.float64)[:, None], shape)
    rows = [] if start is None else [{k: _pad(v, shape) for k, v in row.items()} for row in start.rows]
    stop_state = replay(stop, stop.init(), rows, spec.plan.steps, before)
    restore, name_returned = restored_metric(stop), restore_names_epoch(stop)
    best = None
    if restore is not None:
        seeds = np.full(shape[0], np.nan) if initial_best is None else np.asarray(initial_best, np.float64)
        initial = params if start is None else chunk_inputs(rule, inits, keys, pairs, lr_params, arrays, mesh,
                                                            pad_to)[0][0]  # the params it started from
        best = start_best(restore, rows, np.broadcast_to(seeds[:, None], shape), initial)
    if start is not None:
        _end_skipped(ends, start.skipped[:, :real])
    first = len(rows)
    start_time = time.perf_counter() - (0.0 if start is None else start.elapsed)
    compile_seconds = 0.0
    for epoch in range(first, epochs):
        tick = time.perf_counter()
        test = np.bool_(is_test_epoch(epoch, epochs, test_every))
        active = np.asarray(active)
        inputs_now = (params, state, data_keys, np.int32(epoch), scale, active, test, arrays)
        params, state, stats, compiling = _epoch(spec, program, inputs_now, mesh)
        now = time.perf_counter()
        start_time += compiling  # the clock counts training, not compiling
        compile_seconds += compiling
        row = {name: np.asarray(getattr(stats, name), np.float64) for name in ROW_STATS}
        row["epoch_time"] = np.full(shape, now - tick - compiling)
        row["wall_time"] = np.full(shape, now - start_time)
        rows.append(row)
        metrics = stop_metrics(row, epoch + 1, spec.plan.steps, now - start_time, before)
        stop_state = stop.update(stop_state, metrics)
        diverged = active & ~np.asarray(stats.finite)
        fired = active & ~diverged & np.asarray(fired_flags(stop_state))
        _end_diverged(ends, diverged, stats, epoch, spec.plan.steps)
        _end_stopped(ends, fired, stop, stop_state, (metrics, rows), epoch, spec.plan.steps, before)
        returned = None
        if best is not None:  # the ended configs' best epochs are final: their reasons name it now (recorded)
            best = track_best(best, row, epoch + 1, active & ~diverged, params)
            returned = returned_epochs(best)
            _note_restored(ends, returned, best, diverged | fired, name_returned)
        if not test and spec.has_test and (diverged | fired).any():
            _test_ended(row, diverged | fired, spec, params, arrays)
        if observe is not None:
            going_on = (active & ~diverged & ~fired)[:, :real]
            observe(ChunkEpoch(epoch + 1, active[:, :real], {k: v[:, :real] for k, v in row.items()},
                               None if epoch else before[:, :real], (diverged | fired)[:, :real], *ends,
                               snapshot=None if epoch + 1 == epochs else _snapshot(params, state, going_on),
                               best_epoch=None if returned is None else returned[:, :real]))
        active = active & ~diverged & ~fired
        if progress is not None:
            progress(epoch + 1, int(active.sum()))
        if not active.any():
            break
    _end_at_budget(ends, np.asarray(active), rows, spec.plan.steps, before, divergence_factor(stop))
    best_epoch = None
    if best is not None:
        params, best_epoch = restored(best, params)
        _note_restored(ends, best_epoch, best, np.asarray(active), name_returned)
    if observe is not None and active[:, :real].any():
        observe(ChunkEpoch(len(rows), np.zeros_like(active[:, :real]), {}, None, active[:, :real], *ends,
                           best_epoch=None if best_epoch is None else best_epoch[:, :real]))
    keep = (slice(None), slice(0, real))
    return {"params": jax.tree.map(lambda a: a if a.shape[1] == real else a[keep], params),
            "history": {k: np.stack([r[k] for r in rows])[:, :, :real] for k in rows[0]},
            "status": ends.status[keep], "reason": ends.reason[keep], "steps_run": ends.steps_run[keep],
            "epochs_run": ends.epochs_run[keep], "seconds": time.perf_counter() - start_time,
            "compile_seconds": compile_seconds, "elapsed": 0.0 if start is None else start.elapsed,
            "best_epoch": None if best_epoch is None else best_epoch[keep]}


def _epoch(
    spec: EpochSpec, program: Any, inputs: tuple[Any, ...], mesh: Mesh | None
) -> tuple[Any, Any, EpochStats, float]:
    """One epoch of the chunk: (params, state, host stats, seconds compiling); the pairs holding a
    non-finite config run again careful (engine/sweep_careful.py) to find the step where it went."""
    params, state, stats = program(*inputs)
    stats = jax.device_get(stats)
    active = inputs[5]
    bad = active & ~np.asarray(stats.finite)
    if bad.any():
        return rerun_careful(spec, inputs, bad, (params, state, stats), mesh)
    return params, state, stats, 0.0


def _snapshot(params: Params, state: Any, going_on: np.ndarray) -> Callable[[], dict[tuple[int, int], ConfigState]]:
    """A function giving the state of each config still training ([seed, pair]), read from the device
    only when asked (a recorder's checkpoint)."""

    def read() -> dict[tuple[int, int], ConfigState]:
        p, step, velocity = jax.device_get((params, state.step, state.velocity))
        moving = bool(jax.tree.leaves(velocity))
        return {(i, j): ConfigState(config_of(p, i, j), int(step[i, j]), config_of(velocity, i, j) if moving else None)
                for i, j in zip(*np.nonzero(going_on))}

    return read


def _pad(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A recorded [seed, pair] row widened with NaN to the chunk's padded pairs."""
    out = np.full(shape, np.nan)
    out[:, : values.shape[1]] = values
    return out


def _end_skipped(ends: _Ends, skipped: np.ndarray) -> None:
    for i, j in zip(*np.nonzero(skipped)):
        ends.status[i, j] = SKIPPED
        ends.reason[i, j] = "not trained: a resumed sweep trains only the configs it was asked to"


def _end_diverged(ends: _Ends, diverged: np.ndarray, stats: EpochStats, epoch: int, steps: int) -> None:
    for i, j in zip(*np.nonzero(diverged)):
        ends.status[i, j], ends.reason[i, j] = "diverged", non_finite_reason(_pick(stats, i, j), epoch, steps)
        ends.steps_run[i, j] = epoch * steps + max(int(stats.bad_step[i, j]), 0)
        ends.epochs_run[i, j] = epoch + 1


def _end_stopped(ends: _Ends, fired: np.ndarray, stop: StopRule, stop_state: Any,
                 seen: tuple[dict[str, Any], list[dict[str, np.ndarray]]], epoch: int, steps: int,
                 before: np.ndarray) -> None:
    """The configs a rule stopped. seen: this epoch's metrics and the history rows so far; before: the configs'
    train loss before training (both for ``rise_note``)."""
    metrics, rows = seen
    factor = divergence_factor(stop)
    for i, j in zip(*np.nonzero(fired)):
        ends.status[i, j], ends.reason[i, j] = stop.explain(_pick(stop_state, i, j), _pick(metrics, i, j))
        if ends.status[i, j] != "diverged":  # diverged(factor) is a rule too: its reason says it all
            ends.reason[i, j] += rise_note(_last_losses(rows, i, j), float(before[i, j]), factor, _peak(rows, i, j))
            rates = [float(row["learning_rate"][i, j]) if "learning_rate" in row else np.nan for row in rows]
            ends.reason[i, j] += decay_note(ends.reason[i, j], rates)  # a resumed config's rows: maybe unrecorded
        ends.steps_run[i, j] = (epoch + 1) * steps
        ends.epochs_run[i, j] = epoch + 1


def _end_at_budget(ends: _Ends, active: np.ndarray, rows: list[dict[str, np.ndarray]], steps: int,
                   before: np.ndarray, factor: float | None) -> None:
    """The configs still training after the last epoch ran: status max_epochs (before: their train loss
    before training; factor: the divergence rule's, both for ``rise_note``)."""
    epochs_run = len(rows)
    for i, j in zip(*np.nonzero(active)):
        ends.status[i, j] = "max_epochs"
        final = float(rows[-1]["train_loss"][i, j])
        ends.reason[i, j] = max_epochs_reason(epochs_run, epochs_run * steps, final) + rise_note(
            _last_losses(rows, i, j), float(before[i, j]), factor, _peak(rows, i, j))
        ends.steps_run[i, j] = epochs_run * steps
        ends.epochs_run[i, j] = epochs_run


def _peak(rows: list[dict[str, np.ndarray]], i: int, j: int) -> float:
    """Config (i, j)'s highest finite train loss over its rows (``rise_note``'s peak)."""
    return peak_loss(float(row["train_loss"][i, j]) for row in rows)


def _last_losses(rows: list[dict[str, np.ndarray]], i: int, j: int) -> list[float]:
    """Config (i, j)'s train losses of the last RISING_EPOCHS + 1 rows (what ``rise_note`` reads)."""
    return [float(row["train_loss"][i, j]) for row in rows[-RISING_EPOCHS - 1:]]


def _note_restored(ends: _Ends, best_epoch: np.ndarray, best: BestParams, ended: np.ndarray, every: bool) -> None:
    """Of the configs that just ended, one whose returned params are not its last epoch's says whose they are (an
    earlier epoch's, or the initial ones: epoch 0), as does a diverged one (the others' reasons name no params
    unless every: ``restore_names_epoch``); best_epoch -1: none."""
    named = (best_epoch >= 0) & ((best_epoch != ends.epochs_run) | (ends.status == "diverged") | every)
    values = metric_sign(best.metric) * best.value  # as the metric reads
    for i, j in zip(*np.nonzero(ended & named)):
        ends.reason[i, j] += restored_note(int(best_epoch[i, j]), best.metric, float(values[i, j]))


def _test_ended(row: dict[str, np.ndarray], ended: np.ndarray, spec: EpochSpec, params: Params,
                arrays: tuple[jax.Array, ...]) -> None:
    """The configs that ended this epoch get its test metrics, measured now (the epoch skipped the pass)."""
    loss, accuracy = jax.device_get(measure_test(spec.objective.evaluate, 2, params, arrays[2], arrays[3]))
    row["test_loss"] = np.where(ended, np.asarray(loss, np.float64), row["test_loss"])
    row["test_accuracy"] = np.where(ended, np.asarray(accuracy, np.float64), row["test_accuracy"])


def chunk_inputs(
    rule: Any, inits: list[Params], keys: list[Any], pairs: list[tuple[float, float]], lr_params: dict[float, Any],
    arrays: tuple[jax.Array, ...], mesh: Mesh | None, pad_to: int, resumed: tuple[StartOf, list[int]] | None = None,
) -> tuple[tuple[Any, ...], int]:
    """The epoch program's arguments for a chunk of pairs (padded, sharded), and its number of real pairs.

    resumed: (start_of, seeds) of a resumed sweep: each config starts from its own state
    (engine/sweep_start.py), and a config without one is inactive.
    """
    real = len(pairs)
    real_pairs = pairs
    configs = 1 if mesh is None else int(mesh.shape[CONFIGS])
    target = max(pad_to, real)
    pairs = pairs + [pairs[-1]] * (target + (-target % configs) - real)
    n_seeds, n_pairs = len(inits), len(pairs)
    # stacked on the host and spread over the pairs by one program: eager jnp compiled one per leaf
    template = rule.init(inits[0])
    seeds_state = jax.tree.map(lambda a: np.broadcast_to(a, (n_seeds, *np.shape(a))), template._replace(hyper=()))
    params, state = _spread_pairs((jax.tree.map(lambda *leaves: np.stack(leaves), *inits), seeds_state), n_pairs)
    dtype = jax.tree.leaves(params)[0].dtype
    grid = np.broadcast_to(np.array(pairs, dtype), (n_seeds, n_pairs, 2))
    schedules = jax.tree.map(lambda *v: np.broadcast_to(np.array(v, dtype), (n_seeds, n_pairs)),
                             *[lr_params[lr] for lr, _ in pairs])
    state = state._replace(hyper=SgdHyper(
        learning_rate=schedules, momentum=jnp.asarray(grid[..., 1]),  # a transfer, not a program
        weight_decay=jnp.asarray(np.broadcast_to(np.asarray(template.hyper.weight_decay), (n_seeds, n_pairs))),
    ))
    data_keys = np.stack([np.asarray(k[1]) for k in keys])
    scale = np.ones((n_seeds, n_pairs), dtype)
    active = np.ones((n_seeds, n_pairs), bool)
    active[:, real:] = False
    if resumed is not None:
        start_of, seeds = resumed
        params, state = place_states(params, state, start_of, real_pairs, seeds)
        for (i, seed), (j, (lr, m)) in itertools.product(enumerate(seeds), enumerate(real_pairs)):
            active[i, j] = start_of(lr, m, seed) is not None
    if mesh is not None:
        params, state, scale, active, data_keys, arrays = shard_configs(mesh, params, state, scale, active,
                                                                        data_keys, arrays)
    return (params, state, data_keys, np.int32(0), scale, active, np.True_, arrays), real


@functools.partial(jax.jit, static_argnums=1)
def _spread_pairs(tree: Any, pairs: int) -> Any:
    """Every leaf (seeds, ...) -> (seeds, pairs, ...): each pair of a seed starts from the seed's value."""
    return jax.tree.map(lambda a: jnp.broadcast_to(a[:, None], (a.shape[0], pairs, *a.shape[1:])), tree)


def _pick(tree: Any, i: int, j: int) -> Any:
    """Config (i, j) of a tree whose leaves are scalars or (seeds, pairs) arrays."""
    return jax.tree.map(lambda a: np.asarray(a)[i, j] if np.ndim(a) == 2 else a, tree)
