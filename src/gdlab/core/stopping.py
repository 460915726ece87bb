"""Stopping rules: small pure rules over per-epoch metrics, combined with ``|`` and ``&``.

A rule is a state (NamedTuple of scalars, ``fired`` among them) and a pure
``update(state, metrics) -> state`` called once per epoch. ``metrics`` maps
names to scalars: ``epoch`` (1-based), ``step`` (updates so far), ``time``
(seconds), ``initial_loss`` (train loss before training), and the epoch's
``train_loss``, ``grad_norm``, ``test_loss``, ``test_accuracy``, ``learning_rate``.
Updates are written with ``where`` and work on NumPy scalars (the engine) and on
traced JAX arrays (a compiled sweep) alike; ``explain`` turns a fired state
into ``(status, reason)`` on the host.

Statuses: converged, stalled, diverged, early_stopped, target_reached,
max_epochs, max_steps, time_budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.checks import (
    check_bool,
    check_choice,
    check_float_range,
    check_int_range,
    check_positive_float,
)

Metrics = dict[str, Any]
MINIMIZED = ("train_loss", "test_loss", "grad_norm")
MAXIMIZED = ("test_accuracy",)
METRIC_NAMES = MINIMIZED + MAXIMIZED
BUDGET_STATUSES = ("max_epochs", "max_steps", "time_budget")
"""The statuses of the budget rules: a run that ends on one did not converge."""
STALL_MARGIN = 0.01
"""A plateau within this relative margin of the initial loss (or above it) is stalled, not converged."""
LEVELLED = "train loss improved by <="
"""How the reason of a plateau begins after its status ("converged: train loss improved by <= 0.0001 ...")."""
DIVERGED_FACTOR = 100.0
"""diverged()'s default: a train loss above this many times the loss before training diverged (gd.fit adds it)."""
REBOUND = 0.1
"""A plateau whose final train loss gave back more than this fraction of its fall (initial - lowest) is stalled:
it oscillates. Measured against the fall, not the lowest loss: mini-batch SGD at its noise floor on least squares
(a loss near 0.01) ends 10-140% above its lowest epoch, yet within 0.5% of its fall; runs bouncing at too high a
rate give back 13-90% of it."""
REBOUND_FLOOR = 0.01
"""...and by more than this fraction of |lowest| (a loss that barely fell, 0.50 to 0.49, is not oscillating at
0.492)."""


def metric_sign(metric: str) -> float:
    """-1.0 for a metric that improves by rising (accuracy), else 1.0: sign * metric is minimised, and
    sign * (sign * metric) is the metric again."""
    return -1.0 if metric in MAXIMIZED else 1.0


def _xp(*values: Any) -> Any:
    """jax.numpy for JAX arrays (traced or not), NumPy otherwise."""
    return jnp if any(isinstance(v, jax.Array) for v in values) else np


class StopRule(NamedTuple):
    """A stopping rule: ``state = init()``; ``state = update(state, metrics)``; ``explain``."""

    name: str
    init: Callable[[], Any]
    update: Callable[[Any, Metrics], Any]
    explain: Callable[[Any, Metrics], tuple[str, str]]
    metrics: tuple[str, ...]
    """The metric names the rule reads (checked against what a run records)."""
    restore: str | None = None
    """A metric by which the run returns its best epoch's params (early_stopping)."""
    children: tuple[StopRule, ...] = ()
    """The rules a combined rule (any/all) is made of."""
    settings: tuple[tuple[str, Any], ...] = ()
    """The (name, value) arguments the rule was made with (a recorded run keeps them: ``describe``)."""

    def __or__(self, other: StopRule) -> StopRule:
        return any_of(self, _operand("|", other))

    def __and__(self, other: StopRule) -> StopRule:
        return all_of(self, _operand("&", other))

    def __ror__(self, other: Any) -> StopRule:
        return any_of(_operand("|", other), self)

    def __rand__(self, other: Any) -> StopRule:
        return all_of(_operand("&", other), self)

    def fired(self, state: Any) -> bool:
        """Whether the rule has fired (host side)."""
        return bool(np.asarray(fired_flags(state)))


