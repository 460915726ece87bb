"""A saved comparison: a sweep's rows, every config's history and the settings, as plain JSON.

``gdlab compare --json-out`` writes this file and ``gdlab report`` reads it back,
so it holds everything the report needs. Non-finite numbers (a diverged loss)
are stored as the strings "nan", "inf" and "-inf", as ``SweepResult.to_json`` does.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gdlab.engine.output_file import file_to_write
from gdlab.engine.sweep_result import SweepResult

FORMAT = "gdlab-comparison"
VERSION = 1
HISTORY = ("train_loss", "test_loss", "test_accuracy", "grad_norm", "learning_rate", "epoch_time", "wall_time")


@dataclass(frozen=True)
class Comparison:
    """Settings (dataset, model, epochs, seeds, target, metric, ...), variants, rows and histories.

    variants: one dict per batch size (batch_size, label, steps_per_epoch, configs, seconds).
    rows[k]: SweepResult.rows[k] plus initial_train_loss (the loss at the seed's initial params).
    histories[k]: per-epoch lists for config k (as SweepResult.run(k).history).
    paths: one seed's loss path per variant at a learning rate (PATH_KEYS; report/noise.py's path_record); empty
    where none was measured (gd.sweep's records, older files).
    """

    settings: dict[str, Any]
    variants: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    histories: list[dict[str, list[float]]]
    paths: list[dict[str, Any]] = field(default_factory=list)


def from_sweep(result: SweepResult, settings: dict[str, Any], initial_train_loss: dict[int, float]) -> Comparison:
    """The comparison of a sweep; initial_train_loss maps each seed to its loss before training."""
    n_train = int(settings["n_train"])
    schedules = [g.schedule for g in result.groups]
    sizes = [int(g.config["batch_size"]) for g in result.groups]
    if len(set(sizes)) != len(sizes):
        each = sorted(set(sizes))  # once each: it listed 'batch sizes [32, 32, 32]', a group per schedule
        at = f"batch size {each[0]}" if len(each) == 1 else f"batch sizes {each}"
        raise ValueError(f"a comparison report shows one schedule per batch size; this sweep trained the "
                         f"schedules {sorted(set(schedules))} at {at} (report one schedule at a "
                         "time: gdlab report ID --schedule NAME, or SweepResult.select(schedule)).")
    momenta = sorted({float(m) for g in result.groups for _, m in g.pairs})
    if len(momenta) > 1:  # the summary picks a best learning rate per batch size: one momentum
        raise ValueError(f"a comparison report shows one momentum; this sweep trained the momenta {momenta} "
                         "(report a sweep of one momentum).")
    variants = []
    for group in result.groups:
        size = int(group.config["batch_size"])
        variants.append({
            "batch_size": size, "label": variant_label(size, n_train),
            "steps_per_epoch": int(group.config["steps_per_epoch"]),
            "configs": int(group.status.size), "seconds": float(group.seconds),
        })
    rows = [{**row, "initial_train_loss": float(initial_train_loss[row["seed"]])} for row in result.rows]
    histories = []
    for k in range(len(result)):
        history = result.run(k).history
        histories.append({name: [float(v) for v in history[name]] for name in HISTORY if name in history})
    return Comparison(settings=dict(settings), variants=variants, rows=rows, histories=histories)


def variant_label(batch_size: int, n_train: int) -> str:
    """'SGD' (batch 1), 'mini-batch 32' or 'batch GD' (all the training data)."""
    if batch_size >= n_train:
        return "batch GD"
    if batch_size == 1:
        return "SGD"
    return f"mini-batch {batch_size}"


def save(comparison: Comparison, path: str | Path) -> Path:
    """Write the comparison as one JSON file."""
    document = {"format": FORMAT, "version": VERSION, "settings": comparison.settings,
                "variants": comparison.variants, "rows": comparison.rows, "histories": comparison.histories,
                "paths": comparison.paths}
    file_to_write("path", path).write_text(json.dumps(_encode(document), indent=1))
    return Path(path)


def load(path: str | Path) -> Comparison:
    """Read a file written by save (gdlab compare --json-out)."""
    file = Path(path)
    if not file.is_file():
        why = "a directory" if file.is_dir() else "not found"
        raise ValueError(f"path must be a saved comparison (gdlab compare --json-out); got {str(path)!r} ({why}).")
    try:
        document = json.loads(file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"path must be a saved comparison JSON file; got {str(path)!r} ({err}).") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(
            f"path must be a saved comparison (format {FORMAT!r}, from gdlab compare --json-out); "
            f"got {str(path)!r}, which is not one."
        )
    if document.get("version") != VERSION:
        raise ValueError(f"version must be {VERSION}; got {document.get('version')!r} in {str(path)!r}.")
    damaged = f"path {str(path)!r} is damaged"
    missing = [k for k in ("settings", "variants", "rows", "histories") if k not in document]
    if missing:
        raise ValueError(f"{damaged}: it has no {', '.join(missing)}.")
    wrong = [k for k, kind in (("settings", dict), ("variants", list), ("rows", list), ("histories", list))
             if not isinstance(document[k], kind) or (kind is list and not all(isinstance(v, dict) for v in document[k]))]
    if wrong:
        raise ValueError(f"{damaged}: settings must be an object and variants, rows and histories lists of objects; "
                         f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} not.")
    if len(document["rows"]) != len(document["histories"]) or not document["rows"]:
        raise ValueError(f"{damaged}: it needs as many rows as histories, at least one; got {len(document['rows'])} "
                         f"and {len(document['histories'])}.")
    check_paths(document.get("paths", []), damaged)  # a file saved before gdlab measured them has none
    decoded = _decode(document)
    return Comparison(decoded["settings"], decoded["variants"], decoded["rows"], decoded["histories"],
                      decoded.get("paths", []))


PATH_KEYS = ("kind", "batch_size", "learning_rate", "seed", "every", "steps_per_epoch", "epoch", "train_loss")
"""What each of a comparison's paths holds (report/noise.py's path_record)."""


def check_paths(paths: Any, damaged: str) -> None:
    """A saved comparison's paths: a list of objects, each with every one of PATH_KEYS (else a ValueError that
    starts with damaged, 'path ... is damaged')."""
    if not isinstance(paths, list):
        raise ValueError(f"{damaged}: paths must be a list of objects; got {type(paths).__name__}.")  # noqa: TRY004
    for i, path in enumerate(paths):
        if not isinstance(path, dict):
            raise ValueError(f"{damaged}: paths must be a list of objects; paths[{i}] is {path!r}.")  # noqa: TRY004
        missing = [key for key in PATH_KEYS if key not in path]
        if missing:
            raise ValueError(f"{damaged}: paths[{i}] has no {', '.join(missing)}.")


def _encode(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else str(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    return value
