"""One epoch of training as one compiled program, built once per structure.

The program permutes the training set, runs ``lax.scan`` over the full batches
(one update each), takes one more update on the smaller last batch when n is not
a multiple of batch_size, then measures the epoch's metrics.

Two variants share this code. The fast one (``careful=False``) does nothing
per step but the update and a running loss sum, and reports at the end whether
the loss, the params and the rule state stayed finite. When they did not, the
engine runs the epoch again from the same start with the careful variant, which
checks every step's loss, gradient and update: the first non-finite step is not
applied, the params and state freeze (``jnp.where``) for the rest of the epoch,
and the step and its loss are reported. A diverging run therefore costs one
extra epoch, and a healthy one pays nothing for the checks. A sweep reruns only
the pairs that hold a non-finite config (engine/sweep_careful.py).

With ``spec.mesh`` (data parallel, engine/data_parallel.py) the same epoch runs
on every device inside ``jax.shard_map``: the scan goes over the global
batches' row indices, each device computes the gradient of its share and
``pmean`` averages them. Without a mesh nothing of that is traced.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from gdlab.core.batching import (
    BatchPlan,
    epoch_indices,
    epoch_permutation,
    identity_order,
    path_updates,
)
from gdlab.core.rules import apply_updates
from gdlab.core.types import Array, OptState, Params, UpdateFn
from gdlab.engine.data_parallel import batch_value_and_grad, data_devices, sum_of_squares
from gdlab.engine.objective import Objective

METRICS = ("exact", "running")
"""exact: train loss and gradient norm on all training data at the end of the epoch;
running: the mean of the batch losses seen during the epoch (cheaper, no gradient norm)."""


class EpochSpec(NamedTuple):
    """Everything static about an epoch program (hashable; the program cache key)."""

    objective: Objective
    update: UpdateFn
    learning_rate: Callable[[OptState], Array] | None
    plan: BatchPlan
    has_test: bool
    metrics: str = "exact"
    careful: bool = False
    masked: bool = False  # a sweep: the active flag can freeze a finished config
    fused_update: bool = False  # plain SGD whose whole step is objective.sgd_step (the fused kernel)
    config_block: int = 0  # a sweep: the most configs a device trains at once (engine/config_blocks.py; 0: all)
    mesh: Mesh | None = None  # data parallel over its "data" axis (and a sweep's "configs" axis)
    grad_rows: int = 0  # a batch of more rows takes its gradient over slices of this many at most (0: whole)
    loss_every: int = 0  # one device: the train loss on all data after every n-th update and the last (0: none)


class EpochStats(NamedTuple):
    """What one epoch reports (scalars)."""

    train_loss: Array
    grad_norm: Array  # NaN with metrics="running"
    learning_rate: Array  # learning rate of the epoch's last update
    test_loss: Array
    test_accuracy: Array
    finite: Array  # the loss, params and state stayed finite all epoch
    bad_step: Array  # careful variant: index in the epoch of the first non-finite step (-1: none)
    bad_loss: Array  # careful variant: that step's loss
    small_grad_sq: Array | None  # data parallel: mean over the epoch's full batches of |g_d|^2 (batch B/N)
    big_grad_sq: Array | None  # data parallel: mean over the same batches of |g|^2 (batch B)
    loss_path: Array | None = None  # spec.loss_every: the train loss after the updates path_updates names


class _Carry(NamedTuple):
    params: Params
    state: OptState
    finite: Array
    loss_sum: Array
    learning_rate: Array
    step: Array
    bad_step: Array
    bad_loss: Array
    small_sq: Array | None  # data parallel only: running sums for the noise scale
    big_sq: Array | None


Data = tuple[Array, Array, Array, Array]


def run_epoch(
    spec: EpochSpec,
    params: Params,
    state: OptState,
    data_key: Array,
    epoch: Array,
    lr_scale: Array,
    active: Array,
    test: Array,
    data: Data,
) -> tuple[Params, OptState, EpochStats]:
    """Train for one epoch (traceable; compiled by ``compiled_epoch``).

    lr_scale multiplies every update (and the recorded learning rate): the
    scale a plateau rule sets, 1.0 otherwise. With spec.masked, a config whose
    active flag is False keeps its params and state (a finished sweep member).
    test (a traced bool, the same for every config) runs the test pass at the
    epoch's end; False skips it (``lax.cond``) and reports NaN test metrics.
    """
    x, y = data[:2]
    n = x.shape[0]
    plan = spec.plan
    order = identity_order(n) if plan.is_full_batch else epoch_permutation(data_key, epoch, n)
    full_idx, rest_idx = epoch_indices(plan, order)
    devices = data_devices(spec.mesh)
    carry = _initial_carry(params, state, devices > 1 and not spec.masked)
    grads = _local_grads(spec) if devices == 1 else _split_grads(spec, x, y, devices)
    step, last = _step_fn(spec, lr_scale, active, grads), _step_fn(spec, lr_scale, active, grads, False)
    path = None
    if devices == 1:
        if plan.full_batches and spec.loss_every:
            carry, path = _measured_scan(spec, step, carry, x, y, full_idx)
        elif plan.full_batches:
            carry, _ = jax.lax.scan(step, carry, (x[full_idx], y[full_idx]))
        if rest_idx is not None:
            carry, _ = last(carry, (x[rest_idx], y[rest_idx]))
            if spec.loss_every:
                end = _all_data_loss(spec, carry, x, y)[None]
                path = end if path is None else jnp.concatenate([path, end])
    else:
        carry, _ = jax.lax.scan(step, carry, full_idx)
        if rest_idx is not None:
            carry, _ = last(carry, rest_idx)
    seen = plan.full_batches * plan.batch_size + plan.remainder
    if spec.learning_rate is not None and not spec.careful and _counts_steps(carry.state):
        last_state = carry.state._replace(step=carry.state.step - 1)  # the state of the epoch's last update
        carry = carry._replace(learning_rate=(spec.learning_rate(last_state) * lr_scale).astype(carry.loss_sum.dtype))
    stats = _stats(spec, carry, seen, data, test)
    return carry.params, carry.state, stats if path is None else stats._replace(loss_path=path)


def _measured_scan(
    spec: EpochSpec, step: Callable[[_Carry, Any], tuple[_Carry, None]], carry: _Carry, x: Array, y: Array,
    full_idx: Array,
) -> tuple[_Carry, Array]:
    """The scan over the full batches that also measures the train loss on all of (x, y) after the updates
    ``path_updates`` names (``lax.cond``: the other updates pay nothing); (carry, those losses)."""
    at = np.array([u - 1 for u in path_updates(spec.plan, spec.loss_every) if u <= spec.plan.full_batches], int)
    marks = np.zeros(spec.plan.full_batches, bool)
    marks[at] = True
    nan = jnp.full((), jnp.nan, carry.loss_sum.dtype)

    def measuring(c: _Carry, batch: tuple[Array, Array, Array]) -> tuple[_Carry, Array]:
        c, _ = step(c, batch[:2])
        return c, jax.lax.cond(batch[2], lambda: _all_data_loss(spec, c, x, y), lambda: nan)

    carry, losses = jax.lax.scan(measuring, carry, (x[full_idx], y[full_idx], jnp.asarray(marks)))
    return carry, losses[at]


def _all_data_loss(spec: EpochSpec, carry: _Carry, x: Array, y: Array) -> Array:
    """The mean loss of the carry's params on all of (x, y), in the carry's dtype."""
    return sliced_mean(spec.objective.loss, carry.params, x, y).astype(carry.loss_sum.dtype)


GradFn = Callable[[Params, Any], tuple[Array, Params, Array | None, int]]
"""(params, batch) -> (mean batch loss, its gradient, mean |g_d|^2 or None, rows in the batch)."""


def _local_grads(spec: EpochSpec) -> GradFn:
    """One device: the batch is (x rows, y rows)."""
    grad_fn = spec.objective.value_and_grad or jax.value_and_grad(spec.objective.loss)

    def grads(params: Params, batch: tuple[Array, Array]) -> tuple[Array, Params, None, int]:
        rows = batch[0].shape[0]
        if spec.grad_rows and rows > spec.grad_rows:
            loss, g = sliced_mean(grad_fn, params, *batch, rows=spec.grad_rows)
        else:
            loss, g = grad_fn(params, *batch)
        return loss, g, None, rows

    return grads


def _split_grads(spec: EpochSpec, x: Array, y: Array, devices: int) -> GradFn:
    """Data parallel: the batch is the global batch's row indices; each device takes its share."""

    def grads(params: Params, idx: Array) -> tuple[Array, Params, Array, int]:
        loss, g, local_sq = batch_value_and_grad(spec.objective.loss, params, x, y, idx, devices)
        return loss, g, local_sq, idx.shape[0]

    return grads


