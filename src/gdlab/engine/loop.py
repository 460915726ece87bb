"""The epoch loop: run the compiled epoch, record metrics, apply the stopping rules."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from gdlab.core.lr_plateau import ReduceOnPlateau
from gdlab.core.stopping import (
    BUDGET_STATUSES,
    StopRule,
    divergence_factor,
    leaves,
    metric_sign,
    restore_names_epoch,
    restored_metric,
)
from gdlab.core.types import OptState, Params
from gdlab.engine.data_parallel import data_devices
from gdlab.engine.epoch import (
    EpochSpec,
    EpochStats,
    initial_train_loss,
    is_test_epoch,
    measure_test,
)
from gdlab.engine.epoch_program import compiled_epoch
from gdlab.engine.initial_metric import initial_value
from gdlab.engine.noise_scale import estimate_from_norms
from gdlab.engine.noise_tracking import Tracker
from gdlab.engine.result import RISING_EPOCHS, ConvergenceWarning, decay_note, peak_loss, rise_note

EpochCallback = Callable[[int, dict[str, float]], None]
"""callback(epoch, metrics) after each epoch (epoch counts from 1), once on_epoch (the record) has it."""

CONVERGENCE_RULES = ("grad_norm", "plateau", "target", "early_stopping")


class Outcome(NamedTuple):
    """What the loop hands back to fit."""

    params: Params
    state: OptState
    history: dict[str, np.ndarray]
    status: str
    reason: str
    steps_run: int
    compile_seconds: float
    train_seconds: float
    best_epoch: int | None
    initial_loss: float
    loss_path: np.ndarray | None = None  # spec.loss_every: each epoch's losses at its path_updates, in order


class Checkpoint(NamedTuple):
    """Everything a run needs to go on after ``epoch`` completed epochs, exactly as if never stopped.

    The data order of epoch e is drawn from (seed, e), and the stopping and
    plateau rules are replayed over ``history``, so these fields suffice.
    """

    epoch: int
    params: Params
    opt_state: OptState
    history: dict[str, np.ndarray]
    initial_loss: float
    best_epoch: int | None = None
    best_params: Params | None = None
    settings: tuple[tuple[str, Any], ...] = ()
    """The run's rule, stop, reduce_lr, activation, batch (batch_size, drop_last, seed), metrics and data
    (fingerprint) settings (gd.fit fills them in): a resume with others is refused."""


class _Best(NamedTuple):
    """The best epoch so far by a metric (for early_stopping's restore_best; epoch 0: the initial params)."""

    metric: str
    value: float
    epoch: int
    params: Params


class _Rules(NamedTuple):
    """The per-epoch rules of a run and their states."""

    stop: StopRule
    stop_state: Any
    reduce_lr: ReduceOnPlateau | None
    plateau: Any
    restore: str | None
    best: _Best | None


def train_epochs(
    spec: EpochSpec,
    params: Params,
    state: OptState,
    data_key: jax.Array,
    arrays: tuple[jax.Array, ...],
    epochs: int,
    stop: StopRule,
    callback: EpochCallback | None,
    sharpness: tuple[int, Callable[[Params], float] | None] = (0, None),
    reduce_lr: ReduceOnPlateau | None = None,
    resume: Checkpoint | None = None,
    on_epoch: Callable[[Checkpoint], None] | None = None,
    trackers: Sequence[Tracker] = (),
    test_every: int = 1,
) -> Outcome:
    """Run up to ``epochs`` epochs; stop early when ``stop`` fires or a step is not finite.

    With ``resume`` the run goes on from that checkpoint; ``on_epoch`` receives
    a checkpoint after every epoch (to record or save it). Each tracker adds
    its names to the history: measured every n-th finite epoch, NaN otherwise
    (the time measuring takes is left out of wall_time, as is sharpness's). The
    test metrics are measured every ``test_every``-th epoch and at the run's
    last epoch (NaN between).
    """
    dtype = np.dtype(jax.tree.leaves(params)[0].dtype)
    restore = restored_metric(stop)
    initial_loss = (float(initial_train_loss(spec.objective.loss, params, arrays[0], arrays[1])) if resume is None
                    else resume.initial_loss)
    best = None if restore is None else _initial_best(spec, restore, params, arrays, initial_loss)
    rules = _Rules(stop, stop.init(), reduce_lr, reduce_lr.init() if reduce_lr else None, restore, best)
    rows: list[dict[str, float]] = []
    path: list[np.ndarray] = []
    first, clock = 0, 0.0
    if resume is not None:
        params, state, first = resume.params, resume.opt_state, resume.epoch
        rows = [{k: float(v[i]) for k, v in resume.history.items()} for i in range(resume.epoch)]
        rules = _replay(rules, rows, spec.plan.steps, initial_loss, resume)
        clock = rows[-1]["wall_time"] if rows else 0.0
    scale = dtype.type(rules.plateau.scale if rules.plateau else 1.0)
    args = (params, state, data_key, np.int32(0), scale, np.True_, np.True_, arrays)
    status, reason, steps_run = "max_epochs", "", first * spec.plan.steps
    if resume is not None and rows and stop.fired(rules.stop_state):  # the checkpoint of the epoch the run ended on
        status, reason = stop.explain(rules.stop_state, _epoch_metrics(rows[-1], first - 1, steps_run, initial_loss))
        epochs = first  # it ends as it did, with no epoch more
    program: Callable[..., Any] | None = None
    compile_seconds = 0.0
    if first < epochs:  # an epoch to train
        program, compile_seconds = compiled_epoch(spec, *args)
    start = time.perf_counter() - clock
    for epoch in range(first, epochs):
        assert program is not None  # compiled above: first < epochs
        tick = time.perf_counter()
        test = np.bool_(is_test_epoch(epoch, epochs, test_every))
        new_params, new_state, stats = program(
            params, state, data_key, np.int32(epoch), scale, np.True_, test, arrays
        )
        stats = jax.device_get(stats)
        if not stats.finite:
            careful, seconds = compiled_epoch(spec._replace(careful=True), *args)
            compile_seconds += seconds
            tick += seconds  # epoch_time and wall_time count training, not compiling
            start += seconds
            new_params, new_state, stats = careful(
                params, state, data_key, np.int32(epoch), scale, np.True_, test, arrays
            )
            stats = jax.device_get(stats)
        now = time.perf_counter()
        params, state = new_params, new_state
        if stats.loss_path is not None:
            path.append(np.asarray(stats.loss_path))
        rows.append(_row(stats, spec, now - tick, now - start, int(arrays[0].shape[0])))
        measuring = time.perf_counter()
        every, measure = sharpness
        if every and measure is not None:
            due = (epoch + 1) % every == 0 and stats.finite
            rows[-1]["sharpness"] = measure(new_params) if due else float("nan")
        for tracker in trackers:
            due = (epoch + 1) % tracker.every == 0 and bool(stats.finite)
            values = tracker.measure(new_params, epoch + 1) if due else (float("nan"),) * len(tracker.names)
            rows[-1].update(zip(tracker.names, values))
        start += time.perf_counter() - measuring  # wall_time counts training, not the measurements
        if not stats.finite:
            status, reason = "diverged", non_finite_reason(stats, epoch, spec.plan.steps)
            steps_run += max(int(stats.bad_step), 0)
            _test_last(rows[-1], spec, params, arrays, bool(test))
            if callback is not None:
                callback(epoch + 1, rows[-1])
            break
        steps_run += spec.plan.steps
        metrics = _epoch_metrics(rows[-1], epoch, steps_run, initial_loss)
        rules = _apply_rules(rules, metrics, params)
        scale = dtype.type(rules.plateau.scale if rules.plateau else 1.0)
        fired = stop.fired(rules.stop_state)
        if fired:
            _test_last(rows[-1], spec, params, arrays, bool(test))
        if on_epoch is not None:  # first: the record keeps this epoch should the callback raise (Ctrl-C)
            on_epoch(_checkpoint(epoch + 1, params, state, rows, initial_loss, rules.best))
        if callback is not None:
            callback(epoch + 1, rows[-1])
        if fired:
            status, reason = stop.explain(rules.stop_state, metrics)
            break
    if not reason:
        reason = max_epochs_reason(len(rows), steps_run, rows[-1]["train_loss"])
    if status != "diverged":
        losses = [row["train_loss"] for row in rows[-RISING_EPOCHS - 1:]]
        reason += rise_note(losses, initial_loss, divergence_factor(stop), peak_loss(row["train_loss"] for row in rows))
        reason += decay_note(reason, [row.get("learning_rate", float("nan")) for row in rows])  # resumed: maybe unrecorded
    _warn_on_budget(status, reason, stop)
    best = rules.best
    if best is not None:  # whatever ended the run, divergence too
        params = best.params
        if best.epoch != len(rows) or status == "diverged" or restore_names_epoch(stop):
            reason += restored_note(best.epoch, best.metric, metric_sign(best.metric) * best.value)
    return Outcome(
        params=params,
        state=state,
        history=_history(rows),
        status=status,
        reason=reason,
        steps_run=steps_run,
        compile_seconds=compile_seconds,
        train_seconds=rows[-1]["wall_time"] if rows else 0.0,  # as recorded: not the last epoch's bookkeeping
        best_epoch=None if best is None else best.epoch,
        initial_loss=initial_loss,
        loss_path=np.concatenate(path) if path else None,
    )


def restored_note(epoch: int, metric: str, value: float) -> str:
    """What the reason of a run with early_stopping(restore_best=True) adds when the params it returns are not its
    last epoch's (an earlier epoch's, or the initial ones, epoch 0, which no epoch bettered), it diverged, or the
    rule has a min_delta (its text names the epoch of its last real improvement, which may not be the lowest):
    whose params it returns. value: their metric."""
    if epoch == 0:
        return f"; the params returned are the initial ones (before epoch 1), whose {metric} {value:.4g} no epoch bettered"
    return f"; the params returned are those of epoch {epoch}, the best {metric} ({value:.4g})"


def _initial_best(spec: EpochSpec, metric: str, params: Params, arrays: tuple[jax.Array, ...],
                  initial_loss: float) -> _Best | None:
    """The initial params as the first candidate for the best epoch (None when their metric is not finite);
    initial_loss: their train loss, measured already."""
    value = float(initial_value(spec.objective, metric, 0, params, arrays, initial_loss)) * metric_sign(metric)
    return _Best(metric, value, 0, params) if np.isfinite(value) else None


def _test_last(row: dict[str, float], spec: EpochSpec, params: Params, arrays: Any, tested: bool) -> None:
    """A run's last epoch always has test metrics: measured now when its epoch skipped the pass."""
    if tested or not spec.has_test:
        return
    loss, accuracy = jax.device_get(measure_test(spec.objective.evaluate, 0, params, arrays[2], arrays[3]))
    row["test_loss"] = float(loss)
    if "test_accuracy" in row:
        row["test_accuracy"] = float(accuracy)


def max_epochs_reason(epochs: int, updates: int, train_loss: float) -> str:
    """The reason of a run (or sweep config) that used its whole budget of epochs."""
    return (f"max_epochs: ran {epochs} epoch{'' if epochs == 1 else 's'} "
            f"({updates} update{'' if updates == 1 else 's'}); final train loss {train_loss:.4g}")


def _epoch_metrics(row: dict[str, float], epoch: int, steps_run: int, initial_loss: float) -> dict[str, Any]:
    """What the rules read after 0-based epoch ``epoch``."""
    return {**row, "epoch": epoch + 1, "step": steps_run, "time": row["wall_time"],
            "initial_loss": initial_loss}


def _apply_rules(rules: _Rules, metrics: dict[str, Any], params: Params) -> _Rules:
    """One epoch of the stopping rule, the plateau scale and the best-epoch tracker."""
    plateau = rules.plateau
    if rules.reduce_lr is not None and plateau is not None:
        schedule_lr = float(metrics["learning_rate"]) / plateau.scale
        plateau = rules.reduce_lr.update(plateau, float(metrics[rules.reduce_lr.metric]), schedule_lr)
    return rules._replace(
        stop_state=rules.stop.update(rules.stop_state, metrics),
        plateau=plateau,
        best=_track_best(rules.best, rules.restore, metrics, params),
    )


def _replay(
    rules: _Rules, rows: list[dict[str, float]], steps: int, initial_loss: float, resume: Checkpoint
) -> _Rules:
    """The rules' states after the checkpoint's epochs (they are pure functions of the metrics)."""
    for epoch, row in enumerate(rows):
        rules = _apply_rules(rules, _epoch_metrics(row, epoch, (epoch + 1) * steps, initial_loss), None)
    best = rules.best
    if best is not None and best.epoch > 0:  # epoch 0: the initial params, which the run has
        known = resume.best_params is not None and resume.best_epoch is not None
        best = best._replace(params=resume.best_params) if known else None
    return rules._replace(best=best)


def _checkpoint(
    epoch: int, params: Params, state: OptState, rows: list[dict[str, float]], initial_loss: float,
    best: _Best | None,
) -> Checkpoint:
    return Checkpoint(
        epoch=epoch,
        params=params,
        opt_state=state,
        history=_history(rows),
        initial_loss=initial_loss,
        best_epoch=None if best is None else best.epoch,
        best_params=None if best is None else best.params,
    )


def _history(rows: list[dict[str, float]]) -> dict[str, np.ndarray]:
    return {name: np.array([r[name] for r in rows]) for name in rows[0]} if rows else {}


def _track_best(best: _Best | None, metric: str | None, metrics: dict[str, Any], params: Params) -> _Best | None:
    if metric is None:
        return None
    value = float(metrics[metric]) * metric_sign(metric)
    if np.isfinite(value) and (best is None or value < best.value):
        return _Best(metric, value, int(metrics["epoch"]), params)
    return best


def _warn_on_budget(status: str, reason: str, stop: StopRule) -> None:
    """A run that asked for convergence but ended on a budget warns (as scikit-learn does)."""
    asked = [leaf.name for leaf in leaves(stop) if leaf.name in CONVERGENCE_RULES]
    if status in BUDGET_STATUSES and asked:
        warnings.warn(
            f"the run ended on its budget before {' or '.join(asked)} fired ({reason}); "
            "give it more epochs or time, or loosen the rule",
            ConvergenceWarning,
            stacklevel=4,
        )


def _row(stats: EpochStats, spec: EpochSpec, epoch_time: float, wall_time: float, n: int) -> dict[str, float]:
    row = {"train_loss": float(stats.train_loss)}
    if spec.metrics == "exact":
        row["grad_norm"] = float(stats.grad_norm)
    devices = data_devices(spec.mesh)
    if devices > 1 and stats.small_grad_sq is not None and stats.big_grad_sq is not None:
        big = spec.plan.batch_size
        small_sq, big_sq = float(stats.small_grad_sq), float(stats.big_grad_sq)
        finite = np.isfinite(small_sq) and np.isfinite(big_sq)
        row["device_noise_scale"] = estimate_from_norms(small_sq, big_sq, big // devices, big, n)[0] if finite else np.nan
    row["learning_rate"] = float(stats.learning_rate)
    row["test_loss"] = float(stats.test_loss)
    if spec.objective.classification:
        row["test_accuracy"] = float(stats.test_accuracy)
    row["epoch_time"] = epoch_time
    row["wall_time"] = wall_time
    return row


def non_finite_reason(stats: EpochStats, epoch: int, steps_per_epoch: int) -> str:
    """The reason of a run (or sweep config: its stats) that diverged in 0-based epoch ``epoch``."""
    step = int(stats.bad_step)
    update = epoch * steps_per_epoch + step + 1
    what = (
        f"non-finite loss {float(stats.bad_loss)}"
        if not np.isfinite(stats.bad_loss)
        else f"non-finite gradient or update (loss {float(stats.bad_loss):.4g})"
    )
    return (
        f"diverged: {what} at epoch {epoch + 1}, step {step + 1} of {steps_per_epoch} "
        f"(update {update}); params kept from the last finite update"
    )
