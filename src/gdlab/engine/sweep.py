"""``sweep``: train a grid of learning rates, momenta, batch sizes and seeds at once.

Configurations that share a batch size run as one compiled program: the epoch
is vmapped over seeds (each seed draws its own data order) and, inside, over
the (learning rate, momentum) pairs that share it, so they also share its
permutation of the data. Learning rates, momenta and the numbers of a schedule
are traced, so a new grid never recompiles; each schedule shape in a
``schedule`` grid is its own program. Each config has its own stopping rule state: a finished or
diverged config freezes (its params no longer change) and never poisons the
others. The config axis is split into chunks that fit a memory budget.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from gdlab.core.batching import batch_plan, resolve_batch_size
from gdlab.core.checks import (
    check_all_fit_dtype,
    check_bool,
    check_callable,
    check_choice,
    check_fits_dtype,
    check_int_range,
    check_methods,
    check_positive_float,
)
from gdlab.core.dataset import Dataset
from gdlab.core.rules import sgd
from gdlab.core.schedules import ScheduleFn
from gdlab.core.stopping import StopRule, restored_metric
from gdlab.core.types import LossFn, Model, Params
from gdlab.engine.config_blocks import config_block
from gdlab.engine.data_parallel import check_divides, data_devices
from gdlab.engine.epoch import (
    METRICS,
    EpochSpec,
    batch_grad_rows,
    initial_train_loss,
)
from gdlab.engine.epoch_program import compiled_epoch
from gdlab.engine.fit import Recorded, check_rules, with_divergence
from gdlab.engine.fused_mlp import KERNELS
from gdlab.engine.initial_metric import initial_value
from gdlab.engine.objective import Objective
from gdlab.engine.recording import SweepRecorder
from gdlab.engine.setup import (
    check_params_fit_data,
    check_types,
    device_arrays,
    objective_and_params,
    seed_keys,
)
from gdlab.engine.sweep_chunk import HISTORY, chunk_inputs, train_chunk
from gdlab.engine.sweep_grid import (
    ScheduleGrid,
    check_momentum,
    check_nesterov,
    grid_values,
    group_rule,
    schedule_grid,
    schedule_params,
    seed_list,
)
from gdlab.engine.sweep_layout import auto_layout, check_layout, sweep_mesh
from gdlab.engine.sweep_memory import (
    Budget,
    chunk_size,
    even_chunk,
    group_copy_bytes,
    measured_chunk,
    memory_budget,
    seeds_text,
)
from gdlab.engine.sweep_recording import (
    RecordedGroup,
    chunk_observer,
    member_metrics,
    sweep_configs,
)
from gdlab.engine.sweep_result import Group, SweepResult, group_outcome
from gdlab.engine.sweep_start import ConfigStart, StartOf, chunk_start

SweepCallback = Callable[[int, int, int], None]
"""callback(group index, epoch, active configs) after each epoch of each (batch size, schedule) group."""

StartKey = tuple[int, str, float, float, int]
"""A config of a sweep: (batch_size, schedule label, learning_rate, momentum, seed)."""



def sweep(
    model: Model | LossFn,
    data: Dataset,
    *,
    learning_rate: Sequence[float],
    batch_size: Sequence[int | str | None] = (None,),
    momentum: Sequence[float] = (0.0,),
    schedule: ScheduleGrid = ("constant",),
    seeds: int | Sequence[int] = 1,
    epochs: int = 10,
    stop: StopRule | None = None,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    metrics: str = "exact",
    test_every: int = 1,
    loss: str | None = None,
    params: Params | None = None,
    max_memory: int | None = None,
    compute_dtype: str | None = None,
    callback: SweepCallback | None = None,
    record: SweepRecorder | None = None,
    mesh: tuple[int, int] | None = None,
    kernel: str = "xla",
    start: Mapping[StartKey, ConfigStart] | None = None,
) -> SweepResult:
    """Train every (batch_size, schedule, learning_rate, momentum, seed) combination with ``sgd``.

    Each config equals ``gd.fit(model, data, gd.sgd(schedule(lr), momentum, nesterov,
    weight_decay), batch_size=b, epochs=epochs, seed=s, stop=stop)`` (up to
    float rounding of batched matrix products). ``schedule`` entries are names
    from ``gd.schedules.SCHEDULES`` shaped to the run (e.g. "cosine" decays from
    lr to 0 over all epochs x updates per epoch, as ``gdlab fit --schedule``
    does) or functions lr -> schedule; a mapping gives them labels.
    ``seeds`` is a count (seeds 0..n-1) or a list. ``max_memory`` (bytes)
    bounds one chunk of configs with the copies of the training data each seed's
    epochs read (by default a quarter of the free memory): an estimate picks the
    chunk, and XLA's memory analysis of its compiled epoch shrinks it where the
    estimate fell short. A max_memory that not even one pair of seeds fits is an error, raised
    before any group trains or is recorded: by the estimate, and by XLA's count (with max_memory
    given, every group's program compiles up front, then trains). Over the default budget a sweep
    runs one pair at a time, each group compiling when it trains.
    ``test_every`` n runs the test pass every n-th epoch and at each config's
    last (NaN between; stop rules that read a test metric need n = 1).
    ``compute_dtype`` "bfloat16" computes the forward and backward passes in
    bfloat16 with float32 master weights. ``kernel`` "fused" computes each step's
    loss and gradient with one fused GPU kernel per config (an MLP with relu, tanh or
    sigmoid and the cross_entropy loss, float32 params; engine/fused_mlp.py) in place
    of XLA's batched products, and with plain SGD (no momentum, no weight decay, float32 products) writes the
    update too; on a CPU it runs in Pallas's interpreter, for tests only. Where the
    kernel does not fit the GPU (shared memory, for wider or deeper MLPs) the sweep warns
    (``gd.KernelWarning``) and runs XLA's step; the group's ``config["kernel"]`` says which ran. ``record`` (a ``SweepRecorder`` such as
    ``gd.store.open(path)``) receives the configuration of the sweep and of each
    member, every epoch of every chunk (with, when it asks, the state of each config
    still training: its checkpoints), and the result.

    ``mesh`` = (configs, data) lays the devices out as a 2-D mesh: the
    (learning rate, momentum) pairs split over ``configs`` devices, each
    global batch over ``data`` devices (gradients averaged with pmean, as
    ``gd.fit(..., devices=data)``); (1, 1) runs on one device. By default
    configs come first: configs is the largest divisor of the device count
    not above the number of pairs, and data the largest divisor of the rest
    that divides the batch size; on CPU devices (measured slower split) no
    batch is split: (min(pairs, devices), 1). The result equals the unsharded
    sweep up to float rounding.

    ``start`` (how ``gd.store.resume_sweep`` goes on from checkpoints) maps
    (batch_size, schedule label, learning_rate, momentum, seed) to where that config
    starts (``ConfigStart``: its params and sgd state after some epochs, and its history),
    one epoch for all of a (batch size, schedule) group; the grid's other configs are skipped
    (status "skipped"). With ``early_stopping(restore_best=True)`` each config returns
    the params of its best epoch, as ``gd.fit`` does (``run(k).best_epoch``; 0: the initial params,
    which no epoch bettered; a started config too); a started config whose best epoch came after 0 and
    before its start returns its last params (best_epoch None).
    """
    rates = grid_values("learning_rate", learning_rate, check_positive_float, trained=True)
    momenta = grid_values("momentum", momentum, lambda n, v: check_momentum(n, v), trained=True)
    seeds_used = seed_list(seeds)
    # resolved by the check, so a repeat ([48, "full"] at n = 48) is named by the grid as given
    sizes = grid_values("batch_size", batch_size, lambda n, v: resolve_batch_size(v, data.n_train, n))
    shapes = schedule_grid(schedule)
    check_types(data, sgd(rates[0]))
    epochs = check_int_range("epochs", epochs, 1, 2**31 - 1)
    metrics = check_choice("metrics", metrics, METRICS)
    test_every = check_int_range("test_every", test_every, 1, 2**31 - 1)
    nesterov = check_nesterov(check_bool("nesterov", nesterov), momenta)
    budget = memory_budget(max_memory)
    kernel = check_choice("kernel", kernel, KERNELS)
    recorded = Recorded.of(metrics, model, data)
    check_rules(stop, None, recorded, test_every)  # before the initial params compile
    check_callable("callback", callback, "callback(group, epoch, active configs)")
    check_methods("record", record, ("begin_sweep", "sweep_epoch", "end_sweep", "fail_sweep"),
                  "a sweep recorder such as gd.store.open(path)")
    layout = None if mesh is None else check_layout(mesh, jax.device_count())
    starts = _group_starts(start, sizes, list(shapes), (rates, momenta, seeds_used), epochs)
    # Every group is checked before any trains (a later one would fail after the first): memory from
    # the params' shapes (nothing compiles), the schedule built for its run length, the mesh's data axis.
    param_shapes = param_template(model, data, params, loss, compute_dtype, kernel)
    dtype = jnp.result_type(*jax.tree.leaves(param_shapes))
    check_fits_dtype("weight_decay", weight_decay, dtype)
    plans = []
    for size, (label, shape) in itertools.product(sizes, shapes.items()):
        pairs = len(rates) * len(momenta)
        devices = default_layout(pairs, size) if layout is None else layout
        grad_rows = batch_grad_rows(batch_plan(data.n_train, size), devices[1], kernel)
        chunk_size(param_shapes, size, metrics, len(seeds_used), 1, budget, restored_metric(stop) is not None,
                   group_copy_bytes(data, dtype, len(seeds_used), size, devices[1], grad_rows), grad_rows)
        if devices[1] > 1:
            check_divides(size, devices[1], data.n_train, "the mesh's data axis")
        steps = epochs * batch_plan(data.n_train, size).steps
        plans.append((size, schedule_params(label, shape, rates, steps), devices))
        check_all_fit_dtype("learning_rate", jax.tree.leaves(plans[-1][1][2]), dtype)

    def planned(index: int, arrays: tuple[jax.Array, ...] | None) -> _Planned:
        size, shape_params, devices = plans[index]
        return _plan_group(model, data, size, shape_params, momenta, seeds_used, (epochs, test_every), stop, nesterov,
                           weight_decay, metrics, loss, params, budget, compute_dtype, devices, kernel,
                           None if starts is None else starts[size, shape_params[0]], arrays)

    # A max_memory given: every group compiles and XLA counts its chunk before any trains or is recorded (a group
    # over it is refused up front, as by the estimate); the first chunks' inputs are built again when they train,
    # not held all at once. Over the default budget each group is planned as it trains.
    ahead: list[_Planned] = []
    for index in range(len(plans) if budget.given else 0):
        ahead.append(planned(index, ahead[0].arrays if ahead else None)._replace(inputs=None))
    if record is not None:
        loss_name = objective_and_params(model, data, params, loss, seed_keys(np.uint32(seeds_used[0]))[0])[2]
        settings = {"epochs": epochs, "nesterov": nesterov, "weight_decay": weight_decay, "metrics": metrics,
                    "test_every": test_every, "loss": loss_name, "compute_dtype": compute_dtype or "float32", "kernel": kernel}
        members = [RecordedGroup(size, label, group_rule(fn, numbers, momenta, nesterov, weight_decay), numbers,
                                  devices[1]) for size, (label, fn, numbers), devices in plans]
        record.begin_sweep(*sweep_configs(model, data, members, momenta, seeds_used, settings, stop, dtype))
    groups = []
    try:
        arrays = None  # the data on the device, placed by the first group and read by all
        for index in range(len(plans)):
            group = ahead[index] if ahead else planned(index, arrays)
            arrays = group.arrays
            progress = None if callback is None else (lambda e, a, i=index: callback(i, e, a))
            offset = index * len(rates) * len(momenta) * len(seeds_used)
            groups.append(_train_group(group, progress, (record, offset)))
    except BaseException as error:
        if record is not None:
            record.fail_sweep(error)
        raise
    result = SweepResult(groups=tuple(groups), data_fingerprint=data.fingerprint())
    if record is not None:
        record.end_sweep(result)
    return result


def _group_starts(
    start: Mapping[StartKey, ConfigStart] | None, sizes: list[int], labels: list[str],
    grid: tuple[list[float], list[float], list[int]], epochs: int,
) -> dict[tuple[int, str], StartOf] | None:
    """start checked (keys in the grid, one epoch per group, at most epochs) as a StartOf per group."""
    if start is None:
        return None
    if not isinstance(start, Mapping):
        raise TypeError(f"start must map (batch_size, schedule, learning_rate, momentum, seed) to a ConfigStart; "
                        f"got {type(start).__name__}.")
    rates, momenta, seeds = grid
    known = set(itertools.product(sizes, labels, rates, momenta, seeds))
    by_group: dict[tuple[int, str], dict[tuple[float, float, int], ConfigStart]] = {
        group: {} for group in itertools.product(sizes, labels)}
    for key, config in start.items():
        if key not in known:
            raise ValueError(f"start must name configs of the grid (batch_size, schedule, learning_rate, momentum, "
                             f"seed); got {key!r}.")
        if not isinstance(config, ConfigStart) or not 0 <= config.epoch <= epochs:
            raise ValueError(f"start[{key!r}] must be a ConfigStart at an epoch from 0 to epochs={epochs}; "
                             f"got {config!r:.200}.")
        by_group[key[:2]][key[2:]] = config
    for group, configs in by_group.items():
        if len({c.epoch for c in configs.values()}) > 1:
            raise ValueError(f"start must give the configs of batch size {group[0]}, schedule {group[1]!r} one "
                             f"epoch; got epochs {sorted({c.epoch for c in configs.values()})}.")
    return {group: _start_of(configs) for group, configs in by_group.items()}


def _start_of(configs: dict[tuple[float, float, int], ConfigStart]) -> StartOf:
    def start_of(learning_rate: float, momentum: float, seed: int) -> ConfigStart | None:
        return configs.get((learning_rate, momentum, seed))

    return start_of


def seed_initial_losses(
    model: Model | LossFn, data: Dataset, seeds: Sequence[int], loss: str | None = None,
    compute_dtype: str | None = None, kernel: str = "xla",
) -> dict[int, float]:
    """Each seed's train loss before training, as gd.sweep measures it (the same program and numbers)."""
    objective, inits, _ = _seed_inits(model, data, None, loss, [seed_keys(np.uint32(s)) for s in seeds],
                                      compute_dtype, kernel)
    losses = _initial_losses(objective, inits, device_arrays(data, inits[0]))
    return {seed: float(value) for seed, value in zip(seeds, losses, strict=True)}


