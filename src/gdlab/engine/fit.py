"""``fit``: train a model (or minimise a loss function) with an update rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from gdlab.core.batching import BatchPlan, batch_plan, path_updates, resolve_batch_size
from gdlab.core.checks import (
    check_bool,
    check_callable,
    check_choice,
    check_int_range,
    check_methods,
)
from gdlab.core.dataset import Dataset
from gdlab.core.lr_plateau import ReduceOnPlateau
from gdlab.core.shortest import shortest_floats
from gdlab.core.stopping import StopRule, applied_text, describe, given_text, leaves, or_diverged
from gdlab.core.types import LossFn, Model, Params, UpdateRule
from gdlab.engine.config_record import plain, rule_config, sgd_options
from gdlab.engine.data_parallel import (
    check_devices,
    check_divides,
    data_mesh,
    place_data,
    process_rows,
    replicate,
)
from gdlab.engine.epoch import METRICS, EpochSpec, batch_grad_rows
from gdlab.engine.loop import Checkpoint, EpochCallback, Outcome, train_epochs
from gdlab.engine.noise_tracking import noise_scale_tracker
from gdlab.engine.recording import Recorder, model_config
from gdlab.engine.result import LossPath, Result
from gdlab.engine.run_rates import check_run_rates, run_rates
from gdlab.engine.setup import (
    check_params_fit_data,
    check_types,
    device_arrays,
    objective_and_params,
    seed_keys,
)
from gdlab.engine.sharpness import top_eigenvalue, warn_if_unstable


def fit(
    model: Model | LossFn,
    data: Dataset,
    rule: UpdateRule,
    *,
    batch_size: int | str | None = None,
    epochs: int = 10,
    seed: int = 0,
    params: Params | None = None,
    loss: str | None = None,
    drop_last: bool = False,
    metrics: str = "exact",
    test_every: int = 1,
    stop: StopRule | None = None,
    check_stability: bool | None = None,
    track_sharpness: int = 0,
    track_noise_scale: int = 0,
    reduce_lr: ReduceOnPlateau | None = None,
    callback: EpochCallback | None = None,
    resume: Checkpoint | None = None,
    on_epoch: Callable[[Checkpoint], None] | None = None,
    record: Recorder | None = None,
    devices: int | None = None,
    loss_every: int | None = None,
) -> Result:
    """Train with gradient descent; one compiled program per epoch, reused across epochs.

    batch_size None or "full" is batch gradient descent, 1 stochastic gradient
    descent, k mini-batch gradient descent. ``model`` is a ``gd.models`` model
    or a differentiable ``loss_fn(params, x, y) -> mean loss`` (then ``params``
    is required). ``loss`` overrides the task's default loss ("cross_entropy"
    for classification, "binary_cross_entropy" for one output and two
    classes, "mse" for regression; "binary_cross_entropy" also fits one
    regression target in [0, 1]; any other pair is a ValueError). ``metrics`` "exact" measures the train
    loss and gradient norm on all training data after each epoch; "running"
    records the mean of the epoch's batch losses instead (cheaper; no
    gradient norm). ``test_every`` n measures the test metrics every n-th
    epoch and at the run's last (NaN between; the pass costs about n_test /
    (3 x n_train) of an epoch); rules that read a test metric need n = 1. ``stop`` is a rule from ``gd.stop`` (combine with ``|``
    and ``&``); ``diverged()`` is always added. ``epochs`` is the budget:
    a run that asked for convergence and ends on it warns
    (``ConvergenceWarning``). ``check_stability`` (default: on for batch
    gradient descent) compares the schedule's largest learning rate with the stability
    limit of the rule (``rule.stability_limit``: 2/L, ``(2 + 2*momentum)/L`` with
    momentum, ``(2 + 2*momentum)/((1 + 2*momentum) L)`` with Nesterov; weight decay
    adds to L), L the top Hessian eigenvalue at the initial params, and warns (``StabilityWarning``) when it
    is exceeded. ``track_sharpness`` n > 0 records L in ``history["sharpness"]``
    every n epochs (NaN between); ``track_noise_scale`` n > 0 records the gradient
    noise scale B_simple and its interval (``history["noise_scale"]``,
    ``"noise_scale_low"``, ``"noise_scale_high"``) every n epochs with
    ``gd.noise_scale`` (settings in ``gdlab.engine.noise_tracking``). ``reduce_lr``
    (``gd.schedules.reduce_on_plateau(...)``) scales the learning rate down when
    an epoch metric stops improving. ``on_epoch`` receives a ``Checkpoint``
    after every epoch; ``resume=checkpoint`` (with the same arguments
    otherwise) goes on from it and ends exactly as the uninterrupted run would.
    ``record`` (a ``Recorder`` such as ``gd.store.open(path)``) receives the
    configuration, every epoch and the result. The same seed gives the same run.
    ``devices`` N > 1 trains data parallel: each global batch of ``batch_size``
    is split over N devices (``batch_size`` a multiple of N), the gradients
    averaged with ``pmean``; the run equals the one-device run up to float
    rounding, and ``history["device_noise_scale"]`` records the gradient noise scale
    B_simple each epoch from the per-device (B/N) and global (B) gradient norms.
    ``loss_every`` k (one device) measures the train loss on all the training data after every k-th update of each
    epoch and after its last (k at most the updates per epoch), in ``result.loss_path``: how noisy the path
    between the epochs' losses is (each measurement costs about a third of a full-batch update).
    """
    check_types(data, rule)
    epochs = check_int_range("epochs", epochs, 1, 2**31 - 1)
    seed = check_int_range("seed", seed, 0, 2**32 - 1)
    drop_last = check_bool("drop_last", drop_last)
    metrics = check_choice("metrics", metrics, METRICS)
    test_every = check_int_range("test_every", test_every, 1, 2**31 - 1)
    _check_hooks(callback, on_epoch, resume, record)
    track_sharpness = check_int_range("track_sharpness", track_sharpness, 0)
    check_int_range("track_noise_scale", track_noise_scale, 0)
    for name, every in (("track_sharpness", track_sharpness), ("track_noise_scale", track_noise_scale)):
        if every > epochs:  # every n-th epoch: past the last one it would never measure
            raise ValueError(f"{name} must be at most epochs ({epochs}), or it never measures; got {every}.")
    if check_stability is not None:
        check_bool("check_stability", check_stability)
    recorded = Recorded.of(metrics, model, data)
    check_rules(stop, reduce_lr, recorded, test_every)  # before anything compiles; again below on the spec
    n_train = process_rows(data.n_train, "n_train")  # several processes: data is this one's shard
    process_rows(data.n_test, "n_test")
    size = resolve_batch_size(batch_size, n_train)
    plan = batch_plan(n_train, size, drop_last)
    n_devices = _devices(devices)
    if n_devices > 1:
        check_divides(size, n_devices, n_train)
    every = _loss_every(loss_every, plan, n_devices)
    init_key, data_key = seed_keys(np.uint32(seed))
    objective, params, loss_name = objective_and_params(model, data, params, loss, init_key)
    arrays = device_arrays(data, params)
    check_params_fit_data(objective, params, arrays)
    state = rule.init(params)
    rates = run_rates(rule, state, epochs * plan.steps)
    if rates is not None:
        check_run_rates(rates, plan.steps)
    fingerprint = data.fingerprint() if (on_epoch, resume, record) != (None, None, None) else ""
    settings = (("rule", rule.settings), ("stop", applied_text(stop)),
                ("reduce_lr", _reduce_config(reduce_lr)), ("activation", model_config(model).get("activation")),
                ("batch_size", size), ("drop_last", drop_last), ("seed", seed), ("metrics", metrics),
                ("data", fingerprint))
    if resume is not None:
        _check_resume(resume, params, state, epochs, settings, given_text(stop))
    mesh = None
    if n_devices > 1:
        mesh = data_mesh(n_devices)
        params, state, data_key = replicate((params, state, data_key), mesh)
        arrays = place_data(arrays, mesh)
        record = record if jax.process_index() == 0 else None  # one process records the run
    spec = EpochSpec(objective, rule.update, rule.learning_rate, plan, data.n_test > 0, metrics, mesh=mesh,
                     grad_rows=batch_grad_rows(plan, n_devices), loss_every=every)
    stop = with_divergence(stop, spec, test_every, reduce_lr)
    noise = noise_scale_tracker(model, data, track_noise_scale, size, seed, loss)
    if plan.is_full_batch if check_stability is None else check_stability:
        warn_if_unstable(objective, params, arrays[0], arrays[1], rule, state, rates)
    measure = None
    if track_sharpness:
        def measure(p: Params) -> float:
            return top_eigenvalue(objective, p, arrays[0], arrays[1], tol=1e-4, max_iter=200)
    config = {
        **model_config(model),
        "dataset": data.name,
        "loss": loss_name,
        "batch_size": size,
        "epochs": epochs,
        "seed": seed,
        "drop_last": drop_last,
        "metrics": metrics,
        "steps_per_epoch": plan.steps,
        "devices": n_devices,
        **({"test_every": test_every} if test_every > 1 else {}),  # absent: 1 (a record holds it always)
    }
    if record is not None:
        recorded_rule = _rule_config(rule, state)
        record.begin({**config, "test_every": test_every, **sgd_options(recorded_rule), "rule": recorded_rule,
                      "stop": _rule_names(stop), "stop_rule": describe(stop), "reduce_lr": _reduce_config(reduce_lr),
                      "track_sharpness": track_sharpness,
                      "dataset_fingerprint": fingerprint, "n_train": n_train, "n_test": data.n_test,
                      "task": data.task, "compute_dtype": "float32", "kernel": "xla",
                      **({"track_noise_scale": track_noise_scale} if track_noise_scale else {})})
        on_epoch = _both(record.epoch, on_epoch)
    if on_epoch is not None:
        on_epoch = _with_settings(on_epoch, settings)
    try:
        out = train_epochs(
            spec, params, state, data_key, arrays, epochs, stop, callback,
            (track_sharpness, measure), reduce_lr, resume, on_epoch, () if noise is None else (noise,), test_every,
        )
    except BaseException as error:
        if record is not None:
            record.fail(error)
        raise
    result = Result(
        params=out.params,
        history=out.history,
        status=out.status,
        reason=out.reason,
        epochs_run=len(next(iter(out.history.values()))),
        steps_run=out.steps_run,
        opt_state=out.state,
        compile_seconds=out.compile_seconds,
        train_seconds=out.train_seconds,
        config=config,
        best_epoch=out.best_epoch,
        initial_loss=out.initial_loss,
        loss_path=_path(out, plan, every, 0 if resume is None else resume.epoch),
    )
    if record is not None:
        record.end(result)
    return result


def _loss_every(loss_every: int | None, plan: BatchPlan, devices: int) -> int:
    """loss_every checked (0: not asked): 1 to the updates per epoch, on one device."""
    if loss_every is None:
        return 0
    allowed = f"an integer in [1, {plan.steps}] (the updates per epoch at batch size {plan.batch_size})"
    try:
        every = check_int_range("loss_every", loss_every, 1, plan.steps)
    except (TypeError, ValueError) as err:
        raise type(err)(f"loss_every must be {allowed}; got {loss_every!r}.") from None
    if devices > 1:
        raise ValueError(f"loss_every measures on one device (devices=1, or None in one process); got "
                         f"loss_every={every} with devices={devices}.")
    return every


def _path(out: Outcome, plan: BatchPlan, every: int, first: int) -> LossPath | None:
    """The run's LossPath from the loop's losses (None: not asked); first: the epoch it started from."""
    if not every or out.loss_path is None:
        return None
    per = np.array(path_updates(plan, every))
    epochs = len(out.loss_path) // len(per)
    updates = np.concatenate([(first + e) * plan.steps + per for e in range(epochs)])
    losses = np.asarray(out.loss_path, float)
    if out.steps_run < len(out.history["train_loss"]) * plan.steps:  # a non-finite step: the epoch's careful
        kept = updates <= out.steps_run  # rerun froze the params there (a finite loss past diverged's factor runs on)
        updates, losses = np.r_[updates[kept], out.steps_run + 1], np.r_[losses[kept], np.nan]
    if first == 0:
        updates, losses = np.r_[0, updates], np.r_[out.initial_loss, losses]
    return LossPath(update=updates, epoch=updates / plan.steps, train_loss=losses)


def _check_hooks(callback: Any, on_epoch: Any, resume: Any, record: Any) -> None:
    """The hooks' types, before anything compiles (else they fail after the first epoch)."""
    check_callable("callback", callback, "callback(epoch, metrics)")
    check_callable("on_epoch", on_epoch, "on_epoch(checkpoint)")
    if resume is not None and not isinstance(resume, Checkpoint):
        raise TypeError(f"resume must be None or a gd.Checkpoint (as on_epoch receives); got {resume!r}.")
    check_methods("record", record, ("begin", "epoch", "end", "fail"), "a recorder such as gd.store.open(path)")


