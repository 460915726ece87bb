"""Input checks that name the parameter, the value given and what is allowed.

Every check runs on concrete Python values (factories, engine entry, shells),
never inside traced code.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def is_real(value: Any) -> bool:
    """True for a real number: a Python, NumPy or 0-d array (NumPy, JAX) int or float; not a bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return True
    return _is_scalar_array(value, "iuf")


def _is_scalar_array(value: Any, kinds: str) -> bool:
    """A 0-d array (np.array(0.1), jnp.float32(0.1)) whose dtype kind is one of kinds."""
    dtype = getattr(value, "dtype", None)
    return getattr(value, "shape", None) == () and dtype is not None and np.dtype(dtype).kind in kinds


def array_as_list(value: Any) -> Any:
    """A 1-D NumPy or JAX array as the list of its numbers (a sequence check then accepts it); else value."""
    if not isinstance(value, Sequence) and getattr(value, "ndim", None) == 1:
        return list(value)
    return value


def check_fits_dtype(name: str, value: Any, dtype: Any) -> np.ndarray:
    """value as an array of dtype, refused when a finite number becomes inf there (1e39 in float32), or a
    number other than 0 becomes 0 there (1e-320 in float32; a subnormal one, 1e-5 in float16, is kept)."""
    with np.errstate(over="ignore", under="ignore"):
        array = np.asarray(value, dtype)
    given = np.asarray(value, np.float64)
    if array.dtype.kind != "f":
        return array
    if np.any(np.isinf(array) & np.isfinite(given)):
        largest = float(np.finfo(array.dtype).max)
        raise ValueError(f"{name} must be at most {largest:.4g} in size to fit {array.dtype.name}; got {value!r}.")
    if np.any((given != 0) & (array == 0)):
        tiny = float(np.finfo(array.dtype).smallest_subnormal)
        raise ValueError(f"{name} must be at least {tiny:.4g} in size (where not 0) to fit {array.dtype.name}; "
                         f"got {value!r}.")
    return array


def check_all_fit_dtype(name: str, values: Sequence[Any], dtype: Any) -> None:
    """check_fits_dtype for each of values, checked as one array (a 16384-config sweep's schedule numbers
    in milliseconds); the message names the first value that does not fit."""
    if not values:
        return
    with np.errstate(over="ignore", under="ignore"):
        given = np.concatenate([np.ravel(np.asarray(v, np.float64)) for v in values])
        array = given.astype(dtype)
    if array.dtype.kind != "f" or not np.any((np.isinf(array) & np.isfinite(given)) | ((given != 0) & (array == 0))):
        return
    for value in values:
        check_fits_dtype(name, value, dtype)


def check_positive_float(name: str, value: Any) -> float:
    """Return value as float if it is a finite number > 0."""
    if not is_real(value):
        raise TypeError(f"{name} must be a float in (0, inf); got {value!r}.")
    if not (math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{name} must be a float in (0, inf); got {value!r}.")
    return float(value)


def check_float_range(
    name: str, value: Any, low: float, high: float, *, high_open: bool = True
) -> float:
    """Return value as float if low <= value < high (or <= high when closed); never an infinity or NaN."""
    bracket = ")" if high_open else "]"
    allowed = f"a float in {'(' if low == -math.inf else '['}{low}, {high}{bracket}"
    if low == -math.inf and high == math.inf:  # "[-inf, inf)" read as if -inf were allowed
        allowed = "a finite float"
    if not is_real(value):
        raise TypeError(f"{name} must be {allowed}; got {value!r}.")
    v = float(value)
    inside = low <= v < high if high_open else low <= v <= high
    if not (math.isfinite(v) and inside):
        raise ValueError(f"{name} must be {allowed}; got {value!r}.")
    return v


def check_int_range(name: str, value: Any, low: int, high: int | None = None) -> int:
    """Return value as int if it is an integer in [low, high] (a Python, NumPy or 0-d array int)."""
    allowed = f"an integer in [{low}, {'inf' if high is None else high}]"
    if isinstance(value, bool) or not (isinstance(value, (int, np.integer)) or _is_scalar_array(value, "iu")):
        raise TypeError(f"{name} must be {allowed}; got {value!r}.")
    v = int(value)  # compared as a Python int: a jnp.int32 against 2**32 - 1 overflows inside JAX
    if v < low or (high is not None and v > high):
        raise ValueError(f"{name} must be {allowed}; got {value!r}.")
    return v


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """Return value if it is one of the allowed strings."""
    options = tuple(allowed)
    if not isinstance(value, str) or value not in options:
        shown = "{" + ", ".join(repr(o) for o in sorted(options)) + "}"
        raise ValueError(f"{name} must be one of {shown}; got {value!r}.")
    return str(value)


def check_bool(name: str, value: Any) -> bool:
    """Return value if it is a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool (True or False); got {value!r}.")
    return bool(value)


def check_callable(name: str, value: Any, allowed: str) -> Any:
    """Return value if it is None or callable; allowed says what it is called with."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be None or a function {allowed}; got {value!r}.")
    return value


