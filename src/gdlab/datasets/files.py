"""Datasets from .csv and .npz files, and writing .npz archives."""

from __future__ import annotations

import csv
import math
import os
import re
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from gdlab.core.dataset import Dataset
from gdlab.datasets.arrays import from_arrays, prepare_arrays, split_arrays

SUFFIXES = (".csv", ".npz")


FLOAT32_MAX = float(np.finfo(np.float32).max)
"""The largest magnitude a CSV value may have: features and non-label targets are read as float32."""


def from_file(
    path: str | os.PathLike[str],
    target: str | None = None,
    *,
    task: str | None = None,
    test_fraction: float | None = None,
    seed: int | None = None,
) -> Dataset:
    """A Dataset from a .csv file (a header row of column names, not all numbers but for 0,1,...,k-1; numeric columns) or an .npz file.

    CSV: ``target`` names the target column (None: the last column); the other
    columns are float32 features; a whole-number target becomes int64 labels
    (classification unless task="regression"), any other target float32.
    NPZ: arrays x_train, y_train, x_test, y_test (kept as split, so
    test_fraction and seed must be left out), or x and y (``target`` may name
    the y array). A split here is from_arrays' (test_fraction None: 0.2,
    seed None: 0).
    """
    split: dict[str, Any] = {k: v for k, v in (("test_fraction", test_fraction), ("seed", seed)) if v is not None}
    if target is not None and not isinstance(target, str):  # a CSV's column names and an .npz's array names are text
        raise TypeError(f"target must be a column or array name (text), such as target={str(target)!r}; "
                        f"got {target!r} ({type(target).__name__}).")
    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        raise ValueError(f"path must end in one of {SUFFIXES}; got {str(path)!r}.")
    if not p.is_file():
        why = "a directory" if p.is_dir() else "not found"
        raise ValueError(f"path must be an existing file; got {str(path)!r} ({why}).")
    if p.suffix.lower() == ".csv":
        x, y, column = _read_csv(p, target)
        try:
            return from_arrays(x, y, task=task, name=p.stem, **split)
        except ValueError as err:  # a label's index counts from 0
            raise ValueError(_at_data_row(str(err), p, column)) from None
    arrays = _read_npz(p)
    if all(k in arrays for k in _SPLIT):
        if target is not None:  # it was ignored
            raise ValueError(f"target must be left out for an .npz file with {', '.join(_SPLIT)} (their y arrays "
                             f"are the targets); got {target!r}.")
        for name, value in split.items():  # they were ignored: the file keeps its own split
            raise ValueError(f"{name} must be left out for an .npz file with {', '.join(_SPLIT)} (it keeps its own "
                             f"train/test split); got {value!r}.")
        return _presplit(arrays, task, p)
    if target == "x":  # x would be both the features and the target
        raise ValueError(f"target must name the .npz array of targets, not the features 'x'; got {target!r}.")
    y_key = "y" if target is None else target
    if "x" not in arrays or y_key not in arrays:
        raise ValueError(
            f"path must hold arrays 'x' and {y_key!r} (or x_train, y_train, x_test, y_test); "
            f"{str(path)!r} holds {sorted(arrays)}."
        )
    try:
        return from_arrays(arrays["x"], arrays[y_key], task=task, name=p.stem, **split)
    except ValueError as err:  # x, y: the file's arrays
        raise ValueError(f"{str(err).rstrip('.')} in {str(path)!r}.") from None


_SPLIT = ("x_train", "y_train", "x_test", "y_test")


def _presplit(arrays: dict[str, Any], task: str | None, path: Path) -> Dataset:
    """A Dataset keeping the file's own train/test split (each pair checked before joining)."""
    x_train, y_train, x_test, y_test = (arrays[k] for k in _SPLIT)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if np.ndim(x) == 0 or np.ndim(y) == 0 or len(x) != len(y):
            raise ValueError(
                f"x_{split} and y_{split} must have the same length; got shapes "
                f"{np.shape(x)} and {np.shape(y)} in {str(path)!r}."
            )
    for name, train, test in (("x", x_train, x_test), ("y", y_train, y_test)):
        if np.shape(train)[1:] != np.shape(test)[1:]:
            raise ValueError(
                f"{name}_test must have the per-sample shape of {name}_train; got "
                f"{np.shape(test)} and {np.shape(train)} in {str(path)!r}."
            )
    x_all, y_all, task, n_classes = prepare_arrays(
        np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]), task, None
    )
    n = len(x_train)
    train, test = np.arange(n), np.arange(n, len(x_all))
    return split_arrays(x_all, y_all, train, test, task, n_classes, path.stem)


def _at_data_row(message: str, path: Path, column: str) -> str:
    """from_arrays' message with y's index i (from 0) as the file's data row i + 1, as its other CSV errors say."""
    return re.sub(r"\bat index (\d+)\b",
                  lambda at: f"in {str(path)!r} data row {int(at[1]) + 1}, column {column!r}", message)


