"""A sweep epoch rerun with the careful variant, for the pairs where a config went non-finite only.

The fast epoch (engine/epoch.py) reports, per config, whether its loss, params and
state stayed finite. Where one did not, the epoch is run again from the same start
with the careful variant, which stops that config at its first non-finite step.
Only the (learning rate, momentum) pairs holding such a config are rerun, every seed
of each, ``width`` pairs at a time (the configs axis of the mesh: one compiled shape
per group); every other pair keeps the fast epoch's results. A careful epoch of a
few pairs costs a few pairs' time: on the CPU an SGD epoch of 24 configs took 0.7 s,
of 6 configs 0.18 s.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gdlab.engine.data_parallel import CONFIGS
from gdlab.engine.epoch import EpochSpec, EpochStats
from gdlab.engine.epoch_program import compiled_call, compiled_epoch


def shard_configs(mesh: Mesh, *trees: Any) -> tuple[Any, ...]:
    """Configs (axis 1 of params, state, scale, active) split over the configs axis; keys, data replicated."""
    by_config = NamedSharding(mesh, PartitionSpec(None, CONFIGS))
    replicated = NamedSharding(mesh, PartitionSpec())
    *configs, keys, data = trees
    # split from host copies: a device array split over devices compiles a program per shape
    placed = [jax.tree.map(lambda a: jax.device_put(np.asarray(a), by_config), t) for t in configs]
    return (*placed, *jax.device_put((keys, data), replicated))


def rerun_careful(
    spec: EpochSpec, inputs: tuple[Any, ...], bad: np.ndarray, fast: tuple[Any, Any, EpochStats], mesh: Mesh | None,
) -> tuple[Any, Any, EpochStats, float]:
    """The epoch's (params, state, stats) with the pairs where ``bad`` (seeds x pairs) holds a config run
    again careful from ``inputs`` (the fast epoch's arguments), and the seconds spent compiling (the careful
    program and the small ones that take and merge its pairs; 0.0 once compiled); ``fast`` is what the fast
    epoch returned."""
    params, state, keys, epoch, scale, active, test, arrays = inputs
    new_params, new_state, stats = fast
    width = 1 if mesh is None else int(mesh.shape[CONFIGS])
    columns = [int(c) for c in np.nonzero(bad.any(axis=0))[0]]
    compiling = 0.0
    for first in range(0, len(columns), width):
        real = columns[first : first + width]
        index = np.array(real + [real[-1]] * (width - len(real)))  # padded with inactive copies
        part_active = np.asarray(active)[:, index].copy()
        part_active[:, len(real):] = False
        take, take_seconds = compiled_call(_columns, (params, state), index)
        part = (*take((params, state), index), np.asarray(scale)[:, index], part_active)
        if mesh is not None:
            *part_list, keys, arrays = shard_configs(mesh, *part, keys, arrays)
            part = tuple(part_list)
        args = (part[0], part[1], keys, epoch, part[2], part[3], test, arrays)
        program, careful_seconds = compiled_epoch(spec._replace(careful=True), *args, configs=2)
        part_params, part_state, part_stats = program(*args)
        n = len(real)
        (new_params, new_state), merge_seconds = _set_columns(
            (new_params, new_state), real, (part_params, part_state), n)
        compiling += take_seconds + careful_seconds + merge_seconds
        stats = _merge_stats(stats, real, jax.device_get(part_stats), n)
    return new_params, new_state, stats, compiling


@jax.jit
def _columns(tree: Any, index: jax.Array) -> Any:
    """Pairs ``index`` (axis 1) of every leaf of a (seeds, pairs, ...) tree (one program for every leaf)."""
    return jax.tree.map(lambda a: a[:, index], tree)


def _set_columns(tree: Any, real: list[int], part: Any, n: int) -> tuple[Any, float]:
    """tree with its pairs ``real`` replaced by the first n pairs of part (each leaf keeps its placement),
    and the seconds spent compiling the merge."""
    pairs = int(np.shape(jax.tree.leaves(tree)[0])[1])
    source = np.zeros(pairs, np.int32)  # pair j of the result comes from pair source[j] of part where taken[j]
    source[real] = np.arange(n)
    taken = np.isin(np.arange(pairs), real)
    merge, seconds = compiled_call(_merged_columns, tree, part, source, taken)
    merged = merge(tree, part, source, taken)
    placed = jax.tree.map(lambda a, m: jax.device_put(m, a.sharding) if hasattr(a, "sharding") else m, tree, merged)
    return placed, seconds


@jax.jit
def _merged_columns(tree: Any, part: Any, source: jax.Array, taken: jax.Array) -> Any:
    """Every leaf's pairs taken from part (at source) where taken, else kept: one program per tree structure
    and shapes, whichever pairs were rerun."""

    def merge(a: jax.Array, b: jax.Array) -> jax.Array:
        mask = jnp.reshape(taken, (1, -1) + (1,) * (a.ndim - 2))
        return jnp.where(mask, b[:, source], a)

    return jax.tree.map(merge, tree, part)


def _merge_stats(stats: EpochStats, real: list[int], part: EpochStats, n: int) -> EpochStats:
    """The fast epoch's stats (host arrays, seeds x pairs) with pairs ``real`` taken from the careful part."""
    merged: dict[str, Any] = {}
    for name, value in stats._asdict().items():
        if value is None:
            merged[name] = None
            continue
        value = np.array(value)
        value[:, real] = np.asarray(getattr(part, name))[:, :n]
        merged[name] = value
    return EpochStats(**merged)
