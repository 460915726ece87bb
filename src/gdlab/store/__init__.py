"""Run records that survive crashes: an SQLite store of runs, metrics and checkpoints.

    store = gd.store.open("runs.db")
    result = gd.fit(model, data, rule, epochs=30, record=store)   # one new run
    store.runs(), store.history(store.last_run_id)
    gd.resume(run_id, store, model, data, rule)                   # after a crash
    result = gd.sweep(model, data, learning_rate=[0.01, 0.1], record=store)   # one new sweep
    store.sweeps(), store.members(store.last_sweep_id)
    gd.store.resume_sweep(sweep_id, store, model, data)          # its unfinished configs only
"""

from gdlab.store.checkpoints import StoredCheckpoint, restore
from gdlab.store.database import Store
from gdlab.store.database import open_store as open
from gdlab.store.recorder import RunRecorder
from gdlab.store.records import RECORD_STATUSES, Run
from gdlab.store.resume import resume
from gdlab.store.schema import CURRENT_VERSION, MIGRATIONS, StoreError
from gdlab.store.sweep_recorder import SweepRecorder
from gdlab.store.sweep_resume import UnfinishedGroup, resume_sweep, unfinished_groups
from gdlab.store.sweeps import Sweep

__all__ = [
    "CURRENT_VERSION",
    "MIGRATIONS",
    "RECORD_STATUSES",
    "Run",
    "RunRecorder",
    "Store",
    "StoreError",
    "StoredCheckpoint",
    "Sweep",
    "SweepRecorder",
    "UnfinishedGroup",
    "open",
    "restore",
    "resume",
    "resume_sweep",
    "unfinished_groups",
]
