"""Data sets: generated locally (never downloaded), from arrays, or from files.

``load("mnist1d")`` generates MNIST-1D with the ``mnist1d`` package's own
generator and default arguments (4000 train / 1000 test, 40 features, 10
classes) and caches the arrays on disk; ``load("linreg", ...)`` makes a linear
regression problem with known true weights.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from gdlab.core.checks import check_choice
from gdlab.core.dataset import Dataset
from gdlab.datasets.arrays import from_arrays
from gdlab.datasets.files import from_file
from gdlab.datasets.mnist1d import mnist1d
from gdlab.datasets.synthetic import linreg

LOADERS: dict[str, Callable[..., Dataset]] = {"mnist1d": mnist1d, "linreg": linreg}
NAMES = tuple(sorted(LOADERS))


def load(name: str, **options: Any) -> Dataset:
    """Load a named data set: one of ``NAMES`` ("linreg", "mnist1d"); options go to its loader."""
    check_choice("dataset", name, LOADERS)
    loader = LOADERS[name]
    takes = [p for p in inspect.signature(loader).parameters]
    unknown = [k for k in options if k not in takes]
    if unknown:
        raise TypeError(f"options of dataset {name!r} must be among {takes}; got {unknown[0]!r}.")
    return loader(**options)


__all__ = ["NAMES", "Dataset", "from_arrays", "from_file", "linreg", "load", "mnist1d"]
