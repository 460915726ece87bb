"""The shared workload: MNIST-1D, the 40-100-100-10 MLP, its first weights, and epoch timing.

Every peer trains the same network from the same initial weights with plain
SGD (learning_rate 0.1, no momentum) on the same arrays, and does the same work
per epoch as ``gd.fit(..., metrics="running")``: one pass of shuffled batches
(the last batch smaller when batch_size does not divide 4000), a running sum of
the batch losses, then the loss and accuracy on the 1000 test samples.

This module imports neither JAX nor PyTorch, so each peer's process loads only
its own framework.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

LAYER_SIZES = (40, 100, 100, 10)
LEARNING_RATE = 0.1
SEED = 0
N_TRAIN = 4000
FLOPS_PER_EPOCH = 6 * N_TRAIN * sum(a * b for a, b in itertools.pairwise(LAYER_SIZES))
"""Forward (2 FLOPs per weight per sample) plus backward (4): about 0.36 GFLOP."""

Layer = tuple[np.ndarray, np.ndarray]
"""One dense layer: w of shape (fan_in, fan_out), b of shape (fan_out,), float32."""


class Arrays(NamedTuple):
    """MNIST-1D as NumPy arrays: x (n, 40) float32, y (n,) int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class Plan(NamedTuple):
    """One benchmark cell: the batch size and the epochs run (the first is the warm-up)."""

    batch_size: int
    epochs: int


FULL_PLAN = (Plan(1, 4), Plan(32, 30), Plan(128, 30), Plan(N_TRAIN, 50))
QUICK_PLAN = (Plan(1, 2), Plan(32, 3), Plan(128, 3), Plan(N_TRAIN, 5))


class PeerRun(NamedTuple):
    """What one peer reports for one plan.

    epoch_seconds leaves out the warm-up epoch; warmup_seconds is that first
    epoch's wall time, any compiling it needed included.
    """

    epoch_seconds: tuple[float, ...]
    warmup_seconds: float
    train_loss: float
    test_loss: float
    test_accuracy: float


Runner = Callable[[Arrays, tuple[Layer, ...], int, int], PeerRun]
"""Every peer module's runner: runner(arrays, weights, batch_size, epochs) -> PeerRun."""


def batch_label(batch_size: int) -> str:
    """'full' for one batch of all training samples, else the number."""
    return "full" if batch_size == N_TRAIN else str(batch_size)


def mnist1d_cache_path() -> Path:
    """gdlab's cached MNIST-1D file: <cache dir>/mnist1d-<mnist1d version>.npz."""
    base = os.environ.get("GDLAB_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gdlab"
    )
    return Path(base) / f"mnist1d-{importlib.metadata.version('mnist1d')}.npz"


def load_arrays() -> Arrays:
    """MNIST-1D from gdlab's cache, generating the cache with gdlab first if it is missing."""
    path = mnist1d_cache_path()
    if not path.exists():
        import gdlab  # generates and caches the data set (imports JAX; only on a cold cache)

        gdlab.datasets.load("mnist1d")
    with np.load(path, allow_pickle=False) as f:
        return Arrays(
            x_train=f["x"].astype(np.float32),
            y_train=f["y"].astype(np.int64),
            x_test=f["x_test"].astype(np.float32),
            y_test=f["y_test"].astype(np.int64),
        )


def initial_weights(seed: int = SEED, sizes: tuple[int, ...] = LAYER_SIZES) -> tuple[Layer, ...]:
    """w, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) per layer (nn.Linear's default scale)."""
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = 1.0 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)
        b = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
        layers.append((w, b))
    return tuple(layers)


def timed_epochs(
    train_epoch: Callable[[int], float],
    evaluate: Callable[[], tuple[float, float]],
    epochs: int,
) -> PeerRun:
    """Run epochs of train_epoch(epoch) -> mean batch loss, then evaluate() -> (test loss, accuracy).

    Each epoch's wall time covers both calls (as gdlab's epoch_time does); the
    first epoch is the warm-up and is left out of epoch_seconds.
    """
    if epochs < 2:
        raise ValueError(f"epochs must be an integer >= 2 (one warm-up, one timed); got {epochs}.")
    seconds: list[float] = []
    train_loss = test_loss = accuracy = float("nan")
    for epoch in range(epochs):
        tick = time.perf_counter()
        train_loss = train_epoch(epoch)
        test_loss, accuracy = evaluate()
        seconds.append(time.perf_counter() - tick)
    return PeerRun(tuple(seconds[1:]), seconds[0], train_loss, test_loss, accuracy)
