"""The learning-rate range test, several seeds at once, with suggestions validated by a short sweep.

The rate grows exponentially from min_lr to max_lr over ``steps`` mini-batch
steps, lr_t = min_lr * (max_lr / min_lr)^(t / (steps - 1)). Each seed's batch
losses are smoothed by a bias-corrected moving average,
s_t = (beta m_{t-1} + (1 - beta) loss_t) / (1 - beta^(t+1)), and its curve ends
where s_t exceeds ``diverge`` x its best so far or stops being finite. Rules read
a suggestion off each curve; a short sweep of the candidates (snapped to a grid
of ``grid_per_decade`` points per decade, with their neighbours) then picks the
rate with the lowest mean train loss among those that lowered it (by more than
LOWERED of the loss before training), going on a grid step past the lowest
(highest) candidate while it is the best: that validated rate is the answer, and
a finder none of whose candidates trained gives none (a ValueError says which end
of the range to move).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.batching import resolve_batch_size
from gdlab.core.checks import (
    check_callable,
    check_fits_dtype,
    check_float_range,
    check_int_range,
    check_methods,
    check_positive_float,
)
from gdlab.core.dataset import Dataset
from gdlab.core.rules import apply_updates, sgd
from gdlab.core.schedules import Schedule
from gdlab.core.types import Array, LossFn, Model, Params
from gdlab.engine.recording import FinderRecorder, model_config
from gdlab.engine.setup import (
    check_data,
    check_params_fit_data,
    device_arrays,
    objective_and_params,
    seed_keys,
)
from gdlab.engine.sweep import sweep
from gdlab.engine.sweep_grid import seed_list

RULES = ("steepest", "valley", "minimum/10", "largest_stable")

FinderCallback = Callable[[str, int, int], None]
"""callback(stage, done, total): stage "range test" or "validation" (done never falls back; total may grow)."""


class Suggestion(NamedTuple):
    """One rule's answer: the geometric mean over the seeds that gave a rate (NaN unless most did) and the per-seed
    values (NaN where a seed's rate would lie outside the range tested: minimum/10 of a curve whose minimum is in
    the range's first decade)."""

    value: float
    per_seed: tuple[float, ...]

    @property
    def spread(self) -> tuple[float, float]:
        finite = [v for v in self.per_seed if math.isfinite(v)]
        return (min(finite), max(finite)) if finite else (math.nan, math.nan)

    @property
    def giving(self) -> int:
        """How many seeds gave the rule a rate."""
        return len(_rates(self.per_seed))

    @property
    def offered(self) -> bool:
        """Whether most seeds gave the rule a rate (``_geomean``'s test: a record from before it kept a value
        from fewer)."""
        return _most_gave(self.per_seed)


class LRFinderResult(NamedTuple):
    """The validated answer, every rule's suggestion, the curves and the validation sweep."""

    suggestion: float
    interval: tuple[float, float]
    suggestions: dict[str, Suggestion]
    learning_rates: np.ndarray  # (steps,)
    losses: np.ndarray  # (seeds, steps) smoothed; NaN after a seed's curve ended
    raw_losses: np.ndarray  # (seeds, steps)
    validation: list[dict[str, Any]]  # candidate learning_rate, mean and std of the last epoch's train loss, diverged

    def __repr__(self) -> str:
        """One line: the answer, each rule's rate and where to read the rest (the tuple's repr printed every curve)."""
        rules = ", ".join(f"{name} {s.value:.3g}" for name, s in self.suggestions.items())
        seeds, steps = np.shape(self.raw_losses)
        return (f"LRFinderResult(suggestion={self.suggestion:.3g}, interval=({self.interval[0]:.3g}, "
                f"{self.interval[1]:.3g}); rules: {rules}; {steps} steps x {seeds} seed{'' if seeds == 1 else 's'}, "
                f"{len(self.validation)} rates validated; .suggestions, .losses, .validation, .schedule())")

    def schedule(self, kind: str, total_steps: int, warmup_steps: int = 0) -> Schedule:
        """A schedule built from the answer: "cosine" (with warmup) or "one_cycle" (peak at the answer)."""
        from gdlab.core import schedules
        from gdlab.core.schedule_combinators import warmup

        if kind == "cosine":
            body = schedules.cosine(self.suggestion, max(1, total_steps - warmup_steps))
            return warmup(body, warmup_steps) if warmup_steps else body
        if kind == "one_cycle":
            return schedules.one_cycle(self.suggestion, total_steps)
        raise ValueError(f"kind must be one of {{'cosine', 'one_cycle'}}; got {kind!r}.")


class _DefaultBatch(int):
    """find_learning_rate's default batch size, 32: at most the training samples (a given 32 is checked)."""


DEFAULT_BATCH = _DefaultBatch(32)


def find_learning_rate(
    model: Model | LossFn,
    data: Dataset,
    *,
    batch_size: int | str | None = DEFAULT_BATCH,
    seeds: int | Sequence[int] = 3,
    min_lr: float = 1e-5,
    max_lr: float = 10.0,
    steps: int = 200,
    beta: float = 0.9,
    diverge: float = 4.0,
    momentum: float = 0.0,
    params: Params | None = None,
    validate_epochs: int = 2,
    grid_per_decade: int = 4,
    loss: str | None = None,
    record: FinderRecorder | None = None,
    callback: FinderCallback | None = None,
) -> LRFinderResult:
    """Run the range test over ``seeds`` seeds at once, then validate the candidates by a short sweep.

    ``batch_size``: 32 by default (every sample where there are fewer), an integer, or "full" / None (every sample).
    ``seeds`` is a count (seeds 0..n-1) or a list. ``params`` (optional) start
    every seed's test; they are never changed. ``record`` (a ``FinderRecorder``
    such as ``gd.store.open(path)``) receives the configuration and the result.
    ``callback(stage, done, total)`` reports progress: ("range test", 0 then 1, 1), then ("validation", done,
    total) after each epoch of the validation sweeps: done counts their epochs so far and never falls back;
    total is validate_epochs per sweep begun (it grows by validate_epochs for each further sweep below).
    Should every candidate diverge within validate_epochs (the range test's few steps at each
    rate can miss a slow blow-up), the candidates a decade lower are validated too, down to min_lr;
    if even those diverge, a ValueError says so (no answer rather than a diverged one). While the best is the
    lowest (highest) rate validated, the grid rate one step past it is validated too, within the range. The answer and its
    interval are candidates that lowered the mean train loss by more than LOWERED (1%) of the loss before
    training; should none, a ValueError says so: raise max_lr where the range test's loss never blew up (a range
    too low to move the weights), else steps (too few or noisy steps placed the candidates far below). A range
    test whose loss blew up within 10 points is refused too: lower min_lr where it blew up in the range's
    first decade, else raise steps.
    """
    check_data(data)
    grid_per_decade = check_int_range("grid_per_decade", grid_per_decade, 1)
    check_callable("callback", callback, "callback(stage, done, total)")
    check_methods("record", record, ("record_finder",), "a finder recorder such as gd.store.open(path)")
    min_lr, max_lr = check_positive_float("min_lr", min_lr), check_positive_float("max_lr", max_lr)
    check_fits_dtype("max_lr", max_lr, np.float32)  # the rule holds it in the params' dtype (float32 by default)
    if not min_lr < max_lr:
        raise ValueError(f"min_lr must be smaller than max_lr ({max_lr}); got {min_lr}.")
    steps = check_int_range("steps", steps, 20)
    seeds = seed_list(seeds)
    if isinstance(batch_size, _DefaultBatch):
        batch_size = min(int(batch_size), data.n_train)
    batch_size = resolve_batch_size(batch_size, data.n_train)  # "full" / None: every sample, as in fit
    beta = check_float_range("beta", beta, 0.0, 1.0)
    diverge = check_float_range("diverge", diverge, 1.0, math.inf)
    validate_epochs = check_int_range("validate_epochs", validate_epochs, 1)
    report = callback or (lambda stage, done, total: None)
    rates = min_lr * (max_lr / min_lr) ** (np.arange(steps) / (steps - 1))
    report("range test", 0, 1)
    raw = _range_test(model, data, params, loss, batch_size, seeds, min_lr, max_lr, steps, momentum)
    report("range test", 1, 1)
    smoothed = np.stack([_smooth(curve, beta, diverge) for curve in raw])
    _check_first_loss(smoothed[:, 0], seeds, min_lr)
    points = int(np.sum(np.isfinite(smoothed), axis=1).max())
    _check_points(rates, points, min_lr, max_lr)
    blew_up = float(rates[points]) if points < steps else None  # the range reached a rate too high
    per_rule = {rule: tuple(_suggest(rule, rates, curve) for curve in smoothed) for rule in RULES}
    suggestions = {rule: Suggestion(_geomean(values), values) for rule, values in per_rule.items()}
    grid = _candidates([s.value for s in suggestions.values()], grid_per_decade, min_lr, max_lr)

    lowered: set[float] = set()  # the candidates that lowered the loss (_lowered)
    # the running train loss (the mean of an epoch's batch losses, cheaper) of a full-batch epoch is the loss
    # before its one update: the last epoch's would judge every rate one update short (the first epoch's the
    # same for every rate, and momentum not yet acting in the second): then the loss after it, over all the data
    metrics = "exact" if batch_size == data.n_train else "running"

    progress = {"done": 0, "total": 0}  # the validation sweeps' epochs: one count, never set back

    def advance(done: int) -> None:
        if done > progress["done"]:  # a second chunk of configs starts its epochs from 1 again
            progress["done"] = done
            report("validation", done, progress["total"])

    def validate(rates: list[float]) -> list[dict[str, Any]]:
        before = progress["total"]
        progress["total"] += validate_epochs
        result = sweep(model, data, learning_rate=rates, batch_size=[batch_size], momentum=[momentum],
                       seeds=seeds, epochs=validate_epochs, params=params, loss=loss, metrics=metrics,
                       callback=lambda group, epoch, active: advance(before + epoch))
        advance(progress["total"])  # a sweep whose every config diverged ended early
        lowered.update(_lowered(result.rows, rates))
        return _validation(result.rows, rates)

    validation = validate(grid)
    while all(v["diverged"] for v in validation) and min(grid) > min_lr:  # a decade lower, down to min_lr
        done = {v["learning_rate"] for v in validation}
        grid = sorted({max(min_lr, rate / 10) for rate in grid} - done)  # its lowest rate is new
        validation = sorted(validate(grid) + validation, key=lambda v: v["learning_rate"])
    _check_trained(validation, lowered, min_lr, max_lr, validate_epochs,
                   Reach(steps, blew_up, batch_size < data.n_train))
    while (past := _past_edge(_best(validation, lowered), validation, grid_per_decade, min_lr, max_lr)) is not None:
        validation = sorted(validate([past]) + validation, key=lambda v: v["learning_rate"])
    trained = [v for v in validation if v["learning_rate"] in lowered]
    best = _best(validation, lowered)
    close = [v["learning_rate"] for v in trained if v["mean"] <= best["mean"] + best["std"]]
    found = LRFinderResult(best["learning_rate"], (min(close), max(close)), suggestions, rates,
                           smoothed, raw, validation)
    if record is not None:
        record.record_finder(_config(model, data, loss, batch_size, seeds, min_lr, max_lr, steps, beta, diverge,
                                     momentum, validate_epochs, grid_per_decade), found)
    return found


def _config(model: Any, data: Dataset, loss: str | None, batch_size: int, seeds: list[int], min_lr: float,
            max_lr: float, steps: int, beta: float, diverge: float, momentum: float, validate_epochs: int,
            grid_per_decade: int) -> dict[str, Any]:
    """The finder's settings as recorded."""
    return {**model_config(model), "dataset": data.name,
            "dataset_fingerprint": data.fingerprint(), "n_train": data.n_train, "loss": loss,
            "batch_size": batch_size, "seeds": seeds, "seed": seeds[0], "min_lr": min_lr, "max_lr": max_lr,
            "steps": steps, "beta": beta, "diverge": diverge, "momentum": momentum,
            "validate_epochs": validate_epochs, "grid_per_decade": grid_per_decade}


def _range_test(
    model: Any, data: Dataset, params: Params | None, loss: str | None, batch_size: int, seeds: list[int],
    min_lr: float, max_lr: float, steps: int, momentum: float,
) -> np.ndarray:
    """Batch losses (seeds, steps) of SGD with an exponentially growing rate."""
    inits = []
    for seed in seeds:
        objective, p, _ = objective_and_params(model, data, params, loss, seed_keys(np.uint32(seed))[0])
        inits.append(p)
    x, y, _, _ = device_arrays(data, inits[0])
    check_params_fit_data(objective, inits[0], (x, y))
    rule = sgd(Schedule(_exponential_range, (min_lr, max_lr, float(steps - 1))), momentum=momentum)
    idx = np.stack([_batches(seed, data.n_train, batch_size, steps) for seed in seeds])
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *inits)
    states = jax.tree.map(lambda *a: jnp.stack(a), *[rule.init(p) for p in inits])
    program = _compiled_range_test(objective.loss, rule.update)  # type: ignore[arg-type]
    return np.asarray(program(stacked, states, x, y, jnp.asarray(idx)), np.float64)


