"""Whether a path's step jumped over a pole: a point where f falls without bound (1/x at 0 from the left,
log|x| at 0, -1/(x^2+y^2) at the origin, tan x at -pi/2).

Gradient descent runs towards such a point, and a finite step lands beyond it, where f is finite
again: read only at its iterates, the path looks like one that overshot a valley ("oscillates") or
settled far away ("converges"). So f is read along each step's segment, at SAMPLES evenly spaced
points; the steps that dip deepest below their ends and the first that dip (or whose f rose) are zoomed into,
LEVELS times around their lowest reading, each time 16x closer. At a minimum of f on the segment the
lowest reading settles within a few levels; at a pole it keeps falling (by log 16 a level for
log|x|, 16x a level for 1/x) or reaches -inf.
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
    """(k, where): the first step k (from point k to k+1) whose segment passes over a point where f falls
    without bound, and that point, to the zoom's precision; None where no step does.

    A pole: the lowest reading is -inf, or it fell over the zoom by more than 1 + |f| at the step's lower
    end and on three levels in a row, each fall at least half the one before (near a minimum each level's
    fall is about 1/256 of the last; float32's spacing ends the fall at a pole off 0, as at -pi/2)."""
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
    lowest, at = _zoom(surf, shape, starts[chosen], moves[chosen], read[chosen])
    falls = -np.diff(lowest, axis=1)  # (candidates, LEVELS)
    kept_falling = (falls[:, :-2] > 0) & (falls[:, 1:-1] >= 0.5 * falls[:, :-2]) & (falls[:, 2:] >= 0.5 * falls[:, 1:-1])
    deep = lowest[:, 0] - lowest[:, -1] > 1.0 + np.abs(ends[chosen])
    pole = (lowest[:, -1] == -np.inf) | (deep & kept_falling.any(axis=1))
    found = sorted((k, i) for i, k in enumerate(chosen) if pole[i])
    if not found:
        return None
    k, i = found[0]
    return k, starts[k] + at[i] * moves[k]


def _zoom(
    surf: Surface, shape: tuple[float, float], starts: np.ndarray, moves: np.ndarray, read: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each segment's lowest reading at each level (candidates, LEVELS + 1) and where (t) the last was."""
    width = np.full(len(starts), 1.0 / (SAMPLES - 1))
    t = np.broadcast_to(np.linspace(0.0, 1.0, SAMPLES), read.shape)
    lowest = [_lowest(read)]
    centre = np.take_along_axis(t, _argmin(read)[:, None], axis=1)[:, 0]
    for _ in range(LEVELS):
        lo = np.clip(centre - width, 0.0, 1.0)
        hi = np.clip(centre + width, 0.0, 1.0)
        t = lo[:, None] + np.linspace(0.0, 1.0, SAMPLES)[None, :] * (hi - lo)[:, None]
        along = starts[:, None, :] + t[:, :, None] * moves[:, None, :]
        read = _read(surf, shape, along.reshape(-1, 2), CANDIDATES * SAMPLES).reshape(len(starts), SAMPLES)
        lowest.append(np.minimum(_lowest(read), lowest[-1]))
        centre = np.take_along_axis(t, _argmin(read)[:, None], axis=1)[:, 0]
        width = (hi - lo) / (SAMPLES - 1)
    return np.stack(lowest, axis=1), centre


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
