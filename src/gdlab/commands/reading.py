"""Opening the database for a command that only reads it (runs list/show/compare/export, report)."""

from __future__ import annotations

import os
from pathlib import Path

import gdlab as gd


def open_to_read(db: str) -> gd.store.Store:
    """The database at db, opened read-only where this user cannot write the file or its folder (an archived
    or shared one), else as usual (marking runs whose process is gone interrupted)."""
    path = Path(db)
    read_only = path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK))
    return gd.store.open(db, create=False, read_only=read_only)
