"""The Dataset type: train and test arrays, the task and the number of classes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TASKS = ("classification", "regression")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/test arrays (NumPy), validated once when made.

    x_*: (n, *features) floats; y_*: (n,) integer labels in [0, n_classes) for
    classification, (n,) or (n, k) floats for regression. ``info`` holds what
    the generator knows (true weights, noise level, ...).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str
    n_classes: int | None
    name: str = "arrays"
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def outputs(self) -> int:
        """Size of the model output this data needs: n_classes, or the target width."""
        if self.task == "classification":
            assert self.n_classes is not None
            return self.n_classes
        return 1 if self.y_train.ndim == 1 else int(self.y_train.shape[1])

    def fingerprint(self) -> str:
        """A SHA-256 of the arrays, the task and n_classes: equal data, equal fingerprint."""
        digest = hashlib.sha256(f"{self.task}|{self.n_classes}".encode())
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            digest.update(f"{a.dtype.str}{a.shape}".encode())
            digest.update(np.ascontiguousarray(a).tobytes())
        return digest.hexdigest()

    def __repr__(self) -> str:
        classes = f", n_classes={self.n_classes}" if self.n_classes else ""
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, train={self.x_train.shape}, "
            f"test={self.x_test.shape}{classes})"
        )


def _validate(d: Dataset) -> None:
    if d.task not in TASKS:
        raise ValueError(f"task must be one of {set(TASKS)}; got {d.task!r}.")
    for split in ("train", "test"):
        x, y = getattr(d, f"x_{split}"), getattr(d, f"y_{split}")
        if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
            raise TypeError(f"x_{split} and y_{split} must be NumPy arrays; got {type(x).__name__}.")
        if x.ndim < 2 or 0 in x.shape[1:]:
            raise ValueError(f"x_{split} must have shape (n, features...) with features >= 1; got shape {x.shape}.")
        if d.task == "regression" and (y.ndim > 2 or 0 in y.shape[1:]):
            raise ValueError(f"y_{split} must have shape (n,) or (n, k) with k >= 1 for regression; got shape {y.shape}.")
        if len(x) != len(y):
            raise ValueError(
                f"x_{split} and y_{split} must have the same length; got {len(x)} and {len(y)}."
            )
        _check_finite_floats(f"x_{split}", x)
        if d.task == "regression":
            _check_finite_floats(f"y_{split}", y)
    if len(d.x_train) == 0:
        raise ValueError("x_train must hold at least one sample; got 0.")
    if d.x_test.shape[1:] != d.x_train.shape[1:]:
        raise ValueError(
            f"x_test must have the feature shape of x_train {d.x_train.shape[1:]}; "
            f"got {d.x_test.shape[1:]}."
        )
    if d.task == "classification":
        _validate_labels(d)
    elif d.n_classes is not None:
        raise ValueError(f"n_classes must be None for a regression data set; got {d.n_classes!r}.")


def _check_finite_floats(name: str, a: np.ndarray) -> None:
    """a must be a floating-point array without NaN or inf; say where the first bad value is."""
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must be a floating-point array; got dtype {a.dtype}.")
    bad = np.argwhere(~np.isfinite(a))
    if len(bad):
        where = tuple(int(i) for i in bad[0])
        raise ValueError(f"{name} must hold finite floats; got {a[where]} at index {where}.")


def _validate_labels(d: Dataset) -> None:
    n = d.n_classes
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n_classes must be an integer >= 2 for classification; got {n!r}.")
    for split in ("train", "test"):
        y = getattr(d, f"y_{split}")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y_{split} must be a 1-D array of integer class labels; got {y.dtype} {y.shape}.")
        if len(y) and (y.min() < 0 or y.max() >= d.n_classes):
            bad = y[(y < 0) | (y >= d.n_classes)][0]
            raise ValueError(
                f"y_{split} labels must be in [0, {d.n_classes}) (n_classes={d.n_classes}); got {bad}."
            )
