"""What ``sweep`` returns: one row per config, each config's history, and its Result."""

from __future__ import annotations

import csv
import functools
import json
import math
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jax
import numpy as np

from gdlab.core.checks import check_int_range
from gdlab.engine.output_file import file_to_write
from gdlab.engine.result import COLLAPSED, DIVERGING, Result

CLASSIFICATION_METRICS = ("test_accuracy",)
K = TypeVar("K")


@dataclass(frozen=True, eq=False)
class Group:
    """The configs of one batch size: arrays indexed [seed, pair] (history: [epoch, seed, pair]).

    chunk_params holds each chunk's final params, [seed, pair in the chunk, ...]: NumPy
    arrays, except the last chunk's, left on the device until asked for; ``params`` joins
    them on first use (() for a sweep read back from a store).
    """

    config: dict[str, Any]
    pairs: list[tuple[float, float]]
    seeds: list[int]
    chunk_params: tuple[Any, ...]
    history: dict[str, np.ndarray]
    status: np.ndarray
    reason: np.ndarray
    steps_run: np.ndarray
    epochs_run: np.ndarray
    seconds: float
    initial_loss: np.ndarray | None = None  # each seed's train loss before training (None: not known)
    best_epoch: np.ndarray | None = None  # restore_best: the epoch whose params each config returns (0: the
    # initial params; -1: none)
    recorded: tuple[str, ...] | None = None  # the metrics gd.fit's history holds for these configs, NaN or not
    # (``member_metrics``: test_loss without a test set too); None: those with a number (``measured``)

    @property
    def schedule(self) -> str:
        """The label of the schedule this group trained ("constant" when none was named)."""
        return str(self.config.get("schedule", "constant"))

    @functools.cached_property
    def params(self) -> Any:
        """Every config's final params as NumPy arrays [seed, pair, ...] (None when not kept)."""
        if not self.chunk_params:
            return None
        return jax.tree.map(lambda *a: np.concatenate([np.asarray(x) for x in a], axis=1), *self.chunk_params)

    @functools.cached_property
    def measured(self) -> frozenset[str]:
        """The history's metrics with a number for some config (not: test accuracy of a regression, grad_norm
        with metrics "running", test metrics without a test set): those a row has final and best values of."""
        return frozenset(k for k, v in self.history.items() if not np.all(np.isnan(v)))

    def config_params(self, i: int, j: int) -> Any:
        """The final params of seed i, pair j, without joining the chunks (None when not kept)."""
        if not self.chunk_params:
            return None
        for chunk in self.chunk_params:
            width = np.shape(jax.tree.leaves(chunk)[0])[1]
            if j < width:
                return config_of(chunk, i, j)
            j -= width
        raise IndexError(f"pair {j} is not in this group's params")


