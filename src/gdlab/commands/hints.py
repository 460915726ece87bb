"""Command lines printed for the user to copy: they name the database unless it is the default one."""

from __future__ import annotations

import os
import shlex

DEFAULT_DB = "gdlab.db"
"""The --db every command uses unless told otherwise (or by GDLAB_DB)."""


def gdlab(command: str, db: str | os.PathLike[str] | None) -> str:
    """'gdlab COMMAND', with --db DB where DB is not the default (so that the line works where it is pasted)."""
    if db is None or str(db) == DEFAULT_DB and os.environ.get("GDLAB_DB", DEFAULT_DB) == DEFAULT_DB:
        return f"gdlab {command}"
    return f"gdlab {command} --db {shlex.quote(str(db))}"
