"""Data parallelism: a fit split over 4 (forced CPU) devices equals the one-device fit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gdlab as gd
from gdlab.engine.data_parallel import check_divides
from gdlab.engine.sweep_layout import auto_layout, check_layout

FOUR_DEVICES = textwrap.dedent("""
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    import gdlab as gd

    def leaves(result):
        return [np.asarray(a, np.float64).ravel().tolist() for a in jax.tree.leaves(result.params)]

    def pair(model, data, rule, devices, **kw):
        one = gd.fit(model, data, rule, check_stability=False, **kw)
        many = gd.fit(model, data, rule, check_stability=False, devices=devices, **kw)
        return {"one": {"params": leaves(one), "history": {k: v.tolist() for k, v in one.history.items()}},
                "many": {"params": leaves(many), "history": {k: v.tolist() for k, v in many.history.items()}}}

    out = {"devices": jax.device_count()}
    d = gd.datasets.load("mnist1d", cache_path=sys.argv[1])
    small = gd.datasets.from_arrays(d.x_train[:600], d.y_train[:600], test_fraction=0.25, seed=1)
    mlp = gd.models.mlp(hidden=(24,))
    # 450 samples: batch 60 leaves a last batch of 30, which 4 devices do not divide (weighted rows)
    out["b60"] = pair(mlp, small, gd.sgd(0.1, momentum=0.9), 4, batch_size=60, epochs=3, seed=5)
    out["b50_running"] = pair(mlp, small, gd.sgd(0.2), 2, batch_size=50, epochs=2, metrics="running")
    errors = {}
    for name, kw in {"indivisible": dict(devices=4, batch_size=50), "too_many": dict(devices=5),
                     "zero": dict(devices=0)}.items():
        try:
            gd.fit(mlp, small, gd.sgd(0.1), epochs=1, **{"batch_size": 60, **kw})
        except ValueError as err:
            errors[name] = str(err)
    line = gd.datasets.load("linreg", n=400)
    out["diverged"] = [gd.fit(gd.models.linear(), line, gd.sgd(1e30), batch_size=40, epochs=3, devices=n).reason
                       for n in (None, 4)]
    grid = dict(learning_rate=[0.05, 0.1, 0.3], batch_size=[60], seeds=[0, 4], epochs=2)
    flat = gd.sweep(mlp, small, mesh=(1, 1), **grid)
    two_by_two = gd.sweep(mlp, small, mesh=(2, 2), **grid)  # 2 devices for configs, 2 for data
    auto = gd.sweep(mlp, small, **grid)  # 3 pairs on CPU devices: 3 for configs, no data axis
    out["sweep"] = {name: {"mesh": r.groups[0].config["mesh"], "rows": r.rows,
                           "params": [leaves(r.run(k)) for k in range(len(r))]} for name, r in
                    (("flat", flat), ("2x2", two_by_two), ("auto", auto))}
    try:
        gd.sweep(mlp, small, mesh=(2, 4), **grid)
    except ValueError as err:
        errors["mesh"] = str(err)
    try:
        gd.sweep(mlp, small, mesh=(1, 4), **{**grid, "batch_size": [50]})
    except ValueError as err:
        errors["mesh_batch"] = str(err)
    out["errors"] = errors
    import contextlib, io
    from gdlab.cli import main
    for name, size in (("cli", "32"), ("cli_error", "30")):
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(["fit", "--dataset", "linreg", "--model", "linear", "--epochs", "2", "--devices", "4",
                         "--batch-size", size, "--no-record", "--no-progress", "--json"])
        out[name] = {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}
    lib = gd.fit(gd.models.linear(), gd.datasets.load("linreg"), gd.sgd(0.1), batch_size=32, epochs=2,
                 devices=4, check_stability=False)
    out["cli_library_loss"] = float(lib.history["train_loss"][-1])
    with jax.enable_x64(True):
        line = gd.datasets.load("linreg", n=5000, features=10, noise=1.0, seed=0, dtype="float64")
        model = gd.models.linear()
        start = ({"w": jnp.asarray(line.info["true_weights"][:, None] + 0.2),
                  "b": jnp.asarray([line.info["true_bias"] + 0.2])},)
        out["f64"] = pair(model, line, gd.sgd(0.01), 4, batch_size=100, epochs=2, params=start, seed=2)
        # the noise scale while barely moving (learning rate 1e-7), against the exact one at the start
        slow = gd.fit(model, line, gd.sgd(1e-7), batch_size=64, epochs=5, params=start, devices=4)
        out["noise"] = {"recorded": slow.history["device_noise_scale"].tolist(),
                        "exact": gd.exact_noise_scale(model, start, line)}
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def four(data_cache: Path) -> dict[str, Any]:
    """Everything run once in a process with 4 forced CPU devices (XLA_FLAGS is read when JAX starts)."""
    gd.datasets.load("mnist1d", cache_path=data_cache)  # generate the cache here, once
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    done = subprocess.run([sys.executable, "-c", FOUR_DEVICES, str(data_cache)], env=env, check=False,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["devices"] == 4
    return out


def _same_run(run: dict[str, Any], rtol: float, atol: float) -> None:
    for a, b in zip(run["one"]["params"], run["many"]["params"], strict=True):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol)
    for name, values in run["one"]["history"].items():
        if name not in ("epoch_time", "wall_time"):
            np.testing.assert_allclose(run["many"]["history"][name], values, rtol=rtol, atol=atol)


