"""The recorder protocols: how a run or a sweep reports itself to a store, without the engine knowing the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from gdlab.core.types import LossFn, Model
from gdlab.engine.loop import Checkpoint
from gdlab.engine.result import Result
from gdlab.engine.sweep_result import SweepResult
from gdlab.engine.sweep_start import ConfigState

if TYPE_CHECKING:  # lr_finder records through this module
    from gdlab.engine.lr_finder import LRFinderResult


def model_config(model: Model | LossFn) -> dict[str, Any]:
    """What a record keeps of the model: its name, and where it has them its hidden sizes and activation.

    ``mlp((100, 100))`` -> {"model": "mlp", "hidden": [100, 100], "activation": "relu"}; ``linear()`` ->
    {"model": "linear"}; a loss function -> {"model": its __name__}.
    """
    if not isinstance(model, Model) or model.hidden is None:
        return {"model": getattr(model, "name", getattr(model, "__name__", "loss_fn"))}
    return {"model": model.name, "hidden": list(model.hidden), "activation": model.activation}


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


class Ended(NamedTuple):
    """How a sweep member ended: its status, reason, epochs and updates run, and with
    early_stopping(restore_best=True) the epoch whose params it returns (0: the initial params; None: none)."""

    status: str
    reason: str
    epochs_run: int
    steps_run: int
    best_epoch: int | None = None


class SweepEpoch(NamedTuple):
    """One epoch of one chunk of a sweep, by member position (the order of ``SweepResult.rows``).

    ``metrics``: the epoch's metrics of each member that trained in it;
    ``ended``: the members that finished in it (or, at ``epoch`` = epochs run
    and no metrics, those still running when the budget ran out);
    ``initial_loss``: each member's train loss before training (epoch 1 only);
    ``snapshot()``: the params and sgd state of each member still training after this
    epoch, read from the device only when called (a checkpoint; ``gd.store.resume_sweep``
    goes on from it).
    """

    epoch: int
    metrics: dict[int, dict[str, float]]
    ended: dict[int, Ended]
    initial_loss: dict[int, float]
    snapshot: Callable[[], dict[int, ConfigState]] | None = None


class SweepRecorder(Protocol):
    """Receives a sweep as it happens (``gd.store.open(path)`` gives one).

    ``begin_sweep`` once with the sweep's configuration and one configuration per
    member (in position order), ``sweep_epoch`` after every epoch of every chunk,
    then ``end_sweep`` with the result, or ``fail_sweep`` with the exception.
    """

    def begin_sweep(self, config: dict[str, Any], members: list[dict[str, Any]]) -> None: ...

    def sweep_epoch(self, epoch: SweepEpoch) -> None: ...

    def end_sweep(self, result: SweepResult) -> None: ...

    def fail_sweep(self, error: BaseException) -> None: ...


class FinderRecorder(Protocol):
    """Receives a finished learning-rate finder (``gd.store.open(path)`` gives one): its configuration and result."""

    def record_finder(self, config: dict[str, Any], result: LRFinderResult) -> None: ...
