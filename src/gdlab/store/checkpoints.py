"""Checkpoints as bytes: the leaves of params and rule state one after another in one blob, with a SHA-256.

The structure (JSON) gives, per part (params, opt_state, best_params), the number of
leaves, the tree's definition as text and each leaf's dtype and shape, in
``jax.tree.leaves`` order; the blob is their bytes in that order (C order). Packing
and unpacking cost tens of microseconds, which matters for a sweep's thousands of
member checkpoints (the ``.npz`` zip of databases before schema version 4 cost about
1 ms each; those still read).

A pytree's structure (NamedTuples, dicts, tuples) is not stored as code; it is
rebuilt from a template made the same way as the run's (the model's init and
``rule.init``), and every leaf's shape and dtype must match it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from typing import Any, NamedTuple

import jax
import numpy as np

from gdlab.engine.loop import Checkpoint
from gdlab.store.schema import StoreError

PARTS = ("params", "opt_state", "best_params")


class StoredCheckpoint(NamedTuple):
    """A checkpoint read back from the store, its leaves flat (``restore`` gives a ``gd.Checkpoint``).

    ``leaves`` maps "params", "opt_state" and (with restore_best) "best_params"
    to their arrays in ``jax.tree.leaves`` order; ``history`` holds the run's
    metrics for epochs 1..epoch.
    """

    run_id: str
    epoch: int
    leaves: dict[str, list[np.ndarray]]
    history: dict[str, np.ndarray]
    initial_loss: float
    best_epoch: int | None


def pack(checkpoint: Checkpoint) -> tuple[bytes, str, str]:
    """(blob, sha256 of the blob, structure as JSON) for a checkpoint's params and rule state."""
    trees = {"params": checkpoint.params, "opt_state": checkpoint.opt_state}
    if checkpoint.best_params is not None:
        trees["best_params"] = checkpoint.best_params
    structure: dict[str, Any] = {}
    chunks: list[bytes] = []
    for part, tree in trees.items():
        leaves, treedef = jax.tree.flatten(tree)
        arrays = [np.asarray(leaf) for leaf in jax.device_get(leaves)]  # tobytes: C order whatever the layout
        structure[part] = {"leaves": len(arrays), "treedef": str(treedef),
                           "arrays": [[a.dtype.str, list(a.shape)] for a in arrays]}
        chunks += [a.tobytes() for a in arrays]
    blob = b"".join(chunks)
    return blob, hashlib.sha256(blob).hexdigest(), json.dumps(structure)


def unpack(blob: bytes, sha256: str, structure: str, where: str) -> dict[str, list[np.ndarray]]:
    """The leaves of each part, after checking the blob's SHA-256; ``where`` names it in errors."""
    if hashlib.sha256(blob).hexdigest() != sha256:
        raise StoreError(f"checkpoint of {where} is corrupted: its SHA-256 does not match the stored one.")
    parts = json.loads(structure)
    try:
        if all("arrays" in info for info in parts.values()):
            return _arrays(blob, parts)
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:  # written before schema version 4
            return {part: [npz[f"{part}_{i:05d}"] for i in range(int(info["leaves"]))] for part, info in parts.items()}
    except (OSError, ValueError, TypeError, KeyError, zipfile.BadZipFile) as err:
        raise StoreError(f"checkpoint of {where} cannot be read ({err}).") from None


def _arrays(blob: bytes, parts: dict[str, Any]) -> dict[str, list[np.ndarray]]:
    """The leaves of each part read off the blob by their dtypes and shapes (writable copies)."""
    buffer = bytearray(blob)
    offset, out = 0, {}
    for part, info in parts.items():
        leaves = []
        for descr, shape in info["arrays"]:
            dtype, count = np.dtype(descr), math.prod(shape)
            if offset + count * dtype.itemsize > len(buffer):
                raise ValueError(f"{part} needs more than the blob's {len(buffer)} bytes")
            leaves.append(np.frombuffer(buffer, dtype, count, offset).reshape(tuple(shape)))
            offset += count * dtype.itemsize
        if len(leaves) != int(info["leaves"]):
            raise ValueError(f"{part} lists {len(leaves)} arrays of its {info['leaves']} leaves")
        out[part] = leaves
    if offset != len(buffer):
        raise ValueError(f"{len(buffer) - offset} bytes of the blob are not in its arrays")
    return out


def restore(stored: StoredCheckpoint, params_like: Any, opt_state_like: Any) -> Checkpoint:
    """A ``gd.Checkpoint`` with the stored leaves in the templates' structures (shapes and dtypes checked)."""
    where = f"run {stored.run_id} at epoch {stored.epoch}"
    best = stored.leaves.get("best_params")
    return Checkpoint(
        epoch=stored.epoch,
        params=rebuild(stored.leaves["params"], params_like, f"params of {where}"),
        opt_state=rebuild(stored.leaves["opt_state"], opt_state_like, f"opt_state of {where}"),
        history=stored.history,
        initial_loss=stored.initial_loss,
        best_epoch=stored.best_epoch,
        best_params=None if best is None else rebuild(best, params_like, f"best_params of {where}"),
    )


def rebuild(leaves: list[np.ndarray], like: Any, what: str, device: bool = True) -> Any:
    """The leaves in like's tree structure, each checked against its shape and dtype; on the default device,
    or as NumPy arrays where device is False."""
    like_leaves, treedef = jax.tree.flatten(like)
    if len(leaves) != len(like_leaves):
        raise StoreError(
            f"{what} must match the run's model and rule: {len(like_leaves)} arrays; "
            f"the checkpoint holds {len(leaves)}."
        )
    out = []
    for i, (leaf, ref) in enumerate(zip(leaves, like_leaves)):
        dtype = np.dtype(ref.dtype)
        if leaf.dtype.kind == "V" and leaf.dtype.itemsize == dtype.itemsize:
            leaf = leaf.view(dtype)  # bfloat16 and other extension dtypes come back as raw bytes
        if leaf.shape != tuple(ref.shape) or leaf.dtype != dtype:
            raise StoreError(
                f"{what} must match the run's model and rule: array {i} is {dtype}{list(ref.shape)}; "
                f"the checkpoint holds {leaf.dtype}{list(leaf.shape)}."
            )
        out.append(jax.device_put(leaf) if device else leaf)
    return jax.tree.unflatten(treedef, out)
