"""The names ``gdlab`` exports, imported together on first use of any of them (see ``gdlab/__init__.py``).

Importing them loads JAX and NumPy (a second or more), which ``import gdlab`` alone does not.
"""

from gdlab import datasets, distributed, losses, models, schedules, stop, store
from gdlab.core.dataset import Dataset
from gdlab.core.rules import SgdState, apply_updates, sgd
from gdlab.core.types import Model, UpdateRule
from gdlab.engine.compilation_cache import enable_compilation_cache
from gdlab.engine.fit import fit
from gdlab.engine.loop import Checkpoint
from gdlab.engine.lr_finder import LRFinderResult, find_learning_rate
from gdlab.engine.noise_scale import NoiseScale, exact_noise_scale, noise_scale
from gdlab.engine.result import ConvergenceWarning, LossPath, Result
from gdlab.engine.sharpness import StabilityWarning, max_stable_learning_rate, sharpness
from gdlab.engine.sweep import KernelWarning, sweep
from gdlab.engine.sweep_grid import logspace
from gdlab.engine.sweep_result import SweepResult
from gdlab.engine.sweep_start import ConfigStart, ConfigState
from gdlab.store import resume

__all__ = [
    "Checkpoint",
    "ConfigStart",
    "ConfigState",
    "ConvergenceWarning",
    "Dataset",
    "KernelWarning",
    "LRFinderResult",
    "LossPath",
    "Model",
    "NoiseScale",
    "Result",
    "SgdState",
    "StabilityWarning",
    "SweepResult",
    "UpdateRule",
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
    "resume",
    "schedules",
    "sgd",
    "sharpness",
    "stop",
    "store",
    "sweep",
]
