"""Traced epoch programs kept on disk, so a new process with the same program skips tracing it.

JAX's persistent compilation cache (engine/compilation_cache.py) skips XLA's
compile, but each process still traces and lowers every program to find its
key: in a warm ``gdlab compare`` that was 7 epoch programs at ~0.6 s of tracing
and ~0.3 s of lowering each, a third of its 22 s. Here a program built only
from gdlab's own code is exported once (``jax.export``), stored beside JAX's
cache, and later processes compile the stored module instead.

A program's key is the hash of everything it is made of: gdlab's source,
the versions of JAX and its backend, the JAX settings that change a traced
program, the devices, the argument shapes and dtypes, and a fingerprint of the
traced function itself (``fingerprint``): its code, every value its closures,
defaults and the module globals it reads hold, walked down to numbers and
names. A function or value that is not gdlab's, JAX's, NumPy's or Python's own
(a user's loss function) has no fingerprint: its programs are traced as before.
The store is on only while JAX's persistent cache is (the CLI turns it on;
library users call ``gd.enable_compilation_cache``), in a single process (not
when training across processes), and not for the fused GPU kernel (jax.export
refuses its custom call).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import hashlib
import importlib.metadata
import os
import sys
import sysconfig
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

LIBRARIES = frozenset({"gdlab", "jax", "jaxlib", "numpy"})
"""Packages whose functions and classes may be fingerprinted: gdlab's (its source is in the key), JAX's and
NumPy's (their versions are), and Python's standard library (loaded from its own folder: not a script of
yours named like one of its modules). Any other makes a program unstorable."""

SETTINGS = ("jax_enable_x64", "jax_default_matmul_precision", "jax_default_prng_impl", "jax_threefry_partitionable",
            "jax_numpy_dtype_promotion", "jax_numpy_rank_promotion", "jax_enable_checks", "jax_disable_jit")
"""JAX settings that change what a function traces to."""


MAX_BYTES = 256 * 2**20
"""The store's size: past it, the programs used least recently go (one is ~40 KB: the default compare's 7 take
0.3 MB; every gdlab version has its own keys)."""


class Unstorable(Exception):
    """A value without a fingerprint (a user's function, an unknown object)."""


def stored_program(fn: Callable[..., Any], args: tuple[Any, ...], returns: tuple[type, ...] = ()) -> Any | None:
    """fn jitted, lowered and compiled for args, from the stored module of a process before where there is
    one (stored now where there is not); None when the store is off or fn cannot be stored (then the
    caller compiles as usual, and any error of fn's is raised there). returns: the NamedTuple types of
    fn's outputs that args do not hold."""
    directory = _directory()
    if directory is None:
        return None
    try:
        key = _key(fn, args)
    except Unstorable:
        return None
    _register_namedtuples(args, returns)
    path = directory / f"{key}.exported"
    exported = _load(path)
    try:
        if exported is None:
            exported = jax.export.export(jax.jit(fn))(*args)
            _save(path, bytes(exported.serialize()))
        return jax.jit(exported.call).lower(*args).compile()
    except Exception:  # noqa: BLE001 (what jax.export cannot hold, or an error of fn's: compiled as usual)
        with contextlib.suppress(OSError):  # a stored program that no longer compiles is not tried again
            path.unlink(missing_ok=True)
        return None


def fingerprint(value: Any) -> str:
    """A hash of what value is made of (see the module's docstring); Unstorable when part of it has none."""
    digest = hashlib.sha256()
    _walk(value, digest, {})
    return digest.hexdigest()


def _key(fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
    leaves, tree = jax.tree.flatten(args)
    shapes = [(np.shape(a), str(jax.numpy.result_type(a)), bool(getattr(a, "weak_type", False)),
               _placement(a)) for a in leaves]
    settings = [(name, str(getattr(jax.config, name, None))) for name in SETTINGS]
    devices = [(d.platform, d.device_kind, d.id) for d in jax.devices()]
    versions = (sys.version, jax.__version__, importlib.metadata.version("jaxlib"), np.__version__, _backend_version())
    parts = (_source_hash(), versions, settings, devices, str(tree), shapes, fingerprint(fn))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:40]


def _placement(a: Any) -> str:
    sharding = getattr(a, "sharding", None)
    if sharding is None or len(sharding.device_set) == 1:
        return ""
    return repr(sharding)


def _walk(value: Any, digest: Any, seen: dict[int, tuple[int, Any]]) -> None:
    """Feed value's parts to digest; each object once, named by the order it was met in the second time
    (functions that read each other); seen holds them, so that no id is reused during the walk."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        digest.update(f"{type(value).__name__}:{value!r};".encode())
        return
    if id(value) in seen:
        digest.update(f"seen:{seen[id(value)][0]};".encode())
        return
    seen[id(value)] = (len(seen), value)
    kind = type(value)
    digest.update(f"<{kind.__module__}.{kind.__qualname__}>".encode())
    if kind is object:  # a sentinel (JAX's vmap holds one): the same in every process
        return
    if isinstance(value, types.ModuleType):
        _owned(value.__name__)
        digest.update(value.__name__.encode())
    elif isinstance(value, (np.ndarray, np.generic)) or (isinstance(value, jax.Array) and value.size <= 1 << 20):
        digest.update(f"{value.dtype}{np.shape(value)}".encode() + np.ascontiguousarray(value).tobytes())
    elif isinstance(value, type):  # a class: its name (gdlab's are in the source hash, the others versioned)
        _owned(value.__module__)
        digest.update(repr(value).encode())
    elif isinstance(value, (np.dtype, np.ufunc, PartitionSpec)) or (isinstance(value, enum.Enum) and _is_owned(kind)):
        digest.update(repr(value).encode())
    elif isinstance(value, Mesh):
        digest.update(repr((value.axis_names, value.devices.shape, [d.id for d in value.devices.flat])).encode())
    elif isinstance(value, functools.partial):
        _walk((value.func, value.args, tuple(sorted(value.keywords.items()))), digest, seen)
    elif isinstance(value, types.FunctionType):
        _function(value, digest, seen)
    elif isinstance(value, (types.BuiltinFunctionType, types.MethodWrapperType)) or kind.__name__ == "PjitFunction":
        _owned(getattr(value, "__module__", None) or "builtins")
        digest.update(f"{getattr(value, '__qualname__', value)!r}".encode())
        bound = getattr(value, "__self__", None)  # a bound builtin method: the object it reads (not a module)
        _walk((getattr(value, "__wrapped__", None), None if isinstance(bound, types.ModuleType) else bound),
              digest, seen)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _walk(item, digest, seen)
        digest.update(b")")
    elif isinstance(value, (set, frozenset)):  # in an order of their own: a set's order differs between processes
        _walk(sorted(value, key=repr), digest, seen)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(k, digest, seen)
            _walk(v, digest, seen)
        digest.update(b"}")
    elif dataclasses.is_dataclass(value) and _is_owned(kind):
        _walk([getattr(value, f.name) for f in dataclasses.fields(value)], digest, seen)
    elif _is_owned(kind) and hasattr(value, "__wrapped__"):  # functools.cache, custom_jvp, custom_vjp: their
        _walk([getattr(value, name, None) for name in ("__wrapped__", "jvp", "fwd", "bwd", "nondiff_argnums")],
              digest, seen)  # functions (a derivative rule too)
    else:
        raise Unstorable(f"no fingerprint for {kind.__module__}.{kind.__qualname__}")


def _function(fn: types.FunctionType, digest: Any, seen: dict[int, tuple[int, Any]]) -> None:
    """A function: its module and code, its defaults and closure values, and the globals its code reads."""
    module = fn.__module__ or ""
    _owned(module)
    digest.update(f"{module}.{fn.__qualname__}".encode())
    if not module.startswith("gdlab"):
        _walk((fn.__defaults__, _cells(fn)), digest, seen)  # the libraries' code: by version
        return
    _code(fn.__code__, digest)
    _walk((fn.__defaults__, tuple(sorted((fn.__kwdefaults__ or {}).items())), _cells(fn)), digest, seen)
    for name in _global_names(fn.__code__):
        if name in fn.__globals__:
            digest.update(f"global {name}=".encode())
            _walk(fn.__globals__[name], digest, seen)


def _cells(fn: types.FunctionType) -> tuple[Any, ...]:
    try:
        return tuple(cell.cell_contents for cell in fn.__closure__ or ())
    except ValueError:  # an empty cell: a name assigned after the function was made
        raise Unstorable(f"{fn.__qualname__} has an empty closure cell") from None


def _code(code: types.CodeType, digest: Any) -> None:
    digest.update(code.co_code)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code(const, digest)
        else:
            digest.update(repr(const).encode())


def _global_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _global_names(const)
    return sorted(set(names))


def _owned(module: str) -> None:
    if not _owned_root(module.split(".")[0]):
        raise Unstorable(f"a function of module {module!r}")


def _is_owned(kind: type) -> bool:
    return _owned_root(kind.__module__.split(".")[0])


@functools.cache
def _owned_root(root: str) -> bool:
    """Whether a top-level module is one of LIBRARIES or the standard library's own (builtin or in its folder)."""
    if root in LIBRARIES:
        return True
    if root not in sys.stdlib_module_names:
        return False
    path = getattr(sys.modules.get(root), "__file__", None)
    return path is None or Path(path).resolve().is_relative_to(Path(sysconfig.get_paths()["stdlib"]).resolve())


@functools.cache
def _source_hash() -> str:
    """The hash of gdlab's Python source (any change of it is another program)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def _backend_version() -> str:
    """The backend's platform and version (XLA's CPU, CUDA's driver and runtime)."""
    client = getattr(jax.devices()[0], "client", None)
    return f"{getattr(client, 'platform', jax.default_backend())} {getattr(client, 'platform_version', '')}"


def _directory() -> Path | None:
    """Beside JAX's persistent cache (``<its directory>-programs``) while it is on, else None; None too when
    training across processes (each must compile the same program: one could find a file the other does not)."""
    cache = getattr(jax.config, "jax_compilation_cache_dir", None)
    if not cache or jax.process_count() > 1:
        return None
    return Path(f"{os.fspath(cache).rstrip('/')}-programs")


_REGISTERED: set[type] = set()
_REGISTERING = threading.Lock()  # the lab compiles in threads: JAX refuses a type registered twice


def _register_namedtuples(args: Any, returns: tuple[type, ...]) -> None:
    """Every NamedTuple type in args and returns known to jax.export by its name."""
    with _REGISTERING:
        for kind in {*returns, *_namedtuple_types(args)} - _REGISTERED:
            jax.export.register_namedtuple_serialization(kind,
                                                         serialized_name=f"{kind.__module__}.{kind.__qualname__}")
            _REGISTERED.add(kind)


def _namedtuple_types(tree: Any) -> set[type]:
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return {type(tree)}.union(*(_namedtuple_types(t) for t in tree))
    if isinstance(tree, (tuple, list)):
        return set().union(*(_namedtuple_types(t) for t in tree))
    if isinstance(tree, dict):
        return set().union(*(_namedtuple_types(t) for t in tree.values()))
    return set()


def _load(path: Path) -> Any | None:
    """The stored program; None where there is none or it does not read (a damaged file: stored again).
    Its modification time is set to now: the store keeps the programs used last (``_trim``)."""
    try:
        exported = jax.export.deserialize(bytearray(path.read_bytes()))
    except Exception:  # noqa: BLE001
        return None
    with contextlib.suppress(OSError):
        os.utime(path)
    return exported


def _save(path: Path, blob: bytes) -> None:
    """Written whole or not at all (a temporary file renamed); a store that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(blob)
        os.replace(temporary, path)
        _trim(path.parent)
    except OSError:
        pass


def _trim(directory: Path) -> None:
    """The least recently used programs removed until the store holds at most MAX_BYTES."""
    files = []
    for entry in os.scandir(directory):
        with contextlib.suppress(OSError):
            stat = entry.stat()
            files.append((stat.st_mtime, stat.st_size, entry.path))
    total = sum(size for _, size, _ in files)
    for _, size, name in sorted(files):
        if total <= MAX_BYTES:
            return
        with contextlib.suppress(OSError):
            os.remove(name)
            total -= size
