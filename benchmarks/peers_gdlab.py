"""gdlab: ``gd.fit`` with metrics="running"; one compiled program per epoch."""

from __future__ import annotations

import jax
import jax.numpy as jnp

import gdlab as gd
from benchmarks.workload import LAYER_SIZES, LEARNING_RATE, SEED, Arrays, Layer, PeerRun


def info() -> str:
    """The gdlab version and the JAX backend it runs on."""
    return f"gdlab {gd.__version__} on jax {jax.__version__} ({jax.default_backend()})"


def gdlab_dataset(arrays: Arrays) -> gd.Dataset:
    """The benchmark arrays as a gdlab Dataset (the same data gd.datasets.load gives)."""
    return gd.Dataset(*arrays, task="classification", n_classes=10, name="mnist1d")


def gdlab_params(weights: tuple[Layer, ...]) -> tuple[dict[str, jnp.ndarray], ...]:
    """The shared initial weights in gdlab's layout: a tuple of {"w", "b"} layers."""
    return tuple({"w": jnp.asarray(w), "b": jnp.asarray(b)} for w, b in weights)


def run_gdlab(arrays: Arrays, weights: tuple[Layer, ...], batch_size: int, epochs: int) -> PeerRun:
    """Train with gd.fit; time = history["epoch_time"] without the first epoch (compiling is apart)."""
    result = gd.fit(
        gd.models.mlp(hidden=LAYER_SIZES[1:-1]),
        gdlab_dataset(arrays),
        gd.sgd(learning_rate=LEARNING_RATE),
        batch_size=batch_size,
        epochs=epochs,
        seed=SEED,
        params=gdlab_params(weights),
        metrics="running",
    )
    history = result.history
    return PeerRun(
        epoch_seconds=tuple(float(s) for s in history["epoch_time"][1:]),
        warmup_seconds=result.compile_seconds + float(history["epoch_time"][0]),
        train_loss=float(history["train_loss"][-1]),
        test_loss=float(history["test_loss"][-1]),
        test_accuracy=float(history["test_accuracy"][-1]),
    )