def _with_settings(on_epoch: Callable[[Checkpoint], Any], settings: tuple[tuple[str, Any], ...]) -> Callable[[Checkpoint], Any]:
    """on_epoch receiving each checkpoint with the run's settings (what a resume of it must repeat)."""
    def hook(checkpoint: Checkpoint) -> Any:
        return on_epoch(checkpoint._replace(settings=settings))
    return hook


def _check_resume(
    resume: Checkpoint, params: Params, state: Any, epochs: int, settings: tuple[tuple[str, Any], ...] = (),
    stop_as_given: str | None = None,
) -> None:
    """A checkpoint of this model and rule (the same pytrees and shapes, and where the checkpoint holds them the same
    rule, stop, reduce_lr and activation settings: nesterov, a schedule's kind or an activation change no shape)
    within the epochs asked for, of the same batches (batch_size, drop_last, seed), metrics and data (its
    fingerprint): another would go on as a run no one asked for (a wrong steps_run, a jump in the history).
    The stop rule is compared as the run applies it (with its diverged()); stop_as_given is the text a checkpoint
    made before recorded instead."""
    if resume.epoch > epochs:
        raise ValueError(f"epochs must be at least the checkpoint's {resume.epoch} epochs to resume it; got {epochs}.")
    for name, theirs, ours in (("params", resume.params, params), ("opt_state", resume.opt_state, state)):
        (their_tree, their_shapes), (our_tree, our_shapes) = _layout(theirs), _layout(ours)
        if their_shapes != our_shapes:
            raise ValueError(
                f"resume must be a checkpoint of this model and rule (the same arguments otherwise); its {name} "
                f"have leaves of shapes {their_shapes} where this run's have {our_shapes}."
            )
        if their_tree != our_tree:
            raise ValueError(
                f"resume must be a checkpoint of this model and rule (the same arguments otherwise); its {name} "
                f"are {their_tree} where this run's are {our_tree}."
            )
    _check_resume_numbers(resume, state)
    recorded = dict(resume.settings)
    for name, ours in settings:
        if name == "stop" and recorded.get(name) == stop_as_given:  # a checkpoint recorded as given before
            continue
        if name in recorded and recorded[name] != ours:
            given = "model" if name == "activation" else name  # the argument that sets it (same shapes: unseen)
            was = f"its {name} was {_settings_text(recorded[name])}; got {_settings_text(ours)}"
            if name == "data":
                was = f"its SHA-256 fingerprint began {recorded[name][:12]}; this data's begins {ours[:12]}"
            raise ValueError(f"{given} must be the checkpoint's to resume it (it ends exactly as the uninterrupted run): "
                             f"{was}.")


