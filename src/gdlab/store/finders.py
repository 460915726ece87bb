"""Recording and reading learning-rate finder runs: a run of kind ``lr_finder`` with its curves and suggestions.

The finder is one computation, recorded in one transaction when it ends: the
run row (status ``done``), every seed's curve (``lr_finder_curves``: the learning
rate of each step, the smoothed loss, NULL after the curve ended, and the raw
batch loss), each rule's suggestion with its per-seed values and spread, the
validated answer with its interval (``lr_finder_suggestions``, rule
``validated``) and the validation sweep (``lr_finder_validation``).
"""

from __future__ import annotations

import json
import math
import secrets
import sqlite3
from typing import Any

import numpy as np

from gdlab.engine.lr_finder import LRFinderResult, Suggestion
from gdlab.store.recorder import insert_run, real
from gdlab.store.records import Run, transaction
from gdlab.store.schema import StoreError, now

VALIDATED = "validated"


def record_finder(conn: sqlite3.Connection, config: dict[str, Any], result: LRFinderResult) -> str:
    """Record a finished finder in one transaction; its run id."""
    seeds = [int(s) for s in config.get("seeds", range(len(result.losses)))]
    steps = len(result.learning_rates)
    for _ in range(5):
        run_id = secrets.token_hex(4)
        try:
            with transaction(conn):
                insert_run(conn, run_id, config, "lr_finder", 0)
                _insert_result(conn, run_id, seeds, result)
                reason = (f"done: validated learning_rate {result.suggestion:.3g} "
                          f"(interval {result.interval[0]:.3g} to {result.interval[1]:.3g})")
                conn.execute("UPDATE runs SET status = 'done', reason = ?, steps_run = ?, updated_at = ?, "
                             "initial_loss = ? WHERE id = ?",
                             (reason, steps, now(), real(np.nanmean(result.raw_losses[:, 0])), run_id))
            return run_id
        except sqlite3.IntegrityError:
            continue
    raise StoreError("could not find a free run id after 5 tries.")


def _insert_result(conn: sqlite3.Connection, run_id: str, seeds: list[int], result: LRFinderResult) -> None:
    conn.executemany(
        "INSERT INTO lr_finder_curves (run_id, seed, step, learning_rate, loss, raw_loss) VALUES (?, ?, ?, ?, ?, ?)",
        [(run_id, seed, step, float(rate), real(result.losses[k, step]), real(result.raw_losses[k, step]))
         for k, seed in enumerate(seeds) for step, rate in enumerate(result.learning_rates)],
    )
    rows = [(rule, s.value, *s.spread, json.dumps([_text(v) for v in s.per_seed]))
            for rule, s in result.suggestions.items()]
    rows.append((VALIDATED, result.suggestion, *result.interval, "[]"))
    conn.executemany(
        "INSERT INTO lr_finder_suggestions (run_id, rule, value, low, high, per_seed) VALUES (?, ?, ?, ?, ?, ?)",
        [(run_id, rule, real(value), real(low), real(high), per_seed) for rule, value, low, high, per_seed in rows],
    )
    conn.executemany(
        "INSERT INTO lr_finder_validation (run_id, learning_rate, mean, std) VALUES (?, ?, ?, ?)",
        [(run_id, float(v["learning_rate"]), real(v["mean"]), real(v["std"])) for v in result.validation],
    )


def load_finder(conn: sqlite3.Connection, run: Run) -> LRFinderResult:
    """The recorded finder run as the LRFinderResult gd.find_learning_rate returned."""
    if run.kind != "lr_finder":
        raise StoreError(f"run_id must name a learning-rate finder run; {run.id} is a run of kind {run.kind}.")
    curves = conn.execute(
        "SELECT seed, step, learning_rate, loss, raw_loss FROM lr_finder_curves WHERE run_id = ? ORDER BY rowid",
        (run.id,)).fetchall()
    seeds = list(dict.fromkeys(row[0] for row in curves))
    steps = max((row[1] for row in curves), default=-1) + 1
    rates = np.full(steps, np.nan)
    losses, raw = np.full((len(seeds), steps), np.nan), np.full((len(seeds), steps), np.nan)
    for seed, step, rate, loss, raw_loss in curves:
        k = seeds.index(seed)
        rates[step] = rate
        losses[k, step] = _float(loss)
        raw[k, step] = _float(raw_loss)
    suggestions, validated = {}, None
    for rule, value, low, high, per_seed in conn.execute(
            "SELECT rule, value, low, high, per_seed FROM lr_finder_suggestions WHERE run_id = ? ORDER BY rowid",
            (run.id,)):
        if rule == VALIDATED:
            validated = (_float(value), (_float(low), _float(high)))
        else:
            suggestions[rule] = Suggestion(_float(value), tuple(float(v) for v in json.loads(per_seed)))
    if validated is None:
        raise StoreError(f"run {run.id} has no recorded finder result; it may have been cut short.")
    validation = [{"learning_rate": rate, "mean": _float(mean), "std": _float(std),
                   "diverged": not math.isfinite(_float(mean))} for rate, mean, std in  # mean inf: diverged
                  conn.execute("SELECT learning_rate, mean, std FROM lr_finder_validation WHERE run_id = ? "
                               "ORDER BY rowid", (run.id,))]
    return LRFinderResult(validated[0], validated[1], suggestions, rates, losses, raw, validation)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _text(value: float) -> float | str:
    """A float for JSON: NaN and the infinities as text (strict JSON has none); float() reads them back."""
    return value if math.isfinite(value) else str(value)
