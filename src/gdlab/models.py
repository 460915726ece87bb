"""Models: ``linear``, ``logistic`` and ``mlp``, each an (init, apply) pair."""

from gdlab.core.models import ACTIVATIONS, linear, logistic, mlp
from gdlab.core.types import Model

NAMES = ("linear", "logistic", "mlp")

__all__ = ["ACTIVATIONS", "NAMES", "Model", "linear", "logistic", "mlp"]
