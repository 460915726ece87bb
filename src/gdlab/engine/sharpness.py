"""The stability limit: the top Hessian eigenvalue from Hessian-vector products.

Gradient descent on a quadratic with curvature L converges for learning rates
below 2/L and diverges above it; near a minimum the same holds with
L = lambda_max, the largest eigenvalue of the Hessian. Hessian-vector products
are forward-over-reverse, Hv = d/de grad L(w + e v), so the Hessian is never
formed. lambda_max comes from the Lanczos iteration (power iteration's Krylov
refinement, with full reorthogonalisation): it converges where plain power
iteration stalls on close top eigenvalues, and it finds the largest eigenvalue
even when a negative one is larger in magnitude.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from gdlab.core.batching import resolve_batch_size
from gdlab.core.checks import check_bool, check_float_range, check_int_range, check_positive_float
from gdlab.core.dataset import Dataset
from gdlab.core.rules import stability_formula, stability_limit
from gdlab.core.types import Array, LossFn, Model, OptState, Params, UpdateRule
from gdlab.engine.objective import Objective
from gdlab.engine.setup import check_params_fit_data, device_arrays, objective_and_params, seed_keys


def sharpness(
    model: Model | LossFn,
    params: Params | None,
    data: Dataset,
    batch_size: int | str | None = None,
    *,
    loss: str | None = None,
    tol: float = 1e-6,
    max_iter: int = 300,
    seed: int = 0,
) -> float:
    """lambda_max of the Hessian of the training loss at params.

    Lanczos on Hessian-vector products until the top Ritz pair's residual
    |H y - theta y| is at most tol * |theta| (the eigenvalue error is then far
    smaller), or max_iter products. batch_size None uses all training data; k
    uses a random batch of k samples drawn with seed (also the start vector).

    params None measures at the model's initial params drawn from ``seed`` (as ``gd.fit`` would start).
    """
    tol = check_positive_float("tol", tol)
    max_iter = check_int_range("max_iter", max_iter, 1)
    seed = check_int_range("seed", seed, 0, 2**32 - 1)
    objective, params, _ = objective_and_params(model, data, params, loss, seed_keys(np.uint32(seed))[0])
    x, y, _, _ = device_arrays(data, params)
    check_params_fit_data(objective, params, (x, y))
    batch_size = resolve_batch_size(batch_size, data.n_train)  # None / "full": all of it, as in fit
    if batch_size < data.n_train:
        pick = np.random.default_rng(seed).choice(data.n_train, size=batch_size, replace=False)
        x, y = x[np.sort(pick)], y[np.sort(pick)]
    return top_eigenvalue(objective, params, x, y, tol=tol, max_iter=max_iter, seed=seed)


def top_eigenvalue(
    objective: Objective, params: Params, x: Array, y: Array, *,
    tol: float = 1e-6, max_iter: int = 300, seed: int = 0,
) -> float:
    """lambda_max of the Hessian of objective.loss at params on (x, y), by Lanczos.

    T_k = V_k^T H V_k is tridiagonal (alphas on the diagonal, betas beside it);
    its top eigenvalue theta with eigenvector s has residual beta_k |s_k|.
    """
    flat, unravel = ravel_pytree(params)
    hvp = _compiled_hvp(objective.loss)

    def product(v: np.ndarray) -> np.ndarray:
        hv = hvp(params, x, y, unravel(jax.device_put(np.asarray(v, flat.dtype))))
        return np.array(ravel_pytree(hv)[0], np.float64)  # a writable copy

    rng = np.random.default_rng(seed)
    v = rng.normal(size=flat.size)
    basis = [v / np.linalg.norm(v)]
    alphas: list[float] = []
    betas: list[float] = []
    theta = float("nan")
    for _ in range(min(max_iter, flat.size)):
        w = product(basis[-1])
        if not np.all(np.isfinite(w)):  # the loss overflows here: no eigenvalue to find (nan, not 300 more products)
            return float("nan")
        alphas.append(float(basis[-1] @ w))
        stacked = np.array(basis)
        for _ in range(2):  # full reorthogonalisation, twice is enough
            w -= stacked.T @ (stacked @ w)
        beta = float(np.linalg.norm(w))
        values, vectors = np.linalg.eigh(np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1))
        theta = float(values[-1])
        if beta * abs(vectors[-1, -1]) <= tol * max(abs(theta), 1e-300) or beta == 0.0:
            break
        betas.append(beta)
        basis.append(w / beta)
    return theta


def max_stable_learning_rate(
    model: Model | LossFn, params: Params | None, data: Dataset, momentum: float = 0.0, nesterov: bool = False,
    weight_decay: float = 0.0, **options: Any,
) -> float:
    """The largest stable rate of gd.sgd with these settings on the local quadratic (core.rules.stability_limit):
    2/L, (2 + 2*momentum)/L with heavy-ball momentum, (2 + 2*momentum)/((1 + 2*momentum) L) with Nesterov's;
    weight decay adds to L = lambda_max (gd.sharpness; params None: the initial params of its seed)."""
    momentum = check_float_range("momentum", momentum, 0.0, 1.0)
    nesterov = check_bool("nesterov", nesterov)
    weight_decay = check_float_range("weight_decay", weight_decay, 0.0, float("inf"))
    return stability_limit(sharpness(model, params, data, **options), momentum, nesterov, weight_decay)


class StabilityWarning(UserWarning):
    """The learning rate exceeds the stability limit 2/L at the initial params."""


def warn_if_unstable(
    objective: Objective, params: Params, x: Array, y: Array, rule: UpdateRule, state: OptState,
    rates: np.ndarray | None = None,
) -> None:
    """Warn when the rule's largest learning rate of the run (rates: one per update; else its first) exceeds
    its stability limit at lambda_max of the initial params (rule.stability_limit)."""
    if rule.learning_rate is None:
        return
    at = 0 if rates is None or not len(rates) else int(np.argmax(rates))
    lr = float(rule.learning_rate(state)) if rates is None or not len(rates) else float(rates[at])
    top = top_eigenvalue(objective, params, x, y, tol=1e-3, max_iter=100)
    if rule.stability_limit is None:
        limit, formula = stability_limit(top), stability_formula()
    else:
        limit, formula = rule.stability_limit(state, top)
    if lr > limit:
        which = f" (the schedule's largest, at update {at + 1}: schedule({at}))" if at else ""
        warnings.warn(
            f"learning_rate {lr:.3g}{which} exceeds the stability limit {formula} = {limit:.2g} "
            f"(L = {top:.3g}) at the initial point; expect oscillation or divergence",
            StabilityWarning,
            stacklevel=3,
        )


@functools.cache
def _compiled_hvp(loss: LossFn) -> Any:
    """Hv = jvp(grad L)(params; v), compiled once per loss function."""

    def hvp(params: Params, x: Array, y: Array, v: Params) -> Params:
        grad = jax.grad(lambda p: loss(p, x, y))
        return jax.jvp(grad, (params,), (v,))[1]

    return jax.jit(hvp)
