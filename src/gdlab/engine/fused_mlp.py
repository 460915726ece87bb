"""One fused GPU kernel for the loss and gradient of an MLP under softmax cross-entropy.

XLA runs a vmapped sweep's step as batched matrix products, one kernel per
product, each reading and writing its operands in device memory. For a small
MLP (MNIST-1D: 40-100-100-10) every product of one config is tiny, so the
step is bound by those round trips. This kernel (Pallas, lowered to Triton)
computes one config's whole forward and backward pass in one program, keeping
the weights, activations and gradients on chip; vmapping it (as the sweep's
epoch does, over seeds and configs) makes a grid with one program per config.

For layers l = 1..L with h_0 = x, z_l = h_{l-1} W_l + b_l, h_l = act(z_l), and
logits z_L, over the B rows of the batch:

    loss   = (1/B) sum_i [logsumexp(z_L,i) - z_L,i[y_i]]
    d_L    = (softmax(z_L) - onehot(y)) / B
    dW_l   = h_{l-1}^T d_l,   db_l = sum_i d_l,i
    d_{l-1} = (d_l W_l^T) * act'(h_{l-1})

Triton works on tiles whose sides are powers of two (at least 16 for a
product): every width is padded up to one by masked loads (zeros outside the
array), padded logits are -inf before the softmax, and only the true entries
are stored. The batch is walked in row blocks, the gradients summed over them.
``fused_sgd_step`` is the same kernel storing W_l - lr dW_l (and b_l - lr db_l) in
place of the gradient, for plain SGD. On a CPU the same kernel runs in Pallas's
interpreter (slow; for tests). jax 0.11 deprecates Pallas's Triton backend (a DeprecationWarning at
each lowering, naming Mosaic GPU as its successor); on an H200 with jax 0.11.2 the kernel still
compiles and matches autodiff.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

from gdlab.core.types import Array, Params

FUSED_ACTIVATIONS = ("relu", "tanh", "sigmoid")
"""Hidden activations whose derivative the kernel reads off the activation itself."""

KERNELS = ("xla", "fused")
"""How a sweep computes each step's loss and gradient: XLA's batched products, or this kernel."""

FUSED_MAX_WIDTH = 128
"""The widest input or layer the kernel takes: a config's tiles must fit one GPU core's shared memory
(on an H200, 40-256-256-10 asked for 704 KiB of the 227 KiB there are)."""

TILES = {"float32": (32, 8), "bfloat16": (128, 8)}
"""(rows per block, warps per program) by product dtype, the fastest measured on an H200 for the
MNIST-1D MLP at 16384 configs (benchmarks/gpu_fused.py; TF32: 40 TFLOP/s against XLA's 31,
bfloat16: 65 against 41)."""

_MIN_TILE = 16  # the smallest side of a Triton matrix product


def fused_value_and_grad(
    activation: str, compute_dtype: str | None = None, row_block: int | None = None,
    num_warps: int | None = None, interpret: bool | None = None, resident_weights: bool = True,
) -> Callable[[Params, Array, Array], tuple[Array, Params]]:
    """(params, x, y) -> (mean cross-entropy, its gradient) for an MLP, as one kernel.

    params is the dense stack's tuple of {"w": (fan_in, fan_out), "b": (fan_out,)};
    x has shape (B, features), y holds integer labels. compute_dtype "bfloat16"
    multiplies in bfloat16 with float32 sums (the activations stay float32).
    row_block and num_warps default to TILES; interpret None runs the Triton kernel on a GPU
    and the interpreter elsewhere. resident_weights False loads each weight matrix at each
    use (from the cache) instead of once for the whole kernel: less shared memory per program,
    so more programs per core (unmeasured; ``benchmarks/gpu_fused.py`` tries both).
    """
    settings = _settings(activation, compute_dtype, row_block, num_warps, interpret, resident_weights)

    def value_and_grad(params: Params, x: Array, y: Array) -> tuple[Array, Params]:
        return _call(settings, params, x, y, None)

    return value_and_grad


def fused_sgd_step(
    activation: str, compute_dtype: str | None = None, row_block: int | None = None,
    num_warps: int | None = None, interpret: bool | None = None, resident_weights: bool = True,
) -> Callable[[Params, Array, Array, Array], tuple[Array, Params]]:
    """(params, learning_rate, x, y) -> (mean cross-entropy, params - learning_rate * gradient), as one kernel.

    The same kernel as ``fused_value_and_grad``, which writes the updated params in place of
    the old ones (one pass over the weights instead of a gradient to write and an update to
    read it). A rate of 0 keeps the params as they are, whatever the gradient (a frozen
    sweep member's may be non-finite). gd.sweep uses it for plain SGD (no momentum, no
    weight decay) with kernel="fused".
    """
    settings = _settings(activation, compute_dtype, row_block, num_warps, interpret, resident_weights)

    def step(params: Params, learning_rate: Array, x: Array, y: Array) -> tuple[Array, Params]:
        return _call(settings, params, x, y, learning_rate)

    return step


class _Settings(NamedTuple):
    activation: str
    compute_dtype: str | None
    row_block: int
    num_warps: int
    interpret: bool | None
    resident_weights: bool


def _settings(
    activation: str, compute_dtype: str | None, row_block: int | None, num_warps: int | None, interpret: bool | None,
    resident_weights: bool,
) -> _Settings:
    if activation not in FUSED_ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(FUSED_ACTIVATIONS)} for the fused kernel; "
                         f"got {activation!r}.")
    default_rows, default_warps = TILES[compute_dtype or "float32"]
    return _Settings(activation, compute_dtype, default_rows if row_block is None else row_block,
                     default_warps if num_warps is None else num_warps, interpret, resident_weights)


def _call(settings: _Settings, params: Params, x: Array, y: Array, learning_rate: Array | None) -> tuple[Array, Params]:
    """The kernel over one config: (loss, gradient), or with a learning rate (loss, updated params)."""
    x = x.reshape(x.shape[0], -1)
    widths = (x.shape[1], *(layer["w"].shape[1] for layer in params))
    rows = x.shape[0]
    block = min(_tile(settings.row_block), _tile(rows))
    dtype = jnp.result_type(*jax.tree.leaves(params))
    update = learning_rate is not None
    kernel = functools.partial(_kernel, widths, rows, block, settings.activation, settings.compute_dtype,
                               _precision(), update, settings.resident_weights)
    w_shapes = [jax.ShapeDtypeStruct(layer["w"].shape, dtype) for layer in params]
    b_shapes = [jax.ShapeDtypeStruct(layer["b"].shape, dtype) for layer in params]
    interpret = jax.default_backend() != "gpu" if settings.interpret is None else settings.interpret
    depth = len(params)
    rate = [jnp.asarray(learning_rate, dtype)] if update else []
    first = 2 + len(rate)  # inputs: x, y, (learning rate), weights, biases; outputs: loss, weights, biases
    outputs = pl.pallas_call(
        kernel,
        out_shape=(jax.ShapeDtypeStruct((), dtype), *w_shapes, *b_shapes),
        interpret=interpret,
        input_output_aliases={first + i: 1 + i for i in range(2 * depth)} if update else {},
        compiler_params=plgpu.CompilerParams(num_warps=settings.num_warps, num_stages=1),
        name="gdlab_fused_mlp",
    )(x.astype(dtype), y.astype(jnp.int32), *rate, *(layer["w"] for layer in params),
      *(layer["b"] for layer in params))
    loss, arrays = outputs[0], outputs[1:]
    return loss, tuple({"w": arrays[i], "b": arrays[depth + i]} for i in range(depth))


def _tile(n: int) -> int:
    """The smallest power of two >= n (and >= the smallest product tile)."""
    return max(_MIN_TILE, 1 << (max(n, 1) - 1).bit_length())


def _precision() -> jax.lax.Precision:
    """float32 products in TF32 (JAX's GPU default) unless the matmul precision asks for full float32."""
    asked = getattr(jax.config, "jax_default_matmul_precision", None)
    full = asked in ("highest", "float32", "F32_F32_F32")
    return jax.lax.Precision.HIGHEST if full else jax.lax.Precision.DEFAULT


def _kernel(
    widths: tuple[int, ...], rows: int, block: int, activation: str, compute_dtype: str | None,
    precision: jax.lax.Precision, update: bool, resident: bool, x_ref: Any, y_ref: Any, *refs: Any,
) -> None:
    depth = len(widths) - 1
    rate = refs[0][...] if update else None  # with update, store w - rate * dW in place of dW
    refs = refs[1:] if update else refs
    w_refs, b_refs = refs[:depth], refs[depth : 2 * depth]
    loss_ref, gw_refs, gb_refs = refs[2 * depth], refs[2 * depth + 1 : 3 * depth + 1], refs[3 * depth + 1 :]
    tiles = [_tile(n) for n in widths]

    def weight(i: int) -> Array:
        return _load_matrix(w_refs[i], widths[i], widths[i + 1], tiles[i], tiles[i + 1])

    held = [weight(i) for i in range(depth)] if resident else []
    ws: Callable[[int], Array] = held.__getitem__ if resident else weight  # resident: loaded once, else at each use
    bs = [_load_vector(b_refs[i], widths[i + 1], tiles[i + 1]) for i in range(depth)]
    dot = functools.partial(_dot, compute_dtype, precision)

    def add_block(r: Array, carry: tuple[Array, list[Array], list[Array]]) -> tuple[Array, list[Array], list[Array]]:
        loss_sum, gws, gbs = carry
        row = r * block + jnp.arange(block)
        real = row < rows
        x = plgpu.load(x_ref.at[pl.ds(r * block, block), pl.ds(0, tiles[0])],
                       mask=real[:, None] & _inside(widths[0], tiles[0])[None, :], other=0.0)
        y = plgpu.load(y_ref.at[pl.ds(r * block, block)], mask=real, other=0)
        hs = [x]
        for i in range(depth - 1):
            hs.append(_ACT[activation](dot(hs[-1], ws(i)) + bs[i][None, :]))
        z = dot(hs[-1], ws(depth - 1)) + bs[-1][None, :]
        block_loss, d = _cross_entropy(z, y, real, rows, widths[-1])
        loss_sum = loss_sum + block_loss
        gws, gbs = list(gws), list(gbs)
        for i in reversed(range(depth)):
            gws[i] = gws[i] + dot(hs[i].T, d)
            gbs[i] = gbs[i] + jnp.sum(d, axis=0)
            if i:
                d = dot(d, ws(i).T) * _ACT_GRAD[activation](hs[i])
        return loss_sum, gws, gbs

    zeros = (jnp.zeros((), jnp.float32), [jnp.zeros((tiles[i], tiles[i + 1]), jnp.float32) for i in range(depth)],
             [jnp.zeros_like(b) for b in bs])
    blocks = -(-rows // block)
    if blocks == 1:
        loss_sum, gws, gbs = add_block(jnp.int32(0), zeros)
    else:
        loss_sum, gws, gbs = jax.lax.fori_loop(0, blocks, add_block, zeros)
    loss_ref[...] = (loss_sum / rows).astype(loss_ref.dtype)
    if rate is not None:  # rate 0 (a frozen config) keeps w exactly, even where dW is not finite
        # w loaded again, not held: held weights would stay live beside every gradient to the end (with a
        # single row block, bfloat16's 128 rows, that spilled: 32 against 62 TFLOP/s on an H200)
        fresh = [weight(i) for i in range(depth)]
        gws = [jnp.where(rate != 0.0, w - rate * g, w) for w, g in zip(fresh, gws)]
        gbs = [jnp.where(rate != 0.0, b - rate * g, b) for b, g in zip(bs, gbs)]
    for i in range(depth):
        _store_matrix(gw_refs[i], gws[i], widths[i], widths[i + 1], tiles[i], tiles[i + 1])
        plgpu.store(gb_refs[i].at[pl.ds(0, tiles[i + 1])], gbs[i].astype(gb_refs[i].dtype),
                    mask=_inside(widths[i + 1], tiles[i + 1]))


def _cross_entropy(z: Array, y: Array, real: Array, rows: int, classes: int) -> tuple[Array, Array]:
    """Over a block's real rows: sum_i [logsumexp(z_i) - z_i[y_i]], and d = (softmax(z) - onehot(y)) / rows.

    Padded columns (classes and beyond) are -inf before the softmax, so they take no share.
    """
    z = jnp.where(_inside(classes, z.shape[1])[None, :], z, -jnp.inf)
    top = jnp.max(z, axis=1)
    e = jnp.exp(z - top[:, None])
    total = jnp.sum(e, axis=1)
    onehot = jnp.arange(z.shape[1])[None, :] == y[:, None]
    picked = jnp.sum(jnp.where(onehot, z, 0.0), axis=1)
    loss = jnp.sum(jnp.where(real, top + jnp.log(total) - picked, 0.0))
    d = (e / total[:, None] - onehot.astype(e.dtype)) * jnp.where(real, 1.0 / rows, 0.0)[:, None]
    return loss, d


def _inside(n: int, tile: int) -> Array:
    return jnp.arange(tile) < n


def _load_matrix(ref: Any, n: int, m: int, tile_n: int, tile_m: int) -> Array:
    mask = _inside(n, tile_n)[:, None] & _inside(m, tile_m)[None, :]
    return plgpu.load(ref.at[pl.ds(0, tile_n), pl.ds(0, tile_m)], mask=mask, other=0.0).astype(jnp.float32)


def _load_vector(ref: Any, n: int, tile: int) -> Array:
    return plgpu.load(ref.at[pl.ds(0, tile)], mask=_inside(n, tile), other=0.0).astype(jnp.float32)


def _store_matrix(ref: Any, value: Array, n: int, m: int, tile_n: int, tile_m: int) -> None:
    mask = _inside(n, tile_n)[:, None] & _inside(m, tile_m)[None, :]
    plgpu.store(ref.at[pl.ds(0, tile_n), pl.ds(0, tile_m)], value.astype(ref.dtype), mask=mask)


def _dot(compute_dtype: str | None, precision: jax.lax.Precision, a: Array, b: Array) -> Array:
    """a @ b summed in float32; in bfloat16 with compute_dtype "bfloat16"."""
    if compute_dtype == "bfloat16":
        return jnp.dot(a.astype(jnp.bfloat16), b.astype(jnp.bfloat16), preferred_element_type=jnp.float32)
    return jnp.dot(a, b, precision=precision, preferred_element_type=jnp.float32)


_ACT: dict[str, Callable[[Array], Array]] = {
    "relu": lambda z: jnp.maximum(z, 0.0),
    "tanh": jnp.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + jnp.exp(-z)),
}
_ACT_GRAD: dict[str, Callable[[Array], Array]] = {
    "relu": lambda h: (h > 0.0).astype(h.dtype),  # h = relu(z) > 0 exactly where z > 0 (jax.nn.relu's 0 at 0)
    "tanh": lambda h: 1.0 - h * h,
    "sigmoid": lambda h: h * (1.0 - h),
}