def _seed_inits(
    model: Model | LossFn, data: Dataset, params: Params | None, loss: str | None, keys: list[Any],
    compute_dtype: str | None, kernel: str,
) -> tuple[Objective, list[Params], str]:
    """(objective, each seed's initial params (drawn from its init key unless params is given), loss name)."""
    inits = []
    for init_key, _ in keys:
        objective, p, loss_name = objective_and_params(model, data, params, loss, init_key, compute_dtype, kernel,
                                                       _cpu_layout())
        inits.append(p)
    return objective, inits, loss_name


def param_template(
    model: Model | LossFn, data: Dataset, params: Params | None, loss: str | None, compute_dtype: str | None,
    kernel: str,
) -> Any:
    """The initial params' shapes and dtypes (jax.eval_shape: traced, never compiled), with the model checks:
    the params template of a checkpoint (gd.store.resume_sweep)."""
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    return jax.eval_shape(lambda k: objective_and_params(model, data, params, loss, k, compute_dtype, kernel)[1], key)


def _initial_losses(objective: Objective, inits: list[Params], arrays: tuple[jax.Array, ...]) -> np.ndarray:
    """Each seed's mean train loss at its initial params (``epoch.initial_train_loss``)."""
    return np.array([initial_train_loss(objective.loss, p, arrays[0], arrays[1]) for p in inits])


