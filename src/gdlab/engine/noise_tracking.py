"""Tracking the gradient noise scale during training: B_simple at the current params every n epochs.

After epoch e (counted from 1) with e % every == 0, ``gd.noise_scale`` is measured
at the epoch's params with ``small_batch = min(batch_size, max(1, n_train // 8))``,
``big_batch = min(n_train, 8 * small_batch)``, ``batches`` batches at each size and
``seed = (run seed + e) mod 2^32``, so a direct call with these arguments gives the
same numbers. The history gets ``noise_scale`` (B_simple) and its bootstrap
interval ``noise_scale_low`` and ``noise_scale_high``; NaN on other epochs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from gdlab.core.checks import check_int_range
from gdlab.core.dataset import Dataset
from gdlab.core.types import Params
from gdlab.engine.noise_scale import noise_scale

NAMES = ("noise_scale", "noise_scale_low", "noise_scale_high")
BATCHES = 32


class Tracker(NamedTuple):
    """A quantity measured at the params after every ``every``-th epoch: names -> measure(params, epoch)."""

    names: tuple[str, ...]
    every: int
    measure: Callable[[Params, int], tuple[float, ...]]


def noise_batches(batch_size: int, n_train: int) -> tuple[int, int]:
    """(small_batch, big_batch) of the tracked estimate for a run at batch_size on n_train samples."""
    small = min(batch_size, max(1, n_train // 8))
    return small, min(n_train, 8 * small)


def noise_scale_tracker(
    model: Any, data: Dataset, every: int, batch_size: int, seed: int, loss: str | None
) -> Tracker | None:
    """The tracker of B_simple for gd.fit(track_noise_scale=every); None when every is 0."""
    every = check_int_range("track_noise_scale", every, 0)
    if not every:
        return None
    if data.n_train < 2:
        raise ValueError(f"track_noise_scale needs at least 2 training samples; got {data.n_train}.")
    small, big = noise_batches(batch_size, data.n_train)

    def measure(params: Params, epoch: int) -> tuple[float, ...]:
        found = noise_scale(model, params, data, small, big, batches=BATCHES, seed=(seed + epoch) % 2**32, loss=loss)
        return (found.b_simple, *found.interval)

    return Tracker(NAMES, every, measure)
