"""The learning rate of every update of a run, read from the rule before the run starts.

A schedule given as a function (step -> rate) is checked at step 0 when the
rule is built; here every step of the run is: a rate that turns negative
(gradient ascent) or non-finite later would otherwise train silently or be
blamed on the gradient. The largest rate is what the stability check compares.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.core.types import OptState, UpdateRule

BLOCK = 4096
"""Steps evaluated per call: one compiled program per schedule serves runs of every length."""


def run_rates(rule: UpdateRule, state: OptState, steps: int) -> np.ndarray | None:
    """rule.learning_rate at updates 0 .. steps - 1 (None when the rule has no rate or its state counts no step).

    A schedule function that cannot run on a traced step (a Python ``if`` on it) or gives more than
    one number is a ValueError that says so.
    """
    if rule.learning_rate is None or not hasattr(state, "step") or not hasattr(state, "_replace"):
        return None
    block = _block(rule.learning_rate)
    dtype = jnp.asarray(state.step).dtype
    try:
        parts = [np.asarray(block(state, jnp.asarray(first, dtype)), np.float64) for first in range(0, steps, BLOCK)]
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
            jax.errors.TracerIntegerConversionError) as err:
        raise ValueError(f"learning_rate must be a schedule JAX can trace (use jnp.where, not a Python if, on the "
                         f"step); got a function that needs a concrete step ({type(err).__name__}).") from None
    if parts[0].shape != (BLOCK,):
        raise ValueError(f"learning_rate must give one number per step; got an array of shape "
                         f"{parts[0].shape[1:]} at each step.")
    return np.concatenate(parts)[:steps]


@functools.cache
def _block(rate: Callable[[OptState], Any]) -> Callable[[OptState, jax.Array], jax.Array]:
    """rate at steps first .. first + BLOCK - 1, compiled once per rate function (and state structure)."""

    @jax.jit
    def block(state: Any, first: jax.Array) -> jax.Array:
        steps = first + jnp.arange(BLOCK, dtype=first.dtype)
        return jax.vmap(lambda step: rate(state._replace(step=step)))(steps)

    return block


ROUNDING = 4 * float(np.finfo(np.float32).eps)
"""A rate below 0 by at most ROUNDING x the run's largest rate is float32 rounding of a 0 (0.1 * (1 - t / 79)
at t = 79 gives -2.5e-9), not a negative rate: accepted."""


def check_run_rates(rates: np.ndarray, steps_per_epoch: int) -> None:
    """Every rate of the run finite and >= 0 (up to float32 rounding: ROUNDING); else a ValueError naming the
    first bad update."""
    finite = np.isfinite(rates)
    largest = float(np.max(np.abs(rates[finite]))) if finite.any() else 0.0
    bad = ~(finite & (rates >= -ROUNDING * largest))
    if bad.any():
        k = int(np.argmax(bad))
        epoch, step = divmod(k, steps_per_epoch)
        raise ValueError(f"learning_rate must be a finite rate >= 0 at every update of the run; the schedule gives "
                         f"{float(rates[k]):.4g} at update {k + 1} (epoch {epoch + 1}, step {step + 1} of "
                         f"{steps_per_epoch}; schedule({k})).")
