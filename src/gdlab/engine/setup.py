"""Setting up a run: check the inputs, resolve the objective and params, place the data."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.batching import run_keys
from gdlab.core.checks import check_choice
from gdlab.core.dataset import Dataset
from gdlab.core.losses import LOSSES
from gdlab.core.models import input_size
from gdlab.core.types import Model, Params, UpdateRule
from gdlab.engine.fused_mlp import FUSED_ACTIVATIONS, FUSED_MAX_WIDTH, KERNELS
from gdlab.engine.objective import COMPUTE_DTYPES, Objective, function_objective, model_objective


def check_data(data: Any) -> Dataset:
    if not isinstance(data, Dataset):
        raise TypeError(
            "data must be a gdlab Dataset (gd.datasets.load / from_arrays / from_file); "
            f"got {type(data).__name__}."
        )
    return data


def check_types(data: Any, rule: Any) -> None:
    check_data(data)
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"rule must be an update rule such as gd.sgd(0.1); got {type(rule).__name__}.")


def objective_and_params(
    model: Any, data: Dataset, params: Params | None, loss: str | None, key: jax.Array,
    compute_dtype: str | None = None, kernel: str = "xla", vmapped: bool = False,
) -> tuple[Objective, Params, str]:
    """The objective to minimise, the initial params (drawn from key unless given) and the loss name.

    kernel "fused" computes training steps with the fused MLP kernel (engine/fused_mlp.py).
    vmapped: the objective runs vmapped over configs (a sweep): the model's ``apply_vmapped``, where it has one.
    """
    check_data(data)
    check_choice("kernel", kernel, KERNELS)
    if compute_dtype is not None:
        check_choice("compute_dtype", compute_dtype, COMPUTE_DTYPES)
        if not isinstance(model, Model):
            raise ValueError(f"compute_dtype needs a gd.models model (a loss function computes in its own dtype); "
                             f"got compute_dtype={compute_dtype!r} with a loss function.")
    if params is not None:
        params = _param_arrays(params)
    if isinstance(model, Model):
        check_task(model, data, loss)
        outputs = _model_outputs(model, data)
        loss_name = _default_loss(data, outputs) if loss is None else _check_loss(loss, data, outputs)
        if params is None:
            params = initial_params(model, data.input_shape, outputs, key)
        else:
            _check_model_params(model, data.input_shape, outputs, params, key)
        classification = data.task == "classification"
        low = None if compute_dtype == "float32" else compute_dtype  # float32 is no cast: the same objective
        fused = _fused_activation(model, loss_name, params) if kernel == "fused" else None
        apply = model.apply_vmapped if vmapped and model.apply_vmapped is not None else model.apply
        return model_objective(apply, loss_name, classification, low, fused), params, loss_name
    if kernel != "xla":
        raise ValueError(f"kernel must be 'xla' with a loss function (the fused kernel is for gd.models.mlp); "
                         f"got kernel={kernel!r}.")
    if callable(model):
        if params is None:
            raise TypeError("params must be given when model is a loss function loss_fn(params, x, y).")
        if loss is not None:
            raise ValueError(f"loss must be None when model is a loss function; got {loss!r}.")
        return function_objective(model), params, "loss_fn"
    raise TypeError(
        f"model must be a gd.models model or a loss function loss_fn(params, x, y); got {type(model).__name__}."
    )


def _param_arrays(params: Any) -> Params:
    """The given params with every leaf an array (a Python float 0.5 becomes jnp.asarray(0.5))."""
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError(f"params must hold at least one array; got {params!r}.")
    for leaf in leaves:
        if not isinstance(leaf, (jax.Array, np.ndarray, np.generic, int, float)) or isinstance(leaf, bool):
            raise TypeError(f"params must be a pytree of float arrays; got a leaf {leaf!r}.")
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        values = np.asarray(leaf)
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            bad = values.ravel()[np.argmin(np.isfinite(values).ravel())]
            raise ValueError(f"params must be finite to start from; got {bad} in params{jax.tree_util.keystr(path)}.")
    return jax.tree.map(jnp.asarray, params)


def _fused_activation(model: Model, loss_name: str, params: Params) -> str:
    """The activation the fused kernel runs, after checking it can run this model, loss and params (linear and
    logistic have none: the kernel's, relu, applies to no layer)."""
    plain = model.name in MODEL_TASKS and model.hidden is None and model.activation is None
    activation = FUSED_ACTIVATIONS[0] if plain else model.activation
    if activation not in FUSED_ACTIVATIONS:
        raise ValueError(f"kernel='fused' needs an mlp, logistic or linear model with activation one of "
                         f"{', '.join(FUSED_ACTIVATIONS)}; got model {model.name!r} with activation {model.activation!r}.")
    if loss_name != "cross_entropy":
        raise ValueError(f"kernel='fused' computes the cross_entropy loss (classification into 2 or more outputs); "
                         f"got loss {loss_name!r}.")
    dtypes = {str(jnp.result_type(a)) for a in jax.tree.leaves(params)}
    if dtypes != {"float32"}:
        raise ValueError(f"kernel='fused' needs float32 params; got dtypes {sorted(dtypes)}.")
    widest = max(max(jnp.shape(layer["w"])) for layer in params)
    if widest > FUSED_MAX_WIDTH:
        raise ValueError(f"kernel='fused' keeps a config's weights on chip: inputs and layers at most "
                         f"{FUSED_MAX_WIDTH} wide; got a layer {widest} wide (use kernel='xla').")
    return activation


MODEL_TASKS = {"linear": "regression", "logistic": "classification"}
"""Models made for one task; mlp serves both."""


def check_task(model: Model, data: Dataset, loss: str | None = None) -> None:
    """Refuse a model made for the other task (logistic on regression data, linear on classes); logistic
    regression with loss="binary_cross_entropy" fits targets in [0, 1] (probabilities: the loss checks them)."""
    task = MODEL_TASKS.get(model.name)
    probabilities = task == "classification" and data.task == "regression" and _probabilities(model, data)
    if probabilities and loss == "binary_cross_entropy":
        return
    if task is not None and task != data.task:
        other = "logistic" if task == "regression" else "linear"
        soft = ", or loss='binary_cross_entropy' for these targets in [0, 1]" if probabilities else ""
        raise ValueError(
            f"model {model.name} is for {task}; the data set {data.name!r} is {data.task} "
            f"(use {other} or mlp{soft})."
        )


def _probabilities(model: Model, data: Dataset) -> bool:
    """Whether the data's targets are one column in [0, 1] that the model's one output can fit (logistic
    regression of probabilities)."""
    return data.outputs == 1 and model.outputs in (None, 1) and all(
        bool(np.all((y >= 0) & (y <= 1))) for y in (data.y_train, data.y_test))


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


def _check_loss(loss: Any, data: Dataset, outputs: int) -> str:
    """A loss that fits the task and the model's outputs (the others train on meaningless numbers)."""
    check_choice("loss", loss, LOSSES)
    if data.task == "regression":
        soft_labels = outputs == 1 and all(np.all((y >= 0) & (y <= 1)) for y in (data.y_train, data.y_test))
        fits = loss == "mse" or (loss == "binary_cross_entropy" and soft_labels)
        allowed = "'mse' for regression (or 'binary_cross_entropy' for one output and targets in [0, 1])"
    elif outputs == 1:
        fits, allowed = loss == "binary_cross_entropy", "'binary_cross_entropy' for classification with one output"
    else:
        fits, allowed = loss == "cross_entropy", f"'cross_entropy' for classification with {outputs} outputs"
    if not fits:
        raise ValueError(f"loss must be {allowed}; got {loss!r}.")
    return str(loss)


def _default_loss(data: Dataset, outputs: int) -> str:
    if data.task == "regression":
        return "mse"
    return "binary_cross_entropy" if outputs == 1 else "cross_entropy"


seed_keys = jax.jit(run_keys)
"""run_keys as one compiled program: seed -> (init_key, data_key)."""


INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
"""How a model's init program is compiled on a CPU. It runs once per seed, so what counts is its compile
time, most of it LLVM on the random-number generator (threefry) of every layer: for the MNIST-1D MLP
1.2-1.8 s against 3.3-4.1 s at XLA's default level 3, the params equal bit for bit (level 0, about 1 s,
changes half of them by one ulp: it fuses no multiply-add)."""


def initial_params(model: Model, input_shape: tuple[int, ...], outputs: int, key: jax.Array) -> Params:
    """model.init(key, input_shape, outputs), by one compiled program per (model, shapes) (``_jitted_init``);
    traced where key is (jax.eval_shape of a setup: options are for a top-level jit only)."""
    if isinstance(key, jax.core.Tracer):
        return model.init(key, input_shape, outputs)
    return _jitted_init(model.init, tuple(input_shape), outputs)(key)


def seed_params(model: Model, data: Dataset, seed: int) -> Params:
    """The initial params gd.fit draws for model on data with this seed (its init key, ``run_keys``)."""
    return initial_params(model, data.input_shape, data.outputs, seed_keys(np.uint32(seed))[0])


@functools.cache
def _jitted_init(
    init: Callable[..., Params], input_shape: tuple[int, ...], outputs: int
) -> Callable[[jax.Array], Params]:
    """model.init as one compiled program (eager init would compile each small op), at
    INIT_COMPILER_OPTIONS on a CPU. (jax.jit keeps one program per key type and x64 setting.)"""
    options = INIT_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None
    return jax.jit(lambda key: init(key, input_shape, outputs), compiler_options=options)


def device_arrays(data: Dataset, params: Params) -> tuple[jax.Array, ...]:
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


def _check_model_params(model: Model, input_shape: tuple[int, ...], outputs: int | None, params: Params,
                        key: jax.Array) -> None:
    """Given params have the tree structure the model's init gives (the shapes are checked against the data)."""
    expected = jax.eval_shape(lambda k: model.init(k, input_shape, outputs), key)
    paths = [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(expected)[0]]
    given = [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    if paths != given:  # a list for a tuple is the same structure here
        raise ValueError(f"params must have the structure {model.name}'s init gives (leaves {', '.join(paths)}); "
                         f"got leaves {', '.join(given) or '(none)'}.")


def check_params_fit_data(objective: Objective, params: Params, arrays: tuple[jax.Array, ...]) -> None:
    x, y = (jax.ShapeDtypeStruct((1, *a.shape[1:]), a.dtype) for a in arrays[:2])
    features = input_size(x.shape[1:])
    try:
        out = jax.eval_shape(objective.loss, params, x, y)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
        if not objective.user_loss and isinstance(err, (KeyError, IndexError, AttributeError)):
            raise
        if objective.user_loss:
            raise ValueError(
                f"loss_fn(params, x, y) must accept the params and a batch x {x.shape} {x.dtype}, "
                f"y {y.shape} {y.dtype}; it raised {type(err).__name__}: {str(err).splitlines()[0]}"
            ) from err
        raise ValueError(
            f"model input size must match the data's {features} features; "
            f"the params do not fit them ({str(err).splitlines()[0]})."
        ) from None
    if not isinstance(out, jax.ShapeDtypeStruct):
        raise TypeError(f"loss must return one number (the mean over the batch); got a "
                         f"{type(out).__name__} of {len(jax.tree.leaves(out))} arrays.")
    if out.shape != ():
        raise ValueError(f"loss must be a scalar (the mean over the batch); got shape {out.shape} for a batch x "
                         f"{x.shape}.")  # checked on one row: a per-sample loss shows as (1,)
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(f"loss must be a real floating-point number (gradients need one); got dtype {out.dtype}.")
