"""Command lines printed for the user to copy: they name the database unless it is the default one."""

from __future__ import annotations

import os
import shlex

from gdlab.store.schema import resume_hint

DEFAULT_DB = "gdlab.db"
"""The --db every command uses unless told otherwise (or by GDLAB_DB)."""


def gdlab(command: str, db: str | os.PathLike[str] | None) -> str:
    """'gdlab COMMAND', with --db DB where DB is not the default (so that the line works where it is pasted)."""
    if db is None or str(db) == DEFAULT_DB and os.environ.get("GDLAB_DB", DEFAULT_DB) == DEFAULT_DB:
        return f"gdlab {command}"
    return f"gdlab {command} --db {shlex.quote(str(db))}"


def resume_sweep(sweep_id: str, kind: str, db: str | os.PathLike[str] | None) -> str:
    """What goes on with an unfinished sweep: gdlab resume (with --db) for a gdlab compare sweep, else the
    library's resume_sweep (gdlab resume refuses a sweep recorded from Python)."""
    return gdlab(f"resume {sweep_id}", db) if kind == "compare" else resume_hint(sweep_id, kind)