def _counts_steps(state: OptState) -> bool:
    """A rule state with a ``step`` update counter, whose rate can be read off after the fact."""
    return hasattr(state, "_replace") and hasattr(state, "step")


def _rows_applied(spec: EpochSpec, carry: _Carry, seen: int) -> Any:
    """The rows whose batch losses the running sum holds: every row seen, or (careful) those of the batches
    before the first non-finite step, which was not applied (none: NaN, not a loss of 0)."""
    if not spec.careful:
        return seen
    applied = jnp.where(carry.bad_step >= 0, carry.bad_step * spec.plan.batch_size, seen)
    return jnp.where(applied > 0, applied, jnp.nan).astype(carry.loss_sum.dtype)


def _stats(
    spec: EpochSpec, carry: _Carry, seen: int, data: Data, test: Array
) -> EpochStats:
    x, y, x_test, y_test = data
    nan = jnp.full((), jnp.nan, carry.loss_sum.dtype)
    train_loss, grad_norm = carry.loss_sum / _rows_applied(spec, carry, seen), nan
    devices = data_devices(spec.mesh)
    if spec.metrics == "exact" and devices == 1:
        train_loss, grads = sliced_mean(jax.value_and_grad(spec.objective.loss), carry.params, x, y)
        grad_norm = jnp.sqrt(sum_of_squares(grads))
    elif spec.metrics == "exact":
        rows = jnp.arange(x.shape[0])
        train_loss, grads, _ = batch_value_and_grad(spec.objective.loss, carry.params, x, y, rows, devices)
        grad_norm = jnp.sqrt(sum_of_squares(grads))
    small_sq = big_sq = None  # one device: no outputs, so the program is the same as without this
    if carry.small_sq is not None and carry.big_sq is not None and spec.plan.full_batches:
        small_sq = carry.small_sq / spec.plan.full_batches
        big_sq = carry.big_sq / spec.plan.full_batches
    test_loss = test_accuracy = nan
    if spec.has_test:
        test_loss, test_accuracy = _test_metrics(spec.objective.evaluate, carry.params, x_test, y_test, test, nan)
    finite = carry.finite & jnp.isfinite(carry.loss_sum)
    finite = finite & jnp.isfinite(sum_of_squares((carry.params, carry.state)))
    return EpochStats(
        train_loss=train_loss,
        grad_norm=grad_norm,
        learning_rate=carry.learning_rate,
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        finite=finite,
        bad_step=carry.bad_step,
        bad_loss=carry.bad_loss,
        small_grad_sq=small_sq,
        big_grad_sq=big_sq,
    )