def default_layout(pairs: int, batch_size: int) -> tuple[int, int]:
    """The (configs, data) mesh of a group of pairs at batch_size without mesh= (``auto_layout``)."""
    return auto_layout(pairs, batch_size, jax.device_count(), not _cpu_layout())


def _cpu_layout() -> bool:
    """Whether the sweep runs the model's apply_vmapped and trains each device's configs in cache-sized
    blocks (engine/config_blocks.py): on a CPU, where both are measured faster; a GPU runs apply with
    all configs at once (apply_vmapped there is measured by ``benchmarks.gpu_fused --kernels xla-ff``)."""
    return jax.default_backend() == "cpu"


class _Planned(NamedTuple):
    """A group ready to train: its epoch's spec (compiled) and the chunk XLA's count fits the budget, its
    rule, seeds, pairs and data, and its config. inputs: the first chunk's, built to compile it (None:
    built again when it trains)."""

    spec: EpochSpec
    stop_rule: StopRule
    rule: Any
    inits: list[Params]
    keys: list[Any]
    seeds: list[int]
    pairs: list[tuple[float, float]]
    lr_params: dict[float, Any]
    arrays: tuple[jax.Array, ...]
    mesh: Mesh | None
    before: np.ndarray
    initial_best: np.ndarray | None
    chunk: int
    inputs: tuple[tuple[Any, ...], int] | None
    start_of: StartOf | None
    config: dict[str, Any]


