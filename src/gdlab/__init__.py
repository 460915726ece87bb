"""gdlab: a gradient-descent laboratory on JAX.

    import gdlab as gd
    data = gd.datasets.load("mnist1d")
    model = gd.models.mlp(hidden=(100, 100))
    result = gd.fit(model, data, gd.sgd(learning_rate=0.1), batch_size=32, epochs=30, seed=0)
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:  # the names as type checkers and editors see them; they load on first use
    from gdlab._api import *

__version__ = "0.1.0"
_MODULES = ("datasets", "distributed", "losses", "models", "report", "schedules", "stop", "store")


def __getattr__(name: str) -> _typing.Any:
    """A public name, imported on first use, so that ``import gdlab`` (and ``python -m gdlab``) is quick.

    A module (``gd.store``, ``gd.report``: matplotlib, which training never needs) loads alone; any other
    name loads the rest of the API together (gdlab/_api.py: JAX, NumPy, a second or more).
    """
    if name in _MODULES:
        return _importlib.import_module(f"gdlab.{name}")
    if not name.startswith("__"):
        api = _importlib.import_module("gdlab._api")
        globals().update({n: getattr(api, n) for n in getattr(api, "__all__", ())})  # none while it loads
        if name in globals():  # an exported name, or a subpackage the API imported (gd.core)
            return globals()[name]
    raise AttributeError(f"module 'gdlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names with those imported on first use (for completion in a shell)."""
    return sorted({*globals(), *__all__})


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
