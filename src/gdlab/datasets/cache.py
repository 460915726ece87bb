"""Where generated data is cached: $GDLAB_CACHE_DIR, else $XDG_CACHE_HOME/gdlab, else ~/.cache/gdlab."""

from __future__ import annotations

import os
from pathlib import Path

from gdlab.core.checks import check_directory


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The gdlab cache directory (created if missing; a file or read-only place there is a ValueError naming it)."""
    if override is not None:
        name, path = "cache_path", Path(override)
    elif os.environ.get("GDLAB_CACHE_DIR"):
        name, path = "$GDLAB_CACHE_DIR", Path(os.environ["GDLAB_CACHE_DIR"])
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        name = "$XDG_CACHE_HOME/gdlab" if os.environ.get("XDG_CACHE_HOME") else "~/.cache/gdlab"
        path = Path(base) / "gdlab"
    return check_directory(name, path)
