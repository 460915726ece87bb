"""gdlab: a gradient-descent laboratory on JAX.

    import gdlab as gd
    data = gd.datasets.load("mnist1d")
    model = gd.models.mlp(hidden=(100, 100))
    result = gd.fit(model, data, gd.sgd(learning_rate=0.1), batch_size=32, epochs=30, seed=0)
"""

import importlib as _importlib
from typing import Any as _Any

from gdlab import datasets, distributed, losses, models, schedules, stop, store
from gdlab.core.dataset import Dataset
from gdlab.core.rules import SgdState, apply_updates, sgd
from gdlab.core.types import Model, UpdateRule
from gdlab.engine.compilation_cache import enable_compilation_cache
from gdlab.engine.fit import fit
from gdlab.engine.loop import Checkpoint
from gdlab.engine.lr_finder import LRFinderResult, find_learning_rate
from gdlab.engine.noise_scale import NoiseScale, exact_noise_scale, noise_scale
from gdlab.engine.result import ConvergenceWarning, Result
from gdlab.engine.sharpness import StabilityWarning, max_stable_learning_rate, sharpness
from gdlab.engine.sweep import KernelWarning, sweep
from gdlab.engine.sweep_grid import logspace
from gdlab.engine.sweep_result import SweepResult
from gdlab.engine.sweep_start import ConfigStart, ConfigState
from gdlab.store import resume

__version__ = "0.1.0"


def __getattr__(name: str) -> _Any:
    """``gd.report`` is imported on first use: it loads matplotlib (about 0.7 s), which training never needs."""
    if name == "report":
        return _importlib.import_module("gdlab.report")
    raise AttributeError(f"module 'gdlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names with ``report``, which is imported on first use (for completion in a shell)."""
    return sorted({*globals(), "report"})

__all__ = [
    "Checkpoint",
    "ConfigStart",
    "ConfigState",
    "ConvergenceWarning",
    "Dataset",
    "KernelWarning",
    "LRFinderResult",
    "Model",
    "NoiseScale",
    "Result",
    "SgdState",
    "StabilityWarning",
    "SweepResult",
    "UpdateRule",
    "__version__",
    "apply_updates",
    "datasets",
    "distributed",
    "enable_compilation_cache",
    "exact_noise_scale",
    "find_learning_rate",
    "fit",
    "logspace",
    "losses",
    "max_stable_learning_rate",
    "models",
    "noise_scale",
    "report",
    "resume",
    "schedules",
    "sgd",
    "sharpness",
    "stop",
    "store",
    "sweep",
]
