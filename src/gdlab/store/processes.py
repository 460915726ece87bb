"""Which process records a run, and whether it is still alive (to mark crashed runs interrupted)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import NamedTuple

PROC = Path("/proc")


class Process(NamedTuple):
    """A process as the store records it: pid, host name and start time (None where unknown).

    The start time tells a reused pid from the process that recorded the run.
    """

    pid: int
    host: str
    start: str | None


def this_process() -> Process:
    return Process(os.getpid(), socket.gethostname(), _start_time(os.getpid()))


def is_alive(process: Process) -> bool | None:
    """True or False for a process on this host; None for another host (it cannot be told)."""
    if process.host != socket.gethostname():
        return None
    if PROC.is_dir():
        stat = _stat_fields(process.pid)
        if stat is None or stat[0] in ("Z", "X"):  # gone, or a zombie waiting to be reaped
            return False
        return process.start is None or stat[19] == process.start
    try:
        os.kill(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_time(pid: int) -> str | None:
    stat = _stat_fields(pid)
    return None if stat is None else stat[19]


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (state first, start time at index 19), or None."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()
