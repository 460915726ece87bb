"""early_stopping(restore_best=True) in a sweep chunk: each config's best epoch by the rule's metric,
and its params then, kept on the device beside the chunk's own.

As in gd.fit, the initial params are the first candidate (epoch 0), an epoch is
a config's best when its metric is finite and better (lower; accuracy: higher)
than the initial params' and every earlier epoch's, and the config returns the
params of its best epoch, whatever ended it. A resumed chunk replays the
values from the recorded epochs and holds the initial params again (they are
drawn from the seed, or given); a config whose best epoch lies between those
and its start has no params of it, and returns its last ones (best epoch -1: none).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.stopping import metric_sign
from gdlab.core.types import Params


class BestParams(NamedTuple):
    """metric; value: sign x its best so far ([seed, pair], inf: none; sign -1 for accuracy); epoch: the
    best epoch (0: the initial params; -1: none); params: the chunk's params at each config's best epoch
    (the initial params until one); first: the earliest epoch after 0 whose params the tracker holds (1; a
    resumed chunk's first new epoch)."""

    metric: str
    value: np.ndarray
    epoch: np.ndarray
    params: Params
    first: int


def start_best(metric: str, rows: list[dict[str, np.ndarray]], initial: np.ndarray,
               params: Params) -> BestParams:
    """The tracker of a chunk: each config's initial value of the metric ([seed, pair]; not finite: no
    candidate), replayed over the recorded rows of a resumed chunk; params: the chunk's initial params
    (a resumed chunk's too: not its checkpoints')."""
    value = metric_sign(metric) * np.asarray(initial, np.float64)
    finite = np.isfinite(value)
    best = BestParams(metric, np.where(finite, value, np.inf), np.where(finite, 0, -1).astype(np.int32),
                      params, len(rows) + 1)
    for epoch, row in enumerate(rows, start=1):
        best = _values(best, row, np.ones(value.shape, bool), epoch)[0]
    return best


def track_best(best: BestParams, row: dict[str, np.ndarray], epoch: int, trained: np.ndarray,
               params: Params) -> BestParams:
    """After epoch (from 1): the configs that trained it (finite, active) and bettered their metric keep
    their params."""
    best, improved = _values(best, row, trained, epoch)
    if not improved.any():
        return best
    return best._replace(params=_keep(improved, params, best.params))


def returned_epochs(best: BestParams) -> np.ndarray:
    """The epoch whose params each config returns (0: the initial params; -1: none known, its last params)."""
    known = (best.epoch == 0) | (best.epoch >= best.first)
    return np.where(known, best.epoch, -1).astype(np.int32)


def restored(best: BestParams, params: Params) -> tuple[Params, np.ndarray]:
    """Each config's params of its best epoch (its last params where no best is known) and that epoch
    (0: the initial params; -1: none)."""
    epochs = returned_epochs(best)
    if not (epochs >= 0).any():
        return params, epochs
    return _keep(epochs >= 0, best.params, params), epochs


def _values(best: BestParams, row: dict[str, np.ndarray], trained: np.ndarray,
            epoch: int) -> tuple[BestParams, np.ndarray]:
    value = metric_sign(best.metric) * np.asarray(row[best.metric], np.float64)
    with np.errstate(invalid="ignore"):
        improved = trained & np.isfinite(value) & (value < best.value)
    return best._replace(value=np.where(improved, value, best.value),
                         epoch=np.where(improved, epoch, best.epoch).astype(np.int32)), improved


@jax.jit
def _keep(flag: np.ndarray, new: Params, old: Params) -> Params:
    """new where flag ([seed, pair]) holds, old elsewhere, leaf by leaf ([seed, pair, ...] leaves)."""
    return jax.tree.map(lambda a, b: jnp.where(flag.reshape(flag.shape + (1,) * (a.ndim - 2)), a, b), new, old)