def _test_metrics(
    evaluate: Callable[..., Any], params: Params, x_test: Array, y_test: Array, test: Array, nan: Array
) -> tuple[Array, Array]:
    """(test loss, test accuracy) of params when test is True, else (NaN, NaN) without the pass."""

    def measured() -> tuple[Array, Array]:
        loss, accuracy = sliced_mean(evaluate, params, x_test, y_test)
        return loss.astype(nan.dtype), accuracy.astype(nan.dtype)

    return jax.lax.cond(test, measured, lambda: (nan, nan))


@functools.partial(jax.jit, static_argnums=(0, 1))
def measure_test(evaluate: Callable[..., Any], axes: int, params: Params, x_test: Array, y_test: Array) -> Any:
    """(test loss, test accuracy) of params, vmapped over their ``axes`` leading axes (a sweep's: 2).

    For a run's last epoch when the epoch program skipped its test pass (``test_every``).
    """

    def measure(p: Params) -> Any:
        return sliced_mean(evaluate, p, x_test, y_test)

    for _ in range(axes):
        measure = jax.vmap(measure)
    return measure(params)


@functools.partial(jax.jit, static_argnums=0)
def initial_train_loss(loss: Callable[..., Any], params: Params, x: Array, y: Array) -> Array:
    """The mean train loss of params on all of (x, y), before training: what "collapsed" compares with.

    Its own small program, outside the epoch's (all of a sweep's configs that share a seed start
    from the same params, so a sweep asks once per seed, and every group of a sweep reuses it).
    """
    return sliced_mean(loss, params, x, y).astype(jnp.result_type(*jax.tree.leaves(params)))


