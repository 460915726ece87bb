"""The fused MLP kernel: equal to autodiff of the model's loss, to XLA's sweep and to gd.fit; clear refusals.

On a CPU the kernel runs in Pallas's interpreter (the same kernel code, executed as JAX
operations); its Triton lowering is checked by lowering for CUDA, which needs no GPU.
On a GPU these tests run the compiled kernel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdlab as gd
from gdlab.engine.fused_mlp import TILES, fused_sgd_step, fused_value_and_grad
from gdlab.engine.objective import model_objective


def _problem(sizes: tuple[int, ...], rows: int, activation: str = "relu", seed: int = 0):
    model = gd.models.mlp(hidden=sizes[1:-1], activation=activation)
    kp, kx, ky = jax.random.split(jax.random.PRNGKey(seed), 3)
    params = model.init(kp, sizes[0], sizes[-1])
    x = jax.random.normal(kx, (rows, sizes[0]))
    y = jax.random.randint(ky, (rows,), 0, sizes[-1])
    return model, params, x, y


def _autodiff(model, params, x, y, compute_dtype=None):
    loss = model_objective(model.apply, "cross_entropy", True, compute_dtype).loss
    with jax.default_matmul_precision("highest"):
        return jax.value_and_grad(loss)(params, x, y)


def _max_gap(a, b) -> float:
    return max(float(jnp.max(jnp.abs(u - v))) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("sizes,rows", [((12, 20, 17, 3), 50), ((40, 10), 130), ((5, 33, 31, 2, 7), 1)])
def test_loss_and_gradient_equal_autodiff(activation, sizes, rows) -> None:
    model, params, x, y = _problem(sizes, rows, activation)
    want_loss, want = _autodiff(model, params, x, y)
    with jax.default_matmul_precision("highest"):
        loss, grads = jax.jit(fused_value_and_grad(activation, row_block=32))(params, x, y)
    assert jax.tree.structure(grads) == jax.tree.structure(want)
    assert float(loss) == pytest.approx(float(want_loss), rel=1e-5)  # sums in another order (GPU)
    scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(want))
    gap = _max_gap(grads, want)
    assert gap <= 1e-5 * scale, f"largest gradient gap {gap:.3e}, largest gradient {scale:.3e}"


def test_row_blocks_sum_to_the_whole_batch() -> None:
    _, params, x, y = _problem((40, 100, 100, 10), 120)  # (a 256-row block overflows an H200's shared memory)
    with jax.default_matmul_precision("highest"):
        whole = jax.jit(fused_value_and_grad("relu", row_block=128))(params, x, y)
        blocks = jax.jit(fused_value_and_grad("relu", row_block=16))(params, x, y)  # 8 blocks, the last 8 rows
    assert _max_gap(whole, blocks) < 1e-6


def test_bfloat16_products_stay_near_float32_and_differ_from_it() -> None:
    model, params, x, y = _problem((40, 100, 100, 10), 128)
    want_loss, want = _autodiff(model, params, x, y)
    loss, grads = jax.jit(fused_value_and_grad("relu", "bfloat16"))(params, x, y)
    scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(want))
    gap = _max_gap(grads, want)
    assert 0.0 < gap <= 2e-2 * scale
    assert float(loss) == pytest.approx(float(want_loss), rel=1e-2)


def test_vmapped_over_configs_and_seeds_equals_one_call_each() -> None:
    _, params, x, y = _problem((12, 20, 3), 40)
    stacked = jax.tree.map(lambda a: jnp.stack([jnp.stack([a, 2.0 * a]), jnp.stack([-a, 0.5 * a])]), params)
    xs, ys = jnp.stack([x, x[::-1]]), jnp.stack([y, y[::-1]])
    step = jax.jit(fused_value_and_grad("tanh"))
    both = jax.jit(jax.vmap(jax.vmap(step, in_axes=(0, None, None))))(stacked, xs, ys)  # x shared within a seed
    for i in range(2):
        for j in range(2):
            pick = (i, j)
            one = step(jax.tree.map(lambda a, k=pick: a[k], stacked), xs[i], ys[i])
            assert _max_gap(jax.tree.map(lambda a, k=pick: a[k], both), one) < 1e-6


@pytest.mark.parametrize("compute_dtype", [None, "bfloat16"])
def test_lowers_to_one_triton_kernel_for_cuda(compute_dtype) -> None:
    """The GPU path: Pallas lowers the kernel to Triton (no GPU needed), one launch for every config."""
    _, params, x, y = _problem((40, 100, 100, 10), 128)
    stacked = jax.tree.map(lambda a: jnp.stack([a] * 3), params)
    step = jax.vmap(fused_value_and_grad("relu", compute_dtype, interpret=False), in_axes=(0, None, None))
    text = jax.jit(step).trace(stacked, x, y).lower(lowering_platforms=("cuda",)).as_text()
    assert text.count("custom_call @__gpu$xla.gpu.triton") == 1
    _, warps = TILES[compute_dtype or "float32"]
    assert "grid_x = 3" in text and f"num_warps = {warps}" in text


@pytest.fixture(scope="module")
def small(mnist1d: gd.Dataset) -> gd.Dataset:
    return gd.datasets.from_arrays(mnist1d.x_train[:600], mnist1d.y_train[:600], test_fraction=0.25, seed=1)


def test_a_fused_sweep_equals_the_xla_sweep_and_each_standalone_fit(small) -> None:
    model = gd.models.mlp(hidden=(24, 16))
    grid = {"learning_rate": [0.05, 0.3], "batch_size": [50, "full"], "momentum": [0.0, 0.9], "seeds": [3], "epochs": 3}
    with jax.default_matmul_precision("highest"):
        fused = gd.sweep(model, small, kernel="fused", **grid)
        xla = gd.sweep(model, small, **grid)
    assert fused.groups[0].config["kernel"] == "fused" and xla.groups[0].config["kernel"] == "xla"
    for k, row in enumerate(fused.rows):
        assert _max_gap(fused.run(k).params, xla.run(k).params) < 2e-5
        for name in ("final_train_loss", "final_test_loss", "final_test_accuracy"):
            assert row[name] == pytest.approx(xla.rows[k][name], rel=2e-5)
    row = fused.rows[5]
    with jax.default_matmul_precision("highest"):
        alone = gd.fit(model, small, gd.sgd(row["learning_rate"], momentum=row["momentum"]),
                       batch_size=row["batch_size"], epochs=3, seed=3, check_stability=False)
    # On an H200 at full float32 the fused and XLA sweeps agreed within 2e-5, and XLA's sweep and fit
    # within 2e-5 (tests/test_sweep.py); a GPU sums in other orders, so the fused sweep and the fit
    # may differ by both. (With the fit left at TF32 the gap was 4.4e-5.)
    tol = 2e-5 if jax.default_backend() == "cpu" else 4e-5
    assert _max_gap(fused.run(5).params, alone.params) < tol
    np.testing.assert_allclose(fused.run(5).history["train_loss"], alone.history["train_loss"], rtol=tol)


def test_a_diverging_fused_config_freezes_and_the_other_trains(small) -> None:
    model = gd.models.mlp(hidden=(24,))
    result = gd.sweep(model, small, learning_rate=[0.1, 1e4], batch_size=[50], epochs=3, kernel="fused")
    good, bad = result.rows
    assert bad["status"] == "diverged" and good["status"] == "max_epochs"
    assert all(np.isfinite(np.asarray(a)).all() for a in jax.tree.leaves(result.run(1).params))
    assert good["final_train_loss"] < result.run(0).history["train_loss"][0]


@pytest.mark.parametrize("model,binary,needle", [
    (gd.models.mlp(hidden=(8,), activation="gelu"), False,
     "activation one of relu, tanh, sigmoid; got model 'mlp' with activation 'gelu'"),
    (gd.models.mlp(hidden=(8,), outputs=1), True, "cross_entropy loss"),
    (gd.models.mlp(hidden=(129,)), False, "at most 128 wide; got a layer 129 wide"),
])
def test_models_the_kernel_cannot_run_are_refused(small, model, binary, needle) -> None:
    data = gd.datasets.from_arrays(small.x_train, small.y_train % 2) if binary else small
    with pytest.raises(ValueError, match="kernel='fused'") as err:
        gd.sweep(model, data, learning_rate=[0.1], epochs=1, kernel="fused")
    assert needle in str(err.value)


def test_unknown_kernel_and_a_loss_function_are_refused(small) -> None:
    with pytest.raises(ValueError, match=r"kernel must be one of \{'fused', 'xla'\}; got 'triton'"):
        gd.sweep(gd.models.mlp(hidden=(8,)), small, learning_rate=[0.1], epochs=1, kernel="triton")

    def loss_fn(params, x, y):
        return jnp.mean((x @ params["w"]) ** 2)

    with pytest.raises(ValueError, match="kernel must be 'xla' with a loss function"):
        gd.sweep(loss_fn, small, learning_rate=[0.1], epochs=1, params={"w": jnp.zeros((40,))}, kernel="fused")


def test_models_name_their_activation() -> None:
    assert gd.models.mlp(hidden=(8,), activation="tanh").activation == "tanh"
    assert gd.models.mlp(hidden=(8,)).activation == "relu"
    assert gd.models.linear().activation is None and gd.models.logistic().activation is None  # were relu, unused


def test_a_fused_sweep_of_logistic_regression_equals_the_xla_sweep(small) -> None:
    """logistic has no activation (None, no longer an unused relu): the kernel still runs it."""
    grid = {"learning_rate": [0.05, 0.3], "batch_size": [50], "seeds": [3], "epochs": 2}
    with jax.default_matmul_precision("highest"):
        fused = gd.sweep(gd.models.logistic(), small, kernel="fused", **grid)
        xla = gd.sweep(gd.models.logistic(), small, **grid)
    assert fused.groups[0].config["kernel"] == "fused"
    for k, row in enumerate(fused.rows):
        assert row["final_train_loss"] == pytest.approx(xla.rows[k]["final_train_loss"], rel=2e-5)


def test_a_kernel_the_gpu_cannot_hold_gives_way_to_xla_with_a_warning(small, monkeypatch) -> None:
    """Triton refuses a kernel that needs more shared memory than the GPU has: the sweep warns and runs XLA."""
    from gdlab.engine import sweep as sweep_module

    real = sweep_module.compiled_epoch

    def compile_or_refuse(spec, *args, **kwargs):
        if spec.objective.value_and_grad is not None:
            raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Shared memory size limit exceeded: requested 376832, "
                                             "available: 232448")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(sweep_module, "compiled_epoch", compile_or_refuse)
    model = gd.models.mlp(hidden=(16,))
    grid = {"learning_rate": [0.1], "batch_size": [50], "epochs": 2}
    with pytest.warns(gd.KernelWarning, match=r"does not fit this device .*requested 376832.*runs kernel='xla'"):
        fallen = gd.sweep(model, small, kernel="fused", **grid)
    assert fallen.groups[0].config["kernel"] == "xla"
    assert fallen.rows[0]["final_train_loss"] == gd.sweep(model, small, **grid).rows[0]["final_train_loss"]


def test_the_sgd_step_kernel_writes_params_minus_rate_times_gradient() -> None:
    _, params, x, y = _problem((12, 20, 17, 3), 50)
    stacked = jax.tree.map(lambda a: jnp.stack([a, 2.0 * a]), params)
    rates = jnp.array([0.1, 0.03])
    with jax.default_matmul_precision("highest"):
        grads = jax.jit(jax.vmap(fused_value_and_grad("relu"), in_axes=(0, None, None)))(stacked, x, y)
        step = jax.jit(jax.vmap(fused_sgd_step("relu"), in_axes=(0, 0, None, None)))
        loss, new = step(stacked, rates, x, y)
    want = jax.tree.map(lambda p, g: p - rates.reshape(-1, *[1] * (p.ndim - 1)) * g, stacked, grads[1])
    assert _max_gap(loss, grads[0]) == 0.0
    assert _max_gap(new, want) < 1e-6 and _max_gap(new, stacked) > 1e-3


def test_weights_loaded_at_each_use_give_the_same_gradient_and_lower_for_cuda() -> None:
    _, params, x, y = _problem((40, 100, 100, 10), 100)
    with jax.default_matmul_precision("highest"):
        held = jax.jit(fused_value_and_grad("sigmoid", row_block=32))(params, x, y)
        loaded = jax.jit(fused_value_and_grad("sigmoid", row_block=32, resident_weights=False))(params, x, y)
        stepped = jax.jit(fused_sgd_step("sigmoid", row_block=32, resident_weights=False))(params, 0.5, x, y)[1]
    assert _max_gap(held, loaded) == 0.0
    assert _max_gap(stepped, jax.tree.map(lambda p, g: p - 0.5 * g, params, held[1])) < 1e-6
    step = jax.vmap(fused_value_and_grad("relu", interpret=False, resident_weights=False), in_axes=(0, None, None))
    stacked = jax.tree.map(lambda a: jnp.stack([a] * 2), params)
    assert "gpu.triton" in jax.jit(step).trace(stacked, x, y).lower(lowering_platforms=("cuda",)).as_text()


def test_plain_sgd_sweeps_update_inside_the_kernel_and_equal_xla(small, monkeypatch) -> None:
    """Without momentum or weight decay the kernel also writes w - lr * dW (a frozen config keeps w)."""
    from gdlab.engine import epoch, epoch_program

    traced = []
    real = epoch._fused_update
    monkeypatch.setattr(epoch, "_fused_update", lambda *a: traced.append(1) or real(*a))
    epoch_program._COMPILED.clear()
    model = gd.models.mlp(hidden=(24,))
    grid = {"learning_rate": [0.05, 0.5, 1e4], "batch_size": [50], "seeds": [2], "epochs": 3,
            "schedule": ["constant", "cosine"], "metrics": "running"}
    with jax.default_matmul_precision("highest"):
        fused = gd.sweep(model, small, kernel="fused", **grid)
        xla = gd.sweep(model, small, **grid)
    assert traced, "the fused update was not traced"
    assert [r["status"] for r in fused.rows] == [r["status"] for r in xla.rows]
    assert [r["status"] for r in fused.rows].count("diverged") == 2  # 1e4 with both schedules
    assert [r["steps_run"] for r in fused.rows] == [r["steps_run"] for r in xla.rows]
    for k, row in enumerate(fused.rows):
        if row["status"] == "diverged":  # frozen at the same step, params near 1e17: finite, not compared
            assert all(np.isfinite(np.asarray(a)).all() for a in jax.tree.leaves(fused.run(k).params))
            continue
        assert _max_gap(fused.run(k).params, xla.run(k).params) < 2e-5
        np.testing.assert_allclose(fused.run(k).history["train_loss"], xla.run(k).history["train_loss"], rtol=2e-5)
        np.testing.assert_allclose(fused.run(k).history["learning_rate"], xla.run(k).history["learning_rate"],
                                   rtol=1e-6)
    traced.clear()
    gd.sweep(model, small, kernel="fused", **{**grid, "momentum": [0.0, 0.9], "schedule": ["constant"]})
    assert not traced  # momentum: the kernel computes the gradient, the rule the update
    gd.sweep(model, small, kernel="fused", compute_dtype="bfloat16", **{**grid, "epochs": 1})
    assert not traced  # bfloat16 products: the update outside the kernel measured faster


def test_a_fused_sweep_over_two_devices_runs_each_devices_configs_and_gives_way_to_a_data_axis(small, data_cache) -> None:
    script = textwrap.dedent("""
        import json, sys, warnings
        import gdlab as gd
        import jax
        d = gd.datasets.load("mnist1d", cache_path=sys.argv[1])
        small = gd.datasets.from_arrays(d.x_train[:600], d.y_train[:600], test_fraction=0.25, seed=1)
        r = gd.sweep(gd.models.mlp(hidden=(24,)), small, learning_rate=[0.05, 0.1, 0.3, 0.6], batch_size=[50],
                     seeds=1, epochs=2, kernel="fused")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            split = gd.sweep(gd.models.mlp(hidden=(24,)), small, learning_rate=[0.05], batch_size=[50], epochs=1,
                             kernel="fused", mesh=(1, 2))
        print(json.dumps({"devices": len(jax.devices()), "mesh": r.groups[0].config["mesh"],
                          "losses": [x["final_train_loss"] for x in r.rows],
                          "split": split.groups[0].config["kernel"], "warned": [str(w.message) for w in caught]}))
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", script, str(data_cache)], env=env, capture_output=True,
                         text=True, check=True, timeout=300)
    sharded = json.loads(out.stdout.strip().splitlines()[-1])
    assert sharded["devices"] == 2 and sharded["mesh"] == [2, 1]
    assert sharded["split"] == "xla"  # a data axis splits each batch: the kernel gives way, and says so
    assert any("data axis of 2 devices the sweep runs kernel='xla'" in w for w in sharded["warned"])
    local = gd.sweep(gd.models.mlp(hidden=(24,)), small, learning_rate=[0.05, 0.1, 0.3, 0.6], batch_size=[50],
                     seeds=1, epochs=2)
    np.testing.assert_allclose(sharded["losses"], [r["final_train_loss"] for r in local.rows], rtol=1e-5)
