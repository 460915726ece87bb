"""Per-example losses: mean squared error, softmax and binary cross-entropy."""

from gdlab.core.losses import (
    LOSSES,
    binary_cross_entropy,
    mean_squared_error,
    softmax_cross_entropy,
)

__all__ = ["LOSSES", "binary_cross_entropy", "mean_squared_error", "softmax_cross_entropy"]
