"""The epoch program compiled: built once per structure and argument shapes, kept in-process.

``compiled_epoch`` turns ``epoch.run_epoch`` into a program: for a sweep
vmapped over the configs that share a seed and over the seeds, split into
config blocks, and with a mesh run on every device (``jax.shard_map``). A
program is compiled once per (spec, argument signature, matmul precision)
and kept here (at most ``_CACHE_SIZE``); a later process loads the traced
program from disk (engine/program_store.py) instead of tracing it again.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec

from gdlab.engine.config_blocks import in_blocks
from gdlab.engine.data_parallel import CONFIGS
from gdlab.engine.epoch import EpochSpec, EpochStats, run_epoch
from gdlab.engine.program_store import stored_program

_COMPILED: dict[tuple[Any, ...], Any] = {}
"""The in-process program cache: (spec or function, argument shapes and dtypes) -> compiled program."""
_CACHE_SIZE = 64


def compiled_epoch(
    spec: EpochSpec, *args: Any, configs: int = 0
) -> tuple[Callable[..., Any], float]:
    """The compiled epoch for spec and these argument shapes, and the seconds spent compiling.

    configs=2 compiles a sweep: run_epoch vmapped over seeds (params, state,
    data key, scale, active) and, inside, over the configs that share a seed
    (so they share one permutation of the data). A second call with the same
    structure and shapes (and the same ``jax.default_matmul_precision``) reuses
    the program (0.0 s).
    """
    key = (spec, configs, _signature(args), _matmul_precision())
    program = _COMPILED.get(key)
    if program is not None:
        return program, 0.0
    start = time.perf_counter()
    fn: Callable[..., Any] = functools.partial(run_epoch, spec)
    if configs:
        fn = _over_seeds(jax.vmap(fn, in_axes=(0, 0, None, None, 0, 0, None, None)), int(jnp.shape(args[5])[0]))
        fn = in_blocks(fn, spec.config_block)
    if spec.mesh is not None:
        fn = _per_device(fn, spec.mesh, bool(configs))
    # from disk, not traced again (not the fused kernel's: jax.export refuses its custom call)
    kernel = spec.objective.value_and_grad is not None or spec.objective.sgd_step is not None
    program = None if kernel else stored_program(fn, args, returns=(EpochStats,))
    if program is None:
        program = jax.jit(fn).lower(*args).compile()
    seconds = time.perf_counter() - start
    _keep(key, program)
    return program, seconds


def compiled_call(fn: Any, *args: Any) -> tuple[Callable[..., Any], float]:
    """fn (a jax.jit function) compiled for these arguments, and the seconds spent compiling (0.0 when
    compiled before): a small program whose compile time a caller leaves out of its epoch's time."""
    key = (fn, _signature(args), _matmul_precision())
    program = _COMPILED.get(key)
    if program is not None:
        return program, 0.0
    start = time.perf_counter()
    program = fn.lower(*args).compile()
    _keep(key, program)
    return program, time.perf_counter() - start


def _keep(key: tuple[Any, ...], program: Any) -> None:
    if len(_COMPILED) >= _CACHE_SIZE:
        _COMPILED.pop(next(iter(_COMPILED)))
    _COMPILED[key] = program


def _over_seeds(fn: Callable[..., Any], seeds: int) -> Callable[..., Any]:
    """fn (vmapped over one seed's configs) vmapped over the seeds axis of (params, state, data key, scale, active).

    One seed squeezes its axis away instead: measured on the CPU, a vmap over that axis of size 1 cost
    the features-first layout (Model.apply_vmapped) its whole 1.2-1.3x gain.
    """
    if seeds > 1:
        return jax.vmap(fn, in_axes=(0, 0, 0, None, 0, 0, None, None))

    def one_seed(
        params: Any, state: Any, key: Any, epoch: Any, scale: Any, active: Any, test: Any, data: Any
    ) -> Any:
        first = functools.partial(jax.tree.map, lambda a: a[0])
        out = fn(first(params), first(state), key[0], epoch, scale[0], active[0], test, data)
        return jax.tree.map(lambda a: a[None], out)

    return one_seed


def _matmul_precision() -> Any:
    """The jax.default_matmul_precision in force (it changes the compiled program)."""
    return getattr(jax.config, "jax_default_matmul_precision", None)


def _per_device(fn: Callable[..., Any], mesh: Mesh, configs: bool) -> Callable[..., Any]:
    """fn run on every device of the mesh: replicated arguments, a sweep's configs split.

    Arguments are (params, state, data_key, epoch, scale, active, test, data); a
    sweep's params, state, scale and active have axes (seeds, configs, ...).
    """
    every = PartitionSpec()
    split = PartitionSpec(None, CONFIGS) if configs else every
    in_specs = (split, split, every, every, split, split, every, every)
    # check_vma=False: a gradient taken on a device is that device's own (with the check on,
    # JAX sums the gradient of a replicated input over devices by itself); pmean averages it.
    return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=(split, split, split), check_vma=False)


def _signature(args: Any) -> tuple[Any, ...]:
    leaves, treedef = jax.tree.flatten(args)
    return (treedef, tuple((jnp.shape(a), jnp.result_type(a), _weak(a), _sharding(a)) for a in leaves))


def _sharding(a: Any) -> Any:
    sharding = getattr(a, "sharding", None)
    return sharding if sharding is not None and len(sharding.device_set) > 1 else None


def _weak(a: Any) -> bool:
    return bool(getattr(a, "weak_type", False))
