"""Resuming sweep configs from a checkpoint: where each goes on from, placed into its chunk.

A sweep config's checkpoint is its params and ``sgd`` state (update count and
momentum buffer; the hyperparameters come from the grid) after some epochs,
with its history up to then. The configs of a chunk that resume share that
epoch: the chunk's epochs start there, its histories begin with the recorded
rows, and the stop rules' states are replayed over them (they are pure
functions of the metrics), so a resumed config ends as it would have
without the interruption. Configs of the grid given no start are skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.stopping import StopRule
from gdlab.core.types import Params

SKIPPED = "skipped"
"""The status of a grid config that a resumed sweep was not asked to train."""


class ConfigState(NamedTuple):
    """A sweep config's params and ``sgd`` state (update count, momentum buffer or None) after some epochs."""

    params: Params
    step: int
    velocity: Params | None


class Deferred(NamedTuple):
    """A config's state read when its chunk is built, together with the chunk's other configs that share
    ``load``: ``load(refs)`` gives the states of refs in their order (a store reads many by one query),
    at most LOADED_AT_ONCE at a time."""

    load: Callable[[list[Any]], list[ConfigState]]
    ref: Any


LOADED_AT_ONCE = 256
"""The most states a Deferred's load is asked for at once (the memory of that many states beside the chunk's)."""


class ConfigStart(NamedTuple):
    """Where a config of a resumed sweep goes on from: its state after ``epoch`` epochs and its history
    up to then (metric name -> ``epoch`` values; a missing metric reads NaN). At epoch 0 (the
    start: the sweep's own initial params) state is None. state may also be a function giving it,
    called when the config's chunk is built, or a Deferred (a resumed sweep then holds one chunk's
    states at a time)."""

    epoch: int
    state: ConfigState | Callable[[], ConfigState] | Deferred | None
    history: dict[str, np.ndarray]


StartOf = Callable[[float, float, int], ConfigStart | None]
"""(learning rate, momentum, seed) -> where that config starts; None: skip it."""


class ChunkStart(NamedTuple):
    """A resumed chunk: its first epoch, its history rows before it ([seed, pair] arrays), the wall
    time already spent, which of its configs are skipped, and (start_of, seeds) to place its states."""

    epoch: int
    rows: list[dict[str, np.ndarray]]
    elapsed: float
    skipped: np.ndarray
    source: tuple[StartOf, list[int]]


def chunk_start(
    start_of: StartOf, pairs: list[tuple[float, float]], seeds: list[int], names: tuple[str, ...]
) -> ChunkStart:
    """The ChunkStart of these pairs, every seed ([seed, pair] arrays); names: the history's metrics."""
    starts = [[start_of(lr, m, s) for lr, m in pairs] for s in seeds]
    epoch = next((st.epoch for row in starts for st in row if st is not None), 0)  # one per group: gd.sweep checks
    shape = (len(seeds), len(pairs))
    rows = [{name: np.full(shape, np.nan) for name in names} for _ in range(epoch)]
    elapsed = 0.0
    skipped = np.zeros(shape, bool)
    for (i, j) in itertools.product(range(len(seeds)), range(len(pairs))):
        st = starts[i][j]
        if st is None:
            skipped[i, j] = True
            continue
        for name, values in st.history.items():
            if name in names:
                for k in range(epoch):
                    rows[k][name][i, j] = values[k]
        if epoch and "wall_time" in st.history:
            elapsed = max(elapsed, float(np.nan_to_num(st.history["wall_time"][epoch - 1])))
    return ChunkStart(epoch, rows, elapsed, skipped, (start_of, seeds))


def place_states(
    params: Params, state: Any, start_of: StartOf, pairs: list[tuple[float, float]], seeds: list[int]
) -> tuple[Params, Any]:
    """The chunk's stacked params and sgd state with each started config's own written at [seed, pair]
    (as given where none starts after epoch 0)."""
    placed = [(i, j, st.state) for (i, seed), (j, (lr, m)) in itertools.product(enumerate(seeds), enumerate(pairs))
              if (st := start_of(lr, m, seed)) is not None and st.state is not None and st.epoch > 0]
    if not placed:
        return params, state
    params_np = jax.tree.map(np.array, params)
    step = np.array(state.step)
    velocity = jax.tree.map(np.array, state.velocity)
    keeps_velocity = bool(jax.tree.leaves(velocity))

    params_leaves, velocity_leaves = jax.tree.flatten(params_np), jax.tree.flatten(velocity)

    def put(i: int, j: int, config: ConfigState) -> None:
        _write(params_leaves, config.params, i, j)
        step[i, j] = config.step
        if keeps_velocity and config.velocity is not None:
            _write(velocity_leaves, config.velocity, i, j)

    deferred: dict[Callable[[list[Any]], list[ConfigState]], list[tuple[int, int, Any]]] = {}
    for i, j, given in placed:
        if isinstance(given, Deferred):
            deferred.setdefault(given.load, []).append((i, j, given.ref))
        else:
            put(i, j, given() if callable(given) else given)
    for load, where in deferred.items():
        for first in range(0, len(where), LOADED_AT_ONCE):
            part = where[first : first + LOADED_AT_ONCE]
            configs = load([ref for _, _, ref in part])
            if len(configs) != len(part):
                raise ValueError(f"a Deferred's load must give one state per ref; it gave {len(configs)} for "
                                 f"{len(part)}.")
            for (i, j, _), config in zip(part, configs):
                put(i, j, config)
    as_device = lambda tree: jax.tree.map(jnp.asarray, tree)
    return as_device(params_np), state._replace(step=jnp.asarray(step), velocity=as_device(velocity))


def _write(stacked: tuple[list[np.ndarray], Any], one: Any, i: int, j: int) -> None:
    """stacked[i, j] = one, leaf by leaf; stacked as (leaves, treedef), one of the same tree structure (shapes
    checked)."""
    leaves, treedef = stacked
    values, other = jax.tree.flatten(one)
    if other != treedef and str(other) != str(treedef):
        raise ValueError(f"start's params and momentum buffers must have the sweep's structure {treedef}; got {other}.")
    for leaf, value in zip(leaves, values, strict=True):
        leaf[i, j] = np.asarray(value)


def stop_metrics(row: dict[str, np.ndarray], epoch: int, steps: int, seconds: Any,
                 initial_loss: np.ndarray) -> dict[str, Any]:
    """What a chunk's stop rules read after epoch (from 1): its row, the epoch, the updates and seconds so far,
    and each config's loss before training."""
    return {**row, "epoch": epoch, "step": epoch * steps, "time": seconds, "initial_loss": initial_loss}


def replay(stop: StopRule, stop_state: Any, rows: list[dict[str, np.ndarray]], steps: int,
           initial_loss: np.ndarray) -> Any:
    """The stop rules' state after the recorded epochs (each epoch's metrics as the chunk gives them)."""
    for k, row in enumerate(rows):
        stop_state = stop.update(stop_state, stop_metrics(row, k + 1, steps, row["wall_time"], initial_loss))
    return stop_state
