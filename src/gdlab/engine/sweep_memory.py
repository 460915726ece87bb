"""How many configs of a sweep train at once: the memory budget, an estimate of one config's bytes, and the
chunk of configs whose compiled epoch XLA's memory analysis says fits it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from gdlab.core.batching import BatchPlan, batch_plan
from gdlab.core.checks import check_int_range
from gdlab.core.dataset import Dataset
from gdlab.core.types import Params
from gdlab.engine.config_blocks import param_sizes
from gdlab.engine.epoch import EVAL_ROWS


def allocated_bytes(program: Any) -> int | None:
    """What XLA allocates for a compiled program: temporaries, arguments and outputs, less what they share."""
    try:
        m = program.memory_analysis()
        return int(m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes)
    except (AttributeError, NotImplementedError, TypeError, jax.errors.JaxRuntimeError):
        return None


def measured_chunk(
    chunk: int, budget: Budget, n_pairs: int, arrays: tuple[jax.Array, ...], program_of: Callable[[int], Any],
    fixed: int = 0, what: str = "",
) -> int:
    """The largest chunk, at most `chunk`, whose compiled epoch XLA says fits the budget (besides the data).

    The estimate (config_bytes, seed_copy_bytes) picks the first size; its program (compiled here and
    reused by the training) is checked against the budget with XLA's memory analysis, and a chunk
    that does not fit shrinks to what the budget less `fixed` (the estimate of the bytes any chunk
    pays: the seeds' copies of the data) holds at the measured bytes per pair. Where XLA gives no
    analysis, the estimate stands. A single pair over a budget the user gave (max_memory) is an
    error naming XLA's count (`what`: its seeds and batch size); over the default budget it runs.
    """
    data = sum(int(a.nbytes) for a in arrays)
    for _ in range(5):
        used = allocated_bytes(program_of(chunk))
        if used is None or used - data <= budget.bytes:
            return chunk
        if chunk == 1:
            if budget.given:
                raise ValueError(f"max_memory must hold at least one config per seed ({used - data} bytes for "
                                 f"{what}, as XLA's memory analysis of its program counts them); got {budget.bytes}.")
            return chunk
        per_pair = max(1, (used - data - fixed) // chunk)
        chunk = min(chunk - 1, even_chunk(max(1, (budget.bytes - fixed) // per_pair), n_pairs))
    return chunk


class Budget(NamedTuple):
    """The bytes a sweep's chunk may take besides the data, and whether the user gave them (max_memory)."""

    bytes: int
    given: bool


def memory_budget(max_memory: int | None) -> Budget:
    """max_memory, else a quarter of the free memory (at least 64 MiB)."""
    if max_memory is not None:
        return Budget(check_int_range("max_memory", max_memory, 1), True)
    return Budget(max(free_memory() // 4, 64 * 2**20), False)


def free_memory() -> int:
    """Free bytes on the default device (GPU memory stats, else MemAvailable of the host)."""
    stats = getattr(jax.devices()[0], "memory_stats", lambda: None)()
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.environ.get("GDLAB_MEMORY_BYTES", str(4 * 2**30)))


def config_bytes(params: Params, batch_size: int, metrics: str = "exact", best: bool = False,
                 grad_rows: int = 0) -> int:
    """An estimate of one config's memory: params, grads, state and activations.

    Tested against XLA's own count of the compiled sweep (CPU, MNIST-1D MLPs): 1.33x it for
    40-100-100-10 at batch 128, 1.61x at full batch, 0.84x for a wide 40-512-10 (where
    ``measured_chunk`` shrinks the chunk). On the H200 the 16384-config 40-100-100-10
    sweep was estimated at 20.1 GB and peaked at 15.2 GB.

    bytes = itemsize x (6 x n_params + rows x widths): widths sums the layers' output widths
    (the last dims of params with 2 or more dims; of every leaf when none has), rows is the
    larger of 4 x batch_size (a step's activations and their gradients; 4 x grad_rows at most where a
    step takes its gradient over slices of grad_rows rows, EpochSpec.grad_rows) and a slice of a
    whole-data pass (``EVAL_ROWS`` rows: the test metrics, forward only,
    2 x EVAL_ROWS; with metrics "exact" the train pass takes gradients too, 4 x EVAL_ROWS). best: the
    params of the best epoch are kept too (early_stopping's restore_best), one more n_params.
    """
    n_params, itemsize, widths = param_sizes(params)
    step_rows = min(batch_size, grad_rows) if grad_rows else batch_size
    rows = max(4 * step_rows, (4 if metrics == "exact" else 2) * EVAL_ROWS)
    return itemsize * ((7 if best else 6) * n_params + rows * widths)


def even_chunk(largest: int, n_pairs: int) -> int:
    """Pairs per chunk when at most `largest` fit: as many chunks as needed, all of one size (the last padded)."""
    chunks = -(-n_pairs // largest)
    return -(-n_pairs // chunks)


def seed_copy_bytes(train_bytes: int, n_seeds: int, plan: BatchPlan, index_itemsize: int = 4,
                    grad_rows: int = 0) -> int:
    """The bytes a group pays once whatever its chunk: the training data gathered in each seed's order.

    Each epoch takes ``x[order], y[order]`` (the seed's permutation, n indices of index_itemsize bytes)
    and lays the batches out for the scan. XLA's count (CPU; linreg 16000 x 50 and MNIST-1D, batch 50 to
    10000), with copy = train_bytes + the order:
    one batch of all the data: read in stored order, 1 copy of the data shared by the seeds;
    one full batch and a remainder (no loop over batches): 1 copy per seed;
    more full batches, 1 seed: 1 copy, and the batch the scan's step slices out of it
    (train_bytes x batch_size / n);
    more full batches, more seeds: 2 copies per seed (vmap moves the seeds' axis behind the batches').
    A data axis (``mesh``) gathers each batch in its step, with no copy. One batch of all the data taking
    its gradient over slices of grad_rows rows (EpochSpec.grad_rows, when not 0) holds one slice more.
    """
    n = plan.full_batches * plan.batch_size + plan.remainder + plan.dropped
    if plan.is_full_batch:
        return train_bytes + (-(-train_bytes * grad_rows // n) if 0 < grad_rows < n else 0)
    copy = train_bytes + n * index_itemsize
    if plan.full_batches == 1:
        return n_seeds * copy
    if n_seeds == 1:
        return copy + -(-train_bytes * plan.batch_size // n)
    return n_seeds * (copy + train_bytes)


def group_copy_bytes(data: Dataset, dtype: Any, n_seeds: int, batch_size: int, data_devices: int,
                     grad_rows: int = 0) -> int:
    """seed_copy_bytes of a group: the training data as the epoch holds it (inputs in the params' dtype,
    class labels int32; its order in JAX's default int), gathered unless a data axis of more than one
    device takes each batch by index."""
    if data_devices > 1:
        return 0
    itemsize = np.dtype(dtype).itemsize
    label = 4 if data.task == "classification" else itemsize
    train = int(np.size(data.x_train)) * itemsize + int(np.size(data.y_train)) * label
    index = np.dtype(jax.dtypes.canonicalize_dtype(np.int64)).itemsize  # jnp.arange's: int32 unless x64
    plan = batch_plan(data.n_train, batch_size)
    return seed_copy_bytes(train, n_seeds, plan, index, grad_rows)


def chunk_size(params: Params, batch_size: int, metrics: str, n_seeds: int, n_pairs: int, budget: Budget,
               best: bool, fixed: int = 0, grad_rows: int = 0) -> int:
    """The pairs (each n_seeds configs) the budget holds beside `fixed` (seed_copy_bytes), by config_bytes.

    A pair over a budget the user gave (max_memory) is an error; over the default one (a quarter of the
    free memory) it runs one pair at a time, as measured_chunk does.
    """
    per_pair = n_seeds * config_bytes(params, batch_size, metrics, best, grad_rows)
    if fixed + per_pair > budget.bytes:
        if not budget.given:
            return 1
        data = f": {per_pair} for the configs and {fixed} for the copies of the training data the epochs read"
        raise ValueError(
            f"max_memory must hold at least one config per seed ({fixed + per_pair} bytes for {seeds_text(n_seeds)} "
            f"at batch_size {batch_size}{data if fixed else ''}); got {budget.bytes}."
        )
    return max(1, min(n_pairs, (budget.bytes - fixed) // per_pair))


def seeds_text(n: int) -> str:
    """"1 seed", "3 seeds"."""
    return "1 seed" if n == 1 else f"{n} seeds"
