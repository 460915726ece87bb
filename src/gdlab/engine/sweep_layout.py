"""How a sweep lays its devices out: a (configs, data) mesh, given (``mesh=``) or chosen for each
batch-size group (``auto_layout``)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from gdlab.core.checks import check_int_range
from gdlab.engine.data_parallel import CONFIGS, DATA


def check_layout(mesh: Any, available: int) -> tuple[int, int]:
    """mesh = (configs, data): two integers >= 1 whose product is at most the device count."""
    if not (isinstance(mesh, (tuple, list)) and len(mesh) == 2):
        raise TypeError(f"mesh must be a pair (configs, data) of integers; got {mesh!r}.")
    configs = check_int_range("mesh[0] (configs)", mesh[0], 1, available)
    data = check_int_range("mesh[1] (data)", mesh[1], 1, available)
    if configs * data > available:
        raise ValueError(
            f"mesh must use at most the {available} available devices; got {configs} x {data} = "
            f"{configs * data}."
        )
    return configs, data


def auto_layout(pairs: int, batch_size: int, available: int, split_batches: bool = True) -> tuple[int, int]:
    """Configs first: the largest divisor c of the device count with c <= pairs, then the largest
    divisor d of the rest (available / c) that divides the batch size.

    split_batches False (CPU devices, threads on the same cores: an all-reduce per update there costs
    more than the split saves, benchmarks/RESULTS.md): min(pairs, available) devices for the configs
    (a chunk pads its pairs to a multiple of them), and no data axis."""
    if not split_batches:
        return min(pairs, available), 1
    configs = max(c for c in range(1, available + 1) if available % c == 0 and c <= pairs)
    rest = available // configs
    data = max(d for d in range(1, rest + 1) if rest % d == 0 and batch_size % d == 0)
    return configs, data


def sweep_mesh(layout: tuple[int, int]) -> Mesh | None:
    """The (configs, data) mesh over the first configs*data devices (None on one device)."""
    configs, data = layout
    if configs * data == 1:
        return None
    devices = np.array(jax.devices()[: configs * data]).reshape(configs, data)
    return Mesh(devices, (CONFIGS, DATA))


