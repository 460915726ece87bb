"""One XLA CPU device per core for the command line, arranged before JAX starts.

A compiled scan runs on one core; a sweep shards its configs over ``jax.devices()``,
so with one CPU device per core every core trains configs. XLA reads the device
count once, when JAX starts its CPU backend, from
``XLA_FLAGS=--xla_force_host_platform_device_count=N``: the CLI sets it (N = the
usable cores, or ``GDLAB_CPU_DEVICES``; 1 turns it off) unless the flag is already
there or JAX's backends have started. Library users set the same variable themselves before importing JAX.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

FLAG = "--xla_force_host_platform_device_count"
ENV = "GDLAB_CPU_DEVICES"


def arrange_cpu_devices(environ: MutableMapping[str, str] = os.environ) -> int | None:
    """Set the CPU device count in environ's XLA_FLAGS; the count set, or None when left as is."""
    flags = environ.get("XLA_FLAGS", "")
    if FLAG in flags or _backends_started():
        return None
    count = _count(environ.get(ENV))
    if count <= 1:
        return None
    environ["XLA_FLAGS"] = f"{flags} {FLAG}={count}".strip()
    return count


def _backends_started() -> bool:
    """Whether JAX has started its backends (then XLA_FLAGS is read already; importing JAX is not enough)."""
    if "jax" not in sys.modules:
        return False
    from jax._src import xla_bridge  # no public API tells; guarded for JAX versions without it

    started = getattr(xla_bridge, "backends_are_initialized", None)
    return True if started is None else bool(started())


def _count(text: str | None) -> int:
    if text is None or text.strip() == "":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{ENV} must be an integer >= 1 (CPU devices for sweeps); got {text!r}.")
    return value
