"""Datasets from in-memory arrays, with a seeded train/test split."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from gdlab.core.checks import check_choice, check_float_range, check_int_range
from gdlab.core.dataset import TASKS, Dataset


def from_arrays(
    x: Any,
    y: Any,
    *,
    task: str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    n_classes: int | None = None,
    name: str = "arrays",
) -> Dataset:
    """A Dataset from x (n, features...) and y (n,) or (n, k), split at random by seed.

    task None infers it: integer or bool y is classification (n_classes = max
    label + 1, at least 2, unless given), float y is regression. test_fraction
    in [0, 1) of the samples (rounded down) go to the test set.
    """
    test_fraction = check_float_range("test_fraction", test_fraction, 0.0, 1.0)
    seed = check_int_range("seed", seed, 0, 2**32 - 1)
    x_arr, y_arr, task, n_classes = prepare_arrays(x, y, task, n_classes)
    order = np.random.default_rng(seed).permutation(len(x_arr))
    n_test = int(len(x_arr) * test_fraction)
    if test_fraction > 0 and n_test == 0:
        samples = f"{len(x_arr)} sample{'' if len(x_arr) == 1 else 's'}"
        warnings.warn(f"test_fraction {test_fraction:g} of {samples} rounds down to no test sample: the "
                      f"test metrics will be NaN (at least {math.ceil(1 / test_fraction)} samples give one; "
                      "test_fraction=0 asks for none).", UserWarning, stacklevel=2)
    return split_arrays(x_arr, y_arr, order[n_test:], order[:n_test], task, n_classes, name)


MAX_INFERRED_CLASSES = 1000
"""Whole-number targets whose largest would make more classes than this are not taken for labels unasked."""


def prepare_arrays(
    x: Any, y: Any, task: str | None, n_classes: int | None
) -> tuple[np.ndarray, np.ndarray, str, int | None]:
    """Check and convert x and y; infer the task and n_classes when not given."""
    x_arr = _as_float(np.asarray(x), "x")
    y_arr = np.asarray(y)
    if x_arr.ndim == 0 or y_arr.ndim == 0:
        raise ValueError(
            "x and y must be arrays of samples (n, ...); "
            f"got shapes {x_arr.shape} and {y_arr.shape}."
        )
    if x_arr.ndim == 1:
        x_arr = x_arr[:, None]
    if len(x_arr) != len(y_arr):
        raise ValueError(f"x and y must have the same length; got {len(x_arr)} and {len(y_arr)}.")
    if len(x_arr) == 0:
        raise ValueError(f"x and y must hold at least one sample; got shapes {x_arr.shape} and {y_arr.shape}.")
    if 0 in x_arr.shape[1:]:
        raise ValueError(f"x must have at least one feature; got shape {x_arr.shape}.")
    _check_finite(x_arr, "x")
    inferred = task is None
    if task is None:
        labels = np.issubdtype(y_arr.dtype, np.integer) or y_arr.dtype == bool
        task = "classification" if labels else "regression"
    check_choice("task", task, TASKS)
    hint = ' (whole numbers read as class labels; pass task="regression" if y is a quantity)' if inferred else ""
    y_arr = _targets(y_arr, task)
    if task == "classification" and y_arr.ndim != 1:
        if y_arr.ndim == 2 and y_arr.shape[1] == 1:
            y_arr = y_arr[:, 0]  # a column of labels
        else:
            raise ValueError(f"y must be one class label per sample, shape (n,) or (n, 1), for classification; "
                             f"got shape {y_arr.shape}.")
    if task != "classification":
        if y_arr.ndim > 2 or 0 in y_arr.shape[1:]:
            raise ValueError(f"y must have shape (n,) or (n, k) with k >= 1 for regression; got shape {y_arr.shape}.")
        _check_finite(y_arr, "y")
        return x_arr, y_arr, task, None
    if n_classes is None:
        n_classes = max(int(y_arr.max()) + 1, 2) if len(y_arr) else 2
        if inferred and n_classes > MAX_INFERRED_CLASSES:
            raise ValueError(f"y must be class labels 0 .. n_classes - 1 when its whole numbers are read as labels; "
                             f"its largest, {int(y_arr.max())} at index {int(np.argmax(y_arr))}, would make "
                             f"{n_classes} classes for {len(y_arr)} "
                             'samples (pass task="regression" if y is a quantity, or n_classes if it is labels).')
    n_classes = check_int_range("n_classes", n_classes, 2)
    outside = (y_arr < 0) | (y_arr >= n_classes)
    if np.any(outside):
        i = int(np.argmax(outside))
        raise ValueError(
            f"y labels must be in [0, {n_classes}) (n_classes={n_classes}); "
            f"got {y_arr[i]} at index {i}{hint}."
        )
    return x_arr, y_arr, task, n_classes


def split_arrays(
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    task: str,
    n_classes: int | None,
    name: str,
) -> Dataset:
    """A Dataset from prepared arrays and the indices of its train and test samples."""
    return Dataset(
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        task=task,
        n_classes=n_classes,
        name=name,
    )


def _as_float(x: np.ndarray, name: str) -> np.ndarray:
    if x.dtype.kind == "c":  # astype(float32) would drop the imaginary part with only a warning
        raise TypeError(f"{name} must be a real array; got dtype {x.dtype} (give real and imaginary parts as features).")
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"{name} must be a numeric array; got dtype {x.dtype}.")
    if np.issubdtype(x.dtype, np.floating):
        return x
    return x.astype(np.float32)


def _check_finite(a: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(a)
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        index = where[0] if len(where) == 1 else where
        raise ValueError(f"{name} must hold finite values; got {a[where]} at index {index}.")


def _targets(y: np.ndarray, task: str) -> np.ndarray:
    if task == "regression":
        return _as_float(y, "y")
    if np.issubdtype(y.dtype, np.floating):
        bad = ~np.isfinite(y) | (y != np.round(y))
        if np.any(bad):
            i = tuple(int(k) for k in np.argwhere(bad)[0])
            raise ValueError(
                f"y must hold integer class labels for classification; got {y[i]} at index "
                f"{i[0] if len(i) == 1 else i}."
            )
    elif not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        raise TypeError(f"y must be a numeric array; got dtype {y.dtype}.")
    if y.dtype != bool and y.size and np.max(y) >= 2**62:  # int64 would wrap it round to a negative label
        at = np.unravel_index(int(np.argmax(y)), y.shape)
        index = int(at[0]) if y.ndim == 1 else tuple(int(k) for k in at)
        raise ValueError(f"y labels must be integers in [0, 2**62); got {y[at]} at index {index}.")
    return y.astype(np.int64)
