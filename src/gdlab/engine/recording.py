"""The recorder protocol: how a run reports itself to a store, without the engine knowing the store."""

from __future__ import annotations

from typing import Any, Protocol

from gdlab.engine.loop import Checkpoint
from gdlab.engine.result import Result


class Recorder(Protocol):
    """Receives a run as it happens (``gd.store.open(path)`` gives one).

    ``begin`` once before the first epoch with the run's configuration,
    ``epoch`` after every epoch with a checkpoint (metrics in its history, the
    params and rule state to resume from), then ``end`` with the result, or
    ``fail`` with the exception that stopped the run.
    """

    def begin(self, config: dict[str, Any]) -> None: ...

    def epoch(self, checkpoint: Checkpoint) -> None: ...

    def end(self, result: Result) -> None: ...

    def fail(self, error: BaseException) -> None: ...