def _operand(operator: str, other: Any) -> StopRule:
    """other, if a rule can be combined with it by operator (| or &)."""
    if not isinstance(other, StopRule):
        raise TypeError(f"{operator} combines stopping rules such as gd.stop.plateau(); got {_shown(other)}.")
    return other


def _shown(value: Any) -> str:
    """value and its type for a message, its repr cut short: '5 (int)'."""
    text = repr(value)
    return f"{text if len(text) <= 60 else text[:57] + '...'} ({type(value).__name__})"


class Fired(NamedTuple):
    """A memoryless rule's state: whether it fired, and the epoch and metric value when it first did (a rule that
    does not latch: when it last did, NaN while it does not hold)."""

    fired: Any
    epoch: Any = np.float64(np.nan)
    value: Any = np.float64(np.nan)


def _threshold_rule(
    name: str, metric: str, predicate: Callable[[Any], Any], status: str, text: Callable[[float], str],
    settings: tuple[tuple[str, Any], ...], latch: bool = True,
) -> StopRule:
    """A memoryless rule: fires once predicate(metrics[metric]) holds. With latch it stays fired, explained by the
    epoch and value of that first time (inside ``&`` it may wait epochs for the others, while its metric moves
    on: a target reached at epoch 5 is not re-read at 7, where the accuracy may have dipped below it); without,
    it holds only while the predicate does (a condition of the present, such as a small gradient), explained by
    the epoch and value now."""

    def update(state: Fired, metrics: Metrics) -> Fired:
        value = metrics[metric]
        xp = _xp(value, state.fired)
        now = predicate(value)
        if not latch:
            return Fired(fired=now, epoch=xp.where(now, metrics["epoch"], np.nan), value=xp.where(now, value, np.nan))
        newly = xp.logical_and(now, xp.logical_not(state.fired))
        return Fired(fired=xp.logical_or(state.fired, now), epoch=xp.where(newly, metrics["epoch"], state.epoch),
                     value=xp.where(newly, value, state.value))

    def explain(state: Fired, metrics: Metrics) -> tuple[str, str]:
        return status, f"{status}: {text(float(state.value))} at epoch {int(state.epoch)}"

    return StopRule(name, lambda: Fired(np.bool_(False)), update, explain, (metric,), settings=settings)


def max_epochs(n: int) -> StopRule:
    """Fires after epoch n: epoch >= n."""
    n = check_int_range("max_epochs", n, 1)
    return _threshold_rule(
        "max_epochs", "epoch", lambda e: e >= n, "max_epochs", lambda e: f"reached max_epochs {n}", (("n", n),)
    )


def max_steps(n: int) -> StopRule:
    """Fires at the end of the epoch in which the update count reaches n: step >= n."""
    n = check_int_range("max_steps", n, 1)
    return _threshold_rule(
        "max_steps", "step", lambda s: s >= n, "max_steps",
        lambda steps: f"reached max_steps {n} ({int(steps)} updates)", (("n", n),)
    )


def time_budget(seconds: float) -> StopRule:
    """Fires at the end of the epoch in which training time reaches seconds: time >= seconds."""
    seconds = check_positive_float("seconds", seconds)
    return _threshold_rule(
        "time_budget", "time", lambda t: t >= seconds, "time_budget",
        lambda t: f"used the time budget of {seconds:g} s ({t:.4g} s of training)", (("seconds", seconds),)
    )


def grad_norm(tol: float) -> StopRule:
    """Converged when the full-data gradient norm |grad L(w)| < tol (needs metrics="exact"); inside ``&``, at the
    epoch the others fire (a norm that rose above tol again is not converged)."""
    tol = check_positive_float("tol", tol)
    return _threshold_rule(
        "grad_norm", "grad_norm", lambda g: g < tol, "converged",
        lambda g: f"gradient norm {g:.2e} < {tol:g}", (("tol", tol),), latch=False
    )


