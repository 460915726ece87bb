"""Learning-rate schedules: pure, branch-free functions of the step.

A schedule maps the update count ``step`` (0 for the first update) to a learning
rate. Schedules here are per step; they run under jit, scan and vmap.
"""

from __future__ import annotations

import jax.numpy as jnp

from gdlab.core.checks import check_positive_float
from gdlab.core.types import Array, Schedule


def constant(learning_rate: float) -> Schedule:
    """Constant schedule: lr(step) = learning_rate."""
    value = check_positive_float("learning_rate", learning_rate)

    def schedule(step: Array) -> Array:
        return jnp.full(jnp.shape(step), value, dtype=jnp.result_type(float))

    return schedule