def _group_rows(group: Group) -> list[list[dict[str, Any]]]:
    """The rows of a group's configs, [seed][pair]: hyperparameters, seed, status, reason, epochs and steps
    run, seconds (the group's share), initial train loss where known, and for each metric with a number in
    the epochs run its final value and its best (the lowest; accuracy: the highest; inf where its only values
    were inf; NaN where it has none);
    a config that ran but has no number for a metric the group measured has it as NaN (its only epoch applied
    no update), as ``run(k).history`` has it.

    Whole arrays at a time: a 10,000-config sweep's rows take a fraction of a second.
    """
    ran = group.epochs_run.astype(np.int64)
    shape = ran.shape
    finals: dict[str, tuple[list[Any], list[Any]]] = {}
    for name in ("train_loss", "test_loss", "test_accuracy", "grad_norm"):
        h = group.history[name]
        h = np.where(np.arange(h.shape[0])[:, None, None] < ran[None], h, np.nan)  # the epochs run
        last = h[(np.maximum(ran - 1, 0), *np.indices(shape))] if h.shape[0] else np.full(shape, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: no best
            pick = np.nanmax if name in CLASSIFICATION_METRICS else np.nanmin
            # an inf is a value (the best of a config that overflowed at once is inf, as its final is); NaN is none
            best = np.where(np.any(~np.isnan(h), axis=0), pick(h, axis=0) if h.shape[0] else np.nan, np.nan)
        finals[name] = (last.tolist(), best.tolist())
    initial = None if group.initial_loss is None else group.initial_loss.tolist()
    status, reason = group.status.tolist(), group.reason.tolist()
    steps, epochs = group.steps_run.tolist(), ran.tolist()
    seconds = group.seconds / group.status.size
    rows = []
    for i, seed in enumerate(group.seeds):
        line = []
        for j, (lr, momentum) in enumerate(group.pairs):
            row: dict[str, Any] = {
                "learning_rate": lr, "batch_size": group.config["batch_size"], "momentum": momentum,
                "schedule": group.schedule, "seed": seed, "status": str(status[i][j]), "reason": str(reason[i][j]),
                "epochs_run": epochs[i][j], "steps_run": int(steps[i][j]), "seconds": seconds,
            }
            if initial is not None and math.isfinite(initial[i]):
                row["initial_train_loss"] = float(initial[i])
            for name, (final, top) in finals.items():
                if epochs[i][j] and name in group.measured:  # NaN where it ran and never measured it
                    row[f"final_{name}"] = float(final[i][j])
                    row[f"best_{name}"] = float(top[i][j])
            line.append(row)
        rows.append(line)
    return rows


def config_of(tree: Any, i: int, j: int) -> Any:
    """Config [i, j] of a tree whose leaves are [seed, pair, ...] arrays, as read-only NumPy arrays."""
    return jax.tree.map(lambda a: read_only(np.asarray(a)[i, j, ...]), tree)  # ...: a scalar leaf stays an array


def read_only(view: np.ndarray) -> np.ndarray:
    """A read-only view of an array: what a sweep hands out is a view into its storage, not to be written."""
    view = view.view()
    view.flags.writeable = False
    return view


def group_outcome(
    parts: list[dict[str, Any]], pairs: list[tuple[float, float]], seeds: list[int],
    config: dict[str, Any], seconds: float, initial_loss: np.ndarray | None = None,
    recorded: tuple[str, ...] | None = None,
) -> Group:
    """Join the chunks of a batch-size group along the pair axis (histories padded with NaN)."""
    epochs = max(next(iter(p["history"].values())).shape[0] for p in parts)

    def pad(a: np.ndarray) -> np.ndarray:
        out = np.full((epochs, *a.shape[1:]), np.nan)
        out[: a.shape[0]] = a
        return out

    history = {k: np.concatenate([pad(p["history"][k]) for p in parts], axis=2) for k in parts[0]["history"]}
    return Group(
        config=config,
        pairs=pairs,
        seeds=seeds,
        chunk_params=tuple(p["params"] for p in parts),
        history=history,
        status=np.concatenate([p["status"] for p in parts], axis=1),
        reason=np.concatenate([p["reason"] for p in parts], axis=1),
        steps_run=np.concatenate([p["steps_run"] for p in parts], axis=1),
        epochs_run=np.concatenate([p["epochs_run"] for p in parts], axis=1),
        seconds=seconds,
        initial_loss=None if initial_loss is None else np.asarray(initial_loss, np.float64),
        best_epoch=None if parts[0].get("best_epoch") is None else np.concatenate([p["best_epoch"] for p in parts],
                                                                                   axis=1),
        recorded=recorded,
    )


@dataclass(frozen=True, eq=False)
class SweepResult:
    """Every config of a sweep, ordered by batch size, schedule, learning rate, momentum, seed. data_fingerprint:
    the trained data's ``Dataset.fingerprint()`` ("" where not known), which a report of the result checks."""

    groups: tuple[Group, ...]
    data_fingerprint: str = ""

    @functools.cached_property
    def index(self) -> list[tuple[int, int, int]]:
        """(group, seed index, pair index) of config i."""
        return [(g, i, j) for g, group in enumerate(self.groups)
                for j in range(len(group.pairs)) for i in range(len(group.seeds))]

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        """One line: the grid, the configs' statuses and where to read the rest (the dataclass's repr printed
        every array of every group)."""
        configs = [(g.config["batch_size"], g.schedule, lr, m, s) for g in self.groups for lr, m in g.pairs
                   for s in g.seeds]
        grid = "; ".join(_values_text(name, [c[k] for c in configs]) for k, name in
                         enumerate(("batch_size", "schedule", "learning_rate", "momentum", "seed")))
        statuses = [str(s) for g in self.groups for s in np.ravel(g.status)]
        counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
        return (f"SweepResult({len(self)} config{'' if len(self) == 1 else 's'}: {grid}; {counts}; "
                ".rows, .table(), .best(), .run(k))")

    def select(self, schedule: str) -> SweepResult:
        """The configs trained with one schedule of a schedule grid (by its label), as a sweep of their own."""
        labels = list(dict.fromkeys(g.schedule for g in self.groups))
        if schedule not in labels:
            raise ValueError(f"schedule must be one this sweep trained, one of {labels}; got {schedule!r}.")
        return SweepResult(groups=tuple(g for g in self.groups if g.schedule == schedule),
                           data_fingerprint=self.data_fingerprint)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict per config: hyperparameters, seed, status, reason, final and best metrics (fresh copies).

        ``seconds`` is the config's share of its group's training time (the group's seconds over its configs:
        what a config costs), not the clock it trained by (``run(k).train_seconds``, its wall_time)."""
        return [dict(row) for row in self._rows]

    @functools.cached_property
    def _rows(self) -> list[dict[str, Any]]:
        per_group = [_group_rows(group) for group in self.groups]
        return [per_group[g][i][j] for g, i, j in self.index]

    def run(self, k: int) -> Result:
        """Config k as the Result gd.fit returns (params and history as read-only NumPy arrays; no rule state).

        Its ``train_seconds`` is, as gd.fit's, its last epoch's ``wall_time`` (0 where it ran none): the clock of
        the vmapped program that trained it together with the other configs of its chunk, at the end of its last
        epoch, as its recorded member's wall_time. Its share of its group's time is ``rows[k]["seconds"]``.
        """
        g, i, j = self.index[check_int_range("k", k, 0, len(self) - 1)]
        group = self.groups[g]
        ran = int(group.epochs_run[i, j])
        lr, momentum = group.pairs[j]
        kept = group.measured if group.recorded is None else group.recorded
        return Result(
            params=group.config_params(i, j),
            history={k: read_only(v[:ran, i, j]) for k, v in group.history.items() if ran and k in kept},
            status=str(group.status[i, j]),
            reason=str(group.reason[i, j]),
            epochs_run=ran,
            steps_run=int(group.steps_run[i, j]),
            opt_state=None,
            compile_seconds=0.0,
            train_seconds=float(group.history["wall_time"][ran - 1, i, j]) if ran else 0.0,
            config={**group.config, "learning_rate": lr, "momentum": momentum, "seed": group.seeds[i]},
            best_epoch=None if group.best_epoch is None or group.best_epoch[i, j] < 0 else int(group.best_epoch[i, j]),
            initial_loss=math.nan if group.initial_loss is None else float(group.initial_loss[i]),
        )

    def best(self, metric: str | None = None) -> dict[str, Any]:
        """The (learning_rate, batch_size, momentum, schedule) with the best mean of metric over seeds, with its spread.
        metric: a row's final_* or best_* number; by default final_test_loss, or final_train_loss for data with no
        test split.

        A config some seed of which failed (``failure``: diverged, still diverging at its end, or collapsed to
        a final train loss at or above its loss before training) ranks after every config none of whose seeds
        did, and a mean that is not finite last. ``diverged``, ``diverging`` and ``collapsed`` count the seeds
        of the returned config that did; ``all_diverged`` is True when every config of the sweep diverged, and ``trained`` is False
        when every config has a failed seed: the returned one is then only the least bad (no learning
        rate trained). Configs a resumed sweep skipped (``start=``; status "skipped") neither count nor fail.
        """
        rows = [row for row in self.rows if row["status"] != "skipped"]
        if not rows:
            raise ValueError("best needs a config that trained; every config of this sweep was skipped "
                             "(start= named none of them).")
        keys = {k for row in rows for k in row}  # a config that diverged at once lacks final metrics
        allowed = sorted(k for k in keys if k.startswith(("final_", "best_")))
        if metric is None:  # from the data, not the rows: a config that diverged at once has no finals
            metric = "final_test_loss" if any("test_loss" in g.measured for g in self.groups) else "final_train_loss"
        if metric not in allowed:  # not "status" or "seed": a mean over seeds of a number
            why = " (accuracy is measured for classification only)" if str(metric).endswith("_accuracy") else ""
            raise ValueError(f"metric must be one of {allowed}{why}; got {metric!r}.")
        by_config: dict[tuple[float, int, float, str], list[dict[str, Any]]] = {}
        for row in rows:
            key = (row["learning_rate"], row["batch_size"], row["momentum"], row["schedule"])
            by_config.setdefault(key, []).append(row)
        values = {key: [r.get(metric, math.nan) for r in picked] for key, picked in by_config.items()}
        failures = {key: [failure(r) for r in picked] for key, picked in by_config.items()}
        failed = {key for key, kinds in failures.items() if any(kinds)}
        key, mean, std = best_by_mean(values, maximise="accuracy" in metric, failed=failed)
        picked = by_config[key]
        return {"learning_rate": key[0], "batch_size": key[1], "momentum": key[2], "schedule": key[3], "metric": metric,
                "mean": mean, "std": std, "seeds": len(picked),
                "diverged": failures[key].count("diverged"),
                "diverging": failures[key].count("diverging"),
                "collapsed": failures[key].count("collapsed"),
                "all_diverged": all(r["status"] == "diverged" for r in rows),
                "trained": len(failed) < len(by_config)}

    def table(self) -> str:
        """The rows as an aligned text table (a blank cell where a config has no such number)."""
        columns = ["batch_size", "schedule", "learning_rate", "momentum", "seed", "status", "epochs_run",
                   "final_train_loss", "final_test_loss", "final_test_accuracy"]
        rows = self.rows
        present = {k for row in rows for k in row}  # a skipped or at-once-diverged config lacks metrics
        columns = [c for c in columns if c in present]
        cells = [[_cell(row.get(c)) for c in columns] for row in rows]
        widths = [max(len(c), *(len(r[k]) for r in cells)) for k, c in enumerate(columns)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
        return "\n".join(lines)

    def to_csv(self, path: str | Path) -> Path:
        rows = self.rows
        with file_to_write("path", path).open("w", newline="") as f:
            columns = list(dict.fromkeys(k for row in rows for k in row))  # a config may lack some
            writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")  # as gdlab runs export
            writer.writeheader()
            writer.writerows(rows)
        return Path(path)

    def to_json(self, path: str | Path) -> Path:
        file_to_write("path", path).write_text(json.dumps([{k: _json(v) for k, v in r.items()} for r in self.rows], indent=1))
        return Path(path)

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (needs pandas installed)."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ModuleNotFoundError(
                f"to_pandas needs pandas, which is not installed ({err}); pip install pandas, "
                "or use .rows, .to_csv(path) or .to_json(path)."
            ) from err

        return pd.DataFrame(self.rows)


def mean_and_std(values: list[float]) -> tuple[float, float]:
    """The mean and standard deviation of values; NaN or inf where a value is not finite (without a warning)."""
    with np.errstate(invalid="ignore"):  # inf - inf in the std of diverged losses
        return float(np.mean(values)), float(np.std(values))


def failure(row: dict[str, Any]) -> str | None:
    """How a config (one row) failed: "diverged" (status, or a final train loss that is not finite),
    "diverging" (its reason says its train loss was still rising at its end: ``result.DIVERGING``),
    "collapsed" (a final train loss at or above its ``initial_train_loss``, where the row has one, or back within
    ``result.COLLAPSE_BAND`` of it after rising above it, as its reason says: a rate too large for a classifier can
    settle at chance level, ln(classes), with no non-finite number), or None.
    A row recorded before diverging was told apart (its reason lacks DIVERGING) is collapsed, as it was."""
    final = row.get("final_train_loss", math.nan)
    if row["status"] == "diverged" or not math.isfinite(final):
        return "diverged"
    reason = str(row.get("reason") or "")
    if DIVERGING in reason:
        return "diverging"
    if COLLAPSED in reason or final >= row.get("initial_train_loss", math.inf):  # back near its start: COLLAPSE_BAND
        return "collapsed"
    return None


def best_by_mean(
    values: dict[K, list[float]], maximise: bool, failed: Collection[K] = ()
) -> tuple[K, float, float]:
    """The key whose values have the best mean (the highest if maximise, else the lowest), that mean and std.

    A mean that is not finite ranks last; before it, a key in ``failed`` (some seed of it diverged or
    collapsed: at the edge of stability, no recommendation) ranks after every other; of equal means the
    first key wins.
    """
    stats = {key: mean_and_std(v) for key, v in values.items()}

    def score(key: K) -> tuple[bool, bool, float]:
        mean = stats[key][0]
        finite = math.isfinite(mean)
        return finite, key not in failed, (mean if maximise else -mean) if finite else 0.0

    key = max(stats, key=score)
    mean, std = stats[key]
    return key, mean, std


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _json(value: Any) -> Any:
    return value if not isinstance(value, float) or math.isfinite(value) else str(value)


def _values_text(name: str, values: list[Any]) -> str:
    """A grid axis in a few words: "learning_rate 0.1, 0.2", or "learning_rate 32 values 0.001..0.5" when long."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) <= 4:
        return f"{name} {', '.join(f'{v:g}' if isinstance(v, float) else str(v) for v in distinct)}"
    numbers = [v for v in distinct if isinstance(v, (int, float))]
    span = f" {min(numbers):g}..{max(numbers):g}" if len(numbers) == len(distinct) else ""
    return f"{name} {len(distinct)} values{span}"
