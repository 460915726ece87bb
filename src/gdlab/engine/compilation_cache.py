"""JAX's persistent compilation cache, turned on explicitly (the CLI does it for you)."""

from __future__ import annotations

import os
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache

from gdlab.core.checks import check_directory, default_cache_dir


def enable_compilation_cache(path: str | os.PathLike[str] | None = None) -> Path:
    """Store compiled programs on disk so a new process with the same shapes skips compiling.

    path None uses $GDLAB_CACHE_DIR/jax, else $XDG_CACHE_HOME/gdlab/jax, else
    ~/.cache/gdlab/jax. This sets JAX's process-wide cache options; call it
    once, before training. Returns the directory used; a path that is a file
    or cannot be written is a ValueError naming it.
    """
    if path is None:
        base_name, base = default_cache_dir()
        name, path = f"{base_name}/jax", base / "jax"
    else:
        name = "path"
    directory = check_directory(name, Path(path))
    if getattr(jax.config, "jax_compilation_cache_dir", None) not in (None, str(directory)):
        compilation_cache.reset_cache()  # JAX binds its cache to the first directory otherwise
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory
