"""Shared fixtures: a session-wide MNIST-1D (generated once into a temporary cache)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jax
import pytest

import gdlab as gd

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide data cache directory (MNIST-1D is generated into it once)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def mnist1d(data_cache: Path) -> gd.Dataset:
    return gd.datasets.load("mnist1d", cache_path=data_cache)


@pytest.fixture
def x64() -> Iterator[None]:
    """Run a test in float64 (JAX's x64 mode), restored afterwards."""
    with jax.enable_x64(True):
        yield


class CompileCounter:
    """Counts XLA backend compilations while registered."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: str, duration: float, **kwargs: object) -> None:
        if event == BACKEND_COMPILE:
            self.count += 1


@pytest.fixture
def compile_counter() -> Iterator[CompileCounter]:
    counter = CompileCounter()
    jax.monitoring.register_event_duration_secs_listener(counter)
    try:
        yield counter
    finally:
        jax.monitoring.unregister_event_duration_listener(counter)
