"""Which layout of many MLPs trains fastest: configs as the leading axis (what ``vmap`` gives) or inside.

``python -m benchmarks.gpu_layouts [--configs 4096 16384]``: a stand-alone experiment, not the engine.
Each variant trains C copies of the MNIST-1D MLP (40-100-100-10) with plain SGD, one learning rate
per copy, batch 128, one shared data order, one epoch as one ``lax.scan``; it prints seconds per
epoch and TFLOP/s (6 x 4000 x weights per config-epoch), after checking that every variant ends an
epoch at the same params as the first.

- ``vmap``: params (C, in, out), ``jax.vmap`` of one model's value_and_grad (the engine's way).
- ``einsum, configs first``: the same layout written as batched einsums, 'cbi,cio->cbo'.
- ``einsum, configs inside``: weights (in, C, out), activations (batch, C, out), 'bci,ico->bco'.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

SIZES = (40, 100, 100, 10)
N, BATCH = 4000, 128


def _data() -> tuple[jax.Array, jax.Array]:
    rng = np.random.default_rng(0)
    return jnp.asarray(rng.normal(size=(N, SIZES[0])), jnp.float32), jnp.asarray(rng.integers(0, 10, N), jnp.int32)


def _init(configs: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    layers = []
    for fan_in, fan_out in itertools.pairwise(SIZES):
        bound = 1 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)
        b = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
        layers.append((np.broadcast_to(w, (configs, *w.shape)).copy(), np.broadcast_to(b, (configs, *b.shape)).copy()))
    return layers


def _xent(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Mean cross-entropy over the batch axis, one value per config; logits (..., batch, classes) or (batch, C, classes)."""
    return -jnp.take_along_axis(jax.nn.log_softmax(logits), y, axis=-1)[..., 0]


def _vmap_epoch(lrs: jax.Array):
    def loss(p, xb, yb):
        h = xb
        for i, (w, b) in enumerate(p):
            h = h @ w + b
            h = jax.nn.relu(h) if i < len(p) - 1 else h
        return jnp.mean(_xent(h, yb[:, None]))

    grads = jax.vmap(jax.grad(loss), in_axes=(0, None, None))

    def step(p, batch):
        g = grads(p, *batch)
        return jax.tree.map(lambda a, d: a - lrs.reshape((-1,) + (1,) * (a.ndim - 1)) * d, p, g), None

    return step


def _einsum_first_epoch(lrs: jax.Array):
    def loss(p, xb, yb):
        h = jnp.einsum("bi,cio->cbo", xb, p[0][0]) + p[0][1][:, None, :]
        for w, b in p[1:]:
            h = jnp.einsum("cbi,cio->cbo", jax.nn.relu(h), w) + b[:, None, :]
        return jnp.sum(jnp.mean(_xent(h, jnp.broadcast_to(yb[None, :, None], (*h.shape[:2], 1))), axis=1))

    def step(p, batch):
        g = jax.grad(loss)(p, *batch)
        return jax.tree.map(lambda a, d: a - lrs.reshape((-1,) + (1,) * (a.ndim - 1)) * d, p, g), None

    return step


def _einsum_inside_epoch(lrs: jax.Array):
    def loss(p, xb, yb):
        h = jnp.einsum("bi,ico->bco", xb, p[0][0]) + p[0][1]
        for w, b in p[1:]:
            h = jnp.einsum("bci,ico->bco", jax.nn.relu(h), w) + b
        return jnp.sum(jnp.mean(_xent(h, jnp.broadcast_to(yb[:, None, None], (*h.shape[:2], 1))), axis=0))

    def step(p, batch):
        g = jax.grad(loss)(p, *batch)
        scale = lambda a: lrs.reshape((1,) * (a.ndim - 2) + (-1, 1))
        return jax.tree.map(lambda a, d: a - scale(a) * d, p, g), None

    return step


def _run(name: str, configs: int, epochs: int) -> tuple[float, list[np.ndarray]]:
    x, y = _data()
    lrs = jnp.asarray(np.geomspace(1e-3, 0.5, configs), jnp.float32)
    params = [tuple(jnp.asarray(a) for a in layer) for layer in _init(configs)]
    make = {"vmap": _vmap_epoch, "einsum, configs first": _einsum_first_epoch,
            "einsum, configs inside": _einsum_inside_epoch}[name]
    if name == "einsum, configs inside":
        params = [(jnp.moveaxis(w, 0, 1), b) for w, b in params]
    step = make(lrs)

    @jax.jit
    def epoch(p, key):
        idx = jax.random.permutation(key, N)[: (N // BATCH) * BATCH].reshape(-1, BATCH)
        p, _ = jax.lax.scan(step, p, (x[idx], y[idx]))
        return p

    p = epoch(params, jax.random.PRNGKey(0))
    jax.block_until_ready(p)
    seconds = []
    for e in range(epochs):
        tick = time.perf_counter()
        p = epoch(p, jax.random.PRNGKey(e + 1))
        jax.block_until_ready(p)
        seconds.append(time.perf_counter() - tick)
    first = epoch(params, jax.random.PRNGKey(0))
    leaves = [np.asarray(jnp.moveaxis(w, 1, 0) if name == "einsum, configs inside" else w) for w, _ in first]
    return statistics.median(seconds), leaves


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    flops = 6 * N * sum(a * b for a, b in itertools.pairwise(SIZES))
    print(f"device: {jax.devices()[0].device_kind}; seconds per epoch (median of {args.epochs}); same params after "
          "one epoch as vmap (max relative difference)")
    for configs in args.configs:
        reference = None
        for name in ("vmap", "einsum, configs first", "einsum, configs inside"):
            seconds, leaves = _run(name, configs, args.epochs)
            if reference is None:
                reference, gap = leaves, 0.0
            else:
                gap = max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(leaves, reference))
            print(f"{configs:6d} configs  {name:24s} {seconds:8.4f} s/epoch  "
                  f"{configs * flops / seconds / 1e12:7.2f} TFLOP/s  gap {gap:.1e}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