def _read_csv(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """The features, the target and the target's column name."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"path must be a readable CSV file; could not read {str(path)!r}: {err}.") from None
    # taken for the header, a data row was lost; 0,1,...,k-1 is pandas' to_csv header of unnamed columns
    if rows and all(_is_number(field) for field in rows[0]) and [f.strip() for f in rows[0]] != [
            str(i) for i in range(len(rows[0]))]:
        shown = ",".join(rows[0][:6]) + (",..." if len(rows[0]) > 6 else "")
        raise ValueError(f"path must be a CSV file whose first line is a header row of column names; the first "
                         f"line of {str(path)!r} looks like data ({shown!r}: every field is a number): add a "
                         "header row naming the columns.")
    if len(rows) < 2:
        has = "only a header row" if rows else "no rows"
        raise ValueError(f"path must be a CSV file with a header row and data rows; {str(path)!r} has {has}.")
    header = [h.strip() for h in rows[0]]
    if len(header) < 2:
        raise ValueError(f"path must be a CSV file with at least two columns; {str(path)!r} has {header}.")
    if "" in header:  # pandas' to_csv writes its row index so: the row numbers read as a feature
        column = header.index("") + 1
        why = " (pandas' to_csv writes its row index so: write it with index=False, or name the column)"
        raise ValueError(f"path must be a CSV file whose columns all have names; column {column} of {str(path)!r} "
                         f"has none{why if column == 1 else ''}.")
    column = len(header) - 1 if target is None else _column(header, target)
    values = _csv_values(path, header, rows[1:])
    y = values[:, column]
    x = np.delete(values, column, axis=1)
    if np.all(np.isfinite(y)) and np.all(y == np.round(y)) and np.all(np.abs(y) < 2**62):  # int64 holds them
        return x.astype(np.float32), y.astype(np.int64), header[column]
    return x.astype(np.float32), y.astype(np.float32), header[column]


def _csv_values(path: Path, header: list[str], rows: list[list[str]]) -> np.ndarray:
    """The data rows as floats; a short/long row or a non-numeric cell names its row and column."""
    values = np.empty((len(rows), len(header)), dtype=np.float64)
    for i, row in enumerate(rows):
        line = i + 1  # data rows count from 1 after the header, blank lines skipped
        if len(row) != len(header):
            raise ValueError(
                f"path must have {len(header)} values on every CSV row; "
                f"{str(path)!r} data row {line} has {len(row)}."
            )
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise ValueError(
                    f"path must hold numeric CSV values; {str(path)!r} data row {line}, column "
                    f"{header[j]!r} has {cell!r}."
                ) from None
            if not math.isfinite(values[i, j]):  # float() reads nan and inf
                raise ValueError(
                    f"path must hold finite CSV values; {str(path)!r} data row {line}, column "
                    f"{header[j]!r} has {cell!r}."
                )
            if abs(values[i, j]) > FLOAT32_MAX:  # read as float32: inf, then an error naming no row
                raise ValueError(
                    f"path must hold CSV values within float32's range (|v| <= {FLOAT32_MAX:.4g}); {str(path)!r} "
                    f"data row {line}, column {header[j]!r} has {cell!r}."
                )
    return values


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _column(header: list[str], target: str) -> int:
    if target not in header:
        raise ValueError(f"target must be one of the CSV columns {header}; got {target!r}.")
    if header.count(target) > 1:  # index() took the first one silently
        raise ValueError(f"target must name one CSV column; got {target!r}, which names {header.count(target)} "
                         f"of the columns {header}.")
    return header.index(target)


def _read_npz(path: Path) -> dict[str, Any]:
    try:  # open the file here: np.load leaks its handle when the zip is damaged
        with path.open("rb") as handle:
            if handle.read(6) != b"\x93NUMPY" and not zipfile.is_zipfile(handle):  # np.load: 'pickled data'
                raise ValueError("it is not an .npz (zip) archive, or it is cut short")
            handle.seek(0)
            archive = np.load(handle, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single .npy array, not an .npz archive of named arrays")  # noqa: TRY004 -- caught below
            with archive as f:
                return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"path must be a readable .npz file; could not read {str(path)!r}: {err}.") from None


def write_npz(file: str | os.PathLike[str] | IO[bytes], arrays: dict[str, np.ndarray]) -> None:
    """np.savez(file, **arrays), where a Ctrl-C stays a KeyboardInterrupt.

    An interrupt inside zipfile's close of a member leaves that member's write handle open;
    zipfile's own close then raises ValueError ("Can't close the ZIP file while there is an open
    writing handle") over it, and the interrupt would surface as that error.
    """
    try:
        np.savez(file, **arrays)  # type: ignore[arg-type]
    except ValueError as err:
        if isinstance(err.__context__, KeyboardInterrupt):
            raise err.__context__ from None
        raise
