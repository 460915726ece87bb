"""Traced epoch programs stored on disk: a later process compiles the stored one instead of tracing, and
trains bit for bit the same; anything not gdlab's own is never stored."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdlab as gd
import gdlab.engine.epoch
import gdlab.engine.epoch_program
import gdlab.engine.program_store
from conftest import JaxEvents, listening
from gdlab.engine.program_store import Unstorable, _owned_root, fingerprint

TRACED = "/jax/core/compile/jaxpr_trace_duration"
GRID = {"learning_rate": [0.01, 0.1, 30.0], "batch_size": [32], "seeds": 2, "epochs": 3}  # 30.0 diverges
MODEL = gd.models.mlp(hidden=(8,))


@pytest.fixture(scope="module")
def data() -> gd.Dataset:
    return gd.datasets.load("linreg", n=300, features=4, seed=0)


@pytest.fixture
def store(tmp_path: Path, restore_jax_cache: None) -> Path:
    """Where the programs go once JAX's persistent cache is on in tmp_path/jax."""
    return tmp_path / "jax-programs"


@pytest.fixture
def traces() -> Iterator[JaxEvents]:
    """The functions JAX traces during the test (by name)."""
    with listening(TRACED) as seen:
        yield seen


def _fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a new process finds it: no program compiled in memory."""
    monkeypatch.setattr(gdlab.engine.epoch_program, "_COMPILED", {})


def _same(a: gd.SweepResult, b: gd.SweepResult) -> None:
    for k in range(len(a)):
        x, y = a.run(k), b.run(k)
        assert (x.status, x.reason, x.epochs_run) == (y.status, y.reason, y.epochs_run), k
        for name in x.history.keys() - {"epoch_time", "wall_time"}:
            np.testing.assert_array_equal(x.history[name], y.history[name], err_msg=f"config {k} {name}")
        for p, q in zip(jax.tree.leaves(x.params), jax.tree.leaves(y.params), strict=True):
            np.testing.assert_array_equal(p, q)


def test_a_stored_epoch_program_is_compiled_without_tracing_and_trains_bit_for_bit_the_same(
    data, store, traces, monkeypatch
) -> None:
    """Three processes' worth: the store off, the store on (programs stored), and a later one (loaded)."""
    exports = []
    export = jax.export.export
    monkeypatch.setattr(jax.export, "export", lambda *a, **k: exports.append(a) or export(*a, **k))
    plain = gd.sweep(MODEL, data, **GRID)
    assert exports == [] and not store.exists()  # the store is off while JAX's cache is
    assert {r["status"] for r in plain.rows if r["learning_rate"] == 30.0} == {"diverged"}  # its epoch ran again
    # careful: a program of its own
    gd.enable_compilation_cache(store.parent / "jax")
    _fresh_process(monkeypatch)
    first = gd.sweep(MODEL, data, **GRID)
    stored = sorted(store.iterdir())
    assert len(exports) == len(stored) == 2  # the fast epoch and the careful one
    _fresh_process(monkeypatch)
    traced = len(traces.names)
    again = gd.sweep(MODEL, data, **GRID)
    assert len(exports) == 2 and sorted(store.iterdir()) == stored  # loaded, not exported again
    assert traces.names[traced:].count("call") == 2  # each loaded program's call: no epoch traced
    assert len(traces.names) - traced < traced - traces.names[:traced].count("call")
    _same(first, plain)
    _same(again, plain)


