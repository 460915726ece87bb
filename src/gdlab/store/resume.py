"""``gd.resume``: go on with a recorded run from its last checkpoint."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdlab.core.dataset import Dataset
from gdlab.core.types import LossFn, Model, Params, UpdateRule
from gdlab.engine.fit import fit
from gdlab.engine.loop import Checkpoint
from gdlab.engine.result import Result
from gdlab.engine.setup import objective_and_params, seed_keys
from gdlab.store.checkpoints import restore
from gdlab.store.database import Store
from gdlab.store.recorder import RunRecorder
from gdlab.store.records import Run, load_checkpoint
from gdlab.store.schema import StoreError

FROM_CONFIG = ("batch_size", "epochs", "seed", "metrics", "test_every", "drop_last")
"""fit arguments that default to the run's own when resuming."""


def resume(
    run_id: str,
    store: Store,
    model: Model | LossFn,
    data: Dataset,
    rule: UpdateRule,
    *,
    params: Params | None = None,
    loss: str | None = None,
    **fit_kwargs: Any,
) -> Result:
    """Continue an interrupted or failed run from its last checkpoint, recording into the same run.

    Give the run's model, data and rule, and any other ``gd.fit`` arguments it
    had (``stop``, ``reduce_lr``, ...); batch_size, epochs, seed, metrics,
    test_every and drop_last default to the run's, and so does loss for a gd.models model. The data and every recorded setting must
    be the run's (checked); the run then ends exactly as it would have
    without the interruption.
    """
    run = store.run(run_id)
    check_resumable(run)
    if data.fingerprint() != run.dataset_fingerprint:
        raise StoreError(
            f"data must be the data set run {run.id} was trained on ({run.dataset}, fingerprint "
            f"{run.dataset_fingerprint[:12]}); got {data.name} with fingerprint {data.fingerprint()[:12]}."
        )
    kwargs = {key: run.config[key] for key in FROM_CONFIG if key in run.config} | fit_kwargs
    if loss is None and isinstance(model, Model) and isinstance(run.config.get("loss"), str):
        loss = run.config["loss"]  # a loss function's run records its name: it takes no loss=
    point = resume_point(store, run, model, data, rule, params, loss, kwargs.get("seed", 0))
    recorder = RunRecorder(store.connection, run.checkpoint_every, resume=(run, point.epoch if point else 0))
    result = fit(model, data, rule, params=params, loss=loss, resume=point, record=recorder, **kwargs)
    store.last_run_id = run.id
    return result


def check_resumable(run: Run) -> None:
    """Refuse a run other than gd.fit's, a finished run, or one whose process is (or may be) still recording it."""
    if run.kind != "fit":
        raise StoreError(f"run_id {run.id} is a run of kind {run.kind}, not a gd.fit run; "
                         "gd.store.resume_sweep goes on with a sweep's members.")
    if run.status in ("interrupted", "failed"):
        return
    if run.status == "running":  # a run whose process is gone was marked interrupted on open
        raise StoreError(
            f"run_id {run.id} is running (pid {run.pid} on {run.host}); only an interrupted "
            "or failed run can be resumed."
        )
    raise StoreError(f"run_id {run.id} has finished ({run.status}); there is nothing to resume.")


def resume_point(
    store: Store, run: Run, model: Model | LossFn, data: Dataset, rule: UpdateRule,
    params: Params | None, loss: str | None, seed: int,
) -> Checkpoint | None:
    """The run's last checkpoint rebuilt on the structures of this model and rule (None: none yet), with
    this rule's numbers: the recorder checks them against the run's, with the run's own message."""
    stored = load_checkpoint(store.connection, run.id)
    if stored is None:
        return None
    init_key, _ = seed_keys(np.uint32(seed))
    _, params_like, _ = objective_and_params(model, data, params, loss, init_key)
    state = rule.init(params_like)
    point = restore(stored, params_like, state)
    if hasattr(state, "hyper") and hasattr(point.opt_state, "_replace"):
        point = point._replace(opt_state=point.opt_state._replace(hyper=state.hyper))
    return point
