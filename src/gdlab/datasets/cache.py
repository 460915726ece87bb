"""Where generated data is cached: $GDLAB_CACHE_DIR, else $XDG_CACHE_HOME/gdlab, else ~/.cache/gdlab."""

from __future__ import annotations

import os
from pathlib import Path

from gdlab.core.checks import check_directory, default_cache_dir


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The gdlab cache directory (created if missing; a file or read-only place there is a ValueError naming it)."""
    name, path = ("cache_path", Path(override)) if override is not None else default_cache_dir()
    return check_directory(name, path)