def check_methods(name: str, value: Any, methods: Iterable[str], example: str) -> Any:
    """Return value if it is None or has every one of methods (a recorder, duck-typed)."""
    names = tuple(methods)
    if value is not None and not all(callable(getattr(value, m, None)) for m in names):
        raise TypeError(f"{name} must be None or an object with methods {', '.join(names)} ({example}); got {value!r}.")
    return value


def check_directory(name: str, directory: Path) -> Path:
    """Return directory, created if missing, if it can be written (not a file, not read-only)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        why = "a file, not a directory"
    except NotADirectoryError:
        why = "a file is in the way"
    except OSError as err:
        why = err.strerror or type(err).__name__
    else:
        if os.access(directory, os.W_OK | os.X_OK):
            return directory
        why = "not writable"
    raise ValueError(f"{name} must be a directory that can be created and written; got {str(directory)!r} ({why}).")


def default_cache_dir() -> tuple[str, Path]:
    """The gdlab cache directory, not created, and how messages name it: $GDLAB_CACHE_DIR, else
    $XDG_CACHE_HOME/gdlab, else ~/.cache/gdlab (generated data there, JAX's compiled programs in jax/)."""
    if os.environ.get("GDLAB_CACHE_DIR"):
        return "$GDLAB_CACHE_DIR", Path(os.environ["GDLAB_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return "$XDG_CACHE_HOME/gdlab", Path(os.environ["XDG_CACHE_HOME"]) / "gdlab"
    return "~/.cache/gdlab", Path.home() / ".cache" / "gdlab"


MAX_STEPS = 2**31 - 1
"""The largest count of steps (as gd.fit's epochs): 10**20 passed the check and made the run's loss NaN."""


def check_steps(name: str, value: Any) -> float:
    """A count of steps: an integer in [1, MAX_STEPS], stored as a float."""
    return float(check_int_range(name, value, 1, MAX_STEPS))


def check_unit(name: str, value: Any, *, one_allowed: bool = False) -> float:
    """A float in (0, 1), or (0, 1] when one_allowed."""
    allowed = f"a float in (0, 1{']' if one_allowed else ')'}"
    if not is_real(value):
        raise TypeError(f"{name} must be {allowed}; got {value!r}.")
    v = float(value)
    if not (0.0 < v < 1.0 or (one_allowed and v == 1.0)):
        raise ValueError(f"{name} must be {allowed}; got {value!r}.")
    return v


def check_increasing_steps(
    name: str, values: Any, *, allow_empty: bool = False
) -> tuple[float, ...]:
    """Strictly increasing integer steps >= 1, stored as floats."""
    allowed = "a strictly increasing sequence of integers in [1, inf)"
    values = array_as_list(values)
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be {allowed}; got {values!r}.")
    if not values and not allow_empty:
        raise ValueError(f"{name} must be a non-empty, {allowed[2:]}; got {values!r}.")
    steps = tuple(check_steps(f"{name}[{i}]", v) for i, v in enumerate(values))
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise ValueError(f"{name} must be {allowed}; got {values!r}.")
    return steps
