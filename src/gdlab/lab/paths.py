"""Gradient-descent paths on the 2-D surfaces, computed with gdlab's own update rule (``sgd``).

    plain       w <- w - lr*g
    momentum    v <- m*v + g;  w <- w - lr*v
    nesterov    v <- m*v + g;  w <- w - lr*(g + m*v)

One compiled ``lax.scan`` per (surface, rule structure, length); the learning rate,
momentum and the quadratic's shape are traced arrays, so moving a slider does not
recompile. A path stops (and stays) where the iterate leaves |w| <= ``BLOW_UP`` or
stops being finite: that is divergence.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.checks import check_choice, check_float_range, check_int_range
from gdlab.core.rules import apply_updates, sgd
from gdlab.lab.surfaces import Surface

OPTIMIZERS = ("plain", "momentum", "nesterov")
MAX_STEPS = 2000
LENGTHS = (100, 500, MAX_STEPS)
"""Compiled scan lengths: a request for k steps runs the shortest length >= k and keeps k."""
BLOW_UP = 1e6


class Path(NamedTuple):
    """A path: points (k+1, 2) from the start, f at each point, and the step that diverged (or None)."""

    optimizer: str
    points: np.ndarray
    values: np.ndarray
    diverged_at: int | None


def descent_path(
    surf: Surface,
    shape: tuple[float, float],
    start: tuple[float, float],
    learning_rate: float,
    optimizer: str = "plain",
    momentum: float = 0.9,
    steps: int = 100,
) -> Path:
    """Run ``steps`` updates of the optimizer from start on surf; stop at the first divergent step."""
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    steps = check_int_range("steps", steps, 1, MAX_STEPS)
    m = momentum if optimizer != "plain" else 0.0
    if optimizer != "plain":
        check_float_range("momentum", momentum, 0.0, 1.0)
        if momentum == 0.0:
            raise ValueError(f"momentum must be in (0, 1) for the {optimizer} optimizer; got 0.0.")
    rule = sgd(learning_rate, momentum=m, nesterov=optimizer == "nesterov", velocity=True)
    w0 = jnp.asarray(np.asarray(start, np.float32))
    length = next(n for n in LENGTHS if n >= steps)
    program = _program(surf.fn, rule.update, length)  # type: ignore[arg-type]
    points, values, done = jax.device_get(program(w0, rule.init(w0), np.asarray(shape, np.float32)))
    points, values, done = points[: steps + 1], values[: steps + 1], done[: steps + 1]
    bad = np.flatnonzero(done)
    diverged_at = int(bad[0]) if bad.size else None
    if diverged_at is not None:  # keep the last finite point; the path ends there
        points, values = points[:diverged_at], values[:diverged_at]
    return Path(optimizer, points, values, diverged_at)


@functools.lru_cache(maxsize=256)
def _program(fn: Callable[..., Any], update: Callable[..., Any], length: int) -> Callable[..., Any]:
    """The compiled path: (w0, state, shape) -> (points (length+1, 2), values, done flags)."""

    def value(w: jax.Array, shape: jax.Array) -> jax.Array:
        return fn(w[0], w[1], shape)

    grad = jax.grad(value)

    def step(carry: tuple[Any, Any, Any], _: None, shape: jax.Array) -> tuple[Any, Any]:
        w, state, done = carry
        updates, new_state = update(grad(w, shape), state, w)
        new_w = apply_updates(w, updates)
        bad = done | ~jnp.all(jnp.isfinite(new_w)) | (jnp.max(jnp.abs(new_w)) > BLOW_UP)
        bad = bad | ~jnp.isfinite(value(new_w, shape))
        keep = jax.tree.map(lambda new, old: jnp.where(bad, old, new), (new_w, new_state), (w, state))
        return (keep[0], keep[1], bad), (keep[0], value(keep[0], shape), bad)

    @jax.jit
    def run(w0: jax.Array, state: Any, shape: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        first = (w0[None], value(w0, shape)[None], jnp.zeros((1,), bool))
        _, (ws, vs, flags) = jax.lax.scan(
            functools.partial(step, shape=shape), (w0, state, jnp.asarray(False)), None, length
        )
        return (jnp.concatenate([first[0], ws]), jnp.concatenate([first[1], vs]),
                jnp.concatenate([first[2], flags]))

    return run


def bounces(points: np.ndarray) -> bool:
    """Whether the path's last steps go back and forth between two points: w_{k+2} = w_k != w_{k+1} (x^2 at
    rate 1: x, -x, x, ...), over its last 4 points (3 on a path of 2 steps)."""
    last = np.asarray(points[-4:], np.float64)
    if len(last) < 3:
        return False
    return bool(np.allclose(last[2:], last[:-2], rtol=1e-5, atol=0.0) and not np.allclose(last[1:], last[:-1]))


AHEAD = 10.0 ** np.arange(1, 7)
"""Distances along a path's last heading at which f is read: a path still falling on a surface with no
minimum that way (f = x) looks like one still descending towards a minimum until f is read far ahead."""


def values_ahead(surf: Surface, shape: tuple[float, float], points: np.ndarray) -> np.ndarray:
    """f at the AHEAD distances from the last point, along the direction of the last step (empty when the
    path has no step or its last step did not move)."""
    if len(points) < 2:
        return np.empty(0)
    last = np.asarray(points[-1], np.float64)
    step = last - np.asarray(points[-2], np.float64)
    length = float(np.linalg.norm(step))
    if not length > 0:
        return np.empty(0)
    at = (last + np.outer(AHEAD, step / length)).astype(np.float32)
    return np.asarray(_on_grid(surf.fn)(at[:, 0], at[:, 1], np.asarray(shape, np.float32)), np.float64)


AROUND = 10.0 ** np.arange(-2.0, 6.01, 0.25)
"""Distances from a point, along +x, -x, +y and -y, at which f is read to see whether it is flat there."""


def differs_around(surf: Surface, shape: tuple[float, float], at: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The nearest point at an AROUND distance from ``at`` (along an axis) where f differs from f(at), preferring
    a finite value (nan: f is not finite there at any of them); None where f equals f(at) at all of them, or
    where f rises along all four axis directions (at the nearest distance): a minimum float32 can see."""
    centre = np.asarray(at, np.float32)
    axes = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], np.float32)
    probes = (centre + AROUND[:, None, None].astype(np.float32) * axes).reshape(-1, 2)  # nearest first
    grid = _on_grid(surf.fn)
    here = float(np.asarray(grid(centre[None, 0], centre[None, 1], np.asarray(shape, np.float32)))[0])
    values = np.asarray(grid(probes[:, 0], probes[:, 1], np.asarray(shape, np.float32)), np.float64)
    finite = np.isfinite(values)
    if np.all(values[:4] > here):
        return None
    for candidates in (finite & (values != here), ~finite):
        if candidates.any():
            i = int(np.argmax(candidates))
            return probes[i], float(values[i]) if finite[i] else math.nan
    return None


