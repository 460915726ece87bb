"""MNIST-1D, generated locally with the ``mnist1d`` package's own generator."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import numpy as np

from gdlab.core.dataset import Dataset
from gdlab.datasets.cache import cache_dir


def mnist1d(cache: bool = True, cache_path: str | os.PathLike[str] | None = None) -> Dataset:
    """MNIST-1D with the generator's default arguments: 4000 train / 1000 test, 40 features, 10 classes.

    The arrays are generated (never downloaded) and cached as an .npz file in
    the gdlab cache directory, keyed by the mnist1d package version (importing
    the generator is slow, so a cached load does not import it).
    """
    version = importlib.metadata.version("mnist1d")
    path = cache_dir(cache_path) / f"mnist1d-{version}.npz" if cache else None
    arrays = _read(path) if path is not None and path.exists() else None
    if arrays is None:
        arrays = _generate()
        if path is not None:
            _write(path, arrays)
    return Dataset(
        x_train=arrays["x"].astype(np.float32),
        y_train=arrays["y"].astype(np.int64),
        x_test=arrays["x_test"].astype(np.float32),
        y_test=arrays["y_test"].astype(np.int64),
        task="classification",
        n_classes=10,
        name="mnist1d",
        info={"generator": f"mnist1d {version} make_dataset(get_dataset_args())"},
    )


def _generate() -> dict[str, np.ndarray]:
    """Run the mnist1d generator, restoring NumPy's global RNG state it reseeds."""
    from mnist1d.data import get_dataset_args, make_dataset

    saved = np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(saved)
    return {key: np.asarray(data[key]) for key in ("x", "y", "x_test", "y_test")}


def _read(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {key: f[key] for key in ("x", "y", "x_test", "y_test")}
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache file is regenerated


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
