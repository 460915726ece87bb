"""A file the library writes (a sweep's CSV or JSON, a report): checked before anything is written."""

from __future__ import annotations

from pathlib import Path


def file_to_write(name: str, path: str | Path) -> Path:
    """path as a file to write: not a directory, in a directory that exists (a missing one is the caller's typo,
    not ours to create). ValueError naming the parameter, the path and what is wrong."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{name} must be a file path, not a directory; got {str(path)!r}.")
    if not p.parent.is_dir():
        raise ValueError(f"{name} must be in an existing directory; got {str(path)!r} ({str(p.parent)!r} does not "
                         "exist).")
    return p