def _settings_text(value: Any) -> str:
    """A rule's settings as "kind=sgd, nesterov=True, ..."; a stop rule's text as it is."""
    if isinstance(value, tuple):
        return ", ".join(f"{k}={v}" for k, v in value)
    return "none" if value is None else str(value)


def _check_resume_numbers(resume: Checkpoint, state: Any) -> None:
    """The checkpoint's rule numbers (sgd: the schedule's numbers, momentum, weight decay) are this rule's:
    it goes on with its own, so a different rule would silently be the checkpoint's."""
    theirs, ours = getattr(resume.opt_state, "hyper", None), getattr(state, "hyper", None)
    if theirs is None or ours is None or not hasattr(ours, "_asdict"):
        return
    for name, value in ours._asdict().items():
        recorded = getattr(theirs, name, None)
        if recorded is None or _layout(recorded) != _layout(value):
            continue  # a structure mismatch is _check_resume's to report
        if not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(recorded), jax.tree.leaves(value))):
            raise ValueError(
                f"rule must be the checkpoint's to resume it (it ends exactly as the uninterrupted run): "
                f"its {name} was {shortest_floats(plain(recorded))}; got {shortest_floats(plain(value))}."
            )


def _layout(tree: Any) -> tuple[Any, list[tuple[int, ...]]]:
    """A pytree's structure and its leaves' shapes."""
    leaves, structure = jax.tree.flatten(tree)
    return structure, [tuple(np.shape(leaf)) for leaf in leaves]


