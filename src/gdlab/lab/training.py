"""Training jobs: ``gd.fit`` in a background thread, its epochs collected for the page to stream.

A job records its run in the store when the lab has one. The stop button sets an
event that the job reads after each epoch; the run then ends as ``interrupted``
(its last epoch saved, so ``gd.resume`` can go on with it; ``gdlab resume`` takes ``gdlab fit`` runs only).

Events (JSON): ``epoch`` (the epoch's metrics; a value that is not finite is null, and
``not_finite`` names it: "inf", "-inf" or "nan", so the page can tell a loss too large for
float32 from one that is not a number; the first one has ``initial_loss`` too), then ``end`` (status, reason, run id, and
``initial_loss``: the train loss before training, epoch 0 on the chart; null when not known)
or ``error``.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from gdlab.core.batching import resolve_batch_size
from gdlab.core.checks import check_choice
from gdlab.core.dataset import Dataset
from gdlab.core.models import linear, logistic, mlp
from gdlab.core.rules import sgd
from gdlab.core.run_schedules import one_cycle_min_updates
from gdlab.core.schedule_combinators import warmup
from gdlab.core.schedules import Schedule, constant, cosine, exponential, one_cycle, step
from gdlab.core.stop_syntax import parse as parse_stop
from gdlab.core.stopping import StopRule
from gdlab.core.types import Model
from gdlab.datasets import linreg, mnist1d
from gdlab.engine.fit import Recorded, check_rules, fit
from gdlab.engine.loop import Checkpoint
from gdlab.engine.setup import check_task
from gdlab.store import open as open_store

DATASETS = ("linreg", "mnist1d")
MODELS = ("linear", "logistic", "mlp")
SCHEDULES = ("constant", "step", "exponential", "cosine", "one_cycle")
MAX_RUNNING = 2
logger = logging.getLogger(__name__)
KEPT = 20
"""Finished jobs kept (their events can still be read)."""
ONE_CYCLE_MIN_UPDATES = one_cycle_min_updates(0.3)
"""4: one_cycle's rise (its default pct_start, 0.3, of the updates) must be longer than one update."""


class StopRequested(KeyboardInterrupt):
    """Raised after an epoch when the stop button was pressed (the store marks the run "interrupted: stopped from
    the lab after epoch N")."""

    def __init__(self, epoch: int) -> None:
        super().__init__("stopped from the lab")
        self.epoch = epoch


@dataclass(frozen=True)
class TrainSpec:
    """What to train: checked by the lab's request model before a job starts."""

    dataset: str = "linreg"
    model: str = "linear"
    hidden: tuple[int, ...] = (32,)
    batch_size: int | str = 32
    learning_rate: float = 0.05
    momentum: float = 0.0
    nesterov: bool = False
    schedule: str = "constant"
    warmup_steps: int = 0
    stop: str | None = None
    epochs: int = 20
    seed: int = 0


@dataclass
class Job:
    """A running or finished training job: its events (epochs, then one end or error event)."""

    id: str
    spec: TrainSpec
    events: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    run_id: str | None = None
    initial_loss: float = math.nan
    """The train loss before training, once the first epoch's checkpoint has it."""
    done: threading.Event = field(default_factory=threading.Event)
    """Set with finished: what a stop that waits for the run's end waits on."""