TARGET_RANGES = {"test_accuracy": (0.0, 1.0), "grad_norm": (0.0, math.inf)}
"""The values a target can take: an accuracy is a fraction, a norm is not negative (losses may be)."""


def target(metric: str, value: float) -> StopRule:
    """Target reached when metric <= value (losses) or >= value (accuracy)."""
    metric = check_choice("metric", metric, METRIC_NAMES)
    low, high = TARGET_RANGES.get(metric, (-math.inf, math.inf))  # a value outside could never be reached
    value = float(check_float_range("value", value, low, high, high_open=high == math.inf))
    sign = ">=" if metric in MAXIMIZED else "<="

    def reached(v: Any) -> Any:
        return v >= value if metric in MAXIMIZED else v <= value

    return _threshold_rule(
        "target", metric, reached, "target_reached",
        lambda v: f"{metric} {v:.4g} {sign} {value:g}", (("metric", metric), ("value", value))
    )


class PlateauState(NamedTuple):
    fired: Any
    best: Any
    bad_epochs: Any
    lowest: Any = np.float64(np.inf)
    """The lowest finite train loss so far (best moves only on improvements by more than tol)."""
    lowest_epoch: Any = np.int32(0)


def plateau(tol: float = 1e-4, patience: int = 5) -> StopRule:
    """Fires when the train loss improves by a relative tol or less for patience epochs in a row.

    An epoch improves when (best - loss) / |best| > tol; best is then updated.
    A rise counts as no improvement, so when it fires the run is converged only
    if the loss levelled off near its lowest; it is stalled if the loss is not
    below initial - 0.01 x |initial| (a plateau at or near the start), or if it
    oscillates: loss - lowest > REBOUND x (initial - lowest) and > REBOUND_FLOOR x |lowest|.
    """
    tol = check_float_range("tol", tol, 0.0, math.inf)
    patience = check_int_range("patience", patience, 1)

    def init() -> PlateauState:
        return PlateauState(np.bool_(False), np.float64(np.inf), np.int32(0))

    def update(state: PlateauState, metrics: Metrics) -> PlateauState:
        loss = metrics["train_loss"]
        xp = _xp(loss, state.best)
        first = ~xp.isfinite(state.best)
        best = xp.where(first, 0.0, state.best)
        gained = xp.logical_or(first, best - loss > tol * xp.abs(best))
        improved = xp.logical_and(gained, xp.isfinite(loss))
        bad = xp.where(improved, 0, state.bad_epochs + 1)
        best = xp.where(improved, loss, state.best)
        lower = xp.logical_and(loss < state.lowest, xp.isfinite(loss))
        return PlateauState(bad >= patience, best, bad,  # not latched: inside &, a loss improving again ends it
                            xp.where(lower, loss, state.lowest), xp.where(lower, metrics["epoch"], state.lowest_epoch))

    def explain(state: PlateauState, metrics: Metrics) -> tuple[str, str]:
        loss, initial = float(metrics["train_loss"]), float(metrics["initial_loss"])
        epoch = int(metrics["epoch"])
        what = f"{LEVELLED} {tol:g} (relative) for {patience} epochs"
        if not loss < initial - STALL_MARGIN * abs(initial):  # (1 - margin) * initial: above it when negative
            lowest = float(state.lowest)
            if loss > lowest + tol * abs(lowest):  # it rose: "improved by <= tol" read as if it had levelled off
                return "stalled", (
                    f"stalled: train loss did not improve by more than {tol:g} (relative) for {patience} epochs: it "
                    f"rose from {lowest:.4g} (epoch {int(state.lowest_epoch)}) to {loss:.4g}, "
                    f"{'above' if loss > initial else 'not below'} the initial loss {initial:.4g}, at epoch {epoch}"
                )
            return "stalled", (
                f"stalled: {what}, at {loss:.4g}, not below the initial loss {initial:.4g}, at epoch {epoch}"
            )
        if _oscillates(loss, float(state.lowest), initial):
            lowest = float(state.lowest)
            return "stalled", (
                f"stalled: {what}, but the train loss ended at {loss:.4g}, {_percent(loss, lowest)} above its "
                f"best {lowest:.4g} (epoch {int(state.lowest_epoch)}): it oscillates; the learning rate (or the "
                f"momentum) is likely too high; at epoch {epoch}"
            )
        return "converged", f"converged: {what}, at {loss:.4g}, at epoch {epoch}"

    return StopRule("plateau", init, update, explain, ("train_loss",), settings=(("tol", tol), ("patience", patience)))


