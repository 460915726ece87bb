"""Batch-size guidance: the simple gradient noise scale B_simple = tr(Sigma) / |G|^2.

McCandlish et al. (2018), "An Empirical Model of Large-Batch Training". With
G the full-data gradient and Sigma the per-example gradient covariance, a batch
of B examples drawn without replacement from n has

    E|g_B|^2 = |G|^2 + c_B tr(Sigma),   c_B = (n - B) / ((n - 1) B)   (~ 1/B for B << n),

so gradient norms at two batch sizes, each averaged over many batches before the
ratio is taken, give

    tr(Sigma) = (E|g_small|^2 - E|g_big|^2) / (c_small - c_big),   |G|^2 = E|g_big|^2 - c_big tr(Sigma).

B_simple is the critical batch size: below it, doubling the batch nearly halves
the steps needed; far above it, larger batches buy little. The recommended
learning rate follows the linear scaling rule (Goyal et al. 2017):
lr = learning_rate * recommended_batch_size / batch_size, with a warmup.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.batching import resolve_batch_size
from gdlab.core.checks import check_float_range, check_int_range, check_positive_float
from gdlab.core.dataset import Dataset
from gdlab.core.types import Array, LossFn, Model, Params
from gdlab.engine.data_parallel import sum_of_squares
from gdlab.engine.setup import (
    check_data,
    check_params_fit_data,
    device_arrays,
    objective_and_params,
    seed_keys,
)


class NoiseScale(NamedTuple):
    """The estimate, its bootstrap interval, and what it recommends."""

    b_simple: float
    interval: tuple[float, float]
    grad_norm_sq: float  # |G|^2
    trace_sigma: float  # tr(Sigma)
    recommended_batch_size: int | None  # None when not measured
    recommended_learning_rate: float | None
    small_batch: int
    big_batch: int
    batches: int
    note: str | None = None  # why B_simple was not measured (then NaN), else None


SMALL_BATCH, BIG_BATCH = 16, 512
"""noise_scale's batch sizes where the data holds them."""


