"""Progress bars of the commands: rich bars on stderr, or none (``--no-progress``, ``--json``)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

import gdlab as gd
from gdlab.commands.interrupts import INTERRUPTS


class Bars:
    """rich progress bars on stderr (or none): a spinner per step, a bar over epochs per sweep."""

    def __init__(self, show: bool, console: Console | None = None) -> None:
        self.show = show
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                            console=console or Console(stderr=True))

    def __enter__(self) -> Self:
        if self.show:
            self.bar.start()
        return self

    def __exit__(self, error: type[BaseException] | None, *exc: object) -> None:
        if not self.show:
            return
        if error is not None:  # an error is one line: the bars' last frame goes nowhere
            self.bar.live.transient = True
            self.bar.console.file = io.StringIO()
        self.bar.stop()

    def add(self, name: str, total: int, status: str = "") -> TaskID:
        """A bar of `total` units (shown only when the bars are)."""
        return self.bar.add_task(name, total=total, status=status, visible=self.show)

    def step(self, name: str, work: Callable[[], Any]) -> Any:
        task = self.add(name, 1)
        INTERRUPTS.check()
        done = work()
        self.bar.update(task, completed=1)
        return done

    def epochs(self, task: TaskID) -> Callable[[int, int, int], None]:
        """A gd.sweep callback (group, epoch, active configs) that moves the bar `task` (and raises an interrupt
        Python dropped: commands/interrupts.py)."""
        def moved(group: int, epoch: int, active: int) -> None:
            INTERRUPTS.check()
            self.bar.update(task, completed=epoch, status=f"{active} configs training")

        return moved

    def sweep(self, name: str, epochs: int, work: Callable[[Any], gd.SweepResult]) -> gd.SweepResult:
        task = self.add(name, epochs, "compiling")
        result = work(self.epochs(task))
        self.bar.update(task, completed=epochs, status="done")
        return result
