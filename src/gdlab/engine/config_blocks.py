"""Training a device's sweep configs a block at a time, so each block's working set stays in the CPU's cache.

On a CPU, vmapping one step over many configs makes every matrix product and
elementwise pass sweep all their weights and activations: past the cache, each
pass waits on memory. Measured on the 2-core Xeon (1 MiB L2 per core, MNIST-1D MLP
40-100-100-10, batch 128, one core): 8 configs at once ran the step at 68.7
GFLOP/s, 16 at 60.7, 32 at 53.9, 64 at 44.7. ``in_blocks`` runs a device's
configs in blocks of about ``config_block`` configs, one after another
(``lax.map`` over blocks of the vmapped epoch), so a 64-config device runs at
the 8-config speed. The numbers are the same as all at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.types import Params

CACHE_MULTIPLE = 3
"""A block's working set may be this many times the per-core L2 cache: the fastest block sizes
measured (one core, 1 MiB L2) held 1.3-2.6 MiB by ``step_bytes``: 8 configs of 40-100-100-10 at
batch 128 and at batch 32, 2 at batch 512 and of 40-256-256-10, 16 of 40-32-32-10."""


@functools.lru_cache(maxsize=1)
def l2_bytes() -> int:
    """The CPU's per-core L2 cache in bytes (Linux sysfs; 1 MiB where it cannot be read)."""
    try:
        size = Path("/sys/devices/system/cpu/cpu0/cache/index2/size").read_text().strip()
        scale = {"K": 1 << 10, "M": 1 << 20}.get(size[-1:], 1)
        return int(size.rstrip("KM")) * scale
    except (OSError, ValueError):
        return 1 << 20


def param_sizes(params: Params) -> tuple[int, int, int]:
    """(number of params, largest itemsize, widths) of one config's params.

    widths sums the layers' output widths: the last dims of params with 2 or more dims
    (of every leaf when none has).
    """
    leaves = jax.tree.leaves(params)
    n_params = sum(int(np.prod(np.shape(a))) for a in leaves)
    itemsize = max(np.dtype(a.dtype).itemsize for a in leaves)
    matrices = [a for a in leaves if np.ndim(a) >= 2] or [a for a in leaves if np.ndim(a) >= 1]
    return n_params, itemsize, sum(int(np.shape(a)[-1]) for a in matrices)


def step_bytes(params: Params, batch_size: int) -> int:
    """One config's working set in a training step: itemsize x (2 x n_params + 2 x batch_size x widths).

    The params and their gradient, and each layer's pre-activations and activations (``param_sizes``).
    """
    n_params, itemsize, widths = param_sizes(params)
    return itemsize * (2 * n_params + 2 * batch_size * widths)


def config_block(params: Params, batch_size: int, cache: int | None = None) -> int:
    """The most configs a CPU device should train at once: CACHE_MULTIPLE x L2 / step_bytes, at least 1.

    At batch size 1 a step's products are matrix-vector ones and its working set is the weights
    and their gradients, read again every step: a block then holds half the L2 of them
    (L2 / (4 x itemsize x n_params)). Measured (2 devices, 40-100-100-10, one SGD epoch): 3 seeds x 8
    rates 0.61-0.69 s all at once, 0.52-0.56 s in blocks of 3 or 6; 32 rates 0.91-0.97 s, 0.65-0.69 s
    in blocks of 4. From batch 2 on, blocks that small were slower (batch 8: 0.41 s against 0.29 s).
    """
    cache = l2_bytes() if cache is None else cache
    block = CACHE_MULTIPLE * cache // step_bytes(params, batch_size)
    if batch_size == 1:
        n_params, itemsize, _ = param_sizes(params)
        block = min(block, cache // (4 * itemsize * n_params))
    return max(1, block)


def block_pairs(pairs: int, most: int) -> int:
    """Pairs per block: the largest divisor of pairs up to most; all pairs at once when that is under most / 2
    (a prime count would otherwise run one pair at a time)."""
    size = max(d for d in range(1, min(pairs, most) + 1) if pairs % d == 0)
    return size if pairs <= most or 2 * size >= most else pairs


def in_blocks(fn: Callable[..., Any], block: int) -> Callable[..., Any]:
    """fn (a sweep's epoch over (seeds, pairs) of configs) run over blocks of pairs, about block configs each.

    Arguments are (params, state, data key, epoch, scale, active, test, data): params, state,
    scale and active have axes (seeds, pairs, ...); every output has them too. Block 0: fn.
    """
    if block <= 0:
        return fn

    def blocked(
        params: Any, state: Any, key: Any, epoch: Any, scale: Any, active: Any, test: Any, data: Any
    ) -> Any:
        seeds, pairs = jnp.shape(active)
        size = block_pairs(pairs, max(1, block // seeds))
        if size == pairs:
            return fn(params, state, key, epoch, scale, active, test, data)
        blocks = pairs // size

        def split(a: Any) -> Any:
            return jnp.moveaxis(jnp.reshape(a, (seeds, blocks, size, *jnp.shape(a)[2:])), 1, 0)

        def join(a: Any) -> Any:
            return jnp.reshape(jnp.moveaxis(a, 0, 1), (seeds, pairs, *jnp.shape(a)[3:]))

        def one(part: Any) -> Any:
            p, s, sc, ac = part
            return fn(p, s, key, epoch, sc, ac, test, data)

        out = jax.lax.map(one, jax.tree.map(split, (params, state, scale, active)))
        return jax.tree.map(join, out)

    return blocked