def _exponential_range(params: Any, step: Any) -> Array:
    low, high, last = params
    return low * (high / low) ** (jnp.asarray(step, jnp.result_type(float)) / last)


@functools.cache
def _compiled_range_test(loss: LossFn, update: Any) -> Any:  # update: a hashable UpdateFn
    def one_seed(params: Params, state: Any, x: Array, y: Array, idx: Array) -> Array:
        def step(carry: tuple[Params, Any], rows: Array) -> tuple[tuple[Params, Any], Array]:
            p, s = carry
            value, grads = jax.value_and_grad(loss)(p, x[rows], y[rows])
            updates, s = update(grads, s, p)
            return (apply_updates(p, updates), s), value

        return jax.lax.scan(step, (params, state), idx)[1]

    return jax.jit(jax.vmap(one_seed, in_axes=(0, 0, None, None, 0)))


def _batches(seed: int, n: int, batch_size: int, steps: int) -> np.ndarray:
    """steps batches of distinct indices, walking through fresh permutations of the data."""
    rng = np.random.default_rng(seed)
    per_epoch = n // batch_size
    orders = [rng.permutation(n)[: per_epoch * batch_size].reshape(per_epoch, batch_size)
              for _ in range(-(-steps // per_epoch))]
    return np.concatenate(orders)[:steps]


def _smooth(losses: np.ndarray, beta: float, diverge: float) -> np.ndarray:
    """Bias-corrected moving average, NaN from where it blows up (> diverge x best, or not finite)."""
    out = np.full(len(losses), np.nan)
    average, best = 0.0, math.inf
    for t, value in enumerate(losses):
        average = beta * average + (1 - beta) * value
        smooth = average / (1 - beta ** (t + 1))
        if not math.isfinite(smooth) or smooth > diverge * best:
            break
        out[t] = smooth
        best = min(best, smooth)
    return out


def _suggest(rule: str, rates: np.ndarray, curve: np.ndarray) -> float:
    """One rule's suggestion from one smoothed curve (NaN where the curve ended)."""
    n = int(np.sum(np.isfinite(curve)))
    lr, loss = rates[:n], curve[:n]
    low = int(np.argmin(loss))
    if rule == "minimum/10":  # none where the minimum is in the range's first decade: a tenth is below it
        return float(lr[low] / 10) if lr[low] / 10 >= rates[0] else math.nan
    if rule == "steepest":
        skip = max(1, n // 10)
        slope = np.gradient(loss, np.log(lr))[skip : max(skip + 1, n - skip)]
        return float(lr[skip + int(np.argmin(slope))])
    if rule == "valley":
        return float(lr[_valley(loss)])
    rising = np.nonzero((np.arange(n) > low) & (loss > loss[low] * 1.05))[0]  # largest_stable
    return float(lr[rising[0] - 1] if len(rising) else lr[n - 1])


def _valley(loss: np.ndarray) -> int:
    """Two thirds of the way down the descent: from where the loss leaves its start (by 1%) to its minimum."""
    low = int(np.argmin(loss))
    flat = np.nonzero(loss[: low + 1] >= loss[0] - 0.01 * abs(loss[0]))[0]
    start = int(flat[-1]) if len(flat) else 0
    return start + int(2 * (low - start) / 3)


def _rates(values: tuple[float, ...]) -> list[float]:
    """The rates the seeds gave (NaN: a seed gave none)."""
    return [v for v in values if math.isfinite(v) and v > 0]


def _most_gave(values: tuple[float, ...]) -> bool:
    """Most seeds gave a rate: a rate from 1 of 3 seeds is no suggestion (the others' curves had none)."""
    return 2 * len(_rates(values)) > len(values)


def _geomean(values: tuple[float, ...]) -> float:
    """The geometric mean of the seeds' rates where most seeds gave one (``_most_gave``), else NaN: the
    validation would have tried rates around a rate the others' curves did not have."""
    return float(np.exp(np.mean(np.log(_rates(values))))) if _most_gave(values) else math.nan


def _check_first_loss(first: np.ndarray, seeds: list[int], min_lr: float) -> None:
    """Refuse a range test whose first loss (at min_lr, before any update) is not finite for some seed: the
    rules read nothing off that seed's curve."""
    bad = [seed for seed, value in zip(seeds, first) if np.isnan(value)]
    if not bad:
        return
    which = "any seed" if len(bad) == len(seeds) else f"seed{'' if len(bad) == 1 else 's'} " \
        f"{', '.join(map(str, bad))} of {seeds}"
    raise ValueError(f"min_lr must give a finite loss; the loss at min_lr={min_lr:g} is not finite for {which}, "
                     "on the first batch before any update (no rate helps): check the model and data.")


def _check_points(rates: np.ndarray, points: int, min_lr: float, max_lr: float) -> None:
    """Refuse a range test with fewer than 10 points before the loss blew up, naming what to change: min_lr
    when it blew up within the range's first decade (more steps would crowd more points before the same
    blow-up), else steps (the points were too sparse: their number below a rate grows with steps - 1, and
    less than in proportion, as more steps at each rate blow up at a lower one: twice the proportion is asked)."""
    if points >= 10:
        return
    at, counted = float(rates[points]), f"{points} point{'' if points == 1 else 's'}"  # rates[points]: cut there
    if at < 10 * min_lr:
        raise ValueError(
            f"min_lr must be low enough for the loss to fall before it blows up; got {min_lr:g}, and the loss "
            f"blew up after {counted} of the range test, by the rate {at:.3g} (10 points are needed): lower "
            "min_lr by a decade or more.")
    needed = 1 + math.ceil(2 * 10 * (len(rates) - 1) / points)
    raise ValueError(
        f"steps must leave at least 10 points of the range test before the loss blows up; got {len(rates)}, "
        f"which left {counted} below the rate {at:.3g}, by which it blew up: try steps={needed} or more, or "
        f"a max_lr below {max_lr:g}.")


LOWERED = 0.01
"""A candidate trained when its seeds' mean final train loss is below their mean loss before training by more
than this fraction of it: a rate too small to move the weights ends where it began, up to float noise."""


def _lowered(rows: list[dict[str, Any]], grid: list[float]) -> set[float]:
    """The rates of grid that lowered the train loss: over the seeds, mean(initial - final) > LOWERED x
    mean(|initial|), initial being each row's initial_train_loss (the sweep leaves it out where that loss was
    not finite; a rate none of whose rows has one counts when its final losses are finite)."""
    out = set()
    for rate in grid:
        picked = [r for r in rows if r["learning_rate"] == rate]
        final = np.array([r.get("final_train_loss", math.nan) for r in picked])
        known = np.array(["initial_train_loss" in r for r in picked])
        if not known.any():
            lowered = bool(np.isfinite(final).all())
        else:
            initial = np.array([r["initial_train_loss"] for r in picked if "initial_train_loss" in r])
            lowered = bool(np.mean(initial - final[known]) > LOWERED * np.mean(np.abs(initial)))
        if lowered:
            out.add(rate)
    return out


class Reach(NamedTuple):
    """What the range test covered: its steps, the rate at which its loss blew up (None: it never did) and
    whether it used batches (a noisy curve) rather than all the data."""

    steps: int
    blew_up: float | None
    batched: bool


def _check_trained(validation: list[dict[str, Any]], lowered: set[float], min_lr: float, max_lr: float,
                   epochs: int, reach: Reach | None = None) -> None:
    """Refuse to answer when no validated candidate trained: each diverged (lower min_lr), or none lowered the
    loss: raise max_lr where the range test never blew up (too low to move the weights), else steps (its
    curve was too coarse or noisy to place the candidates: they lay far below where it blew up), or each
    candidate did one or the other."""
    if lowered:
        return
    diverged = ", ".join(f"{v['learning_rate']:.3g}" for v in validation if v["diverged"])
    stalled = ", ".join(f"{v['learning_rate']:.3g}" for v in validation if not v["diverged"])
    within = f"within {epochs} epoch{'' if epochs == 1 else 's'}"
    if not stalled:
        raise ValueError(
            f"min_lr must be low enough for a validated candidate to train; every one diverged {within}, "
            f"down to min_lr={min_lr:g} (got the rates {diverged}): lower min_lr, or "
            "check the model and data.")
    if not diverged and reach is not None and reach.blew_up is not None:
        larger = ", or a larger batch_size (a smoother curve)" if reach.batched else ""
        raise ValueError(
            f"steps must be enough for the range test to place the candidates; got {reach.steps}, and no validated "
            f"candidate (the rates {stalled}) lowered the mean train loss by more than {LOWERED:.0%} {within}, "
            f"though the loss blew up only by the rate {reach.blew_up:.3g} (so max_lr={max_lr:g} reached high "
            f"enough): try steps={max(100, 5 * reach.steps)} or more{larger}.")
    if not diverged:
        raise ValueError(
            f"max_lr must be high enough for the loss to fall; got {max_lr:g}, and no validated candidate (the "
            f"rates {stalled}) lowered the mean train loss by more than {LOWERED:.0%} {within}: raise max_lr "
            "(or validate_epochs, if the loss starts to fall slowly).")
    raise ValueError(
        f"validate_epochs must be enough for a validated candidate to train; got {epochs}, and of the "
        f"candidates the rates {diverged} diverged while {stalled} did not lower the mean train loss by more "
        f"than {LOWERED:.0%}: raise validate_epochs, or check the model and data.")


def _best(validation: list[dict[str, Any]], lowered: set[float]) -> dict[str, Any]:
    """The candidate with the lowest mean train loss among those that lowered it."""
    return min((v for v in validation if v["learning_rate"] in lowered), key=lambda v: v["mean"])


def _past_edge(best: dict[str, Any], validation: list[dict[str, Any]], per_decade: int, low: float,
               high: float) -> float | None:
    """The grid rate one step past the best candidate when it is the lowest (highest) rate validated, within
    [low, high]: the best rate may lie past it. None where a validated rate on each side did worse."""
    rates = [v["learning_rate"] for v in validation]
    k = round(math.log10(best["learning_rate"]) * per_decade)
    if best["learning_rate"] == min(rates) and low <= 10 ** ((k - 1) / per_decade) < min(rates):
        return 10 ** ((k - 1) / per_decade)
    if best["learning_rate"] == max(rates) and max(rates) < 10 ** ((k + 1) / per_decade) <= high:
        return 10 ** ((k + 1) / per_decade)
    return None


def _candidates(values: list[float], per_decade: int, low: float, high: float) -> list[float]:
    """Each suggestion snapped to the grid 10^(k/per_decade), with its two neighbours."""
    ks: set[int] = set()
    for v in values:
        if math.isfinite(v) and v > 0:
            k = round(math.log10(v) * per_decade)
            ks |= {k - 1, k, k + 1}
    grid = sorted(10 ** (k / per_decade) for k in ks)
    return [g for g in grid if low <= g <= high] or [float(np.sqrt(low * high))]


def _validation(rows: list[dict[str, Any]], grid: list[float]) -> list[dict[str, Any]]:
    """Per candidate the mean and std over seeds of the last epoch's train loss (its mean batch loss; batch GD: the
    loss after its update); inf and 0, and diverged True,
    where a seed diverged: its sweep status, from a non-finite loss or one above 100 x the initial loss
    (gd.stop.diverged), so a blown-up 3.8e21 is not shown as a finite result."""
    out = []
    for rate in grid:
        picked = [r for r in rows if r["learning_rate"] == rate]
        diverged = any(r["status"] == "diverged" or not math.isfinite(r.get("final_train_loss", math.nan))
                       for r in picked)
        losses = [r["final_train_loss"] for r in picked] if not diverged else [math.inf]
        out.append({"learning_rate": rate, "mean": float(np.mean(losses)),
                    "std": 0.0 if diverged else float(np.std(losses)), "diverged": diverged})
    return out
