"""What the endpoints answer: the computations of the lab as small JSON-ready dicts.

Numbers are rounded to 6 significant digits (the page only draws them) and
non-finite values become null; long series are thinned to at most ``MAX_SERIES``
points, first and last kept.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gdlab.lab import paths, poles, regression, verdicts
from gdlab.lab.schemas import RegressionRequest, SurfaceRequest
from gdlab.lab.surfaces import surface

MAX_SERIES = 1000


def surface_view(req: SurfaceRequest) -> dict[str, Any]:
    """The contour grid, one path per optimizer, and the verdicts (with L, mu, 2/L for the quadratic)."""
    surf = surface(req.surface, req.formula)
    shape = (req.condition, math.radians(req.angle))
    start = req.start or surf.start
    view = req.view or surf.view
    runs = [paths.descent_path(surf, shape, start, req.learning_rate, name, req.momentum, req.steps)
            for name in req.optimizers]
    quadratic = _quadratic(surf, shape) if req.surface == "quadratic" else None
    found = []
    for run in runs:
        if quadratic is not None:
            found.append(verdicts.quadratic_verdict(run.optimizer, quadratic["mu"], quadratic["L"],
                                                    req.learning_rate, req.momentum, run.values))
        else:
            slope = paths.gradient_norm(surf, shape, run.points[-1]) if len(run.points) else math.inf
            ahead = paths.values_ahead(surf, shape, run.points)
            beside = _beside(surf, shape, run.points[-1]) if slope == 0.0 else None
            pole = poles.pole_crossed(surf, shape, run.points, run.values)
            found.append(verdicts.path_verdict(run.optimizer, run.values, slope, run.diverged_at, req.steps, ahead,
                                               beside, pole, paths.bounces(run.points)))
    curvature = paths.hessian_eigenvalues(surf, shape, start)
    return {
        "surface": req.surface,
        "text": req.formula if req.surface == "formula" else surf.text,
        "canonical": surf.text if req.surface == "formula" else None,
        "view": list(view),
        "start": list(start),
        "learning_rate": req.learning_rate,
        "grid": _grid(surf, shape, view, req.grid) if req.grid else None,
        "paths": [{"optimizer": r.optimizer, "points": rounded(r.points), "values": rounded(r.values),
                   "diverged_at": r.diverged_at} for r in runs],
        "verdicts": [{k: rounded(v) if isinstance(v, float) else v for k, v in f.items()} for f in found],
        "quadratic": quadratic,
        "curvature_at_start": rounded(curvature),
        "f_at_start": rounded(runs[0].values[0]) if len(runs[0].values) else None,
    }


def _beside(surf: Any, shape: tuple[float, float], at: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Where f differs near a point with no slope and no curvature in float32 (None: f is flat there, or it
    curves: a real critical point)."""
    if np.any(paths.hessian_eigenvalues(surf, shape, tuple(at)) != 0):
        return None
    return paths.differs_around(surf, shape, at)


def regression_view(req: RegressionRequest) -> dict[str, Any]:
    """Batch, SGD and mini-batch paths over (w, b), their loss series and the full-data loss contour."""
    if req.points is not None:
        points = np.asarray(req.points, np.float32)
    else:
        points = regression.make_points(req.n, req.noise, req.seed)
    n = len(points)
    if req.batch_size > n:
        raise ValueError(f"batch_size must be at most the number of points {n}; got {req.batch_size}.")
    variants = (("batch", n), ("sgd", 1), ("minibatch", req.batch_size))
    series = [regression.descent_series(points, req.start, req.learning_rate, size, req.epochs, req.seed, name)
              for name, size in variants]
    best = regression.least_squares(points)
    out: dict[str, Any] = {
        "points": rounded(points),
        "least_squares": rounded(np.asarray(best)),
        "start": list(req.start),
        "series": [_series(s) for s in series],
        "diverged_factor": regression.DIVERGED_FACTOR,
        "grid": None,
    }
    if req.grid:
        ends = np.concatenate([s.points for s in series] + [np.asarray([best, req.start])])
        ends = ends[np.all(np.isfinite(ends), axis=1)]
        half = float(np.clip(np.max(np.abs(ends - np.asarray(best))), 0.5, 100.0)) * 1.15
        ws = np.linspace(best[0] - half, best[0] + half, req.grid)
        bs = np.linspace(best[1] - half, best[1] + half, req.grid)
        out["grid"] = {"w": rounded(ws), "b": rounded(bs), "z": rounded(regression.full_loss_grid(points, ws, bs))}
    return out


def rounded(values: Any) -> Any:
    """Floats (or nested arrays of them) at 6 significant digits; non-finite as None.

    v -> round(v * 10^d) / 10^d with d = 5 - floor(log10|v|): dividing a whole number
    by an exact power of ten gives the double nearest the decimal, so it prints short.
    10^d is exact up to d = 22; smaller values (under 1e-17 in size: float32 reaches 1e-45) go
    through their decimal text instead, which was 0 (a curvature of 2e-30 read "0").
    """
    a = np.asarray(values, np.float64)
    finite = np.isfinite(a)
    size = np.where(finite & (a != 0), np.abs(a), 1.0)
    digits = np.clip(5 - np.floor(np.log10(size)), -300, 22)
    up = 10.0 ** np.maximum(digits, 0)
    down = 10.0 ** np.maximum(-digits, 0)
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.where(finite, np.round(a * up / down) * down / up, 0.0)
    tiny = finite & (size < 1e-17)
    if tiny.any():
        out[tiny] = [float(f"{v:.6g}") for v in a[tiny]]
    if a.ndim == 0:
        return float(out) if bool(finite) else None
    if finite.all():
        return out.tolist()
    shown = out.astype(object)
    shown[~finite] = None
    return shown.tolist()


def _series(s: regression.Series) -> dict[str, Any]:
    keep = _thin(len(s.loss))
    return {"name": s.name, "batch_size": s.batch_size, "updates": keep.tolist(),
            "points": rounded(s.points[keep]), "loss": rounded(s.loss[keep]),
            "samples": s.samples[keep].astype(int).tolist(),
            "diverged_at": s.diverged_at, "diverged_epoch": s.diverged_epoch,
            "diverged_loss": None if s.diverged_loss is None else rounded(s.diverged_loss)}


def _thin(length: int) -> np.ndarray:
    if length <= MAX_SERIES:
        return np.arange(length)
    return np.unique(np.linspace(0, length - 1, MAX_SERIES).round().astype(int))


def _quadratic(surf: Any, shape: tuple[float, float]) -> dict[str, float]:
    """L and mu from the Hessian's eigenvalues; the limit 2/L and the best rate 2/(mu + L)."""
    mu, big = (float(v) for v in paths.hessian_eigenvalues(surf, shape, (0.0, 0.0)))
    return {"L": rounded(big), "mu": rounded(mu), "condition": rounded(big / mu),
            "two_over_L": rounded(2 / big), "one_over_L": rounded(1 / big),
            "optimal_learning_rate": rounded(2 / (mu + big)),
            "rate_at_optimal": rounded((big - mu) / (big + mu))}


def _grid(surf: Any, shape: tuple[float, float], view: Any, size: int) -> dict[str, Any]:
    xs = np.linspace(view[0], view[1], size)
    ys = np.linspace(view[2], view[3], size)
    return {"x": rounded(xs), "y": rounded(ys), "z": rounded(paths.grid_values(surf, shape, xs, ys))}