def test_data_parallel_fit_equals_the_one_device_fit_in_float32(four) -> None:
    # float32: the mean of 4 per-device means rounds differently from one mean over the batch
    _same_run(four["b60"], rtol=1e-5, atol=1e-6)
    _same_run(four["b50_running"], rtol=1e-5, atol=1e-6)
    assert four["b60"]["one"]["history"]["train_loss"][-1] < four["b60"]["one"]["history"]["train_loss"][0]


def test_data_parallel_fit_equals_the_one_device_fit_in_float64(four) -> None:
    _same_run(four["f64"], rtol=1e-12, atol=1e-13)


def test_a_diverging_data_parallel_run_stops_at_the_same_step(four) -> None:
    alone, split = four["diverged"]
    assert split == alone
    assert split.startswith("diverged: non-finite gradient or update (loss 5.078) at epoch 1, step 1 of 8")


def test_the_noise_scale_recorded_while_training_matches_the_exact_one(four) -> None:
    # B_simple from |g_d|^2 (batch 16) and |g|^2 (batch 64), averaged over each epoch's 62 full batches
    recorded, exact = np.array(four["noise"]["recorded"]), four["noise"]["exact"]
    assert np.all(np.abs(recorded - exact) <= 0.15 * exact)
    assert abs(recorded.mean() - exact) <= 0.05 * exact


def test_bad_device_counts(four) -> None:
    errors = four["errors"]
    assert errors["indivisible"] == (
        "batch_size must be a multiple of devices (4) so each device gets the same share of the "
        "global batch; got 50 (use 48 or 52, or fewer devices)."
    )
    assert errors["too_many"].startswith("devices must be an integer in [1, 4] (4 cpu devices available); got 5")
    assert errors["zero"].startswith("devices must be an integer in [1, 4]")


def test_a_sweep_on_a_2d_mesh_equals_the_unsharded_sweep(four) -> None:
    flat = four["sweep"]["flat"]
    assert flat["mesh"] == [1, 1] and four["sweep"]["2x2"]["mesh"] == [2, 2] and four["sweep"]["auto"]["mesh"] == [3, 1]
    for other in (four["sweep"]["2x2"], four["sweep"]["auto"]):
        for a, b in zip(flat["rows"], other["rows"], strict=True):
            assert (a["learning_rate"], a["seed"], a["status"]) == (b["learning_rate"], b["seed"], b["status"])
            for name in ("final_train_loss", "final_test_loss", "final_grad_norm"):
                assert b[name] == pytest.approx(a[name], rel=1e-5)
        for a, b in zip(flat["params"], other["params"], strict=True):
            for x, y in zip(a, b, strict=True):
                np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-6)
    assert four["errors"]["mesh"] == "mesh must use at most the 4 available devices; got 2 x 4 = 8."
    assert four["errors"]["mesh_batch"].startswith(
        "batch_size must be a multiple of the mesh's data axis (4) so each device gets the same share"
    )


