"""Training a device's sweep configs a block at a time, so each block's working set stays in the CPU's cache.

On a CPU, vmapping one step over many configs makes every matrix product and
elementwise pass sweep all their weights and activations: past the cache, each
pass waits on memory. ``in_blocks`` runs a device's configs in blocks of about
``config_block`` configs, one after another (``lax.map`` over blocks of the
vmapped epoch). Measured in gd.sweep on the 2-core Xeon (1 MiB L2 per core, two
CPU devices, 16 configs each, MNIST-1D MLP 40-100-100-10, batch 128): a median
epoch of 82-83 ms in blocks of 2 configs, 86 in blocks of 4, 91 in blocks of 8,
and 126 in blocks of 1. The numbers are the same as all at once.
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

CACHE_MULTIPLE = 1
"""A block's working set may be this many times the per-core L2 cache. The fastest blocks measured in
gd.sweep (two CPU devices, 32 configs, 1 MiB L2; median epoch) held 0.5-1.4 MiB by ``step_bytes``
where the model let them: 40-100-100-10 in blocks of 4 at batch 8 (346 ms against 375 for all 16 of a
device), 4-8 at batch 32 (149-150 against 157), 2 at batch 128 (82 against 91 in blocks of 8); at
batch 512 and for 40-256-256-10 one config's step already fills the L2 and blocks of 2 (MIN_PAIRS) were
fastest (90 ms, 410 ms). The earlier multiple, 3, came from one step of configs all at once, one core."""

BLOCK_CACHE_MOST = 1 << 20
"""The L2 a block may count on is the core's, up to this: the fastest blocks held 0.5-1.4 MiB by ``step_bytes``
on a 2 MiB L2 too (Intel Xeon model 167, 2 devices, 32 configs, 1 seed, median epoch, nineteenth session):
batch 128 in blocks of 2 (0.64 MiB) 61-66 ms against 65-69 in blocks of 4 (1.3 MiB, the whole L2's rule)
and 73-74 in the rule's own 6 (pairs of 4); batch 32 blocks of 4-8 94-104 ms (the rule's 8: 97); batch 8
blocks of 4 215-223 ms, 8 217-228; batch 1 blocks of 4 and 8 alike (0.41 s)."""

MIN_PAIRS = 2
"""A block holds at least this many (learning rate, momentum) pairs of each seed, while those configs'
working set fits in L3_SHARE of the L3 cache. A block of one pair vmaps over a pairs axis of size 1,
which XLA's CPU ran 1.1-1.5x slower than two (gd.sweep, two devices, median epoch): 1 seed, batch
128 126 against 82-83 ms, batch 512 111 against 90, 40-256-256-10 508 against 410, batch 3000 65
against 58, the full batch of 4000 rows 65-70 against 54-59; 3 seeds x 8 rates, 3 against 6 configs:
batch 128 104 against 80 ms, batch 32 159 against 121, batch 1000 104-113 against 93-98, batch 2000
112-118 against 99-105, batch 1 534-544 against 504-515. Near the L3's size the larger block lost:
3 seeds at batch 3000 (6 configs, 31 MB, a 36 MB L3) 111-115 against 123-135 ms, at the full batch
(41 MB) 111-116 against 122-133."""

L3_SHARE = 2 / 3
"""The share of the L3 cache a block raised to MIN_PAIRS pairs may fill (the measured edge: 20 MB ran
faster as 2 pairs, 31 MB slower, with a 36 MB L3 shared by both cores)."""


def l2_bytes() -> int:
    """The CPU's per-core L2 cache in bytes (Linux sysfs; 1 MiB where it cannot be read)."""
    return _cache_bytes(2) or 1 << 20


def l3_bytes() -> int:
    """The CPU's L3 cache in bytes (Linux sysfs; 16 L2 caches where it cannot be read)."""
    return _cache_bytes(3) or 16 * l2_bytes()


@functools.lru_cache(maxsize=4)
def _cache_bytes(index: int) -> int:
    """Size of cpu0's cache number ``index`` in sysfs (index 2: L2, 3: L3 on x86 Linux); 0 where unreadable."""
    try:
        size = Path(f"/sys/devices/system/cpu/cpu0/cache/index{index}/size").read_text().strip()
        scale = {"K": 1 << 10, "M": 1 << 20}.get(size[-1:], 1)
        return int(size.rstrip("KM")) * scale
    except (OSError, ValueError):
        return 0


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


def config_block(
    params: Params, batch_size: int, seeds: int = 1, cache: int | None = None, l3: int | None = None
) -> int:
    """The most configs a CPU device should train at once: CACHE_MULTIPLE x L2 / step_bytes (the L2 up to
    BLOCK_CACHE_MOST, unless cache is given), raised to
    MIN_PAIRS pairs of each of the sweep's seeds (MIN_PAIRS x seeds configs) while those fit in
    L3_SHARE of the L3.

    At batch size 1 a step's products are matrix-vector ones and its working set is the weights
    and their gradients, read again every step: a block then holds half the L2 of them
    (L2 / (4 x itemsize x n_params)). Measured (2 devices, 40-100-100-10, one SGD epoch): 3 seeds x 8
    rates 0.61-0.69 s all at once, 0.52-0.56 s in blocks of 3 or 6; 32 rates 0.91-0.97 s, 0.65-0.69 s
    in blocks of 4.
    """
    cache = min(l2_bytes(), BLOCK_CACHE_MOST) if cache is None else cache
    l3 = l3_bytes() if l3 is None else l3
    one = step_bytes(params, batch_size)
    block = CACHE_MULTIPLE * cache // one
    if batch_size == 1:
        n_params, itemsize, _ = param_sizes(params)
        block = min(block, cache // (4 * itemsize * n_params))
    floor = MIN_PAIRS * seeds
    if floor * one <= L3_SHARE * l3:
        block = max(block, floor)
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
