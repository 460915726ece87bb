"""``fit``: train a model (or minimise a loss function) with an update rule."""

from __future__ import annotations

import functools
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.batching import batch_plan, resolve_batch_size, run_keys
from gdlab.core.checks import check_bool, check_choice, check_int_range
from gdlab.core.dataset import Dataset
from gdlab.core.losses import LOSSES
from gdlab.core.models import input_size
from gdlab.core.types import LossFn, Model, Params, UpdateRule
from gdlab.engine.epoch import METRICS, EpochSpec, EpochStats, compiled_epoch
from gdlab.engine.objective import Objective, function_objective, model_objective
from gdlab.engine.result import Result

EpochCallback = Callable[[int, dict[str, float]], None]
"""callback(epoch, metrics) after each epoch (epoch counts from 1)."""


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
    callback: EpochCallback | None = None,
) -> Result:
    """Train with gradient descent; one compiled program per epoch, reused across epochs.

    batch_size None or "full" is batch gradient descent, 1 stochastic gradient
    descent, k mini-batch gradient descent. ``model`` is a ``gd.models`` model
    or a differentiable ``loss_fn(params, x, y) -> mean loss`` (then ``params``
    is required). ``loss`` overrides the task's default loss ("cross_entropy"
    for classification, "binary_cross_entropy" for one output and two
    classes, "mse" for regression). ``metrics`` "exact" measures the train
    loss and gradient norm on all training data after each epoch; "running"
    records the mean of the epoch's batch losses instead (cheaper; no
    gradient norm). The same seed gives the same run.
    """
    _check_types(data, rule)
    epochs = check_int_range("epochs", epochs, 1)
    seed = check_int_range("seed", seed, 0, 2**32 - 1)
    drop_last = check_bool("drop_last", drop_last)
    metrics = check_choice("metrics", metrics, METRICS)
    size = resolve_batch_size(batch_size, data.n_train)
    plan = batch_plan(data.n_train, size, drop_last)
    init_key, data_key = _run_keys(np.uint32(seed))
    objective, params, loss_name = _objective_and_params(model, data, params, loss, init_key)
    arrays = _device_arrays(data, params)
    _check_params_fit_data(objective, params, arrays)
    state = rule.init(params)
    spec = EpochSpec(objective, rule.update, rule.learning_rate, plan, data.n_test > 0, metrics)
    config = {
        "model": getattr(model, "name", getattr(model, "__name__", "loss_fn")),
        "dataset": data.name,
        "loss": loss_name,
        "batch_size": size,
        "epochs": epochs,
        "seed": seed,
        "drop_last": drop_last,
        "metrics": metrics,
        "steps_per_epoch": plan.steps,
    }
    return _train(spec, params, state, data_key, arrays, epochs, callback, config)


def _train(
    spec: EpochSpec,
    params: Params,
    state: Any,
    data_key: jax.Array,
    arrays: tuple[jax.Array, ...],
    epochs: int,
    callback: EpochCallback | None,
    config: dict[str, Any],
) -> Result:
    args = (params, state, data_key, np.int32(0), arrays)
    program, compile_seconds = compiled_epoch(spec, *args)
    rows: list[dict[str, float]] = []
    status, reason, steps_run = "max_epochs", "", 0
    start = time.perf_counter()
    for epoch in range(epochs):
        tick = time.perf_counter()
        epoch_index = np.int32(epoch)
        new_params, new_state, stats = program(params, state, data_key, epoch_index, arrays)
        stats = jax.device_get(stats)
        if not stats.finite:
            careful, seconds = compiled_epoch(spec._replace(careful=True), *args)
            compile_seconds += seconds
            new_params, new_state, stats = careful(params, state, data_key, epoch_index, arrays)
            stats = jax.device_get(stats)
        now = time.perf_counter()
        params, state = new_params, new_state
        rows.append(_metrics(stats, spec, now - tick, now - start))
        if callback is not None:
            callback(epoch + 1, rows[-1])
        if not stats.finite:
            status, reason = "diverged", _diverged_reason(stats, epoch, spec.plan.steps)
            steps_run += max(int(stats.bad_step), 0)
            break
        steps_run += spec.plan.steps
    if status == "max_epochs":
        reason = (
            f"max_epochs: ran {len(rows)} epochs ({steps_run} updates); "
            f"final train loss {rows[-1]['train_loss']:.4g}"
        )
    return Result(
        params=params,
        history={name: np.array([r[name] for r in rows]) for name in rows[0]},
        status=status,
        reason=reason,
        epochs_run=len(rows),
        steps_run=steps_run,
        opt_state=state,
        compile_seconds=compile_seconds,
        train_seconds=time.perf_counter() - start,
        config=config,
    )


