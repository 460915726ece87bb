"""Batch, stochastic and mini-batch gradient descent on y = w*x + b, from the actual samples.

    L(w, b) = mean_i (w*x_i + b - y_i)^2           (gdlab's "mse", the full-data loss)
    g_t     = grad of the mean over the batch B_t   (B_t: the t-th batch of the epoch's order)
    (w, b) <- (w, b) - learning_rate * g_t          (gdlab's sgd rule)

The three variants start from the same (w, b) and read the samples in the same
order: epoch e visits the permutation ``epoch_permutation(data_key, e, n)`` of the
engine (``gd.fit`` with the same seed and batch size ends at the same params);
batch gradient descent uses every sample in each update.

A path diverges by gdlab's own rule (``gd.stop.diverged()``, the one ``gd.fit`` adds):
at the first update whose full-data loss is not finite or above ``DIVERGED_FACTOR`` x
the loss before training. It is cut there, its last point the last one within the rule.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.batching import batch_plan, epoch_indices, epoch_permutation, run_keys
from gdlab.core.checks import check_float_range, check_int_range
from gdlab.core.rules import apply_updates, sgd
from gdlab.core.stopping import DIVERGED_FACTOR

TRUE_WEIGHT, TRUE_BIAS = 1.5, -0.5
MAX_POINTS = 1000
MAX_UPDATES = 20_000
"""The most updates of any one path (SGD makes n per epoch)."""


class Series(NamedTuple):
    """One variant's run: its (w, b) after each update, the full-data loss there, the samples seen.

    diverged_at is the first update that diverged (the arrays stop before it), diverged_epoch its epoch
    (from 1) and diverged_loss its full-data loss (inf when not finite); all None for a path that did not.
    """

    name: str
    batch_size: int
    points: np.ndarray  # (kept + 1, 2)
    loss: np.ndarray  # (kept + 1,)
    samples: np.ndarray  # (kept + 1,)
    diverged_at: int | None = None
    diverged_epoch: int | None = None
    diverged_loss: float | None = None


def make_points(n: int, noise: float, seed: int) -> np.ndarray:
    """n points (x, y): x uniform in [-2, 2], y = 1.5*x - 0.5 + noise*eps, eps standard normal."""
    n = check_int_range("n", n, 2, MAX_POINTS)
    noise = check_float_range("noise", noise, 0.0, 10.0, high_open=False)
    rng = np.random.default_rng(check_int_range("seed", seed, 0, 2**32 - 1))
    x = rng.uniform(-2.0, 2.0, n)
    y = TRUE_WEIGHT * x + TRUE_BIAS + noise * rng.normal(size=n)
    return np.stack([x, y], axis=1).astype(np.float32)


def loss_fn(params: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """mean_i (w*x_i + b - y_i)^2 with params = (w, b) and x of shape (n, 1)."""
    residual = params[0] * x[:, 0] + params[1] - y
    return jnp.mean(residual * residual)


def full_loss_grid(points: np.ndarray, ws: np.ndarray, bs: np.ndarray) -> np.ndarray:
    """L(w, b) on the grid (len(bs), len(ws)) from the sample means (exact: L is quadratic in w, b).

    L = w^2 <xx> + 2 w b <x> + b^2 - 2 w <xy> - 2 b <y> + <yy>.
    """
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    w, b = np.meshgrid(ws, bs)
    return (w * w * np.mean(x * x) + 2 * w * b * np.mean(x) + b * b
            - 2 * w * np.mean(x * y) - 2 * b * np.mean(y) + np.mean(y * y))


def least_squares(points: np.ndarray) -> tuple[float, float]:
    """The minimiser (w*, b*) of the full-data loss."""
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    design = np.stack([x, np.ones_like(x)], axis=1)
    (w, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(w), float(b)


def descent_series(
    points: np.ndarray,
    start: tuple[float, float],
    learning_rate: float,
    batch_size: int,
    epochs: int,
    seed: int,
    name: str,
) -> Series:
    """``epochs`` epochs of gradient descent with batch_size from start; every update recorded."""
    n = len(points)
    plan = batch_plan(n, check_int_range("batch_size", batch_size, 1, n))
    if plan.steps * epochs > MAX_UPDATES:
        raise ValueError(f"epochs must keep the {name} path within {MAX_UPDATES} updates "
                         f"({plan.steps} per epoch); got {epochs}.")
    idx, mask = _batches(plan, n, epochs, seed)
    rule = sgd(learning_rate)
    w0 = jnp.asarray(np.asarray(start, np.float32))
    x = np.zeros((_pow2(n), 1), np.float32)
    y = np.zeros(_pow2(n), np.float32)
    x[:n, 0], y[:n] = points[:, 0], points[:, 1]
    data_mask = np.arange(len(y)) < n
    ws, losses = jax.device_get(_run(w0, rule.init(w0), x, y, data_mask, idx, mask))
    updates = plan.steps * epochs
    sizes = np.concatenate([[0], mask.sum(axis=1)[:updates]])
    ws, losses, samples = ws[: updates + 1], losses[: updates + 1], np.cumsum(sizes)
    at = first_divergence(ws, losses)
    if at is None:
        return Series(name, plan.batch_size, ws, losses, samples)
    offending = float(losses[at]) if np.isfinite(losses[at]) else np.inf
    return Series(name, plan.batch_size, ws[:at], losses[:at], samples[:at], at, (at - 1) // plan.steps + 1,
                  offending)


def first_divergence(points: np.ndarray, loss: np.ndarray) -> int | None:
    """The first index where the loss is above DIVERGED_FACTOR x loss[0] (the loss before training; not when it is
    0, as diverged()) or a value is not finite (None if there is none)."""
    with np.errstate(invalid="ignore", over="ignore"):
        grown = (loss > DIVERGED_FACTOR * np.abs(loss[0])) & (loss[0] != 0)
        bad = ~np.isfinite(loss) | ~np.all(np.isfinite(points), axis=1) | grown
    found = np.flatnonzero(bad)
    return int(found[0]) if found.size else None


def _batches(plan: Any, n: int, epochs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Index rows (updates, batch_size padded to 2^k) and their masks, epoch after epoch, in the engine's order."""
    _, data_key = run_keys(seed)
    width = _pow2(plan.batch_size)
    rows: list[np.ndarray] = []
    for epoch in range(epochs):
        order = np.arange(n) if plan.is_full_batch else np.asarray(epoch_permutation(data_key, epoch, n))
        full, rest = epoch_indices(plan, jnp.asarray(order))
        rows.extend(np.asarray(full))
        if rest is not None:
            rows.append(np.asarray(rest))
    total = _pow2(len(rows))
    idx = np.zeros((total, width), np.int32)
    mask = np.zeros((total, width), bool)
    for i, row in enumerate(rows):
        idx[i, : len(row)], mask[i, : len(row)] = row, True
    return idx, mask