def is_test_epoch(epoch: int, epochs: int, test_every: int) -> bool:
    """Whether 0-based epoch ``epoch`` of ``epochs`` runs its test pass: every test_every-th and the last."""
    return (epoch + 1) % test_every == 0 or epoch + 1 == epochs


EVAL_ROWS = 512
"""Whole-data passes (initial loss, exact metrics, test metrics) run over slices of this many rows,
so their activations take no more memory than a batch of EVAL_ROWS (a sweep multiplies it by
every config)."""


def batch_grad_rows(plan: BatchPlan, data_devices: int = 1, kernel: str = "xla") -> int:
    """EpochSpec.grad_rows for this plan and backend: EVAL_ROWS for batch gradient descent (one batch of
    all the data) on a CPU, where the gradient over slices of that many rows keeps their activations in
    cache: gd.sweep of the MNIST-1D MLP, 3 seeds x 8 rates, 10 epochs at the full batch of 4000 rows,
    one core, 1.15-1.24 s of CPU time whole against 0.88-0.90 s in slices of 500 (batch 128: 0.94 s).
    0 (whole) for a smaller batch, where slices measured no faster (1000 and 2000 rows) and the seeds'
    batches would take more copies; on other backends (a GPU runs a large batch best whole); and where the
    step does not take ``_local_grads``' gradient: a data axis of several devices (each its share of the
    batch), or the fused kernel (kernel "fused", which may update in one call)."""
    local = data_devices == 1 and kernel == "xla"
    return EVAL_ROWS if local and plan.is_full_batch and jax.default_backend() == "cpu" else 0


