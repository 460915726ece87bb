"""Datasets from .csv and .npz files."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from gdlab.core.dataset import Dataset
from gdlab.datasets.arrays import from_arrays, prepare_arrays, split_arrays

SUFFIXES = (".csv", ".npz")


def from_file(
    path: str | os.PathLike[str],
    target: str | None = None,
    *,
    task: str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """A Dataset from a .csv file (a header row, numeric columns) or an .npz file.

    CSV: ``target`` names the target column (None: the last column); the other
    columns are features. NPZ: arrays x_train, y_train, x_test, y_test (kept as
    split), or x and y (``target`` may name the y array), split by seed.
    """
    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        raise ValueError(f"path must end in one of {SUFFIXES}; got {str(path)!r}.")
    if not p.is_file():
        raise ValueError(f"path must be an existing file; got {str(path)!r} (not found).")
    if p.suffix.lower() == ".csv":
        x, y = _read_csv(p, target)
        return from_arrays(x, y, task=task, test_fraction=test_fraction, seed=seed, name=p.stem)
    arrays = _read_npz(p)
    split = ("x_train", "y_train", "x_test", "y_test")
    if all(k in arrays for k in split):
        x_train, y_train, x_test, y_test = (arrays[k] for k in split)
        x_all, y_all, task, n_classes = prepare_arrays(
            np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]), task, None
        )
        n = len(x_train)
        train, test = np.arange(n), np.arange(n, len(x_all))
        return split_arrays(x_all, y_all, train, test, task, n_classes, p.stem)
    y_key = target or "y"
    if "x" not in arrays or y_key not in arrays:
        raise ValueError(
            f"path must hold arrays 'x' and {y_key!r} (or x_train, y_train, x_test, y_test); "
            f"{str(path)!r} holds {sorted(arrays)}."
        )
    return from_arrays(
        arrays["x"], arrays[y_key], task=task, test_fraction=test_fraction, seed=seed, name=p.stem
    )


def _read_csv(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"path must be a readable CSV file; could not read {str(path)!r}: {err}.") from None
    if len(rows) < 2:
        raise ValueError(f"path must be a CSV file with a header row and data rows; {str(path)!r} has {len(rows)} rows.")
    header = [h.strip() for h in rows[0]]
    column = len(header) - 1 if target is None else _column(header, target)
    if len(header) < 2:
        raise ValueError(f"path must be a CSV file with at least two columns; {str(path)!r} has {header}.")
    try:
        values = np.array([[float(v) for v in row] for row in rows[1:] if row], dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"path must hold numeric CSV values; {str(path)!r}: {err}.") from None
    if values.ndim != 2 or values.shape[1] != len(header):
        raise ValueError(f"path must have {len(header)} values on every CSV row; {str(path)!r} does not.")
    y = values[:, column]
    x = np.delete(values, column, axis=1)
    if np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    return x.astype(np.float32), y


def _column(header: list[str], target: str) -> int:
    if target not in header:
        raise ValueError(f"target must be one of the CSV columns {header}; got {target!r}.")
    return header.index(target)


def _read_npz(path: Path) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"path must be a readable .npz file; could not read {str(path)!r}: {err}.") from None