def _oscillates(loss: float, lowest: float, initial: float) -> bool:
    """Whether a loss below initial gave back much of its fall: loss - lowest > REBOUND x (initial - lowest) and
    > REBOUND_FLOOR x |lowest|."""
    rise = loss - lowest
    return math.isfinite(rise) and rise > REBOUND * (initial - lowest) and rise > REBOUND_FLOOR * abs(lowest)


def _percent(value: float, reference: float) -> str:
    """How far value is above reference, in percent of |reference|: '17%', '4.7%', '1,250%' (0: the difference)."""
    if reference == 0:
        return f"{value:.4g}"
    pct = 100 * (value - reference) / abs(reference)
    return f"{pct:.2g}%" if pct < 10 else f"{round(pct):,}%"


class EarlyState(NamedTuple):
    fired: Any
    best: Any
    best_epoch: Any
    bad_epochs: Any


def early_stopping(
    metric: str = "test_loss", patience: int = 10, min_delta: float = 0.0, restore_best: bool = True
) -> StopRule:
    """Early stopped when metric has not improved by more than min_delta for patience epochs.

    Losses improve by falling, accuracy by rising. With restore_best the run
    returns the params of the best epoch, whether or not this rule stopped it.
    """
    metric = check_choice("metric", metric, METRIC_NAMES)
    patience = check_int_range("patience", patience, 1)
    min_delta = check_float_range("min_delta", min_delta, 0.0, math.inf)
    sign = metric_sign(metric)  # minimise sign * metric

    def init() -> EarlyState:
        return EarlyState(np.bool_(False), np.float64(np.inf), np.int32(0), np.int32(0))

    def update(state: EarlyState, metrics: Metrics) -> EarlyState:
        value = sign * metrics[metric]
        xp = _xp(value, state.best)
        improved = xp.logical_and(value < state.best - min_delta, xp.isfinite(value))
        bad = xp.where(improved, 0, state.bad_epochs + 1)
        return EarlyState(
            fired=bad >= patience,  # not latched: inside &, a metric improving again ends the wait
            best=xp.where(improved, value, state.best),
            best_epoch=xp.where(improved, metrics["epoch"], state.best_epoch),
            bad_epochs=bad,
        )

    def explain(state: EarlyState, metrics: Metrics) -> tuple[str, str]:
        best = sign * float(state.best)
        # with min_delta the reference is the last real improvement, not the best value: a later epoch may
        # be lower by less than min_delta (restore_best returns the lowest, and the run's reason says which)
        # "best ... at epoch 1" read against restore_best's "the initial ones, whose ... no epoch bettered": the
        # rule compares epochs, restore_best the initial params too; so it names the best *epoch* (and
        # restored_note says the initial ones came "before epoch 1")
        epoch = int(state.best_epoch)
        reference = (f"its best epoch was {epoch} ({metric} {best:.4g})" if min_delta == 0 else
                     f"the last improvement by more than {min_delta:g} was at epoch {epoch} (to {best:.4g})")
        return "early_stopped", (
            f"early_stopped: {metric} did not improve by more than {min_delta:g} for {patience} "
            f"epochs; {reference}, stopped at epoch {int(metrics['epoch'])}"
        )

    restore = metric if check_bool("restore_best", restore_best) else None
    settings = (("metric", metric), ("patience", patience), ("min_delta", min_delta), ("restore_best", restore is not None))
    return StopRule("early_stopping", init, update, explain, (metric,), restore=restore, settings=settings)


