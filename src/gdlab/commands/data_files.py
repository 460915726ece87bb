"""A recorded run's data file: kept as an absolute path beside the path as typed, so that ``gdlab resume``
finds it from any folder, and says in one line which file it looked for when it is not there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gdlab.datasets.files import SUFFIXES


def is_file(dataset: str) -> bool:
    """Whether --dataset names a .csv/.npz file (gd.datasets.from_file's suffixes) rather than a named data set."""
    return Path(dataset).suffix.lower() in SUFFIXES


def file_record(dataset: str) -> dict[str, str]:
    """{"dataset_file": its absolute path} for a data file, to record beside the options as typed; {} for a name."""
    return {"dataset_file": str(Path(dataset).resolve())} if is_file(dataset) else {}


def recorded_dataset(config: dict[str, Any], typed: str, what: str) -> str:
    """The --dataset to load to go on with a recorded run or sweep (``what``: 'run 3f2a'): a name as typed; a
    file at its recorded absolute path, or (recorded before gdlab kept that) as typed, from this folder.

    A file that is not there is one line naming the path looked at and what to do. Its content is checked
    by resume itself (the data's fingerprint against the record's).
    """
    if not is_file(typed):
        return typed
    kept = config.get("dataset_file")
    path = Path(kept) if isinstance(kept, str) else Path(typed)
    if path.is_file():
        return str(path)
    where = str(path.resolve())
    if isinstance(kept, str) or Path(typed).is_absolute():
        raise ValueError(f"{what} was trained on the data file {where!r}, which is not there now; put the file "
                         "back at that path to resume it (the data is checked against the record).")
    raise ValueError(f"{what} was trained on the data file {typed!r} as typed in the folder it started in (its "
                     f"record is older than gdlab's full paths), and {where!r} is not there; resume it from that "
                     "folder.")


def check_unchanged(dataset: str, fingerprint: Any, found: str, what: str) -> None:
    """Refuse a data file whose data (``found``: its fingerprint now) is not what ``what`` was trained on."""
    if is_file(dataset) and isinstance(fingerprint, str) and found != fingerprint:
        raise ValueError(f"the data file {dataset!r} has changed since {what} was trained on it (fingerprint "
                         f"{fingerprint[:12]}, now {found[:12]}); put back the file it was trained on to resume it.")
