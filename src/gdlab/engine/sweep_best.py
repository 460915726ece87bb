"""early_stopping(restore_best=True) in a sweep chunk: each config's best epoch by the rule's metric,
and its params then, kept on the device beside the chunk's own.

As in gd.fit, an epoch is a config's best when its metric is finite and better
(lower; accuracy: higher) than every earlier one, and the config returns the
params of its best epoch, whatever ended it. A resumed chunk replays the
values from the recorded epochs; a config whose best epoch lies before its
start has no params of it, and returns its last ones (best epoch 0: none).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.stopping import MAXIMIZED
from gdlab.core.types import Params


class BestParams(NamedTuple):
    """metric; value: sign x its best so far ([seed, pair], inf: none; sign -1 for accuracy); epoch: the
    best epoch (0: none); params: the chunk's params at each config's best epoch (None until one);
    first: the chunk's first epoch (the best params of earlier epochs are not known)."""

    metric: str
    value: np.ndarray
    epoch: np.ndarray
    params: Params | None
    first: int


def start_best(metric: str, rows: list[dict[str, np.ndarray]], shape: tuple[int, ...]) -> BestParams:
    """The tracker of a chunk of this shape, its values replayed over the recorded rows (a resumed chunk)."""
    best = BestParams(metric, np.full(shape, np.inf), np.zeros(shape, np.int32), None, len(rows))
    for epoch, row in enumerate(rows, start=1):
        best = _values(best, row, np.ones(shape, bool), epoch)[0]
    return best


def track_best(best: BestParams, row: dict[str, np.ndarray], epoch: int, trained: np.ndarray,
               params: Params) -> BestParams:
    """After epoch (from 1): the configs that trained it (finite, active) and bettered their metric keep
    their params."""
    best, improved = _values(best, row, trained, epoch)
    if not improved.any():
        return best
    kept = params if best.params is None else best.params
    return best._replace(params=_keep(improved, params, kept))


def restored(best: BestParams, params: Params) -> tuple[Params, np.ndarray]:
    """Each config's params of its best epoch (its last params where no best is known) and that epoch
    (0: none)."""
    known = best.epoch > best.first
    if best.params is None or not known.any():
        return params, np.zeros_like(best.epoch)
    return _keep(known, best.params, params), np.where(known, best.epoch, 0)


def _values(best: BestParams, row: dict[str, np.ndarray], trained: np.ndarray,
            epoch: int) -> tuple[BestParams, np.ndarray]:
    sign = -1.0 if best.metric in MAXIMIZED else 1.0
    value = sign * np.asarray(row[best.metric], np.float64)
    with np.errstate(invalid="ignore"):
        improved = trained & np.isfinite(value) & (value < best.value)
    return best._replace(value=np.where(improved, value, best.value),
                         epoch=np.where(improved, epoch, best.epoch).astype(np.int32)), improved


@jax.jit
def _keep(flag: np.ndarray, new: Params, old: Params) -> Params:
    """new where flag ([seed, pair]) holds, old elsewhere, leaf by leaf ([seed, pair, ...] leaves)."""
    return jax.tree.map(lambda a, b: jnp.where(flag.reshape(flag.shape + (1,) * (a.ndim - 2)), a, b), new, old)