class DivergedState(NamedTuple):
    fired: Any
    loss: Any


def diverged(factor: float = DIVERGED_FACTOR) -> StopRule:
    """Diverged when the train loss is not finite or exceeds factor x |the initial loss| (that part only
    when the initial loss is not 0: from an exact minimum any rise would be 'infinitely' many times it)."""
    factor = check_float_range("factor", factor, 1.0, math.inf)

    def update(state: DivergedState, metrics: Metrics) -> DivergedState:
        loss, initial = metrics["train_loss"], metrics["initial_loss"]
        xp = _xp(loss, initial, state.fired)
        grown = xp.logical_and(loss > factor * xp.abs(initial), initial != 0)
        bad = xp.logical_or(~xp.isfinite(loss), grown)
        newly = xp.logical_and(bad, ~state.fired)
        return DivergedState(xp.logical_or(state.fired, bad), xp.where(newly, loss, state.loss))

    def explain(state: DivergedState, metrics: Metrics) -> tuple[str, str]:
        loss, initial = float(state.loss), float(metrics["initial_loss"])
        why = "is not finite" if not math.isfinite(loss) else f"> {factor:g} x the initial loss {initial:.4g}"
        return "diverged", f"diverged: train loss {loss:.4g} {why} at epoch {int(metrics['epoch'])}"

    init = lambda: DivergedState(np.bool_(False), np.float64(np.nan))
    return StopRule("diverged", init, update, explain, ("train_loss",), settings=(("factor", factor),))


def any_of(*rules: StopRule) -> StopRule:
    """Fires when any rule fires; explained by a diverged rule that fired (a run that diverged is diverged, whatever
    else fired the same epoch), else by the first rule (in order) that fired and is not a budget, else by the first
    budget (max_epochs(11) | grad_norm(tol) firing together at epoch 11 converged, whatever the order)."""
    return _combine("any", rules)


def all_of(*rules: StopRule) -> StopRule:
    """Fires when every rule holds at the same epoch's end; explained by all of them. grad_norm, plateau and
    early_stopping hold while their condition does (a gradient norm back above tol, or a loss improving again,
    no longer counts); target and the budgets hold from the epoch they were reached on."""
    return _combine("all", rules)


def _combine(kind: str, rules: tuple[StopRule, ...]) -> StopRule:
    if not rules:
        raise TypeError(f"rules must be one or more stopping rules such as gd.stop.plateau(); got none ({kind}_of()).")
    for i, rule in enumerate(rules):
        if not isinstance(rule, StopRule):
            raise TypeError(f"rules must be stopping rules such as gd.stop.plateau(); got {_shown(rule)} as rule {i} "
                            f"of {kind}_of.")
    flat: list[StopRule] = []
    for rule in rules:  # (a | b) | c is a | b | c
        flat.extend(rule.children if rule.name == kind else [rule])

    def init() -> tuple[Any, ...]:
        children = tuple(r.init() for r in flat)
        return (np.bool_(False), children)

    def update(state: tuple[Any, ...], metrics: Metrics) -> tuple[Any, ...]:
        children = tuple(r.update(s, metrics) for r, s in zip(flat, state[1]))
        fired = [fired_flags(s) for s in children]
        xp = _xp(*fired)
        combined = fired[0]
        for f in fired[1:]:
            combined = xp.logical_or(combined, f) if kind == "any" else xp.logical_and(combined, f)
        return (combined, children)

    def explain(state: tuple[Any, ...], metrics: Metrics) -> tuple[str, str]:
        done = [r.explain(s, metrics) for r, s in zip(flat, state[1]) if bool(np.asarray(fired_flags(s)))]
        if kind == "any":  # a divergence leads: plateau(patience=3) saw a loss rising 360x "not improve" and fired;
            # then a rule that is not a budget: max_epochs(11) | grad_norm(tol) converged at epoch 11, as the other order
            done.sort(key=lambda explained: (explained[0] != "diverged", explained[0] in BUDGET_STATUSES))
            return done[0]
        # all: a budget (max_epochs & grad_norm: "at least 3 epochs") is not what ended a run that also
        # converged or reached its target: that rule's status leads, whatever the operands' order
        done.sort(key=lambda explained: explained[0] in BUDGET_STATUSES)
        return done[0][0], " and ".join(reason for _, reason in done)

    metrics = tuple(dict.fromkeys(m for r in flat for m in r.metrics))
    return StopRule(kind, init, update, explain, metrics, children=tuple(flat))