def default_batches(small: int | None, big: int | None, n: int) -> tuple[int, int]:
    """The two batch sizes to measure at on n training samples: each as given, else big BIG_BATCH, or n when fewer
    or when small is BIG_BATCH or more; small SMALL_BATCH, or big // 2 when that is less.

    ValueError when n leaves no pair, or a given size leaves the other none (noise_scale checks the rest).
    """
    if n < 2:
        raise ValueError(f"data must have at least 2 training samples to compare gradients at two batch sizes; "
                         f"got {n}.")
    small = None if small is None else check_int_range("small_batch", small, 1)
    big = None if big is None else check_int_range("big_batch", big, 1)
    if big is None:
        big = min(BIG_BATCH, n) if small is None or small < min(BIG_BATCH, n) else n
        if small is not None and not 1 <= small < n:
            raise ValueError(f"small_batch must be an integer in [1, {n - 1}], less than the {n} training samples, so "
                             f"that big_batch (by default all of them) can be larger; got {small}.")
    elif small is None:
        check_int_range("big_batch", big, 2, n)  # the default small batch is below any of these
    if small is None:
        small = max(1, min(SMALL_BATCH, big // 2))
    return small, big


def noise_scale(
    model: Model | LossFn,
    params: Params | None,
    data: Dataset,
    small_batch: int | None = None,
    big_batch: int | None = None,
    *,
    batches: int = 64,
    learning_rate: float | None = None,
    batch_size: int | str | None = None,
    seed: int = 0,
    bootstrap: int = 1000,
    confidence: float = 0.9,
    loss: str | None = None,
) -> NoiseScale:
    """B_simple at params from gradient norms of ``batches`` random batches at each of two sizes.

    ``small_batch`` and ``big_batch`` default to 16 and 512, adapted to the n training samples as fit's batch
    size is (``default_batches``): big_batch n when fewer (or when small_batch is 512 or more), small_batch
    big_batch // 2 when that is less than 16.

    params None measures at the model's initial params drawn from ``seed`` (as ``gd.fit`` would start).

    ``learning_rate`` (tuned at ``batch_size``, default small_batch; "full":
    tuned for batch GD on all n_train samples) gives the recommended learning
    rate by linear scaling. The interval is a percentile
    bootstrap over the batches at the given confidence, cut at 0.

    Gradients that are not finite (the loss overflows at params) measure nothing: B_simple, its
    interval, |G|^2 and tr(Sigma) are NaN, there is no recommendation (None) and ``note`` says why.
    """
    small_batch, big_batch = default_batches(small_batch, big_batch, check_data(data).n_train)
    small = check_int_range("small_batch", small_batch, 1, data.n_train)
    if not small < big_batch:
        raise ValueError(f"big_batch must be larger than small_batch ({small}); got {big_batch}.")
    big = check_int_range("big_batch", big_batch, small + 1, data.n_train)
    batches = check_int_range("batches", batches, 2)
    bootstrap = check_int_range("bootstrap", bootstrap, 10)
    confidence = check_float_range("confidence", confidence, 0.5, 1.0)
    if learning_rate is not None:
        learning_rate = check_positive_float("learning_rate", learning_rate)
    elif batch_size is not None:
        raise ValueError(f"batch_size is the batch size learning_rate was tuned at, so it needs learning_rate; "
                         f"got batch_size={batch_size!r} without learning_rate.")
    base_batch = small if batch_size is None else resolve_batch_size(batch_size, data.n_train)
    seed = check_int_range("seed", seed, 0, 2**32 - 1)
    objective, params, _ = objective_and_params(model, data, params, loss, seed_keys(np.uint32(seed))[0])  # gd.fit's
    x, y, _, _ = device_arrays(data, params)
    check_params_fit_data(objective, params, (x, y))
    rng = np.random.default_rng(seed)
    norms = {b: _batch_norms(objective.loss, params, x, y, _draw(rng, data.n_train, b, batches)) for b in (small, big)}
    n = data.n_train
    if not all(np.isfinite(norms[b].mean()) for b in (small, big)):
        return _not_measured(small, big, batches)
    b_simple, g2, trace = estimate_from_norms(norms[small].mean(), norms[big].mean(), small, big, n)
    draws = rng.integers(0, batches, size=(bootstrap, batches))
    boot = np.array([estimate_from_norms(norms[small][d].mean(), norms[big][d].mean(), small, big, n)[0] for d in draws])
    tail = (1 - confidence) / 2
    # B_simple >= 0 (a variance over a squared norm); a resampled estimate can fall below 0 when noise
    # hides the signal: the interval is cut at 0, which keeps its coverage. No interpolation between draws:
    # a draw with no mean gradient left is inf (inf - inf would make the bound NaN)
    low, high = np.nanquantile(boot, tail, method="lower"), np.nanquantile(boot, 1 - tail, method="higher")
    interval = (max(0.0, float(low)), max(0.0, float(high)))
    recommended = int(min(max(1, round(b_simple)), n)) if np.isfinite(b_simple) and b_simple > 0 else small
    rate = None if learning_rate is None else learning_rate * recommended / base_batch
    return NoiseScale(b_simple, interval, g2, trace, recommended, rate, small, big, batches)


NOT_MEASURED = ("not measured: the gradients are not finite at these params, the loss or its gradient overflows "
                "(scale the features or targets)")


def _not_measured(small: int, big: int, batches: int) -> NoiseScale:
    """The result when a mean squared gradient norm is inf or NaN: nothing measured, nothing recommended."""
    nan = float("nan")
    return NoiseScale(nan, (nan, nan), nan, nan, None, None, small, big, batches, NOT_MEASURED)


def exact_noise_scale(model: Model | LossFn, params: Params, data: Dataset, loss: str | None = None) -> float:
    """tr(Sigma) / |G|^2 from every per-example gradient (vmap; for data small enough to hold them)."""
    objective, params, _ = objective_and_params(model, data, params, loss, jax.random.PRNGKey(0))
    x, y, _, _ = device_arrays(data, params)
    per_example = _per_example_grads(objective.loss)(params, x, y)
    rows = jnp.concatenate([g.reshape(g.shape[0], -1) for g in jax.tree.leaves(per_example)], axis=1)
    flat = np.asarray(rows, np.float64)
    mean = flat.mean(axis=0)
    trace = float(((flat - mean) ** 2).sum(axis=1).mean())
    g2 = float(mean @ mean)
    return trace / g2 if g2 > 0 else float("inf")  # as estimate_from_norms: no mean gradient, all noise


def estimate_from_norms(
    small_sq: float, big_sq: float, small: int, big: int, n: int
) -> tuple[float, float, float]:
    """(B_simple, |G|^2, tr(Sigma)) from E|g_small|^2 and E|g_big|^2 at batch sizes small and big of n.

    NaN for all three when a norm is not finite (nothing measured); B_simple is inf when |G|^2 <= 0 (all noise).
    """
    if not (np.isfinite(small_sq) and np.isfinite(big_sq)):  # inf - inf warned and made B_simple inf
        return float("nan"), float("nan"), float("nan")
    c_small, c_big = _c(small, n), _c(big, n)
    trace = (small_sq - big_sq) / (c_small - c_big)
    g2 = big_sq - c_big * trace
    return (trace / g2 if g2 > 0 else float("inf")), g2, trace


def _c(b: int, n: int) -> float:
    """c_B = (n - B) / ((n - 1) B): the variance factor of a mean of B drawn without replacement."""
    return (n - b) / ((n - 1) * b) if n > 1 else 0.0


def _draw(rng: np.random.Generator, n: int, size: int, batches: int) -> np.ndarray:
    """batches rows of size distinct indices (each row without replacement)."""
    return np.stack([rng.choice(n, size=size, replace=False) for _ in range(batches)])


def _batch_norms(loss: LossFn, params: Params, x: Array, y: Array, idx: np.ndarray) -> np.ndarray:
    return np.asarray(_compiled_norms(loss)(params, x, y, jnp.asarray(idx)), np.float64)


@functools.cache
def _compiled_norms(loss: LossFn) -> Any:
    """|grad of the mean loss on x[idx_k]|^2 for each row k of idx, compiled once per loss."""

    def norms(params: Params, x: Array, y: Array, idx: Array) -> Array:
        def one(rows: Array) -> Array:
            grads = jax.grad(loss)(params, x[rows], y[rows])
            return sum_of_squares(grads)

        return jax.lax.map(one, idx)

    return jax.jit(norms)


@functools.cache
def _per_example_grads(loss: LossFn) -> Any:
    def one(params: Params, xi: Array, yi: Array) -> Params:
        return jax.grad(loss)(params, xi[None], yi[None])

    return jax.jit(jax.vmap(one, in_axes=(None, 0, 0)))