@pytest.mark.parametrize(
    ("pairs", "batch_size", "devices", "layout"),
    [(6, 32, 4, (4, 1)), (3, 32, 4, (2, 2)), (1, 32, 4, (1, 4)), (1, 30, 4, (1, 2)), (1, 7, 4, (1, 1)),
     (5, 64, 8, (4, 2)), (2, 64, 1, (1, 1))],
)
def test_the_automatic_sweep_layout_gives_configs_the_devices_first(pairs, batch_size, devices, layout) -> None:
    assert auto_layout(pairs, batch_size, devices) == layout


@pytest.mark.parametrize(("pairs", "devices", "layout"), [(1, 2, (1, 1)), (3, 4, (3, 1)), (6, 4, (4, 1)), (2, 1, (1, 1))])
def test_on_cpu_devices_the_automatic_layout_never_splits_a_batch(pairs, devices, layout) -> None:
    """1 pair on 2 CPU devices split each batch over both (mesh (1, 2)): 1.2-3x slower than one device for
    the MNIST-1D MLP at batch 32 to 1000 (benchmarks/RESULTS.md, twenty-first session)."""
    assert auto_layout(pairs, 32, devices, split_batches=False) == layout


def test_bad_sweep_meshes() -> None:
    with pytest.raises(TypeError, match=r"mesh must be a pair \(configs, data\) of integers; got 4"):
        check_layout(4, 4)
    with pytest.raises(ValueError, match=r"mesh\[1\] \(data\) must be an integer in \[1, 4\]; got 0"):
        check_layout((1, 0), 4)


def test_cli_devices(four) -> None:
    assert four["cli"]["code"] == 0, four["cli"]["stderr"]
    summary = json.loads(four["cli"]["stdout"])
    assert summary["config"]["devices"] == 4
    assert summary["final_train_loss"] == pytest.approx(four["cli_library_loss"], rel=1e-6)
    assert four["cli_error"]["code"] == 2
    assert four["cli_error"]["stderr"] == (
        "error: --batch-size must be a multiple of devices (4) so each device gets the same share of the "
        "global batch; got 30 (use 28 or 32, or fewer devices).\n"
    )


def test_cli_more_devices_than_exist(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from gdlab.cli import main

    code = main(["fit", "--devices", "2", "--no-record", "--db", str(tmp_path / "x.db")])
    assert code == 2
    assert capsys.readouterr().err == (
        "error: --devices must be an integer in [1, 1] (1 cpu device available); got 2.\n"
    )


def test_more_devices_than_this_process_has() -> None:
    with pytest.raises(ValueError, match=r"devices must be an integer in \[1, 1\] \(1 cpu device available\); got 2"):
        gd.fit(gd.models.linear(), gd.datasets.load("linreg", n=50), gd.sgd(0.1), devices=2)
    with pytest.raises(TypeError, match="devices must be an integer"):
        gd.fit(gd.models.linear(), gd.datasets.load("linreg", n=50), gd.sgd(0.1), devices=2.0)


def test_the_suggested_batch_sizes_divide() -> None:
    with pytest.raises(ValueError, match=r"got 7 \(use 4 or 8, or fewer devices\)"):
        check_divides(7, 4, 100)
    with pytest.raises(ValueError, match=r"got 3 \(use 4, or fewer devices\)"):
        check_divides(3, 4, 100)
    check_divides(8, 4, 100)
