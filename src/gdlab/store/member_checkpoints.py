"""Checkpoints of sweep members: a config's params and sgd state, stored as a run's checkpoint.

The ``opt_state`` part holds {"step": update count, "velocity": momentum buffer
or ()}; the hyperparameters are the member's recorded grid values. Read back,
the params are rebuilt on the sweep's own params template and checked leaf by leaf.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
from typing import Any, NamedTuple

import jax
import numpy as np

from gdlab.engine.loop import Checkpoint
from gdlab.engine.sweep_start import ConfigState
from gdlab.store.checkpoints import StoredCheckpoint, rebuild, unpack
from gdlab.store.records import in_batches
from gdlab.store.schema import StoreError


def member_checkpoint(epoch: int, state: ConfigState) -> Checkpoint:
    """A member's state after epoch as a checkpoint to store (its metrics are already stored): params and
    momentum buffer each as one flat array where their leaves share a dtype (fewer arrays to pack and
    check: an .npz entry each cost 1.1 against 1.9 ms per member of the MNIST-1D MLP with momentum),
    leaf by leaf otherwise."""
    velocity = () if state.velocity is None else _flat(state.velocity)
    opt_state = {"step": np.int32(state.step), "velocity": velocity}
    return Checkpoint(epoch=epoch, params=_flat(state.params), opt_state=opt_state, history={},
                      initial_loss=float("nan"))


def member_state(stored: StoredCheckpoint, params_like: Any) -> ConfigState:
    """A member's params and sgd state from its stored checkpoint, on the params template (shapes and dtypes
    checked)."""
    return _state(stored.leaves, _Layout.of(params_like), f"run {stored.run_id} at epoch {stored.epoch}")


def member_states(conn: sqlite3.Connection, epoch: int, params_like: Any, run_ids: list[str]) -> list[ConfigState]:
    """The states of these members (``member_state``) from their checkpoints at epoch, in run_ids' order, read
    500 to a query (a resumed sweep's chunk); a checkpoint that is not there is a StoreError."""
    stored: dict[str, dict[str, list[np.ndarray]]] = {}
    for part, marks in in_batches(run_ids):
        rows = conn.execute(f"SELECT run_id, structure, blob, sha256 FROM checkpoints WHERE epoch = ? AND run_id IN "
                            f"({marks})", (epoch, *part))
        for run_id, structure, blob, sha256 in rows:
            stored[run_id] = unpack(blob, sha256, structure, f"run {run_id} at epoch {epoch}")
    missing = [run_id for run_id in run_ids if run_id not in stored]
    if missing:
        raise StoreError(f"run {missing[0]}'s checkpoint at epoch {epoch} went away while the sweep resumed.")
    layout = _Layout.of(params_like)
    return [_state(stored[run_id], layout, f"run {run_id} at epoch {epoch}") for run_id in run_ids]


class _Layout(NamedTuple):
    """A params template's leaves: the tree, each leaf's shape and where it starts in the flat array."""

    like: Any
    shapes: list[tuple[int, ...]]
    offsets: list[int]

    @staticmethod
    def of(like: Any) -> _Layout:
        shapes = [tuple(leaf.shape) for leaf in jax.tree.leaves(like)]
        return _Layout(like, shapes, [0, *itertools.accumulate(math.prod(shape) for shape in shapes)])


def _state(leaves: dict[str, list[np.ndarray]], layout: _Layout, where: str) -> ConfigState:
    params = rebuild(_leaves(leaves["params"], layout), layout.like, f"params of {where}", device=False)
    step, *velocity = leaves["opt_state"]
    buffer = (rebuild(_leaves(velocity, layout), layout.like, f"momentum buffer of {where}", device=False)
              if velocity else None)
    return ConfigState(params, int(step), buffer)


def _flat(tree: Any) -> Any:
    """The tree's leaves raveled into one array when they share a dtype; else the tree itself."""
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]
    if len({leaf.dtype for leaf in leaves}) != 1:
        return tree
    return np.concatenate([leaf.ravel() for leaf in leaves])


def _leaves(stored: list[np.ndarray], layout: _Layout) -> list[np.ndarray]:
    """The stored leaves in the template's shapes: one flat array cut and reshaped, or the leaves as they are
    (rebuild checks every shape and dtype)."""
    shapes, offsets = layout.shapes, layout.offsets
    if len(stored) != 1 or stored[0].ndim != 1 or len(shapes) == 1 and stored[0].shape == shapes[0]:
        return stored
    if stored[0].size != offsets[-1]:
        return stored  # rebuild names the mismatch
    flat = stored[0]
    return [flat[a:b].reshape(shape) for a, b, shape in zip(offsets, offsets[1:], shapes)]


def checkpoint_epochs(conn: sqlite3.Connection, run_ids: list[str]) -> dict[str, int]:
    """The epoch of each run's latest checkpoint (runs without one left out)."""
    out: dict[str, int] = {}
    for part, marks in in_batches(run_ids):
        out.update(conn.execute(f"SELECT run_id, MAX(epoch) FROM checkpoints WHERE run_id IN ({marks}) "
                                "GROUP BY run_id", part).fetchall())
    return out
