"""How fast could any vmapped sweep of this MLP be? Two bare programs that bound ``gd.sweep`` from above.

Not the engine: C copies of the MLP trained with plain SGD, one learning rate
each, one shared data order per epoch, one ``lax.scan`` over the batches, the
configs split over every device with ``shard_map`` (one CPU device per core when
the caller forces them). Both run the same matrix products as one training step
of ``gd.sweep`` on the same shapes:

- ``step``: the whole SGD step written out by hand (bias, ReLU, softmax
  cross-entropy and its gradient, the update), nothing else: no test pass, no
  stop rules, no masking, no running loss.
- ``matmuls``: only the step's matrix products (3 forward, 2 for the inputs'
  gradients, 3 for the weights' gradients) with a plain subtraction as the
  update, no bias, activation or loss: what XLA's matmuls reach on these
  shapes. It trains nothing (its accuracy is not reported); it is the ceiling
  for any program that computes this step with XLA on this machine.
- ``matmuls-ff``: the same products with the activations held features-first, the layout
  gd.sweep's step takes on a CPU; with ``block`` (``run_sweep_bound``'s "block") each device
  runs its configs that many at a time, as gd.sweep does on a CPU: the ceiling for gd.sweep's
  CPU step.
- ``fused``: the whole SGD step as gdlab's fused kernel (``gdlab.engine.fused_mlp.fused_sgd_step``,
  one Pallas/Triton program per config that writes the updated params in place): what the fused
  path could reach once the engine folds the update into the kernel (a GPU; interpreted elsewhere).

Both take the products' operands in float32 (JAX's default precision: TF32 on
a recent NVIDIA GPU) or, with ``dtype=jnp.bfloat16``, in bfloat16 with float32
master weights (``gd.sweep(compute_dtype="bfloat16")``).

Used by ``benchmarks.sweep`` (peer ``sweep_bound`` of ``benchmarks.sweep_peers``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from benchmarks.workload import initial_weights

PARTS = ("step", "matmuls", "matmuls-ff", "fused")


def _mm(spec: str, a: Any, b: Any, dtype: Any = None) -> Any:
    """einsum(spec, a, b) with both operands and the product in dtype (None: as they are), as float32."""
    if dtype is None:
        return jnp.einsum(spec, a, b)
    return jnp.einsum(spec, a.astype(dtype), b.astype(dtype)).astype(jnp.float32)


def _layers(params: list[tuple[Any, Any]], x: Any, dtype: Any = None) -> list[Any]:
    """Pre-activations z_l of every layer; x (batch, in) is shared, params have a leading config axis."""
    zs = [_mm("bi,cio->cbo", x, params[0][0], dtype) + params[0][1][:, None]]
    for w, b in params[1:]:
        zs.append(_mm("cbi,cio->cbo", jax.nn.relu(zs[-1]), w, dtype) + b[:, None])
    return zs


def sgd_step(params: list[tuple[Any, Any]], lr: Any, x: Any, y: Any, dtype: Any = None) -> list[tuple[Any, Any]]:
    """One SGD step of every config on the batch (x, y), gradients written out by hand.

    d_L = (softmax(z_L) - onehot(y)) / B; d_l = (d_{l+1} W_{l+1}^T) * [z_l > 0];
    grad W_l = h_{l-1}^T d_l, grad b_l = sum_batch d_l; p <- p - lr * grad. The products take
    their operands in dtype (bfloat16: float32 master weights).
    """
    zs = _layers(params, x, dtype)
    inputs = [None] + [jax.nn.relu(z) for z in zs[:-1]]
    delta = (jax.nn.softmax(zs[-1], axis=-1) - jax.nn.one_hot(y, zs[-1].shape[-1])) / x.shape[0]
    new = []
    for layer in range(len(params) - 1, -1, -1):
        w, b = params[layer]
        grad_w = (_mm("bi,cbo->cio", x, delta, dtype) if layer == 0
                  else _mm("cbi,cbo->cio", inputs[layer], delta, dtype))
        new.append((w - lr[:, None, None] * grad_w, b - lr[:, None] * delta.sum(1)))
        if layer:
            delta = _mm("cbo,cio->cbi", delta, w, dtype) * (zs[layer - 1] > 0)
    return new[::-1]


ROWS_FIRST = ("bi,cio->cbo", "cbi,cio->cbo", "bi,cbo->cio", "cbi,cbo->cio", "cbo,cio->cbi")
FEATURES_FIRST = ("ib,cio->cob", "cib,cio->cob", "ib,cob->cio", "cib,cob->cio", "cob,cio->cib")
"""The products' einsums (first layer, later layers, first layer's and later layers' weight gradients,
the gradient passed back) with activations (config, batch, width) or features-first (config, width, batch)."""


def matmuls_only(
    params: list[tuple[Any, Any]], lr: Any, x: Any, y: Any, dtype: Any = None, layout: tuple[str, ...] = ROWS_FIRST
) -> list[tuple[Any, Any]]:
    """The products of sgd_step alone (same shapes), with w - lr * (h^T d) as the only other work.

    layout FEATURES_FIRST holds the activations features-first, as gd.sweep's step on a CPU
    (``Model.apply_vmapped``)."""
    del y
    first, later, grad_first, grad_later, back = layout
    x = x if layout == ROWS_FIRST else x.T
    hs = [_mm(first, x, params[0][0], dtype)]
    for w, _ in params[1:]:
        hs.append(_mm(later, hs[-1], w, dtype))
    delta, new = hs[-1], []
    for layer in range(len(params) - 1, -1, -1):
        w, b = params[layer]
        grad_w = _mm(grad_first, x, delta, dtype) if layer == 0 else _mm(grad_later, hs[layer - 1], delta, dtype)
        new.append((w - lr[:, None, None] * grad_w, b))
        if layer:
            delta = _mm(back, delta, w, dtype)
    return new[::-1]


UPDATES = {"step": sgd_step, "matmuls": matmuls_only,
           "matmuls-ff": functools.partial(matmuls_only, layout=FEATURES_FIRST)}


def epoch_program(part: str, x: Any, y: Any, batch_size: int, dtype: Any = None, block: int = 0) -> Callable[..., Any]:
    """(params, lr, key) -> params after one epoch, compiled, configs split over every device.

    block > 0: each device trains its configs block configs at a time (``lax.map`` over blocks of the
    epoch), as gd.sweep does on a CPU (engine/config_blocks.py).
    """
    update = functools.partial({**UPDATES, "fused": fused_step}[part], dtype=dtype)
    n = x.shape[0]
    steps = n // batch_size

    def whole(params: Any, lr: Any, key: Any) -> Any:
        idx = jax.random.permutation(key, n)[: steps * batch_size].reshape(steps, batch_size)

        def body(p: Any, i: Any) -> tuple[Any, None]:
            return update(p, lr, x[i], y[i]), None

        return jax.lax.scan(body, params, idx)[0]

    def epoch(params: Any, lr: Any, key: Any) -> Any:
        configs = lr.shape[0]
        if block <= 0 or configs <= block or configs % block:
            return whole(params, lr, key)
        split = functools.partial(jax.tree.map, lambda a: a.reshape(configs // block, block, *a.shape[1:]))
        out = jax.lax.map(lambda chunk: whole(*chunk, key), split((params, lr)))
        return jax.tree.map(lambda a: a.reshape(configs, *a.shape[2:]), out)

    mesh = Mesh(np.array(jax.devices()), ("configs",))
    split, every = PartitionSpec("configs"), PartitionSpec()
    sharded = jax.shard_map(epoch, mesh=mesh, in_specs=(split, split, every), out_specs=split, check_vma=False)
    return jax.jit(sharded)


def fused_step(params: list[tuple[Any, Any]], lr: Any, x: Any, y: Any, dtype: Any = None) -> list[tuple[Any, Any]]:
    """One SGD step of every config as the fused kernel: params - lr * gradient, written in place."""
    from gdlab.engine.fused_mlp import fused_sgd_step

    step = fused_sgd_step("relu", "bfloat16" if dtype == jnp.bfloat16 else None)
    _, new = jax.vmap(step, in_axes=(0, 0, None, None))(tuple({"w": w, "b": b} for w, b in params), lr, x, y)
    return [(layer["w"], layer["b"]) for layer in new]


def place(tree: Any) -> Any:
    """Arrays with a leading config axis, split over every device."""
    sharding = NamedSharding(Mesh(np.array(jax.devices()), ("configs",)), PartitionSpec("configs"))
    return jax.tree.map(functools.partial(jax.device_put, device=sharding), tree)


def starting_point(sizes: tuple[int, ...], rates: list[float]) -> tuple[Any, Any]:
    """(params, lr): one copy of the shared initial weights and one learning rate per config, placed."""
    weights = initial_weights(sizes=sizes)
    params = [tuple(np.broadcast_to(t, (len(rates), *t.shape)).copy() for t in layer) for layer in weights]
    return place(params), place(np.asarray(rates, np.float32))


def accuracy(params: list[tuple[Any, Any]], x: Any, y: Any) -> np.ndarray:
    """Test accuracy of every config."""
    logits = _layers(params, x)[-1]
    return np.asarray(jnp.mean(jnp.argmax(logits, -1) == y[None], axis=1))