class Jobs:
    """The lab's jobs: start (at most MAX_RUNNING at once), look up, stop."""

    def __init__(self, db: str | None) -> None:
        self.db = db
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, spec: TrainSpec) -> Job:
        """Check what can be checked now (ValueError naming the field), then train in a thread."""
        stop_rule = parse_stop(spec.stop) if spec.stop else None
        model = build_model(spec)
        data = load_dataset(spec.dataset)
        check_task(model, data)  # logistic on linreg failed in the event stream after a 200
        check_rules(stop_rule, None, Recorded.of("exact", model, data), 1)
        resolve_batch_size(spec.batch_size, data.n_train)
        sgd(build_schedule(spec, data.n_train), momentum=spec.momentum, nesterov=spec.nesterov)
        with self._lock:
            if sum(not j.finished for j in self._jobs.values()) >= MAX_RUNNING:
                raise RuntimeError(f"at most {MAX_RUNNING} training runs at once; stop one first.")
            job = Job(uuid.uuid4().hex[:12], spec)
            self._jobs[job.id] = job
            self._forget_old()
        threading.Thread(target=self._train, args=(job, stop_rule), daemon=True, name=f"lab-{job.id}").start()
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise KeyError(f"job: no training job {job_id!r}.")
        return job

    def _forget_old(self) -> None:
        done = [j for j in self._jobs.values() if j.finished]
        for job in done[: max(0, len(done) - KEPT)]:
            del self._jobs[job.id]

    def _train(self, job: Job, stop_rule: StopRule | None) -> None:
        store = None
        try:
            data = load_dataset(job.spec.dataset)
            rule = sgd(build_schedule(job.spec, data.n_train), momentum=job.spec.momentum,
                       nesterov=job.spec.nesterov)
            store = open_store(self.db) if self.db else None
            recorder = store.recorder(extra={"lab": _plain_spec(job.spec)}) if store else None
            job.run_id = recorder.run_id if recorder else None

            def checkpoint(saved: Checkpoint) -> None:  # each epoch, before epoch_done: the loss before training
                job.initial_loss = saved.initial_loss

            def epoch_done(epoch: int, metrics: dict[str, float]) -> None:  # after the record has the epoch
                first = not job.events  # a job's events: its epochs, then its end
                job.events.append(_epoch_event(epoch, metrics, job.initial_loss if first and not math.isnan(job.initial_loss) else None))
                if job.stop.is_set():  # the page has seen the epoch the run stops after
                    raise StopRequested(epoch)

            result = fit(build_model(job.spec), data, rule, batch_size=job.spec.batch_size,
                         epochs=job.spec.epochs, seed=job.spec.seed, stop=stop_rule, callback=epoch_done,
                         on_epoch=checkpoint, record=recorder, check_stability=False)
            job.events.append({"type": "end", "status": result.status, "reason": result.reason,
                               "run_id": job.run_id, "initial_loss": _finite(result.initial_loss)})
        except StopRequested as stopped:
            said = f"{stopped} after epoch {stopped.epoch}"
            job.events.append({"type": "end", "status": "interrupted", "reason": said,
                               "run_id": job.run_id, "initial_loss": _finite(job.initial_loss)})
        except Exception as error:  # noqa: BLE001 -- the page shows it; the server goes on
            logger.warning("training job %s failed: %s", job.id, error)
            job.events.append({"type": "error", "detail": str(error) or type(error).__name__})
        finally:
            if store is not None:
                store.close()
            job.finished = True
            job.done.set()


def build_model(spec: TrainSpec) -> Model:
    """The model the spec names (mlp with its hidden sizes)."""
    name = check_choice("model", spec.model, MODELS)
    if name == "mlp":
        return mlp(spec.hidden)
    return linear() if name == "linear" else logistic()


def build_schedule(spec: TrainSpec, n_train: int) -> Schedule:
    """The learning-rate schedule over the run's updates, after a linear warmup of warmup_steps."""
    size = n_train if spec.batch_size == "full" else int(spec.batch_size)
    total = spec.epochs * math.ceil(n_train / min(size, n_train))
    if spec.warmup_steps >= total:
        raise ValueError(f"warmup_steps must be less than the run's {total} updates; got {spec.warmup_steps}.")
    lr, span = spec.learning_rate, total - spec.warmup_steps
    name = check_choice("schedule", spec.schedule, SCHEDULES)
    if name == "one_cycle" and span < ONE_CYCLE_MIN_UPDATES:  # else one_cycle names its own total_steps, pct_start
        raise ValueError(f"schedule 'one_cycle' needs at least {ONE_CYCLE_MIN_UPDATES} updates after the warmup; "
                         f"this run has {span} ({total} updates, warmup_steps {spec.warmup_steps}): "
                         "raise epochs, or lower batch_size or warmup_steps.")
    schedule = {
        "constant": lambda: constant(lr),
        "step": lambda: step(lr, max(1, span // 3), 0.1),
        "exponential": lambda: exponential(lr, 0.01, span),
        "cosine": lambda: cosine(lr, span),
        "one_cycle": lambda: one_cycle(lr, span),
    }[name]()
    return warmup(schedule, spec.warmup_steps) if spec.warmup_steps else schedule


@functools.cache
def load_dataset(name: str) -> Dataset:
    """linreg (1000 samples, 10 features) or MNIST-1D (generated locally and cached)."""
    name = check_choice("dataset", name, DATASETS)
    return linreg(n=1000) if name == "linreg" else mnist1d()


def _finite(value: float) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


def _epoch_event(epoch: int, metrics: dict[str, float], initial_loss: float | None = None) -> dict[str, Any]:
    """The epoch's metrics, non-finite ones as null and named in ``not_finite`` ("inf", "-inf" or "nan"); the
    first epoch's carries ``initial_loss`` too (the chart's epoch 0 from the first epoch on)."""
    values = {k: float(v) for k, v in metrics.items()}
    event: dict[str, Any] = {"type": "epoch", "epoch": epoch, **{k: _finite(v) for k, v in values.items()}}
    if initial_loss is not None:
        event["initial_loss"] = _finite(initial_loss)
    not_finite = {k: str(v) for k, v in values.items() if not math.isfinite(v)}
    if not_finite:
        event["not_finite"] = not_finite
    return event


def _plain_spec(spec: TrainSpec) -> dict[str, Any]:
    """The lab's options as a record keeps them; hidden only for the MLP (a linear model's form sends the field's
    value, unused)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in spec.__dict__.items()
            if k != "hidden" or spec.model == "mlp"}
