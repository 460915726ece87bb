"""``gdlab resume RUN_ID``: go on with an interrupted ``gdlab fit`` run from its last checkpoint."""

from __future__ import annotations

from typing import Any

import gdlab as gd
from gdlab.commands.fit import RecordOptions, options_from_dict, run_fit
from gdlab.store.resume import check_resumable


def run_resume(run_id: str, db: str, *, show_progress: bool, as_json: bool) -> dict[str, Any]:
    """Rebuild the run's ``gdlab fit`` options from its record and train on from its last checkpoint."""
    with gd.store.open(db, create=False) as store:
        run = store.run(run_id)
        check_resumable(run)
        recorded = run.config.get("cli")
        if not isinstance(recorded, dict):
            raise gd.store.StoreError(
                f"run_id {run.id} was recorded from the library, not by gdlab fit; "
                "resume it with gd.resume(run_id, store, model, data, rule)."
            )
        try:
            options = options_from_dict(recorded)
        except TypeError as err:
            raise gd.store.StoreError(
                f"run_id {run.id} was recorded with options this gdlab does not know ({err})."
            ) from None
    record = RecordOptions(db=db, checkpoint_every=run.checkpoint_every, resume=run.id)
    return run_fit(options, show_progress=show_progress, as_json=as_json, record=record)