def slice_rows(n: int, rows: int = EVAL_ROWS) -> int:
    """The rows of each slice of a whole-data pass over n rows: n when n <= rows, else the largest divisor of n
    from rows / 2 to rows where there is one (no remainder slice: the program holds fn once, not twice;
    MNIST-1D's 4000 and 1000 rows go by 500, and the MLP's epoch program has 22% fewer kernels to compile),
    else rows (and a remainder)."""
    if n <= rows:
        return n
    return next((d for d in range(rows, (rows + 1) // 2 - 1, -1) if n % d == 0), rows)


def sliced_mean(fn: Callable[..., Any], params: Params, x: Array, y: Array, rows: int = EVAL_ROWS) -> Any:
    """fn(params, x, y), a pytree of means over the rows of x, computed over slices of at most rows rows
    (``slice_rows``).

    mean = sum_k (n_k / n) * fn(params, x_k, y_k) over the full slices k and the remainder.
    """
    n = x.shape[0]
    rows = slice_rows(n, rows)
    if n <= rows:
        return fn(params, x, y)
    full, rest = divmod(n, rows)
    xs = x[: full * rows].reshape(full, rows, *x.shape[1:])
    ys = y[: full * rows].reshape(full, rows, *y.shape[1:])

    def weigh(tree: Any, w: float) -> Any:
        return jax.tree.map(lambda a: a * jnp.asarray(w, a.dtype), tree)

    def add(total: Any, batch: tuple[Array, Array]) -> tuple[Any, None]:
        part = weigh(fn(params, *batch), rows / n)
        return jax.tree.map(jnp.add, total, part), None

    zero = jax.tree.map(jnp.zeros_like, jax.eval_shape(fn, params, xs[0], ys[0]))
    total, _ = jax.lax.scan(add, zero, (xs, ys))
    if rest:
        total = jax.tree.map(jnp.add, total, weigh(fn(params, x[full * rows :], y[full * rows :]), rest / n))
    return total


def _initial_carry(params: Params, state: OptState, noise: bool = False) -> _Carry:
    dtype = jnp.result_type(*jax.tree.leaves(params))
    return _Carry(
        params=params,
        state=state,
        finite=jnp.array(True),
        loss_sum=jnp.zeros((), dtype),
        learning_rate=jnp.full((), jnp.nan, dtype),
        step=jnp.zeros((), jnp.int32),
        bad_step=jnp.full((), -1, jnp.int32),
        bad_loss=jnp.full((), jnp.nan, dtype),
        small_sq=jnp.zeros((), dtype) if noise else None,
        big_sq=jnp.zeros((), dtype) if noise else None,
    )


def _step_fn(
    spec: EpochSpec, lr_scale: Array, active: Array, grad_fn: GradFn, noise: bool = True
) -> Callable[[_Carry, Any], tuple[_Carry, None]]:
    """One update; with noise (the full batches) a data-parallel step adds to the noise-scale sums."""

    def step(carry: _Carry, batch: Any) -> tuple[_Carry, None]:
        if spec.fused_update and not spec.careful:
            loss, new_params, new_state = _fused_update(spec, lr_scale, active, carry, batch)
            return _fast_carry(spec, lr_scale, active, carry, loss * batch[0].shape[0], new_params, new_state,
                               params_masked=True), None
        loss, grads, local_sq, rows = grad_fn(carry.params, batch)
        if noise and local_sq is not None and carry.small_sq is not None and carry.big_sq is not None:
            big_sq = sum_of_squares(grads)
            carry = carry._replace(small_sq=carry.small_sq + local_sq, big_sq=carry.big_sq + big_sq)
        updates, new_state = spec.update(grads, carry.state, carry.params)
        updates = jax.tree.map(lambda u: (u * lr_scale).astype(u.dtype), updates)
        new_params = apply_updates(carry.params, updates)
        batch_loss = loss * rows
        if not spec.careful:
            return _fast_carry(spec, lr_scale, active, carry, batch_loss, new_params, new_state), None
        lr = carry.learning_rate
        if spec.learning_rate is not None:
            lr = (spec.learning_rate(carry.state) * lr_scale).astype(lr.dtype)
        ok = jnp.isfinite(loss) & jnp.isfinite(sum_of_squares((grads, updates)))
        if spec.masked:
            ok = ok | ~active  # a frozen config is never the bad one
        take = carry.finite & ok
        apply = take & active if spec.masked else take
        newly_bad = carry.finite & ~ok
        new = carry._replace(
            params=_select(apply, new_params, carry.params),
            state=_select(apply, new_state, carry.state),
            finite=take,
            loss_sum=carry.loss_sum + jnp.where(apply, batch_loss, 0.0),
            learning_rate=jnp.where(apply, lr, carry.learning_rate),
            step=carry.step + 1,
            bad_step=jnp.where(newly_bad, carry.step, carry.bad_step),
            bad_loss=jnp.where(newly_bad, loss, carry.bad_loss),
        )
        return new, None

    return step


def _fast_carry(
    spec: EpochSpec, lr_scale: Array, active: Array, carry: _Carry, batch_loss: Array, new_params: Params,
    new_state: OptState, params_masked: bool = False,
) -> _Carry:
    """The fast variant's next carry: a frozen config keeps its params and state (params_masked: the
    update kept them already), the running loss adds the batch's, and the rate is recorded where the
    state cannot give it back at the epoch's end."""
    lr = carry.learning_rate
    if spec.learning_rate is not None and not _counts_steps(carry.state):
        lr = (spec.learning_rate(carry.state) * lr_scale).astype(lr.dtype)
    if spec.masked:
        new_params = new_params if params_masked else _select(active, new_params, carry.params)
        new_state = _select(active, new_state, carry.state)
        batch_loss = jnp.where(active, batch_loss, 0.0)
    running = spec.metrics == "running"
    return carry._replace(
        params=new_params,
        state=new_state,
        loss_sum=carry.loss_sum + batch_loss if running else carry.loss_sum,
        learning_rate=lr,
    )


def _fused_update(
    spec: EpochSpec, lr_scale: Array, active: Array, carry: _Carry, batch: Any
) -> tuple[Array, Params, OptState]:
    """Plain SGD as one kernel: (batch loss, w - lr * dW written in place, the rule's next state).

    A frozen config's rate is 0, so the kernel keeps its params. The rule's own update still
    advances its state (its step count); its updates go unused, so XLA drops them. The fast
    variant only (the careful one checks each gradient).
    """
    assert spec.objective.sgd_step is not None and spec.learning_rate is not None
    dtype = carry.loss_sum.dtype
    lr = (spec.learning_rate(carry.state) * lr_scale).astype(dtype)
    rate = jnp.where(active, lr, 0.0).astype(dtype) if spec.masked else lr
    loss, new_params = spec.objective.sgd_step(carry.params, rate, *batch)
    _, new_state = spec.update(jax.tree.map(jnp.zeros_like, carry.params), carry.state, carry.params)
    return loss, new_params, new_state


def _select(flag: Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)