def test_a_later_process_over_two_devices_loads_the_stored_programs_and_trains_bit_for_bit_the_same(
    tmp_path,
) -> None:
    """Two processes in turn, each with two CPU devices (the configs split over them), as gdlab compare runs."""
    script = textwrap.dedent(f"""
        import json, jax
        import gdlab as gd
        traced = []
        jax.monitoring.register_event_duration_secs_listener(
            lambda event, duration, **kw: traced.append(kw.get("fun_name")) if event == {TRACED!r} else None)
        gd.enable_compilation_cache({str(tmp_path / "jax")!r})
        data = gd.datasets.load("linreg", n=300, features=4, seed=0)
        result = gd.sweep(gd.models.mlp(hidden=(8,)), data, **{GRID!r})
        print(json.dumps({{"devices": len(jax.devices()), "traced": traced,
                          "losses": [list(map(float, result.run(k).history["train_loss"])) for k in range(len(result))],
                          "reasons": [row["reason"] for row in result.rows]}}))
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                      check=True, timeout=300).stdout.strip().splitlines()[-1]) for _ in range(2)]
    first, later = runs
    assert first["devices"] == later["devices"] == 2
    assert len(list((tmp_path / "jax-programs").iterdir())) == 2  # the fast epoch and the careful one
    assert later["losses"] == first["losses"] and later["reasons"] == first["reasons"]
    assert "diverged" in " ".join(first["reasons"])
    # the epochs (in config blocks on the CPU) traced once, then loaded: only their calls traced
    assert "blocked" not in later["traced"] and later["traced"].count("call") == 2
    assert [name for name in first["traced"] if name != "call"] == [
        "blocked" if name == "call" else name for name in later["traced"]]


def test_a_damaged_stored_program_is_traced_and_stored_again(data, store, monkeypatch) -> None:
    gd.enable_compilation_cache(store.parent / "jax")
    _fresh_process(monkeypatch)
    grid = {**GRID, "learning_rate": [0.01, 0.1]}
    first = gd.sweep(MODEL, data, **grid)
    (path,) = store.iterdir()
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # (it is written whole, renamed from a temporary file; a disk, though)
    with pytest.raises(Exception):  # noqa: B017 (whatever flatbuffers raises)
        jax.export.deserialize(bytearray(path.read_bytes()))
    _fresh_process(monkeypatch)
    _same(gd.sweep(MODEL, data, **grid), first)
    assert [p.name for p in store.iterdir()] == [path.name]
    jax.export.deserialize(bytearray(path.read_bytes()))  # stored again, whole


def test_the_store_keeps_the_programs_used_last_within_its_size(data, store, monkeypatch) -> None:
    gd.enable_compilation_cache(store.parent / "jax")
    _fresh_process(monkeypatch)
    grid = {**GRID, "learning_rate": [0.01, 0.1]}
    gd.sweep(MODEL, data, **grid)
    (path,) = store.iterdir()
    os.utime(path, (1, 1))
    _fresh_process(monkeypatch)
    gd.sweep(MODEL, data, **grid)
    assert path.stat().st_mtime > 1  # loaded: used now
    store.mkdir(exist_ok=True)
    for name, when in (("old", 10), ("older", 5), ("new", 2e9)):  # 100 bytes each
        (store / name).write_bytes(bytes(100))
        os.utime(store / name, (when, when))
    monkeypatch.setattr(gdlab.engine.program_store, "MAX_BYTES", path.stat().st_size + 250)
    gdlab.engine.program_store._trim(store)
    assert sorted(p.name for p in store.iterdir()) == sorted([path.name, "new", "old"])  # "older" went first
    monkeypatch.setattr(gdlab.engine.program_store, "MAX_BYTES", 150)
    gdlab.engine.program_store._trim(store)
    assert [p.name for p in store.iterdir()] == ["new"]


def test_a_users_loss_function_is_never_stored(data, store) -> None:
    """Its code is not in the key (its module's globals could change under the same code): traced as before."""
    gd.enable_compilation_cache(store.parent / "jax")

    def loss_fn(params, x, y):
        return jnp.mean((x @ params["w"] - y) ** 2)

    result = gd.sweep(loss_fn, data, learning_rate=[0.1], batch_size=[32], seeds=1, epochs=2,
                      params={"w": jnp.zeros(4)})
    assert result.rows[0]["status"] == "max_epochs"
    assert not store.exists() or list(store.iterdir()) == []


def test_fingerprints_tell_apart_what_changes_a_program_and_are_the_same_in_another_process(monkeypatch) -> None:
    def apply_of(**kw) -> str:
        return fingerprint(gd.models.mlp(**kw).apply)

    assert apply_of(hidden=(8,)) == apply_of(hidden=(8,)) == apply_of(hidden=(9, 9))  # sizes: the params' shapes
    assert len({apply_of(hidden=(8,)), apply_of(hidden=(8,), activation="tanh"),
                apply_of(hidden=(8,), activation="sigmoid")}) == 3
    rule = gd.sgd(0.1, momentum=0.9, nesterov=True)
    assert fingerprint(rule.update) != fingerprint(gd.sgd(0.1, momentum=0.9).update)
    script = ("import gdlab as gd; from gdlab.engine.program_store import fingerprint; "
              "print(fingerprint(gd.models.mlp(hidden=(8,)).apply), "
              "fingerprint(gd.sgd(0.1, momentum=0.9, nesterov=True).update))")
    for seed in ("1", "2"):  # sets iterate in another order in another process: not in the key
        out = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": seed},
                             capture_output=True, text=True, check=True, timeout=120)
        assert out.stdout.split() == [apply_of(hidden=(8,)), fingerprint(rule.update)]
    # a module global the code reads is part of it: changed, another program; a test's own function: none
    before = fingerprint(gdlab.engine.epoch.run_epoch)
    monkeypatch.setattr(gdlab.engine.epoch, "slice_rows", gdlab.engine.epoch.is_test_epoch)
    assert fingerprint(gdlab.engine.epoch.run_epoch) != before
    monkeypatch.setattr(gdlab.engine.epoch, "slice_rows", lambda n, rows=512: n)
    with pytest.raises(Unstorable, match="test_program_store"):
        fingerprint(gdlab.engine.epoch.run_epoch)


def test_what_is_not_gdlabs_own_has_no_fingerprint(tmp_path, monkeypatch) -> None:
    def mine(x):
        return x

    # a script of yours named like a module of Python's (its code is not in the key): not Python's
    (tmp_path / "tabnanny.py").write_text("def check(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tabnanny", raising=False)
    _owned_root.cache_clear()
    try:
        import tabnanny

        with pytest.raises(Unstorable, match="module 'tabnanny'"):
            fingerprint(tabnanny.check)
    finally:
        _owned_root.cache_clear()
        sys.modules.pop("tabnanny", None)
    assert fingerprint(functools.reduce)  # Python's own

    with pytest.raises(Unstorable, match="test_program_store"):
        fingerprint(mine)
    with pytest.raises(Unstorable, match="test_program_store"):
        fingerprint(functools.partial(gd.models.mlp, mine))
    with pytest.raises(Unstorable, match="no fingerprint for .*_Mine"):
        fingerprint((1, _Mine()))
    assert fingerprint((1, "a", np.arange(3))) != fingerprint((1, "a", np.arange(4)))


class _Mine:
    pass
