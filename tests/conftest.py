"""Shared fixtures: a session-wide MNIST-1D (generated once into a temporary cache)."""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import jax
import pytest
from jax.experimental.compilation_cache import compilation_cache

import gdlab as gd

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
JAX_CACHE_OPTIONS = (
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_persistent_cache_min_entry_size_bytes",
)


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide data cache directory (MNIST-1D is generated into it once)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def mnist1d(data_cache: Path) -> gd.Dataset:
    return gd.datasets.load("mnist1d", cache_path=data_cache)


@pytest.fixture
def restore_jax_cache() -> Iterator[None]:
    """Undo the CLI's process-wide JAX cache settings after the test.

    ``gdlab fit`` and ``gdlab compare`` turn on JAX's persistent compilation cache with
    jax.config.update, which outlives the call; without this every later test would
    write its programs to this test's directory.
    """
    saved = {name: getattr(jax.config, name) for name in JAX_CACHE_OPTIONS}
    compilation_cache.reset_cache()
    yield
    for name, value in saved.items():
        jax.config.update(name, value)
    compilation_cache.reset_cache()


@pytest.fixture
def in_tmp_path(restore_jax_cache: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run a CLI test in tmp_path (so ./gdlab.db lands there), with its own cache and no GDLAB_DB, and undo
    the CLI's process-wide JAX cache settings (modules use it with pytest.mark.usefixtures)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GDLAB_DB", raising=False)
    yield


@pytest.fixture
def x64() -> Iterator[None]:
    """Run a test in float64 (JAX's x64 mode), restored afterwards."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def interrupted_zip_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next close of a zip member (np.savez writing one array) raises KeyboardInterrupt, as a Ctrl-C
    there would; the closes after it work. zipfile's own close then finds the member's handle open."""
    close = zipfile._ZipWriteFile.close  # type: ignore[attr-defined]
    strikes = iter([True])

    def interrupted_close(self: object) -> None:
        if next(strikes, False):
            raise KeyboardInterrupt
        close(self)

    monkeypatch.setattr(zipfile._ZipWriteFile, "close", interrupted_close)  # type: ignore[attr-defined]


class JaxEvents:
    """The functions of one kind of JAX duration event (by name) while registered: XLA compilations, traces."""

    def __init__(self, event: str) -> None:
        self.event = event
        self.names: list[str] = []

    @property
    def count(self) -> int:
        return len(self.names)

    def __call__(self, event: str, duration: float, **kwargs: object) -> None:
        if event == self.event:
            self.names.append(str(kwargs.get("fun_name")))


@contextlib.contextmanager
def listening(event: str) -> Iterator[JaxEvents]:
    """A JaxEvents registered for the block."""
    events = JaxEvents(event)
    jax.monitoring.register_event_duration_secs_listener(events)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(events)


@pytest.fixture
def compile_counter() -> Iterator[JaxEvents]:
    """XLA backend compilations during the test (``.count``)."""
    with listening(BACKEND_COMPILE) as counter:
        yield counter
