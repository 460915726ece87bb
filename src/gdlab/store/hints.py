"""Command lines written for the user to copy (into a record's reason, or printed): they name the database
unless it is the default one, so that the line works where it is pasted."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from typing import Any

from gdlab import stop as stop_rules
from gdlab.core.stopping import applied_text

DEFAULT_DB = "gdlab.db"
"""The --db every command uses unless told otherwise (or by GDLAB_DB)."""


def gdlab(command: str, db: str | os.PathLike[str] | None) -> str:
    """'gdlab COMMAND', with --db DB where DB is not the default."""
    if db is None or str(db) == DEFAULT_DB and os.environ.get("GDLAB_DB", DEFAULT_DB) == DEFAULT_DB:
        return f"gdlab {command}"
    return f"gdlab {command} --db {shlex.quote(str(db))}"


def stop_argument(stop_rule: object) -> str:
    """", stop=gd.stop.plateau(tol=0.0001, patience=8)": a recorded stop rule (``core.stopping.describe``'s text,
    the run's or sweep's config["stop_rule"]) as the argument that resumes it; "" for none, for the diverged()
    alone that every run adds, or for what is not a text."""
    default = applied_text(None)  # "diverged(factor=100.0)": every run adds it; the hint shows the user's rule
    if not isinstance(stop_rule, str) or stop_rule in ("", default):
        return ""
    given = stop_rule.removesuffix(f" | {default}")
    return ", stop=" + re.sub(r"\b([a-z_]+)\(", lambda m: f"{_prefix(m.group(1))}{m.group(1)}(", given)


def _stop_rule(config: Mapping[str, Any] | None) -> object:
    """config["stop_rule"] of a record's config (None where it has none)."""
    return None if config is None else config.get("stop_rule")


def _prefix(name: str) -> str:
    """"gd.stop." for a rule gd.stop makes; "" for a rule of the user's own (a StopRule they named)."""
    return "gd.stop." if name in stop_rules.__all__ else ""


def resume_sweep(sweep_id: str, kind: str, db: str | os.PathLike[str] | None,
                 config: Mapping[str, Any] | None = None) -> str:
    """What goes on with an unfinished sweep: gdlab resume (with --db) for a gdlab compare sweep, the library's
    resume_sweep for one recorded from Python (gdlab resume refuses those: it cannot rebuild the model), with
    the stop rule of the sweep's config (as ``records.stored_config`` reads it)."""
    if kind == "compare":
        return gdlab(f"resume {sweep_id}", db)
    return f"gd.store.resume_sweep({sweep_id!r}, store, model, data{stop_argument(_stop_rule(config))})"


def resume_run(run_id: str, by_cli: bool, checkpoint: int | None, db: str | os.PathLike[str] | None,
               config: Mapping[str, Any] | None = None) -> str:
    """What goes on with an interrupted run: gdlab resume (with --db) for a gdlab fit run, else gd.resume with
    the stop rule of the run's config (as ``records.stored_config`` reads it); from its checkpoint's epoch where one
    was saved, else from the start."""
    how = (gdlab(f"resume {run_id}", db) if by_cli
           else f"gd.resume({run_id!r}, store, model, data, rule{stop_argument(_stop_rule(config))})")
    if checkpoint is None:
        return f"{how} starts it again (no checkpoint was saved)"
    return f"{how} goes on from its checkpoint of epoch {checkpoint}"