def _plan_group(
    model: Any, data: Dataset, size: int, schedule: tuple[str, ScheduleFn, dict[float, Any]], momenta: list[float],
    seeds: list[int], epoch_plan: tuple[int, int], stop: StopRule | None, nesterov: bool, weight_decay: float,
    metrics: str,
    loss: str | None, params: Params | None, budget: Budget,
    compute_dtype: str | None,
    layout: tuple[int, int], kernel: str = "xla", start_of: StartOf | None = None,
    arrays: tuple[jax.Array, ...] | None = None,
) -> _Planned:
    """A group set up and its chunk measured (its program compiled). arrays: the data on the device, as an
    earlier group of the sweep placed it (None: placed here)."""
    label, fn, lr_params = schedule
    epochs, test_every = epoch_plan
    rates = list(lr_params)
    pairs = list(itertools.product(rates, momenta))
    velocity = any(m > 0 for _, m in pairs)
    rule = group_rule(fn, lr_params, momenta, nesterov, weight_decay)
    keys = [seed_keys(np.uint32(s)) for s in seeds]
    objective, inits, loss_name = _seed_inits(model, data, params, loss, keys, compute_dtype, kernel)
    arrays = device_arrays(data, inits[0]) if arrays is None else arrays
    check_params_fit_data(objective, inits[0], arrays)
    before = _initial_losses(objective, inits, arrays)  # per seed
    restore = restored_metric(stop)
    initial_best = None if restore is None else initial_value(  # per seed: the initial params' value
        objective, restore, 1, jax.tree.map(lambda *p: np.stack(p), *inits), arrays, before)
    plan = batch_plan(data.n_train, size)
    mesh = sweep_mesh(layout)
    # u = -lr * g: the kernel can update, which pays with float32 products (H200, 16384 configs: 31.7 against
    # 30.6 TFLOP/s) and costs with bfloat16's (34.1 against 41.5: the update's registers beside 128-row tiles)
    plain = not velocity and weight_decay == 0.0 and compute_dtype != "bfloat16"
    # Configs split over devices by XLA's partitioner, except with a data axis (shard_map), the fused
    # kernel, which XLA cannot partition, or config blocks (a loop over each device's own configs):
    # shard_map runs each device's configs locally.
    block = config_block(inits[0], size, len(seeds)) if _cpu_layout() else 0
    per_device = layout[1] > 1 or ((objective.value_and_grad is not None or block > 0) and layout[0] > 1)
    spec = EpochSpec(objective, rule.update, rule.learning_rate, plan, data.n_test > 0, metrics, masked=True,
                     mesh=mesh if per_device else None, fused_update=plain and objective.sgd_step is not None,
                     config_block=block, grad_rows=batch_grad_rows(plan, layout[1], kernel))
    stop_rule = with_divergence(stop, spec, test_every)
    fixed = group_copy_bytes(data, jnp.result_type(*jax.tree.leaves(inits[0])), len(seeds), size, layout[1],
                             spec.grad_rows)
    chunk = even_chunk(chunk_size(inits[0], size, metrics, len(seeds), len(pairs), budget, restore is not None, fixed,
                                  spec.grad_rows), len(pairs))

    built: dict[int, tuple[tuple[Any, ...], int]] = {}  # the first chunk's inputs, built once (c -> inputs)

    def compile_chunk(s: EpochSpec, c: int) -> Any:
        if c not in built:
            built.clear()
            built[c] = chunk_inputs(rule, inits, keys, pairs[:c], lr_params, arrays, mesh, c,
                                    None if start_of is None else (start_of, seeds))
        return compiled_epoch(s, *built[c][0], configs=2)[0]

    spec = _runnable(spec, lambda s: compile_chunk(s, chunk))
    chunk = measured_chunk(chunk, budget, len(pairs), arrays, lambda c: compile_chunk(spec, c), fixed,
                           f"{seeds_text(len(seeds))} at batch_size {size}")
    config = {"batch_size": size, "schedule": label, "loss": loss_name, "epochs": epochs, "nesterov": nesterov,
              "weight_decay": weight_decay, "metrics": metrics, "test_every": test_every,
              "steps_per_epoch": plan.steps,
              "compute_dtype": compute_dtype or "float32", "mesh": layout,
              "kernel": "xla" if spec.objective.value_and_grad is None else kernel}
    return _Planned(spec, stop_rule, rule, inits, keys, seeds, pairs, lr_params, arrays,
                    mesh, before, initial_best, chunk, built.pop(chunk, None), start_of, config)