def _devices(devices: int | None) -> int:
    """One process: devices (None: 1) checked against the devices there; several: all of them."""
    if jax.process_count() == 1:
        return check_devices(devices, jax.device_count())
    if devices is not None and devices != jax.device_count():
        raise ValueError(
            f"devices must be None or {jax.device_count()} (every device of the {jax.process_count()} "
            f"processes) when training across processes; got {devices!r}."
        )
    return jax.device_count()


def _both(
    first: Callable[[Checkpoint], None], second: Callable[[Checkpoint], None] | None
) -> Callable[[Checkpoint], None]:
    def call(checkpoint: Checkpoint) -> None:
        first(checkpoint)
        if second is not None:
            second(checkpoint)

    return call


def _rule_config(rule: UpdateRule, state: Any) -> dict[str, Any]:
    """The numbers in a rule's state (sgd: the schedule's numbers, momentum, weight decay), then its
    settings (sgd: kind, nesterov, velocity, the schedule's kind)."""
    hyper = getattr(state, "hyper", None)
    return rule_config({} if hyper is None else hyper._asdict(), rule.settings)


def _reduce_config(reduce_lr: ReduceOnPlateau | None) -> dict[str, Any] | None:
    """reduce_lr's settings (None: no reduce_lr)."""
    return None if reduce_lr is None else {k: plain(v) for k, v in reduce_lr._asdict().items()}


