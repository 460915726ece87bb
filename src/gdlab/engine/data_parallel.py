"""Data parallelism: each global batch split over the devices of a "data" mesh axis.

The whole epoch runs inside ``jax.shard_map`` with params, rule state, the
data key and the data replicated on every device. Every device draws the same
permutation, takes its own rows of each global batch of B samples (device d:
rows d*B/N .. (d+1)*B/N - 1) and computes the mean gradient g_d of its B/N
rows; ``pmean`` gives every device

    g = (1/N) sum_d g_d = (1/B) sum_i grad loss_i,

the gradient of the mean over the global batch, and every device takes the
same step, so params stay replicated. shard_map (explicit collectives) is used
rather than sharding annotations on one jit: the per-device gradients g_d are
then at hand, and |g_d|^2 at batch B/N with |g|^2 at batch B are the two
batch sizes the gradient noise scale needs (recorded every epoch).

A batch of m rows that N does not divide (the short last batch of an epoch,
or all n rows for the exact metrics) is padded to N*ceil(m/N) rows with
weight 0, and the mean over the real rows is psum_d(sum_i w_i loss_i) / m.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gdlab.core.checks import check_int_range
from gdlab.core.types import Array, LossFn, Params

DATA = "data"
"""The mesh axis the batch is split over."""
CONFIGS = "configs"
"""The mesh axis a sweep's configs are split over."""


def data_devices(mesh: Mesh | None) -> int:
    """N, the size of the mesh's data axis (1 without a mesh)."""
    return 1 if mesh is None or DATA not in mesh.shape else int(mesh.shape[DATA])


def check_devices(devices: Any, available: int) -> int:
    """devices None -> 1; else an integer in [1, available] (naming how many exist)."""
    if devices is None:
        return 1
    if isinstance(devices, bool) or not isinstance(devices, (int, np.integer)):
        raise TypeError(f"devices must be an integer in [1, {available}]; got {devices!r}.")
    if devices < 1 or devices > available:
        raise ValueError(
            f"devices must be an integer in [1, {available}] ({available} {jax.default_backend()} "
            f"device{'s' if available != 1 else ''} available); got {devices}."
        )
    return int(devices)


def check_divides(batch_size: int, devices: int, n: int, who: str = "devices") -> None:
    """The global batch must split evenly over the devices; say which sizes would."""
    if batch_size % devices:
        below = batch_size - batch_size % devices
        above = below + devices
        options = [b for b in (below, above) if 1 <= b <= n]
        hint = " or ".join(str(b) for b in options) or f"a multiple of {devices}"
        raise ValueError(
            f"batch_size must be a multiple of {who} ({devices}) so each device gets the same "
            f"share of the global batch; got {batch_size} (use {hint}, or fewer devices)."
        )


def data_mesh(devices: int) -> Mesh:
    """A 1-D mesh over the first ``devices`` devices, axis "data"."""
    check_int_range("devices", devices, 1, jax.device_count())
    return Mesh(np.array(jax.devices()[:devices]), (DATA,))


def local_rows(idx: Array, devices: int) -> Array:
    """This device's share of the last axis of idx (its length a multiple of devices)."""
    share = idx.shape[-1] // devices
    start = jax.lax.axis_index(DATA) * share
    return jax.lax.dynamic_slice_in_dim(idx, start, share, axis=idx.ndim - 1)


def batch_value_and_grad(
    loss: LossFn, params: Params, x: Array, y: Array, idx: Array, devices: int
) -> tuple[Array, Params, Array]:
    """(mean loss, mean gradient) over rows idx of (x, y), and the mean over devices of |g_d|^2.

    idx (replicated, length m) names the global batch; the last value is NaN
    when N does not divide m (the rows are then weighted, not split evenly).
    """
    m = idx.shape[0]
    if m % devices == 0:
        rows = local_rows(idx, devices)
        value, grads = jax.value_and_grad(loss)(params, x[rows], y[rows])
        local_sq = jax.lax.pmean(sum_of_squares(grads), DATA)
        value, grads = jax.lax.pmean((value, grads), DATA)
        return value, grads, local_sq
    padded = -m % devices
    weights = jnp.concatenate([jnp.ones(m, x.dtype), jnp.zeros(padded, x.dtype)])
    idx = jnp.concatenate([idx, jnp.zeros(padded, idx.dtype)])
    rows, w = local_rows(idx, devices), local_rows(weights, devices)

    def weighted_sum(p: Params) -> Array:
        per_example = jax.vmap(lambda xi, yi: loss(p, xi[None], yi[None]))(x[rows], y[rows])
        return jnp.sum(per_example * w)

    total, grads = jax.value_and_grad(weighted_sum)(params)
    total, grads = jax.lax.psum((total, grads), DATA)
    nan = jnp.full((), jnp.nan, total.dtype)
    return total / m, jax.tree.map(lambda g: g / m, grads), nan


def sum_of_squares(tree: Any) -> Array:
    """sum of the squares of every floating-point leaf."""
    leaves = [leaf for leaf in jax.tree.leaves(tree) if jnp.issubdtype(leaf.dtype, jnp.inexact)]
    return sum((jnp.sum(jnp.square(leaf)) for leaf in leaves), jnp.zeros(()))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Every leaf of tree placed whole on every device of the mesh (of every process)."""
    sharding = NamedSharding(mesh, PartitionSpec())
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, np.asarray(a)), tree)


def process_rows(n_local: int, what: str) -> int:
    """The rows of all processes together (each process holds n_local; they must agree)."""
    if jax.process_count() == 1:
        return n_local
    from jax.experimental import multihost_utils

    counts = [int(c) for c in np.ravel(multihost_utils.process_allgather(np.array(n_local)))]
    if len(set(counts)) != 1:
        raise ValueError(f"{what} must be the same in every process (an equal shard each); got {counts}.")
    return sum(counts)


def place_data(arrays: tuple[jax.Array, ...], mesh: Mesh) -> tuple[jax.Array, ...]:
    """The data on the mesh: replicated in one process; with several, each process's rows its shard."""
    if jax.process_count() == 1:
        return tuple(replicate(arrays, mesh))
    sharding = NamedSharding(mesh, PartitionSpec(DATA))
    local = jax.local_device_count()
    placed = []
    for a in arrays:
        if a.shape[0] % local:
            raise ValueError(
                f"each process's rows must be a multiple of its {local} devices; got {a.shape[0]}."
            )
        shape = (a.shape[0] * jax.process_count(), *a.shape[1:])
        placed.append(jax.make_array_from_process_local_data(sharding, np.asarray(a), shape))
    return tuple(placed)