def _metrics(
    stats: EpochStats, spec: EpochSpec, epoch_time: float, wall_time: float
) -> dict[str, float]:
    row = {"train_loss": float(stats.train_loss)}
    if spec.metrics == "exact":
        row["grad_norm"] = float(stats.grad_norm)
    row["learning_rate"] = float(stats.learning_rate)
    row["test_loss"] = float(stats.test_loss)
    if spec.objective.classification:
        row["test_accuracy"] = float(stats.test_accuracy)
    row["epoch_time"] = epoch_time
    row["wall_time"] = wall_time
    return row


def _diverged_reason(stats: EpochStats, epoch: int, steps_per_epoch: int) -> str:
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


def _check_types(data: Any, rule: Any) -> None:
    if not isinstance(data, Dataset):
        raise TypeError(
            "data must be a gdlab Dataset (gd.datasets.load / from_arrays / from_file); "
            f"got {type(data).__name__}."
        )
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"rule must be an update rule such as gd.sgd(0.1); got {type(rule).__name__}.")


def _objective_and_params(
    model: Any, data: Dataset, params: Params | None, loss: str | None, key: jax.Array
) -> tuple[Objective, Params, str]:
    if isinstance(model, Model):
        outputs = _model_outputs(model, data)
        loss_name = _default_loss(data, outputs) if loss is None else check_choice("loss", loss, LOSSES)
        if params is None:
            params = _jitted_init(model.init, data.input_shape, outputs)(key)
        classification = data.task == "classification"
        return model_objective(model.apply, loss_name, classification), params, loss_name
    if callable(model):
        if params is None:
            raise TypeError("params must be given when model is a loss function loss_fn(params, x, y).")
        if loss is not None:
            raise ValueError(f"loss must be None when model is a loss function; got {loss!r}.")
        return function_objective(model), params, "loss_fn"
    raise TypeError(
        f"model must be a gd.models model or a loss function loss_fn(params, x, y); got {type(model).__name__}."
    )


def _model_outputs(model: Model, data: Dataset) -> int:
    needed = data.outputs
    if model.outputs is None:
        return needed
    binary = data.task == "classification" and data.n_classes == 2 and model.outputs == 1
    if model.outputs != needed and not binary:
        raise ValueError(
            f"model outputs must match the data's {needed} "
            f"{'classes' if data.task == 'classification' else 'targets'}; got outputs={model.outputs}."
        )
    return model.outputs


def _default_loss(data: Dataset, outputs: int) -> str:
    if data.task == "regression":
        return "mse"
    return "binary_cross_entropy" if outputs == 1 else "cross_entropy"


_run_keys = jax.jit(run_keys)


@functools.lru_cache(maxsize=None)
def _jitted_init(
    init: Callable[..., Params], input_shape: tuple[int, ...], outputs: int
) -> Callable[[jax.Array], Params]:
    """model.init as one compiled program (eager init would compile each small op)."""
    return jax.jit(lambda key: init(key, input_shape, outputs))


def _device_arrays(data: Dataset, params: Params) -> tuple[jax.Array, ...]:
    dtype = jnp.result_type(*jax.tree.leaves(params))
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"params must hold floating-point arrays; got dtype {dtype}.")

    def target(y: np.ndarray) -> jax.Array:
        return jax.device_put(np.asarray(y, np.int32 if data.task == "classification" else dtype))

    return (
        jax.device_put(np.asarray(data.x_train, dtype)),
        target(data.y_train),
        jax.device_put(np.asarray(data.x_test, dtype)),
        target(data.y_test),
    )


def _check_params_fit_data(objective: Objective, params: Params, arrays: tuple[jax.Array, ...]) -> None:
    x, y = (jax.ShapeDtypeStruct((1, *a.shape[1:]), a.dtype) for a in arrays[:2])
    features = input_size(x.shape[1:])
    try:
        out = jax.eval_shape(objective.loss, params, x, y)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"model input size must match the data's {features} features; "
            f"the params do not fit them ({str(err).splitlines()[0]})."
        ) from None
    if out.shape != ():
        raise ValueError(f"loss must be a scalar (the mean over the batch); got shape {out.shape}.")