def _train_group(
    group: _Planned, progress: Callable[[int, int], None] | None,
    recording: tuple[SweepRecorder | None, int] = (None, 0),
) -> Group:
    """Train a planned group chunk by chunk (its first chunk from the inputs it was compiled with, if kept)."""
    spec, pairs, seeds, chunk, start_of = group.spec, group.pairs, group.seeds, group.chunk, group.start_of
    epoch_plan = (group.config["epochs"], group.config["test_every"])
    start = time.perf_counter()
    parts = []
    record, offset = recording
    names = member_metrics(spec.metrics, spec.objective.classification)
    for first in range(0, len(pairs), chunk):
        part = pairs[first : first + chunk]
        observe = None if record is None else chunk_observer(record, offset, first, len(seeds), names)
        parts.append(train_chunk(spec, group.rule, group.inits, group.keys, part, group.lr_params, epoch_plan,
                                 group.stop_rule, group.arrays, progress, group.mesh, observe, pad_to=chunk,
                                 inputs=group.inputs if first == 0 else None, initial_loss=group.before,
                                 start=None if start_of is None else chunk_start(start_of, part, seeds, HISTORY),
                                 initial_best=group.initial_best))
        if len(parts) > 1:  # the previous chunk's params to the host, freeing their device memory
            parts[-2]["params"] = jax.tree.map(np.asarray, parts[-2]["params"])
    seconds = time.perf_counter() - start - sum(p["compile_seconds"] for p in parts)  # training, not compiling
    # configs going on from a checkpoint: the time their chunk had spent to reach it (its clock at that epoch, the
    # longest of the chunks': exact for a group that trained as one chunk, a lower bound otherwise)
    seconds += max(p["elapsed"] for p in parts)
    return group_outcome(parts, pairs, seeds, group.config, seconds, group.before, names)