def _rule_names(stop: StopRule) -> list[str]:
    return [leaf.name for leaf in leaves(stop)]


class Recorded(NamedTuple):
    """What decides the metrics a run records: metrics ("exact"/"running"), a test split, accuracy."""

    metrics: str
    has_test: bool
    classification: bool

    @classmethod
    def of(cls, metrics: str, model: Model | LossFn, data: Dataset) -> Recorded:
        """A run of model on data: test metrics if data has a test split, accuracy for a classifier."""
        return cls(metrics, data.n_test > 0, isinstance(model, Model) and data.task == "classification")


def check_rules(stop: Any, reduce_lr: Any, recorded: Recorded, test_every: int) -> None:
    """The stop rule's and reduce_lr's types, and the metrics they read against those the run records."""
    if stop is not None and not isinstance(stop, StopRule):
        raise TypeError(f"stop must be a rule from gd.stop such as gd.stop.plateau(); got {stop!r}.")
    if reduce_lr is not None and not isinstance(reduce_lr, ReduceOnPlateau):
        raise TypeError(f"reduce_lr must be gd.schedules.reduce_on_plateau(...); got {reduce_lr!r}.")
    for leaf in leaves(stop) if stop is not None else ():
        _check_recorded(f"stop rule {leaf.name}", leaf.metrics, recorded, test_every)
    if reduce_lr is not None:
        _check_recorded("reduce_on_plateau", (reduce_lr.metric,), recorded, test_every)


def with_divergence(
    stop: StopRule | None, spec: EpochSpec, test_every: int = 1, reduce_lr: ReduceOnPlateau | None = None
) -> StopRule:
    """The user's rule (checked against the metrics this run records every epoch) or-ed with diverged()
    (``or_diverged``: diverged is always on)."""
    check_rules(stop, reduce_lr, Recorded(spec.metrics, spec.has_test, spec.objective.classification), test_every)
    return or_diverged(stop)


def _check_recorded(who: str, names: tuple[str, ...], run: Recorded, test_every: int = 1) -> None:
    """Refuse a rule that reads a metric this run never records (it could never fire) or records only
    every test_every-th epoch."""
    recorded = {"epoch", "step", "time", "train_loss", "learning_rate"}
    recorded |= {"grad_norm"} if run.metrics == "exact" else set()
    recorded |= {"test_loss"} | ({"test_accuracy"} if run.classification else set())
    for name in names:
        if name.startswith("test_") and not run.has_test:
            raise ValueError(
                f"{who} reads {name}, which a run without test data never records; "
                "give the data a test split or use a train metric."
            )
        if name.startswith("test_") and test_every > 1:
            raise ValueError(
                f"{who} reads {name}, which test_every={test_every} measures only once every {test_every} epochs; "
                "use test_every=1 or a train metric."
            )
        if name not in recorded:
            hint = {"grad_norm": " (needs metrics='exact')",
                    "test_accuracy": " (recorded for classification only; this is a regression)"}.get(name, "")
            metrics = sorted(recorded - {"epoch", "step", "time"})  # those: the budgets', not metric names
            raise ValueError(f"{who} reads {name}{hint}; this run records {metrics}.")
