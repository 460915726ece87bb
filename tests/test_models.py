"""Models and losses against NumPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gdlab as gd
from gdlab.core.batching import batch_plan, epoch_indices, epoch_permutation


def test_mlp_shapes_and_pytorch_init_scale() -> None:
    model = gd.models.mlp(hidden=(100, 100))
    params = model.init(jax.random.PRNGKey(0), (40,), 10)
    shapes = [(layer["w"].shape, layer["b"].shape) for layer in params]
    assert shapes == [((40, 100), (100,)), ((100, 100), (100,)), ((100, 10), (10,))]
    for layer, fan_in in zip(params, (40, 100, 100)):
        bound = 1 / np.sqrt(fan_in)
        assert float(jnp.abs(layer["w"]).max()) <= bound
        assert float(jnp.abs(layer["w"]).max()) > 0.9 * bound  # uniform up to the bound
    assert model.apply(params, jnp.ones((7, 40))).shape == (7, 10)


def test_mlp_apply_equals_numpy() -> None:
    model = gd.models.mlp(hidden=(5, 4), activation="tanh")
    params = model.init(jax.random.PRNGKey(1), 3, 2)
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    h = x
    for layer in params[:-1]:
        h = np.tanh(h @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
    expected = h @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"])
    np.testing.assert_allclose(model.apply(params, jnp.asarray(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model", [gd.models.mlp(hidden=(5, 4), activation="tanh"), gd.models.mlp(hidden=(7,)),
                                   gd.models.logistic(), gd.models.linear()], ids=["mlp-tanh", "mlp-relu", "logistic",
                                                                                    "linear"])
def test_apply_vmapped_computes_what_apply_computes(model: gd.Model) -> None:
    """The sweeps' features-first layout gives apply's numbers, alone, vmapped over configs, and in its gradient."""
    params = jax.vmap(lambda k: model.init(k, (2, 3), 4))(jax.random.split(jax.random.PRNGKey(2), 3))
    x = jnp.asarray(np.random.default_rng(1).normal(size=(6, 2, 3)), jnp.float32)
    assert model.apply_vmapped is not None
    for vmapped in (jax.vmap(model.apply, (0, None)), jax.vmap(model.apply_vmapped, (0, None))):
        assert vmapped(params, x).shape == (3, 6, 4)
    np.testing.assert_allclose(jax.vmap(model.apply_vmapped, (0, None))(params, x),
                               jax.vmap(model.apply, (0, None))(params, x), rtol=1e-5, atol=1e-6)
    first = jax.tree.map(lambda a: a[0], params)
    np.testing.assert_allclose(model.apply_vmapped(first, x), model.apply(first, x), rtol=1e-5, atol=1e-6)
    grads = [jax.grad(lambda p, f=f: jnp.sum(jnp.sin(f(p, x))))(first) for f in (model.apply, model.apply_vmapped)]
    for a, b in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads[1])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_same_structure_gives_the_same_functions() -> None:
    """Models are built once per structure so compiled programs are shared."""
    assert gd.models.mlp(hidden=[100, 100]).apply is gd.models.mlp(hidden=(100, 100)).apply
    assert gd.models.mlp(hidden=(10,)).apply is not gd.models.mlp(hidden=(11,)).apply


def test_hidden_sizes_may_be_a_numpy_or_jax_array() -> None:
    """np.array([100, 100]) used to be refused as 'not a sequence of layer sizes'."""
    for sizes in (np.array([100, 100]), jnp.array([100, 100])):
        assert gd.models.mlp(hidden=sizes).apply is gd.models.mlp(hidden=(100, 100)).apply
    with pytest.raises(TypeError, match="hidden must be a sequence of layer sizes"):
        gd.models.mlp(hidden=np.array([[100]]))


def test_an_mlp_carries_its_hidden_sizes_and_a_linear_or_logistic_model_none() -> None:
    """A Model knew its activation but not its hidden sizes, so a recorded run named it 'mlp' alone."""
    assert gd.models.mlp(hidden=np.array([16, 8]), activation="tanh").hidden == (16, 8)
    assert gd.models.mlp().hidden == (100, 100) and gd.models.mlp(hidden=[]).hidden == ()
    assert gd.models.linear().hidden is None and gd.models.logistic(outputs=3).hidden is None


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: gd.models.mlp(hidden=(100, 0)), ValueError, r"hidden\[1\] must be an integer in \[1, inf\]; got 0"),
        (lambda: gd.models.mlp(hidden=100), TypeError, "hidden must be a sequence"),
        (lambda: gd.models.mlp(activation="swish"), ValueError, r"activation must be one of \{'gelu', 'relu'"),
        (lambda: gd.models.linear(outputs=0), ValueError, "outputs"),
        (lambda: gd.models.mlp().init(jax.random.PRNGKey(0), (4,)), ValueError, "outputs must be an integer"),
    ],
)
def test_bad_model_arguments(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


def test_softmax_cross_entropy_is_stable_and_equals_numpy() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0], [0.1, 0.2, 0.3]])
    labels = np.array([1, 2])
    got = np.asarray(gd.losses.softmax_cross_entropy(jnp.asarray(logits), jnp.asarray(labels)))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(got, -log_softmax[[0, 1], labels], rtol=1e-6)
    assert np.isfinite(got).all() and got[0] == pytest.approx(1000.0)


def test_binary_cross_entropy_equals_the_log_likelihood() -> None:
    z = np.array([-3.0, 0.0, 2.0, 40.0])
    y = np.array([0, 1, 1, 0])
    got = np.asarray(gd.losses.binary_cross_entropy(jnp.asarray(z), jnp.asarray(y)))
    p = 1 / (1 + np.exp(-z))
    with np.errstate(divide="ignore"):
        expected = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    np.testing.assert_allclose(got[:3], expected[:3], rtol=1e-6)
    assert got[3] == pytest.approx(40.0)  # stable where log(1 - sigmoid(40)) underflows


def test_mean_squared_error() -> None:
    out, y = jnp.array([[1.0, 2.0], [3.0, 5.0]]), jnp.array([[0.0, 2.0], [3.0, 3.0]])
    np.testing.assert_allclose(gd.losses.mean_squared_error(out, y), [0.5, 2.0])


def test_binary_logistic_regression_trains_with_one_output() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x @ np.array([2.0, -1.0]) > 0).astype(np.int64)
    data = gd.datasets.from_arrays(x, y, seed=0)
    result = gd.fit(gd.models.logistic(outputs=1), data, gd.sgd(0.5), batch_size=20, epochs=10)
    assert result.config["loss"] == "binary_cross_entropy"
    assert result.history["test_accuracy"][-1] >= 0.95


@settings(max_examples=50, deadline=None)
@given(n=st.sampled_from([1, 2, 7, 10, 33, 100]), batch_size=st.integers(1, 100),
       epoch=st.integers(0, 10**6),
       drop_last=st.booleans())
def test_each_epoch_plan_covers_every_index_once(n: int, batch_size: int, epoch: int, drop_last: bool) -> None:
    batch_size = min(batch_size, n)
    plan = batch_plan(n, batch_size, drop_last)
    order = epoch_permutation(jax.random.PRNGKey(7), epoch, n)
    full, rest = epoch_indices(plan, order)
    used = np.asarray(full).ravel().tolist() + ([] if rest is None else np.asarray(rest).tolist())
    assert len(used) == len(set(used))
    if drop_last:
        assert len(used) == n - n % batch_size
    else:
        assert sorted(used) == list(range(n))