class KernelWarning(UserWarning):
    """kernel='fused' did not compile for this model on this device; the sweep ran kernel='xla'."""


def _runnable(spec: EpochSpec, compile_first: Callable[[EpochSpec], Any]) -> EpochSpec:
    """spec, whose first chunk compiles; a fused kernel that asks for more of the GPU than it has
    (shared memory, for a wide or deep MLP) gives way to XLA's step, with a KernelWarning."""
    if spec.objective.value_and_grad is None:
        return spec
    xla = spec._replace(objective=spec.objective._replace(value_and_grad=None, sgd_step=None), fused_update=False)
    if data_devices(spec.mesh) > 1:
        warnings.warn(f"kernel='fused' computes each device's whole batch; with the mesh's data axis of "
                      f"{data_devices(spec.mesh)} devices the sweep runs kernel='xla' instead.", KernelWarning,
                      stacklevel=5)
        return xla
    try:
        compile_first(spec)
    except jax.errors.JaxRuntimeError as err:
        if "RESOURCE_EXHAUSTED" not in str(err):
            raise
        warnings.warn(f"kernel='fused' does not fit this device for this model ({str(err).splitlines()[0][:200]}); "
                      "the sweep runs kernel='xla' instead.", KernelWarning, stacklevel=5)
        return xla
    return spec
