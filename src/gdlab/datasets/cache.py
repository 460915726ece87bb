"""Where generated data is cached: $GDLAB_CACHE_DIR, else $XDG_CACHE_HOME/gdlab, else ~/.cache/gdlab."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The gdlab cache directory (created if missing)."""
    if override is not None:
        path = Path(override)
    elif os.environ.get("GDLAB_CACHE_DIR"):
        path = Path(os.environ["GDLAB_CACHE_DIR"])
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "gdlab"
    path.mkdir(parents=True, exist_ok=True)
    return path
