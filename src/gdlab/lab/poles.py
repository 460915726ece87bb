"""Whether a path's step jumped over a pole: a point where f falls without bound (1/x at 0 from the left,
log|x| at 0, -1/(x^2+y^2) at the origin, tan x at -pi/2).

Gradient descent runs towards such a point, and a finite step lands beyond it, where f is finite
again: read only at its iterates, the path looks like one that overshot a valley ("oscillates") or
settled far away ("converges"). So f is read along each step's segment, at SAMPLES evenly spaced
points; the steps that dip deepest below their ends and the first that dip (or whose f rose) are zoomed into,
LEVELS times around their lowest reading, each time 16x closer. At a minimum of f on the segment the
lowest reading settles within a few levels; at a pole it keeps falling (by log 16 a level for
log|x|, 16x a level for 1/x) or reaches -inf (``_falls_without_bound``).
"""

from __future__ import annotations

import numpy as np

from gdlab.lab.paths import LENGTHS, grid_values_at
from gdlab.lab.surfaces import Surface

SAMPLES = 33
"""Points read along a segment, its ends included (32 spacings)."""
CANDIDATES = 8
"""Steps zoomed into: the deepest dips and the first steps that dip or rise, half each."""
LEVELS = 8
"""Zoom levels: each reads SAMPLES points over the two spacings around the last level's lowest."""


def pole_crossed(
    surf: Surface, shape: tuple[float, float], points: np.ndarray, values: np.ndarray,
) -> tuple[int, np.ndarray] | None:
    """(k, where): the first step k (from point k to k+1), of the steps zoomed into, whose segment passes over a
    point where f falls without bound, and that point, to the zoom's precision; None where none does.

    A pole: the lowest reading is -inf, or it kept falling as far as float32 can zoom (while a level reads at
    least 3 distinct points): by as much in the second half of those levels as in the first (half as much at
    least). Near a minimum each level's fall is about 1/256 of the last, and near a cusp |x|^p 16^-p of it
    (the second half's fall 0.11 of the first's for p = 0.2, 0.33 for p = 0.1); at log|x| each level falls by
    about log 16, at 1/x 16x more each level; a pole off 0 (tan x at -pi/2) ends its fall where float32's
    spacing does. The verdict does not depend on adding a constant to f."""
    points = np.asarray(points, np.float64)
    values = np.asarray(values, np.float64)
    steps = len(points) - 1
    if steps < 1:
        return None
    t = np.linspace(0.0, 1.0, SAMPLES)
    starts, moves = points[:-1], points[1:] - points[:-1]
    along = starts[:, None, :] + t[None, :, None] * moves[:, None, :]  # (steps, SAMPLES, 2)
    padded = next((n for n in LENGTHS if n >= steps), steps)  # a few compiled shapes, not one per path length
    read = _read(surf, shape, along.reshape(-1, 2), padded * SAMPLES).reshape(steps, SAMPLES)
    ends = np.minimum(values[:-1], values[1:])
    inside = np.where(np.isnan(read[:, 1:-1]), np.inf, read[:, 1:-1]).min(axis=1)
    dip = np.where(inside < ends, (ends - inside) / (1.0 + np.abs(ends)), 0.0)
    rose = values[1:] > values[:-1]
    suspect = [int(k) for k in np.argsort(-dip, kind="stable") if dip[k] > 0 or rose[k]]
    chosen = sorted(set(suspect[: CANDIDATES // 2]) | set(sorted(suspect)[: CANDIDATES // 2]))
    if not chosen:
        return None
    lowest, at, resolved = _zoom(surf, shape, starts[chosen], moves[chosen], read[chosen])
    finite = values[np.isfinite(values)]
    span = float(np.ptp(finite)) if finite.size else 0.0
    found = sorted((k, i) for i, k in enumerate(chosen) if _falls_without_bound(lowest[i], resolved[i], span))
    if not found:
        return None
    k, i = found[0]
    return k, starts[k] + at[i] * moves[k]


def _falls_without_bound(lowest: np.ndarray, resolved: np.ndarray, span: float) -> bool:
    """One segment's zoom (lowest reading at each level, whether each level read 3 distinct points) read as a
    pole: -inf, or, over the levels float32 resolved (at least 4), a fall in their second half at least half the
    fall in their first, and more than 1e-3 (1 + span) in all."""
    if lowest[-1] == -np.inf:
        return True
    levels = int(np.argmin(resolved)) if not resolved.all() else len(resolved)
    if levels < 4:
        return False
    half = levels // 2
    early, late = lowest[0] - lowest[half], lowest[half] - lowest[levels]
    return bool(late >= 0.5 * early and early + late > 1e-3 * (1.0 + span))


def _zoom(
    surf: Surface, shape: tuple[float, float], starts: np.ndarray, moves: np.ndarray, read: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each segment's lowest reading at each level (candidates, LEVELS + 1), where (t) the last was, and whether
    each zoom level read at least 3 distinct float32 points (candidates, LEVELS)."""
    width = np.full(len(starts), 1.0 / (SAMPLES - 1))
    t = np.broadcast_to(np.linspace(0.0, 1.0, SAMPLES), read.shape)
    lowest = [_lowest(read)]
    resolved = []
    centre = np.take_along_axis(t, _argmin(read)[:, None], axis=1)[:, 0]
    for _ in range(LEVELS):
        lo = np.clip(centre - width, 0.0, 1.0)
        hi = np.clip(centre + width, 0.0, 1.0)
        t = lo[:, None] + np.linspace(0.0, 1.0, SAMPLES)[None, :] * (hi - lo)[:, None]
        along = starts[:, None, :] + t[:, :, None] * moves[:, None, :]
        resolved.append([len(np.unique(a.astype(np.float32), axis=0)) >= 3 for a in along])
        read = _read(surf, shape, along.reshape(-1, 2), CANDIDATES * SAMPLES).reshape(len(starts), SAMPLES)
        lowest.append(np.minimum(_lowest(read), lowest[-1]))
        centre = np.take_along_axis(t, _argmin(read)[:, None], axis=1)[:, 0]
        width = (hi - lo) / (SAMPLES - 1)
    return np.stack(lowest, axis=1), centre, np.array(resolved, bool).T


def _lowest(read: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(read), np.inf, read).min(axis=1)


def _argmin(read: np.ndarray) -> np.ndarray:
    return np.argmin(np.where(np.isnan(read), np.inf, read), axis=1)


def _read(surf: Surface, shape: tuple[float, float], at: np.ndarray, size: int) -> np.ndarray:
    """f at the points ``at`` (n, 2), read as ``size`` points (the rest repeat the first) in float32."""
    full = np.empty((max(size, len(at)), 2), np.float32)
    full[:] = at[0]
    full[: len(at)] = at
    return np.asarray(grid_values_at(surf, shape, full), np.float64)[: len(at)]
