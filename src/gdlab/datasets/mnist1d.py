"""MNIST-1D, generated locally with the ``mnist1d`` package's own generator."""

from __future__ import annotations

import importlib.metadata
import os
import random
import zipfile
from pathlib import Path

import numpy as np

from gdlab.core.checks import check_bool
from gdlab.core.dataset import Dataset
from gdlab.datasets.cache import cache_dir
from gdlab.datasets.files import write_npz


def mnist1d(cache: bool = True, cache_path: str | os.PathLike[str] | None = None) -> Dataset:
    """MNIST-1D with the generator's default arguments: 4000 train / 1000 test, 40 features, 10 classes.

    The arrays are generated (never downloaded) and cached as an .npz file in
    the gdlab cache directory, keyed by the mnist1d package version (importing
    the generator is slow, so a cached load does not import it).
    """
    cache = check_bool("cache", cache)
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


SHAPES = {"x": (4000, 40), "y": (4000,), "x_test": (1000, 40), "y_test": (1000,)}
"""The arrays of the default MNIST-1D and their shapes."""


def _generate() -> dict[str, np.ndarray]:
    """Run the mnist1d generator, restoring the global NumPy and ``random`` RNG states it reseeds."""
    from mnist1d.data import get_dataset_args, make_dataset

    saved_numpy, saved_random = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(saved_numpy)
        random.setstate(saved_random)
    return {key: np.asarray(data[key]) for key in SHAPES}


def _read(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is damaged (empty, truncated, wrong arrays)."""
    try:  # open the file here: np.load leaks its handle when the zip is damaged
        with path.open("rb") as handle:
            archive = np.load(handle, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                return None  # a single .npy array
            with archive as f:
                arrays = {key: f[key] for key in SHAPES}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if any(arrays[key].shape != shape for key, shape in SHAPES.items()):
        return None
    return arrays


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the cache through a temporary file, so an interrupted write leaves no cache and no litter."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    try:
        write_npz(tmp, {key: arrays[key] for key in SHAPES})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