def or_diverged(stop: StopRule | None) -> StopRule:
    """stop | diverged(), unless stop already stops on divergence whatever else: it is diverged(factor) or
    any_of(...) (``|``) with a diverged(factor) among its parts (the user's factor then holds); diverged()
    alone for None. Inside ``&`` a diverged rule waits for the others, so the default one is added then too."""
    if stop is None:
        return diverged()
    return stop if divergence_factor(stop) is not None else stop | diverged()


def applied_text(stop: StopRule | None) -> str:
    """The rule a run applies, as text: ``describe(or_diverged(stop))`` (stop=None, diverged() and
    diverged(factor=100.0) read alike). A record compares it to tell one rule from another."""
    return describe(or_diverged(stop))


def given_text(stop: StopRule | None) -> str:
    """The rule as given ("none" for None): the text checkpoints recorded before they recorded ``applied_text``."""
    return "none" if stop is None else describe(stop)


def divergence_factor(stop: StopRule) -> float | None:
    """The factor of the diverged rule that stops a run on its own (``or_diverged``'s: stop itself, or a part of
    ``|``), or None when there is none."""
    parts = stop.children if stop.name == "any" else (stop,)  # any_of flattens nested any_of
    return next((float(dict(p.settings)["factor"]) for p in parts if p.name == "diverged"), None)


def describe(rule: StopRule) -> str:
    """The rule with its settings as text, e.g. "plateau(tol=0.01, patience=2) | diverged(factor=100.0)"."""
    if rule.children:
        parts = [f"({describe(c)})" if c.children else describe(c) for c in rule.children]
        return (" | " if rule.name == "any" else " & ").join(parts)
    return f"{rule.name}({', '.join(f'{k}={v!r}' for k, v in rule.settings)})"


def leaves(rule: StopRule) -> tuple[StopRule, ...]:
    """Every leaf rule inside rule (the rule itself for a leaf)."""
    if not rule.children:
        return (rule,)
    return tuple(leaf for child in rule.children for leaf in leaves(child))


def restored_metric(stop: StopRule | None) -> str | None:
    """The metric whose best epoch's params a run with this rule returns (early_stopping(restore_best=True)),
    or None."""
    return None if stop is None else next((leaf.restore for leaf in leaves(stop) if leaf.restore), None)


def restore_names_epoch(stop: StopRule | None) -> bool:
    """Whether a run with this rule names the epoch whose params it returns in every reason: where the rule
    restores with min_delta > 0, the epoch its reason names (the last improvement by more than min_delta) need
    not be the lowest one, whose params it returns."""
    return any(leaf.restore and dict(leaf.settings).get("min_delta", 0.0) > 0 for leaf in leaves(stop)) if stop else False


def fired_flags(state: Any) -> Any:
    """The fired flag of a rule state: a scalar, or one per config when metrics are arrays (a sweep)."""
    return state.fired if hasattr(state, "fired") else state[0]