def hessian_eigenvalues(surf: Surface, shape: tuple[float, float], at: tuple[float, float]) -> np.ndarray:
    """The eigenvalues (ascending) of the Hessian of surf at the point ``at``."""
    hessian = _hessian(surf.fn)(jnp.asarray(at, jnp.float32), jnp.asarray(shape, jnp.float32))
    return np.linalg.eigvalsh(np.asarray(hessian, np.float64))


@functools.lru_cache(maxsize=128)
def _hessian(fn: Callable[..., Any]) -> Callable[..., Any]:
    return jax.jit(jax.hessian(lambda w, shape: fn(w[0], w[1], shape)))


def gradient_norm(surf: Surface, shape: tuple[float, float], at: np.ndarray) -> float:
    """|grad f| of surf at the point ``at``."""
    g = _gradient(surf.fn)(jnp.asarray(at, jnp.float32), jnp.asarray(shape, jnp.float32))
    return float(np.linalg.norm(np.asarray(g, np.float64)))


@functools.lru_cache(maxsize=128)
def _gradient(fn: Callable[..., Any]) -> Callable[..., Any]:
    return jax.jit(jax.grad(lambda w, shape: fn(w[0], w[1], shape)))


def grid_values(surf: Surface, shape: tuple[float, float], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """f on the grid (len(ys), len(xs)), one compiled program per surface and grid size."""
    x, y = np.meshgrid(np.asarray(xs, np.float32), np.asarray(ys, np.float32))
    return np.asarray(_on_grid(surf.fn)(x, y, np.asarray(shape, np.float32)))


def grid_values_at(surf: Surface, shape: tuple[float, float], at: np.ndarray) -> np.ndarray:
    """f at the points ``at`` (n, 2) in float32, one compiled program per surface and n."""
    at = np.asarray(at, np.float32)
    return np.asarray(_on_grid(surf.fn)(at[:, 0], at[:, 1], np.asarray(shape, np.float32)))


@functools.lru_cache(maxsize=128)
def _on_grid(fn: Callable[..., Any]) -> Callable[..., Any]:
    return jax.jit(fn)
