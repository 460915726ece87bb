"""Verdicts in words: does this learning rate converge, oscillate or diverge, and why.

On a quadratic with Hessian eigenvalues mu <= L, every optimizer is a linear map
per eigen-direction lambda, and its spectral radius rho decides:

    plain       x <- (1 - lr*lambda) x                      stable for lr < 2/L
    momentum    z^2 - (1 + m - lr*lambda) z + m = 0         stable for lr < (2 + 2m)/L
    nesterov    z^2 - (1 + m)(1 - lr*lambda) z + m(1 - lr*lambda) = 0
                                                            stable for lr < (2 + 2m)/((1 + 2m) L)

rho < 1 converges (with overshoot when the dominant root is negative or complex),
rho = 1 oscillates for ever, rho > 1 diverges. The best constant rate for plain
gradient descent is 2/(mu + L), with rho = (L - mu)/(L + mu).

rho < 1 is the truth in the limit; within the steps shown a path may still be far from
the minimum (f = 0): when f at the last step is still above FAR of f at the start, the
verdict says it converges but slowly ("descending" where it would say "converges"),
and about by which step f is within FAR at the slowest rate (f along it shrinks rho^2 per step).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gdlab.core import rules
from gdlab.core.shortest import pair_text

TOUCH = 1e-6
"""Relative distance to the stability limit below which a rate counts as on it."""
RUNS_OFF = 1e3
"""How far below f_0 (in units of 1 + |f_0|) a path still falling faster counts as running off to -infinity."""
SETTLED = 1e-3
"""Gradient norm below which a path on a surface with no closed form counts as converged."""
FAR = 0.01
"""Fraction of f at the start (above the quadratic's minimum 0) that f at the last step may keep for a path
the closed form calls converging to count as converged within its steps."""


def stability_limit(optimizer: str, big: float, momentum: float) -> float:
    """The largest stable learning rate for curvature ``big`` (L): the formulas in the module docstring
    (gd.sgd's own, core.rules.stability_limit)."""
    m = 0.0 if optimizer == "plain" else momentum
    return rules.stability_limit(big, m, nesterov=optimizer == "nesterov")


def roots(optimizer: str, lam: float, learning_rate: float, momentum: float) -> np.ndarray:
    """The roots of the optimizer's per-direction step map (one for plain, two with momentum)."""
    a, m = learning_rate * lam, momentum
    if optimizer == "plain":
        return np.array([1.0 - a], complex)
    if optimizer == "momentum":
        return np.roots([1.0, -(1 + m - a), m]).astype(complex)
    return np.roots([1.0, -(1 + m) * (1 - a), m * (1 - a)]).astype(complex)


def quadratic_verdict(
    optimizer: str, small: float, big: float, learning_rate: float, momentum: float,
    values: np.ndarray | None = None,
) -> dict[str, Any]:
    """Verdict for one optimizer on a quadratic with eigenvalues small (mu) and big (L), and (given ``values``,
    f along the path shown) whether it is still far from the minimum at its last step."""
    by_direction = {lam: roots(optimizer, lam, learning_rate, momentum) for lam in (small, big)}
    lam, z = max(by_direction.items(), key=lambda item: np.max(np.abs(item[1])))
    rho = float(np.max(np.abs(z)))
    swinging = [d for d, r in by_direction.items() if np.any((r.real < 0) | (np.abs(r.imag) > 1e-12))]
    limit = stability_limit(optimizer, big, momentum)
    lr_text, limit_number = pair_text(learning_rate, limit)
    limit_text = _limit_text(optimizer, momentum, limit_number)
    if abs(learning_rate - limit) <= TOUCH * limit:
        verdict, why = "oscillates", (
            f"learning rate {learning_rate:.4g} sits on the stability limit {limit_text}: "
            "along the steepest direction each step lands as far on the other side, for ever")
    elif learning_rate > limit:
        verdict, why = "diverges", (
            f"learning rate {lr_text} > {limit_text}: along the steepest direction "
            f"(curvature {big:.4g}) each step overshoots by more than it gains; the distance grows "
            f"{factor_text(rho)}x per step")
    elif swinging:
        slow = _still_far(values, rho)
        verdict, why = "oscillates", (
            f"learning rate {lr_text} < {limit_text}, so it converges, but it overshoots "
            f"along the direction of curvature {max(swinging):.4g} ({_overshoot(optimizer)}); "
            + (slow or f"the distance shrinks {factor_text(rho)}x per step"))
    elif slow := _still_far(values, rho):
        verdict, why = "descending", (
            f"learning rate {lr_text} < {limit_text}, so it converges, but slowly: {slow}")
    else:
        verdict, why = "converges", (
            f"learning rate {lr_text} < {limit_text}: every direction shrinks without "
            f"overshooting; the slowest (curvature {lam:.4g}) by {factor_text(rho)}x per step")
    return {"optimizer": optimizer, "verdict": verdict, "why": why, "rate": rho,
            "stability_limit": limit}


def _still_far(values: np.ndarray | None, rho: float) -> str:
    """How far a converging path still is at its last step when f there is above FAR of f at the start (the
    minimum is 0; "" when it is not), and the step by which f is within FAR if it shrinks rho^2 per step from
    there (f along the slowest direction: a bound for plain GD, whose directions all shrink at least rho per
    step; the rate it settles to with momentum)."""
    if values is None or values.size < 2 or not np.all(np.isfinite(values)):
        return ""
    first, last, steps = float(values[0]), float(values[-1]), values.size - 1
    if not last > FAR * first:
        return ""
    by = ""
    if 0.0 < rho < 1.0:
        step = float(f"{steps + math.log(FAR * first / last) / (2.0 * math.log(rho)):.2g}")
        shown = f"{step:,.0f}" if step < 1e6 else f"{step:.2g}"
        by = f", so f falls to {FAR:.0%} of its start by step ~{shown} at that rate or sooner"
    return (f"after {steps} steps f is still {last:.4g} of {first:.4g} at the start ({last / first:.0%}; its minimum "
            f"is 0): the slowest direction shrinks {factor_text(rho)}x per step{by}; still descending, not yet "
            f"converged within the {steps} steps")


def path_verdict(optimizer: str, values: np.ndarray, grad_norm: float, diverged_at: int | None,
                 steps: int, ahead: np.ndarray | None = None,
                 beside: tuple[np.ndarray, float] | None = None,
                 pole: tuple[int, np.ndarray] | None = None, bounces: bool = False) -> dict[str, Any]:
    """Verdict for a path on a surface with no closed form, read from the path itself (and from ``ahead``,
    f read at growing distances along its last heading, paths.values_ahead; and from ``beside``, a point near
    the last one where f differs, given when the gradient and the Hessian there are exactly 0 in float32).

    undefined   f is not a finite number at the start
    unbounded   f fell from f_0 to its lowest value at the last point, and faster at the end than at
                the start, by more than RUNS_OFF*(1 + |f_0|) (or it left the box while so falling);
                or it fell on every step and f keeps falling ahead of it, to more than
                RUNS_OFF*(1 + |f_0|) below the last point (f = x: a constant slope, no minimum);
                or a step jumped over a pole, where f falls without bound (``pole``: (step, where),
                lab/poles.py; 1/x from x < 0)
    diverges    it left the box (or f stopped being finite) at step diverged_at
    stalled     |grad f| = 0 and the Hessian = 0 at the last point, yet f differs near it (``beside``,
                paths.differs_around: not where f rises every way): the path cannot move, and float32
                cannot tell a flat floor from a slope too slight for it (exp(100*x) at x = -2 underflows
                to 0, with no minimum that way): no minimum is shown
    converges   |grad f| < SETTLED at the last point
    oscillates  not settled, and f_{k+1} > f_k on some step, or f never fell while the path bounced between
                two points (``bounces``, paths.bounces: x^2 at rate 1, from x to -x and back)
    descending  not settled, and f fell on every step: not yet converged within the steps
    """
    if values.size == 0 or not np.isfinite(values[0]):
        return {"optimizer": optimizer, "verdict": "undefined", "why": (
            "f is not defined (not a finite number) at the start point, so there is no slope to follow: "
            "pick another start or another formula")}
    if _runs_off(values, diverged_at is not None):
        return {"optimizer": optimizer, "verdict": "unbounded", "why": (
            f"f fell from {values[0]:.4g} to {values[-1]:.4g} in {values.size - 1} steps and falls faster "
            "every step: f has no minimum that way (unbounded below), so the path runs off to -infinity")}
    if pole is not None:
        step, (x, y) = pole
        return {"optimizer": optimizer, "verdict": "unbounded", "why": (
            f"step {step + 1} jumped over a pole of f near ({x:.3g}, {y:.3g}), where f falls to -infinity "
            "(unbounded below): f has no minimum there, and each finite step drawn towards the pole lands past "
            "it, so where the path goes after it says nothing of a minimum")}
    if diverged_at is not None:
        return {"optimizer": optimizer, "verdict": "diverges", "why": (
            f"the iterate left |x|, |y| <= 1e6 (or f stopped being finite) at step {diverged_at}: "
            "the rate is too large for the curvature it met, or f has no minimum that way")}
    last = float(values[-1])
    if grad_norm == 0.0 and beside is not None:
        there = "not a finite number" if math.isnan(beside[1]) else f"{beside[1]:.4g}"
        return {"optimizer": optimizer, "verdict": "stalled", "why": (
            f"after {steps} steps the gradient and the curvature read exactly 0 in float32, yet f is not flat: "
            f"f = {last:.4g} here and {there} at ({beside[0][0]:.4g}, {beside[0][1]:.4g}); the path cannot move, "
            "and float32 cannot tell a flat floor from a slope too slight for it (f's values underflow, as "
            "exp(100*x) does far left, with no minimum that way): no minimum is shown")}
    if grad_norm < SETTLED:
        return {"optimizer": optimizer, "verdict": "converges", "why": (
            f"after {steps} steps the gradient norm is {grad_norm:.2e} < {SETTLED:g}: "
            f"it has settled at f = {last:.4g}")}
    unsettled = f"after {steps} steps f = {last:.4g} and the gradient norm is {grad_norm:.3g} >= {SETTLED:g}"
    diffs = np.diff(values)
    if diffs.size and float(np.max(diffs)) > 0:
        return {"optimizer": optimizer, "verdict": "oscillates", "why": (
            f"{unsettled}; f went up on some steps: the rate overshoots where the surface is steep")}
    level = bool(diffs.size) and not np.any(diffs < 0)  # f the same on every step, in float32
    if bounces and level:
        return {"optimizer": optimizer, "verdict": "oscillates", "why": (
            f"{unsettled}; f stayed level while the path bounced between two points: each step lands where f is "
            "as high as where it left (x^2 at rate 1 jumps from x to -x), a rate on the stability limit, 2/L")}
    if _falls_away(values, ahead):
        assert ahead is not None
        return {"optimizer": optimizer, "verdict": "unbounded", "why": (
            f"{unsettled}; f fell on every step and keeps falling far ahead along its heading (down to "
            f"{ahead[-1]:.4g}): f has no minimum that way (unbounded below), so the path runs off to -infinity")}
    if level:  # and not bouncing
        return {"optimizer": optimizer, "verdict": "descending", "why": (
            f"{unsettled}; f stayed the same on every step, a change too small for float32 to show: still "
            f"descending, if at all, not converged within the {steps} steps")}
    fell = "f fell on every step" if np.all(diffs < 0) else "f never rose"
    return {"optimizer": optimizer, "verdict": "descending", "why": (
        f"{unsettled}; {fell}: it is still descending, not yet converged within the {steps} steps")}


def _falls_away(values: np.ndarray, ahead: np.ndarray | None) -> bool:
    """f read ahead of the last point falls at every distance, to RUNS_OFF*(1 + |f_0|) below it."""
    if ahead is None or ahead.size < 2 or not np.all(np.isfinite(ahead)):
        return False
    steps = np.diff(np.concatenate([[values[-1]], ahead]))
    return bool(np.all(steps < 0) and ahead[-1] < values[-1] - RUNS_OFF * (1.0 + abs(values[0])))


def _runs_off(values: np.ndarray, left: bool) -> bool:
    """f at its lowest at the last point and falling faster there than at the start: by RUNS_OFF*(1 + |f_0|),
    or by any amount on a path that left the box."""
    if values.size < 3 or not np.all(np.isfinite(values)) or values[-1] > np.min(values):
        return False
    first, last = values[0] - values[1], values[-2] - values[-1]
    deep = values[0] - values[-1] > (0.0 if left else RUNS_OFF * (1.0 + abs(values[0])))
    return bool(deep and last > max(first, 0.0))


def factor_text(rho: float) -> str:
    """A per-step factor with 3 significant digits, or as many more as keep it from reading 1 (0.9999x)."""
    return pair_text(rho, 1.0, 3)[0]


def _limit_text(optimizer: str, momentum: float, limit: str) -> str:
    if optimizer == "plain":
        return f"2/L = {limit}"
    if optimizer == "momentum":
        return f"(2 + 2m)/L = {limit} (m = {momentum:g})"
    return f"(2 + 2m)/((1 + 2m) L) = {limit} (m = {momentum:g})"


def _overshoot(optimizer: str) -> str:
    if optimizer == "plain":
        return "lr > 1/L: the step 1 - lr*L is negative, so it jumps across the valley"
    return "momentum carries it past the minimum and back"
