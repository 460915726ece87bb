"""``fit``: train a model (or minimise a loss function) with an update rule."""

from __future__ import annotations

import functools
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
from gdlab.core.stopping import StopRule, diverged, leaves
from gdlab.engine.epoch import METRICS, EpochSpec
from gdlab.engine.loop import EpochCallback, train_epochs
from gdlab.engine.objective import Objective, function_objective, model_objective
from gdlab.engine.result import Result


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
    stop: StopRule | None = None,
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
    gradient norm). ``stop`` is a rule from ``gd.stop`` (combine with ``|``
    and ``&``); ``diverged()`` is always added. ``epochs`` is the budget:
    a run that asked for convergence and ends on it warns
    (``ConvergenceWarning``). The same seed gives the same run.
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
    stop = _with_divergence(stop, spec)
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
    out = train_epochs(spec, params, state, data_key, arrays, epochs, stop, callback)
    return Result(
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
    )


def _with_divergence(stop: StopRule | None, spec: EpochSpec) -> StopRule:
    """The user's rule (checked against the metrics this run records) or-ed with diverged()."""
    if stop is None:
        return diverged()
    if not isinstance(stop, StopRule):
        raise TypeError(f"stop must be a rule from gd.stop such as gd.stop.plateau(); got {stop!r}.")
    recorded = {"epoch", "step", "time", "train_loss", "learning_rate"}
    recorded |= {"grad_norm"} if spec.metrics == "exact" else set()
    recorded |= {"test_loss"} | ({"test_accuracy"} if spec.objective.classification else set())
    for leaf in leaves(stop):
        for name in leaf.metrics:
            if name.startswith("test_") and not spec.has_test:
                raise ValueError(
                    f"stop rule {leaf.name} reads {name}, which a run without test data never records; "
                    "give the data a test split or use a train metric."
                )
            if name not in recorded:
                hint = " (needs metrics='exact')" if name == "grad_norm" else ""
                raise ValueError(
                    f"stop rule {leaf.name} reads {name}{hint}; this run records {sorted(recorded)}."
                )
    if any(leaf.name == "diverged" for leaf in leaves(stop)):
        return stop
    return stop | diverged()


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