@jax.jit
def _run(w0: jax.Array, state: Any, x: jax.Array, y: jax.Array, data_mask: jax.Array,
         idx: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Scan the batches: w after each update and the full-data loss there (padded rows leave w alone)."""
    update = sgd(1.0).update  # the rule's numbers live in state; the structure is plain sgd

    def masked_loss(w: jax.Array, rows: jax.Array, weights: jax.Array) -> jax.Array:
        residual = w[0] * x[rows, 0] + w[1] - y[rows]
        return jnp.sum(weights * residual * residual) / jnp.maximum(jnp.sum(weights), 1.0)

    def full(w: jax.Array) -> jax.Array:
        return masked_loss(w, jnp.arange(y.shape[0]), data_mask.astype(y.dtype))

    def step(carry: tuple[jax.Array, Any], batch: tuple[jax.Array, jax.Array]) -> tuple[Any, Any]:
        w, s = carry
        rows, used = batch
        grads = jax.grad(masked_loss)(w, rows, used.astype(y.dtype))
        updates, new_s = update(grads, s, w)
        active = jnp.any(used)
        new = jax.tree.map(lambda a, b: jnp.where(active, a, b), (apply_updates(w, updates), new_s), (w, s))
        return new, (new[0], full(new[0]))

    _, (ws, losses) = jax.lax.scan(step, (w0, state), (idx, mask))
    return jnp.concatenate([w0[None], ws]), jnp.concatenate([full(w0)[None], losses])


def _pow2(k: int) -> int:
    return 1 << max(k - 1, 0).bit_length()
