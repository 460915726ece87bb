"""The compiled engine: exact answers, reference loops, batching, compile reuse, divergence."""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdlab as gd
from gdlab.core.batching import batch_plan, epoch_permutation, run_keys, stable_order
from gdlab.engine.setup import initial_params


def _linreg64(n: int = 200, features: int = 3, noise: float = 0.1) -> gd.Dataset:
    return gd.datasets.load("linreg", n=n, features=features, noise=noise, seed=1, dtype="float64")


def _xb(data: gd.Dataset) -> np.ndarray:
    return np.hstack([data.x_train, np.ones((data.n_train, 1))])


def _flat(params) -> np.ndarray:
    """Linear-model params as one vector [w; b]."""
    return np.concatenate([np.asarray(params[0]["w"])[:, 0], np.asarray(params[0]["b"])])


@pytest.mark.usefixtures("x64")
def test_batch_gradient_descent_converges_to_the_least_squares_solution() -> None:
    data = _linreg64()
    result = gd.fit(gd.models.linear(), data, gd.sgd(0.3), batch_size="full", epochs=300)
    expected, *_ = np.linalg.lstsq(_xb(data), data.y_train, rcond=None)
    np.testing.assert_allclose(_flat(result.params), expected, rtol=0, atol=1e-9)
    assert result.status == "max_epochs" and result.steps_run == 300
    # close to, but not equal to, the noiseless truth
    assert np.abs(expected[:-1] - data.info["true_weights"]).max() < 0.05


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("n", [50, 1300, 1301])  # on a CPU, 1300 rows take the gradient in 4 slices; 1301 leaves a row
def test_batch_gradient_descent_equals_the_matrix_iteration_step_by_step(n: int) -> None:
    """MSE loss L(v) = |X v - y|^2 / n, gradient 2 X^T (X v - y) / n, from the model's own init."""
    data = _linreg64(n=n)
    x, y = _xb(data), data.y_train
    model, lr = gd.models.linear(), 0.05
    params = model.init(run_keys(0)[0], data.input_shape, 1)
    v = _flat(params)
    result = gd.fit(model, data, gd.sgd(lr), batch_size=None, epochs=17, params=params)
    for _ in range(17):
        v = v - lr * 2 * x.T @ (x @ v - y) / len(y)
    np.testing.assert_allclose(_flat(result.params), v, rtol=0, atol=1e-12)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("batch_size", [1, 7])
def test_one_epoch_equals_a_numpy_loop_over_the_same_permutation(batch_size: int) -> None:
    """Stochastic (1) and mini-batch (7, n=40 so the last batch has 5) against plain NumPy."""
    data = _linreg64(n=50)  # 40 train samples
    x, y = _xb(data), data.y_train
    model, lr = gd.models.linear(), 0.02
    init_key, data_key = run_keys(5)
    params = model.init(init_key, data.input_shape, 1)
    v = _flat(params)
    result = gd.fit(model, data, gd.sgd(lr), batch_size=batch_size, epochs=2, seed=5, params=params)
    for epoch in range(2):
        order = np.asarray(epoch_permutation(data_key, epoch, data.n_train))
        for start in range(0, data.n_train, batch_size):
            idx = order[start : start + batch_size]
            v = v - lr * 2 * x[idx].T @ (x[idx] @ v - y[idx]) / len(idx)
    np.testing.assert_allclose(_flat(result.params), v, rtol=0, atol=1e-12)
    assert result.steps_run == 2 * -(-40 // batch_size)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize(("momentum", "nesterov", "weight_decay"), [(0.9, False, 0.0), (0.8, True, 0.05)])
def test_momentum_carries_across_batches_and_epochs_as_optax_does(momentum, nesterov, weight_decay) -> None:
    """Three epochs of mini-batches (7 of 40, the last 5) through fit against optax.sgd (with
    add_decayed_weights first) stepping over the same permutations: one momentum buffer for the run."""
    data = _linreg64(n=50)
    x, y = jnp.asarray(_xb(data)), jnp.asarray(data.y_train)
    model = gd.models.linear()
    init_key, data_key = run_keys(5)
    params = model.init(init_key, data.input_shape, 1)
    rule = gd.sgd(0.02, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    result = gd.fit(model, data, rule, batch_size=7, epochs=3, seed=5, params=params)
    opt = optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(0.02, momentum=momentum, nesterov=nesterov))
    v = jnp.asarray(_flat(params))
    state = opt.init(v)
    for epoch in range(3):
        order = np.asarray(epoch_permutation(data_key, epoch, data.n_train))
        for start in range(0, data.n_train, 7):
            idx = order[start : start + 7]
            grad = 2 * x[idx].T @ (x[idx] @ v - y[idx]) / len(idx)
            updates, state = opt.update(grad, state, v)
            v = optax.apply_updates(v, updates)
    np.testing.assert_allclose(_flat(result.params), np.asarray(v), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("n", "batch_size"), [(10, 3), (10, 10), (7, 1), (100, 32), (33, 5)])
def test_every_sample_is_used_once_per_epoch(n: int, batch_size: int) -> None:
    """The per-sample weight of each batch (1/len) summed over an epoch is exactly 1 per sample."""
    from gdlab.core.batching import epoch_indices

    plan = batch_plan(n, batch_size)
    order = epoch_permutation(jax.random.PRNGKey(0), 3, n)
    full, rest = epoch_indices(plan, order)
    used = np.concatenate([np.asarray(full).ravel()] + ([np.asarray(rest)] if rest is not None else []))
    assert sorted(used.tolist()) == list(range(n))
    assert plan.steps == -(-n // batch_size)


@pytest.mark.parametrize("n", [1, 2, 7, 100, 4000, 65536, 70000])
def test_the_epoch_permutation_is_jax_random_permutation(n: int) -> None:
    """gdlab's faster sort gives JAX's own permutation of fold_in(key, epoch), so every run keeps its data
    order (65536: the largest n of the two-sort path; 70000: the pair sort)."""
    for seed, epoch in ((0, 0), (1, 3), (7, 12)):
        key = run_keys(seed)[1]
        expected = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        got = epoch_permutation(key, epoch, n)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


@pytest.mark.usefixtures("x64")
def test_the_epoch_permutation_is_jax_random_permutation_in_64_bit_mode() -> None:
    key = run_keys(3)[1]
    expected = jax.random.permutation(jax.random.fold_in(key, 5), 1000)
    got = epoch_permutation(key, 5, 1000)
    assert got.dtype == expected.dtype == np.int64
    np.testing.assert_array_equal(got, expected)


def test_stable_order_breaks_ties_by_index_as_a_stable_sort_does() -> None:
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 6, 4000).astype(np.uint32)  # many ties
    keys[:3] = [0, 2**32 - 1, 2**32 - 1]
    expected = np.argsort(keys, kind="stable")
    np.testing.assert_array_equal(stable_order(jnp.asarray(keys)), expected)
    np.testing.assert_array_equal(jax.lax.sort_key_val(jnp.asarray(keys), jnp.arange(4000))[1], expected)
    distinct = rng.permutation(2**20)[:3000].astype(np.uint32) * 4096 + 7
    np.testing.assert_array_equal(stable_order(jnp.asarray(distinct)), np.argsort(distinct, kind="stable"))


@pytest.mark.usefixtures("x64")
def test_a_batch_taken_in_slices_gives_the_same_epoch_with_the_memory_of_one_slice() -> None:
    """grad_rows 0 (one pass over the batch) and 256 (slices of slice_rows(2048, 256) = 256 rows): the same
    epoch to float64 rounding, and XLA's temporaries shrink with the activations they hold."""
    from gdlab.engine.epoch import EpochSpec, batch_grad_rows, run_epoch
    from gdlab.engine.objective import model_objective

    n = 2048
    model = gd.models.mlp(hidden=(64,))
    params = model.init(jax.random.PRNGKey(0), (8,), 3)
    x = jax.random.normal(jax.random.PRNGKey(1), (n, 8), jnp.float64)
    y = jax.random.randint(jax.random.PRNGKey(2), (n,), 0, 3)
    rule = gd.sgd(0.1)
    objective = model_objective(model.apply, "cross_entropy", True)
    args = (params, rule.init(params), run_keys(0)[1], 0, 1.0, True, False, (x, y, x[:0], y[:0]))
    runs = {}
    for rows in (0, 256):
        spec = EpochSpec(objective, rule.update, rule.learning_rate, batch_plan(n, n), False, "running",
                         grad_rows=rows)
        program = jax.jit(functools.partial(run_epoch, spec)).lower(*args).compile()
        runs[rows] = program(*args), program.memory_analysis().temp_size_in_bytes
    (whole, whole_bytes), (sliced, sliced_bytes) = runs[0], runs[256]
    for a, b in zip(jax.tree.leaves(whole[0]), jax.tree.leaves(sliced[0])):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-12, atol=1e-14)
    assert float(sliced[2].train_loss) == pytest.approx(float(whole[2].train_loss), rel=1e-12)
    assert sliced_bytes < whole_bytes / 2, (sliced_bytes, whole_bytes)
    cpu = jax.default_backend() == "cpu"
    assert (batch_grad_rows(batch_plan(n, n)), batch_grad_rows(batch_plan(n, n // 2))) == ((512 if cpu else 0), 0)


def test_drop_last_skips_the_smaller_batch() -> None:
    assert batch_plan(10, 3, drop_last=True).steps == 3
    assert batch_plan(10, 3, drop_last=False).steps == 4


@pytest.mark.usefixtures("x64")
def test_drop_last_with_one_batch_per_epoch_draws_the_batch_from_each_epochs_permutation() -> None:
    """n=3, batch_size=2, drop_last: one update per epoch on a fresh draw of 2 samples, not batch gradient
    descent on the same first 2 (the third sample never seen). With lr 1 and mean((c - y)^2)/2, each
    update sets c to its batch's mean: after epoch 2, that of the permutation of epoch index 1."""
    assert not batch_plan(3, 2, drop_last=True).is_full_batch and batch_plan(3, 3, drop_last=True).is_full_batch
    y = np.array([1.0, 2.0, 4.0])
    data = gd.datasets.from_arrays(np.zeros((3, 1)), y, task="regression", test_fraction=0.0)

    def loss_fn(params, x, y):
        return jnp.mean((params["c"] - y) ** 2) / 2

    ends = []
    for seed in range(4):
        result = gd.fit(loss_fn, data, gd.sgd(1.0), batch_size=2, drop_last=True, epochs=2, seed=seed,
                        params={"c": jnp.zeros(())})
        order = np.asarray(epoch_permutation(run_keys(seed)[1], 1, 3))
        np.testing.assert_allclose(float(result.params["c"]), data.y_train[order[:2]].mean(), rtol=1e-12)
        ends.append(float(result.params["c"]))
    assert len(set(ends)) > 1  # the seeds draw different batches


@pytest.mark.usefixtures("x64")
def test_sample_weighting_in_the_last_batch_is_its_own_mean() -> None:
    """Scaling a loss function makes no difference; each batch is a mean over its own samples.

    A loss_fn that returns the batch *sum* would step differently on the 3-sample last batch:
    with a mean, gradient descent on a constant target reaches the target mean exactly.
    """
    y = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
    data = gd.datasets.from_arrays(np.zeros((7, 1)), y, task="regression", test_fraction=0.0)

    def loss_fn(params, x, y):
        return jnp.mean((params["c"] - y) ** 2) / 2

    result = gd.fit(loss_fn, data, gd.sgd(1.0), batch_size=4, epochs=1, params={"c": jnp.zeros(())})
    # with lr 1 and loss mean((c-y)^2)/2 each step sets c to its batch mean; the last batch has 3
    order = np.asarray(epoch_permutation(run_keys(0)[1], 0, 7))
    expected = data.y_train[order[4:]].mean()
    assert expected != data.y_train.mean()  # the test tells a 3-sample mean from the mean of all
    np.testing.assert_allclose(float(result.params["c"]), expected, rtol=1e-12)


@pytest.mark.usefixtures("x64")
def test_mini_batch_with_batch_size_n_equals_batch_gradient_descent() -> None:
    data = _linreg64(n=60)
    runs = [
        gd.fit(gd.models.linear(), data, gd.sgd(0.1), batch_size=b, epochs=5, seed=2)
        for b in (data.n_train, "full", None)
    ]
    for other in runs[1:]:
        np.testing.assert_array_equal(_flat(runs[0].params), _flat(other.params))
        np.testing.assert_array_equal(runs[0].history["train_loss"], other.history["train_loss"])


def test_same_seed_same_run_other_seed_other_run(mnist1d: gd.Dataset) -> None:
    model = gd.models.mlp(hidden=(16,))
    a, b, c = (gd.fit(model, mnist1d, gd.sgd(0.1), batch_size=64, epochs=2, seed=s) for s in (4, 4, 5))
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.history["train_loss"], b.history["train_loss"])
    assert not np.array_equal(a.history["train_loss"], c.history["train_loss"])


def test_a_jax_integer_seed_is_the_same_as_a_python_int_seed() -> None:
    data, model = gd.datasets.load("linreg", n=64, features=3, noise=0.5, seed=0), gd.models.linear()
    a, b = (gd.fit(model, data, gd.sgd(0.1), batch_size=8, epochs=2, seed=s) for s in (jnp.int32(3), 3))
    np.testing.assert_array_equal(a.history["train_loss"], b.history["train_loss"])
    swept = gd.sweep(model, data, learning_rate=[0.1], seeds=[jnp.int32(1)], batch_size=8, epochs=2)
    assert swept.rows[0]["seed"] == 1
    x, y = np.arange(40.0).reshape(20, 2), np.arange(20.0)
    split, same = (gd.datasets.from_arrays(x, y, seed=s) for s in (jnp.int32(0), 0))
    np.testing.assert_array_equal(split.x_test, same.x_test)
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 4294967295\]"):
        gd.fit(model, data, gd.sgd(0.1), epochs=1, seed=jnp.int32(-1))


def test_the_compiled_epoch_is_reused_across_epochs_and_runs(mnist1d, compile_counter) -> None:
    model = gd.models.mlp(hidden=(32,))
    counts: list[int] = []
    first = gd.fit(
        model, mnist1d, gd.sgd(0.1), batch_size=100, epochs=4,
        callback=lambda epoch, row: counts.append(compile_counter.count),
    )
    assert counts[0] >= 1 and counts == [counts[0]] * 4  # nothing compiled after epoch 1
    assert first.compile_seconds > 0
    before = compile_counter.count
    second = gd.fit(model, mnist1d, gd.sgd(0.05), batch_size=100, epochs=3, seed=9)
    assert compile_counter.count == before  # new learning rate and seed: no recompilation
    assert second.compile_seconds == 0.0
    assert not np.array_equal(first.history["train_loss"][:3], second.history["train_loss"])


@pytest.mark.parametrize("model, shape, outputs", [
    (gd.models.mlp(hidden=(100, 100)), (40,), 10), (gd.models.mlp(hidden=(33,), activation="tanh"), (13,), 1),
    (gd.models.logistic(), (5,), 3), (gd.models.linear(), (7,), 1),
], ids=["mlp", "mlp-tanh", "logistic", "linear"])
def test_the_compiled_init_draws_the_models_own_params_bit_for_bit(model, shape, outputs) -> None:
    """initial_params compiles init at a lower LLVM level (setup.INIT_COMPILER_OPTIONS; level 0 would change
    half the values by an ulp): the params must stay those of model.init itself."""
    for key in (jax.random.PRNGKey(3), jax.random.key(11)):
        for got, want in zip(jax.tree.leaves(initial_params(model, shape, outputs, key)),
                             jax.tree.leaves(model.init(key, shape, outputs)), strict=True):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_history_records_every_metric_per_epoch(mnist1d) -> None:
    result = gd.fit(gd.models.mlp(hidden=(8,)), mnist1d, gd.sgd(0.05), batch_size=500, epochs=3)
    expected = {"train_loss", "grad_norm", "learning_rate", "test_loss", "test_accuracy",
                "epoch_time", "wall_time"}
    assert set(result.history) == expected
    assert all(len(v) == 3 for v in result.history.values())
    np.testing.assert_allclose(result.history["learning_rate"], 0.05, rtol=1e-6)
    assert np.all(np.diff(result.history["wall_time"]) > 0)
    assert result.epochs_run == 3 and result.steps_run == 3 * 8
    running = gd.fit(gd.models.mlp(hidden=(8,)), mnist1d, gd.sgd(0.05), batch_size=500, epochs=3,
                     metrics="running")
    assert "grad_norm" not in running.history


def test_exact_metrics_are_the_full_data_loss_and_gradient_norm(mnist1d) -> None:
    model = gd.models.logistic()
    result = gd.fit(model, mnist1d, gd.sgd(0.1), batch_size=256, epochs=2, seed=1)
    x, y = jnp.asarray(mnist1d.x_train), jnp.asarray(mnist1d.y_train)

    def loss(p):
        return jnp.mean(gd.losses.softmax_cross_entropy(model.apply(p, x), y))

    value, grads = jax.value_and_grad(loss)(result.params)
    norm = np.sqrt(sum(float(jnp.sum(g**2)) for g in jax.tree.leaves(grads)))
    np.testing.assert_allclose(result.history["train_loss"][-1], float(value), rtol=1e-5)
    np.testing.assert_allclose(result.history["grad_norm"][-1], norm, rtol=1e-4)
    logits = model.apply(result.params, jnp.asarray(mnist1d.x_test))
    accuracy = float(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(mnist1d.y_test)))
    np.testing.assert_allclose(result.history["test_accuracy"][-1], accuracy, rtol=1e-6)


def test_the_mlp_learns_mnist1d(mnist1d) -> None:
    """The published MLP baseline is 68%; plain SGD with momentum reaches 60% in 40 epochs."""
    result = gd.fit(gd.models.mlp(hidden=(100, 100)), mnist1d, gd.sgd(0.05, momentum=0.9),
                    batch_size=32, epochs=40, seed=0, metrics="running")
    assert result.history["test_accuracy"].max() >= 0.60
    assert result.history["test_accuracy"][-1] >= 0.60


def _quartic_iterates(lr: float, c: float = 2.0) -> list[float]:
    """Gradient descent on f(c) = c^4 in float64, c <- c - lr * 4c^3, while the loss, gradient and update stay
    finite: the iterates up to the last finite update."""
    iterates = [np.float64(c)]
    with np.errstate(over="ignore", invalid="ignore"):
        while np.isfinite(iterates[-1] ** 4) and np.isfinite(lr * 4 * iterates[-1] ** 3):
            iterates.append(iterates[-1] - lr * 4 * iterates[-1] ** 3)
    return iterates


@pytest.mark.usefixtures("x64")
def test_the_running_loss_of_a_diverged_epoch_is_the_mean_over_the_steps_it_applied() -> None:
    """f(c) = c^4 one row at a time: the epoch's running train loss is the mean of c_k^4 over the updates applied
    before the first non-finite one (it was their sum over every row of the epoch: too small), and NaN where
    none was applied (it was 0.0, a perfect loss)."""
    data = gd.datasets.from_arrays(np.zeros((8, 1)), np.zeros(8), task="regression", test_fraction=0.0)

    def loss_fn(params, x, y):
        return jnp.mean(params["c"] ** 4 + 0.0 * x[:, 0])

    lr = 0.5
    iterates = _quartic_iterates(lr)
    applied = len(iterates) - 1
    assert 1 < applied < 8  # it diverges inside the first epoch
    run = functools.partial(gd.fit, loss_fn, data, batch_size=1, epochs=3, params={"c": jnp.asarray(2.0)},
                            metrics="running", check_stability=False, stop=gd.stop.diverged(factor=1e300))
    result = run(gd.sgd(lr))
    assert (result.status, result.steps_run, result.epochs_run) == ("diverged", applied, 1)
    np.testing.assert_allclose(result.history["train_loss"], [np.mean(np.asarray(iterates[:applied]) ** 4)],
                               rtol=1e-12)
    never = run(gd.sgd(1e308))  # the first update, 1e308 x 32, is not finite: nothing applied
    assert never.status == "diverged" and never.steps_run == 0
    assert np.isnan(never.history["train_loss"]).all()


def test_a_non_finite_loss_stops_the_run_as_diverged_without_spreading(mnist1d) -> None:
    result = gd.fit(gd.models.mlp(hidden=(32,)), mnist1d, gd.sgd(50.0), batch_size=32, epochs=5)
    assert result.status == "diverged"
    assert result.reason.startswith("diverged: non-finite")
    assert "epoch 1" in result.reason
    assert result.epochs_run == 1 and 0 < result.steps_run < 125
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(result.params))
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(result.opt_state))


@pytest.mark.usefixtures("x64")
def test_divergence_keeps_the_params_of_the_last_finite_update() -> None:
    """f(c) = c^4 with a large rate blows up; the kept iterate is the last finite one."""
    data = gd.datasets.from_arrays(np.zeros((4, 1)), np.zeros(4), task="regression", test_fraction=0.0)

    def loss_fn(params, x, y):
        return params["c"] ** 4 + 0.0 * jnp.sum(x)

    lr = 0.5
    iterates = _quartic_iterates(lr)
    assert len(iterates) > 3
    with pytest.warns(gd.StabilityWarning, match=r"learning_rate 0.5 exceeds the stability limit 2/L = 0.042"):
        result = gd.fit(loss_fn, data, gd.sgd(lr), batch_size="full", epochs=50,
                        params={"c": jnp.asarray(2.0)}, stop=gd.stop.diverged(factor=1e300))
    assert result.status == "diverged"
    np.testing.assert_allclose(float(result.params["c"]), iterates[-1], rtol=1e-12)
    assert np.isfinite(iterates[-1])
    assert result.steps_run == len(iterates) - 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, r"batch_size must be an integer in \[1, 4000\] \(4000 training samples\) or 'full'; got 0"),
        ({"batch_size": 4001}, ValueError, "batch_size"),
        ({"batch_size": "half"}, ValueError, "batch_size"),
        ({"epochs": 0}, ValueError, r"epochs must be an integer in \[1, 2147483647\]; got 0"),
        ({"epochs": 2**40}, ValueError, r"epochs must be an integer in \[1, 2147483647\]"),
        ({"epochs": 1.5}, TypeError, "epochs"),
        ({"seed": -1}, ValueError, "seed"),
        ({"loss": "hinge"}, ValueError, r"loss must be one of .*'cross_entropy'"),
        ({"metrics": "all"}, ValueError, "metrics"),
    ],
)
def test_bad_fit_arguments_name_the_parameter(mnist1d, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        gd.fit(gd.models.logistic(), mnist1d, gd.sgd(0.1), **kwargs)


def test_a_model_whose_input_size_does_not_match_the_data(mnist1d) -> None:
    model = gd.models.mlp(hidden=(8,))
    params = model.init(jax.random.PRNGKey(0), (30,), 10)
    with pytest.raises(ValueError, match="model input size must match the data's 40 features"):
        gd.fit(model, mnist1d, gd.sgd(0.1), params=params)


def test_model_outputs_must_match_the_classes(mnist1d) -> None:
    with pytest.raises(ValueError, match="model outputs must match the data's 10 classes; got outputs=3"):
        gd.fit(gd.models.mlp(hidden=(8,), outputs=3), mnist1d, gd.sgd(0.1))


def test_wrong_types_for_data_rule_and_model(mnist1d) -> None:
    with pytest.raises(TypeError, match="data must be a gdlab Dataset"):
        gd.fit(gd.models.linear(), (np.zeros((3, 1)), np.zeros(3)), gd.sgd(0.1))
    with pytest.raises(TypeError, match="rule must be an update rule"):
        gd.fit(gd.models.linear(), mnist1d, 0.1)
    with pytest.raises(TypeError, match="params must be given"):
        gd.fit(lambda p, x, y: 0.0, mnist1d, gd.sgd(0.1))
    with pytest.raises(TypeError, match="model must be"):
        gd.fit("mlp", mnist1d, gd.sgd(0.1))


def test_a_model_made_for_the_other_task_is_refused(mnist1d) -> None:
    with pytest.raises(ValueError, match="model linear is for regression; the data set 'mnist1d' is classification"):
        gd.fit(gd.models.linear(), mnist1d, gd.sgd(0.1))
    with pytest.raises(ValueError, match="model logistic is for classification"):
        gd.fit(gd.models.logistic(), gd.datasets.load("linreg", n=20), gd.sgd(0.1))


def test_logistic_regression_fits_probabilities_with_binary_cross_entropy() -> None:
    """logistic(1) with loss="binary_cross_entropy" on targets in [0, 1] was refused as a classification model on
    regression data, while linear() (the same logits x W + b) trained: both now give the same weights, the true
    ones of the probabilities sigmoid(x w*)."""
    x = np.random.default_rng(0).normal(size=(400, 3)).astype(np.float32)
    truth = np.array([1.0, -2.0, 0.5], np.float32)
    data = gd.datasets.from_arrays(x, (1 / (1 + np.exp(-x @ truth))).astype(np.float32), test_fraction=0)
    kwargs = {"loss": "binary_cross_entropy", "epochs": 300, "batch_size": "full"}
    logistic = gd.fit(gd.models.logistic(1), data, gd.sgd(0.5), **kwargs)
    linear = gd.fit(gd.models.linear(), data, gd.sgd(0.5), **kwargs)
    np.testing.assert_array_equal(logistic.params[0]["w"], linear.params[0]["w"])
    np.testing.assert_allclose(logistic.params[0]["w"][:, 0], truth, atol=2e-3)
    with pytest.raises(ValueError, match=r"^model logistic is for classification; the data set 'arrays' is regression "
                                         r"\(use linear or mlp, or loss='binary_cross_entropy' for these targets in "
                                         r"\[0, 1\]\)\.$"):
        gd.fit(gd.models.logistic(1), data, gd.sgd(0.5))
    # targets outside [0, 1], or two of them: the hint is not offered (binary_cross_entropy would refuse them)
    refused = r"^model logistic is for classification; the data set 'arrays' is regression \(use linear or mlp\)\.$"
    for y in (3 * x[:, 0], np.stack([data.y_train, data.y_train], axis=1)):
        other = gd.datasets.from_arrays(x, y.astype(np.float32), test_fraction=0)
        for loss in (None, "binary_cross_entropy"):
            with pytest.raises(ValueError, match=refused):
                gd.fit(gd.models.logistic(), other, gd.sgd(0.5), loss=loss)


def _tiny(y: np.ndarray) -> gd.Dataset:
    x = np.random.default_rng(0).normal(size=(len(y), 3)).astype(np.float32)
    return gd.datasets.from_arrays(x, y, test_fraction=0.25)


@pytest.mark.parametrize(
    ("model", "y", "loss", "match"),
    [
        (gd.models.logistic(), np.arange(12) % 3, "mse", "loss must be 'cross_entropy' for classification with 3 outputs; got 'mse'"),
        (gd.models.logistic(), np.arange(12) % 3, "binary_cross_entropy", "'cross_entropy' for classification with 3"),
        (gd.models.logistic(outputs=1), np.arange(12) % 2, "cross_entropy", "'binary_cross_entropy' for classification with one output"),
        (gd.models.mlp((4,)), np.linspace(-2.0, 2.0, 12), "cross_entropy", "loss must be 'mse' for regression"),
        (gd.models.mlp((4,)), np.linspace(-2.0, 2.0, 12), "binary_cross_entropy", "targets in \\[0, 1\\]\\); got 'binary"),
    ],
)
def test_a_loss_that_does_not_fit_the_task_and_outputs_is_refused(model, y, loss, match) -> None:
    """These pairs used to train on meaningless numbers (or diverge at once) without an error."""
    with pytest.raises(ValueError, match=match):
        gd.fit(model, _tiny(y), gd.sgd(0.1), loss=loss, epochs=1)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("shape", [(16,), (16, 1)])
def test_binary_cross_entropy_on_soft_targets_in_0_1_is_the_log_loss(shape) -> None:
    """Regression targets p in [0, 1] of shape (n,) or (n, 1): L = mean softplus(z) - p*z, z = x.w + b."""
    data = _tiny(np.linspace(0.0, 1.0, 16).reshape(shape))
    result = gd.fit(gd.models.mlp((), outputs=1), data, gd.sgd(0.5), loss="binary_cross_entropy",
                    epochs=3, batch_size="full")
    layer = result.params[0]
    z = data.x_train @ np.asarray(layer["w"])[:, 0] + np.asarray(layer["b"])[0]
    p = data.y_train.reshape(-1)
    expected = np.mean(np.logaddexp(0.0, z) - p * z)
    np.testing.assert_allclose(result.history["train_loss"][-1], expected, rtol=1e-10)


@pytest.mark.parametrize(
    ("hook", "match"),
    [
        ({"callback": 3}, r"callback must be None or a function callback\(epoch, metrics\); got 3"),
        ({"on_epoch": "print"}, r"on_epoch must be None or a function on_epoch\(checkpoint\); got 'print'"),
        ({"resume": {"epoch": 1}}, r"resume must be None or a gd.Checkpoint .*; got \{'epoch': 1\}"),
        ({"record": object()}, r"record must be None or an object with methods begin, epoch, end, fail \(a recorder"),
    ],
)
def test_hooks_of_the_wrong_type_are_refused_before_anything_compiles(hook, match, compile_counter) -> None:
    """They used to fail after the first epoch (int not callable, no attribute 'params')."""
    x = np.random.default_rng(1).normal(size=(10, 7)).astype(np.float32)
    with pytest.raises(TypeError, match=match):
        gd.fit(gd.models.mlp((5,)), gd.datasets.from_arrays(x, np.arange(10) % 2), gd.sgd(0.1), **hook)
    assert compile_counter.count == 0


@pytest.mark.parametrize(
    ("features", "kwargs", "error", "match"),
    [
        (13, {"reduce_lr": 0.5}, TypeError, r"reduce_lr must be gd.schedules.reduce_on_plateau\(...\); got 0.5"),
        (14, {"track_noise_scale": -1}, ValueError, r"track_noise_scale must be an integer in \[0, inf\]; got -1"),
        (15, {"track_sharpness": 1.0}, TypeError, "track_sharpness"),
        (16, {"check_stability": "yes"}, TypeError, "check_stability must be a bool"),
        (17, {"stop": "plateau"}, TypeError, "stop must be a rule from gd.stop"),
        (18, {"stop": gd.stop.grad_norm(1e-3), "metrics": "running"}, ValueError,
         r"stop rule grad_norm reads grad_norm \(needs metrics='exact'\)"),
        (19, {"reduce_lr": gd.schedules.reduce_on_plateau(metric="test_accuracy"), "test_every": 2}, ValueError,
         "reduce_on_plateau reads test_accuracy, which test_every=2 measures only once every 2 epochs"),
    ],
)
def test_rule_and_tracking_arguments_are_refused_before_anything_compiles(features, kwargs, error, match,
                                                                          compile_counter) -> None:
    """A bad reduce_lr or track_noise_scale was found after the stability check had compiled the
    Hessian-vector products (8-13 programs); the others after the initial params had compiled."""
    x = np.random.default_rng(features).normal(size=(12, features)).astype(np.float32)
    data = gd.datasets.from_arrays(x, np.arange(12) % 2, test_fraction=0.25)
    with pytest.raises(error, match=match):
        gd.fit(gd.models.mlp((features,)), data, gd.sgd(0.1), epochs=1, **kwargs)
    assert compile_counter.count == 0


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({}, ValueError, r"params must hold at least one array; got \{\}"),
        ({"c": "2.0"}, TypeError, r"params must be a pytree of float arrays; got a leaf '2.0'"),
        ({"c": np.array([1.0, np.inf])}, ValueError, r"^params must be finite to start from; got inf in params\['c'\]\.$"),
        ([1.0, 2.0], ValueError, (r"loss_fn\(params, x, y\) must accept the params and a batch x \(1, 3\) "
                                  r"float32, y \(1,\) float32; it raised TypeError: list indices")),
    ],
)
def test_loss_function_params_that_cannot_work_are_named(params, error, match) -> None:
    def loss_fn(p, x, y):
        return jnp.mean((x[:, 0] * p["c"] - y) ** 2)

    with pytest.raises(error, match=match):
        gd.fit(loss_fn, _tiny(np.linspace(-1.0, 1.0, 12)), gd.sgd(0.1), params=params)


@pytest.mark.parametrize(
    ("loss_fn", "error", "match"),
    [
        (lambda p, x, y: (jnp.mean(x[:, 0] * p["c"]), 0.0), TypeError,
         r"^loss must return one number \(the mean over the batch\); got a tuple of 2 arrays\.$"),
        (lambda p, x, y: jnp.argmax(x[:, 0] * p["c"]), ValueError,
         r"^loss must be a real floating-point number \(gradients need one\); got dtype int32\.$"),
        (lambda p, x, y: jnp.mean(x[:, 0] * p["v"]), ValueError,
         r"^loss_fn\(params, x, y\) must accept .*; it raised KeyError: 'v'$"),
        (lambda p, x, y: (x[:, 0] * p["c"] - y) ** 2, ValueError,  # per sample: the check's batch has one row
         r"^loss must be a scalar \(the mean over the batch\); got shape \(1,\) for a batch x \(1, 3\)\.$"),
    ],
    ids=["tuple", "integer", "key_error", "per_sample"],
)
def test_a_loss_function_that_cannot_be_trained_is_named(loss_fn, error, match) -> None:
    with pytest.raises(error, match=match):
        gd.fit(loss_fn, _tiny(np.linspace(-1.0, 1.0, 12)), gd.sgd(0.1), params={"c": jnp.zeros(())})


def test_params_of_another_structure_than_the_models_are_named(mnist1d) -> None:
    """It said 'model input size must match the data's 40 features ... (unhashable type: slice)'."""
    with pytest.raises(ValueError, match=r"^params must have the structure logistic's init gives \(leaves "
                                         r"\[0\]\['b'\], \[0\]\['w'\]\); got leaves \['w'\]\.$"):
        gd.fit(gd.models.logistic(), mnist1d, gd.sgd(0.1), params={"w": np.zeros((40, 10), np.float32)})
    model = gd.models.mlp(hidden=(8,))
    as_list = list(model.init(jax.random.PRNGKey(0), (40,), 10))  # a list for the tuple: accepted
    assert gd.fit(model, mnist1d, gd.sgd(0.1), params=as_list, epochs=1).status == "max_epochs"


@pytest.mark.usefixtures("x64")
def test_a_python_float_is_a_param_of_a_loss_function() -> None:
    """f(c) = (c - 3)^2 / 2 with c = 0.0 given as a float: c_k = 3 - 3 (1 - lr)^k."""
    data = _tiny(np.zeros(12))
    result = gd.fit(lambda c, x, y: 0.5 * (c - 3.0) ** 2, data, gd.sgd(0.25), params=0.0,
                    batch_size="full", epochs=5)
    np.testing.assert_allclose(float(result.params), 3.0 - 3.0 * 0.75**5, rtol=1e-12)


def test_resume_from_a_checkpoint_ends_exactly_as_the_uninterrupted_run(mnist1d) -> None:
    model = gd.models.mlp(hidden=(16,))
    kwargs = {
        "batch_size": 64, "epochs": 8, "seed": 7,
        "stop": gd.stop.plateau(tol=0.05, patience=2) | gd.stop.early_stopping("test_loss", patience=50),
        "reduce_lr": gd.schedules.reduce_on_plateau(factor=0.5, patience=0, threshold=0.05),
    }
    rule = gd.sgd(gd.schedules.cosine(0.3, 1000), momentum=0.5)
    saved: list[gd.Checkpoint] = []
    whole = gd.fit(model, mnist1d, rule, on_epoch=saved.append, **kwargs)
    assert [c.epoch for c in saved] == list(range(1, whole.epochs_run + 1))
    assert whole.epochs_run >= 5
    again = gd.fit(model, mnist1d, rule, resume=saved[2], **kwargs)
    assert (again.status, again.reason, again.epochs_run, again.steps_run, again.best_epoch) == (
        whole.status, whole.reason, whole.epochs_run, whole.steps_run, whole.best_epoch)
    for a, b in zip(jax.tree.leaves((whole.params, whole.opt_state)), jax.tree.leaves((again.params, again.opt_state))):
        np.testing.assert_array_equal(a, b)
    for name in ("train_loss", "grad_norm", "learning_rate", "test_loss", "test_accuracy"):
        np.testing.assert_array_equal(whole.history[name], again.history[name])
    assert len(set(whole.history["learning_rate"])) > 1  # the plateau rule did act


def test_a_checkpoint_of_another_model_rule_or_longer_run_is_refused() -> None:
    """An mlp resumed from a linear model's checkpoint used to train the linear params under the
    mlp's name; another rule failed inside tree_map; a shorter budget returned more epochs than asked."""
    data = gd.datasets.load("linreg", n=40, features=3, seed=2)
    saved: list[gd.Checkpoint] = []
    gd.fit(gd.models.linear(), data, gd.sgd(0.1), epochs=3, on_epoch=saved.append)
    with pytest.raises(ValueError, match=r"resume must be a checkpoint of this model .*its params have leaves of "
                                         r"shapes \[\(1,\), \(3, 1\)\] where this run's have \[\(3,\), \(3, 3\)"):
        gd.fit(gd.models.mlp((3,)), data, gd.sgd(0.1), epochs=5, resume=saved[1])
    with pytest.raises(ValueError, match="resume must be a checkpoint of this model and rule .*its opt_state"):
        gd.fit(gd.models.linear(), data, gd.sgd(0.1, momentum=0.9), epochs=5, resume=saved[1])
    with pytest.raises(ValueError, match="epochs must be at least the checkpoint's 3 epochs to resume it; got 2"):
        gd.fit(gd.models.linear(), data, gd.sgd(0.1), epochs=2, resume=saved[2])
    assert gd.fit(gd.models.linear(), data, gd.sgd(0.1), epochs=3, resume=saved[2]).epochs_run == 3


def test_a_checkpoint_of_the_same_rule_with_other_numbers_is_refused_not_silently_kept() -> None:
    """A checkpoint of sgd(0.1, momentum=0.9) resumed with sgd(0.5, momentum=0.9) went on at the
    checkpoint's 0.1 (its numbers live in the rule state); it is now refused, naming the number."""
    data = gd.datasets.load("linreg", n=64, features=3, noise=0.5, seed=0)
    saved: list[gd.Checkpoint] = []
    gd.fit(gd.models.linear(), data, gd.sgd(0.1, momentum=0.9), epochs=3, on_epoch=saved.append)
    with pytest.raises(ValueError, match=r"rule must be the checkpoint's to resume it .*: its learning_rate was "
                                         r"\[0\.1\]; got \[0\.5\]\."):
        gd.fit(gd.models.linear(), data, gd.sgd(0.5, momentum=0.9), epochs=5, resume=saved[2])
    with pytest.raises(ValueError, match=r"its momentum was 0\.9; got 0\.8\.$"):  # was 0.8999999761581421
        gd.fit(gd.models.linear(), data, gd.sgd(0.1, momentum=0.8), epochs=5, resume=saved[2])
    assert gd.fit(gd.models.linear(), data, gd.sgd(0.1, momentum=0.9), epochs=5, resume=saved[2]).epochs_run == 5


def test_a_checkpoint_of_another_rule_kind_stop_or_reduce_lr_is_refused() -> None:
    """nesterov, a schedule's kind (cosine with and without restarts hold the same numbers), the stop rule and reduce_lr
    change no array of a checkpoint: it carries the run's settings, and a resume with others is refused."""
    data = gd.datasets.load("linreg", n=64, features=3, noise=0.5, seed=0)
    rule = gd.sgd(gd.schedules.cosine(0.1, 50), momentum=0.9, nesterov=True)
    stop = gd.stop.diverged(factor=1e6)
    saved: list[gd.Checkpoint] = []
    gd.fit(gd.models.linear(), data, rule, epochs=3, stop=stop, on_epoch=saved.append)
    assert dict(saved[2].settings)["rule"] == rule.settings
    cases = [
        ({"rule": gd.sgd(gd.schedules.cosine(0.1, 50), momentum=0.9)},
         (r"rule must be the checkpoint's to resume it .*: its rule was kind=sgd, nesterov=True, velocity=True, "
         r"schedule=cosine\(restarts=False\); got kind=sgd, nesterov=False, velocity=True, "
         r"schedule=cosine\(restarts=False\)\.")),
        ({"rule": gd.sgd(gd.schedules.cosine(0.1, 50, restarts=True), momentum=0.9, nesterov=True)},
         r"its rule was .*schedule=cosine\(restarts=False\); got .*schedule=cosine\(restarts=True\)\."),
        ({"stop": gd.stop.diverged(factor=1e7)},
         (r"stop must be the checkpoint's to resume it .*: its stop was diverged\(factor=1000000.0\); "
         r"got diverged\(factor=10000000.0\)\.")),
        ({"reduce_lr": gd.schedules.reduce_on_plateau()}, r"its reduce_lr was none; got \{.*'factor'"),
    ]
    for change, match in cases:
        kwargs = {"rule": rule, "stop": stop, **change}
        with pytest.raises(ValueError, match=match):
            gd.fit(gd.models.linear(), data, kwargs.pop("rule"), epochs=5, resume=saved[2], **kwargs)
    assert gd.fit(gd.models.linear(), data, rule, epochs=5, stop=stop, resume=saved[2]).epochs_run == 5
    bare = saved[2]._replace(settings=())  # a checkpoint made before settings were kept resumes as before
    assert gd.fit(gd.models.linear(), data, rule, epochs=5, stop=stop, resume=bare).epochs_run == 5


def test_the_checkpoint_of_the_epoch_a_rule_stopped_on_resumes_as_the_ended_run() -> None:
    """A plateau run converged at epoch 6; resumed from its epoch-6 checkpoint it trained a 7th epoch and
    converged again there, with another loss. It now ends as it did, training nothing."""
    data = gd.datasets.load("linreg", n=200, features=5, noise=0.1, seed=0)
    for stop in (gd.stop.plateau(1e-3, 3), gd.stop.early_stopping("test_loss", 2)):
        saved: list[gd.Checkpoint] = []
        whole = gd.fit(gd.models.linear(), data, gd.sgd(0.3), batch_size=16, epochs=30, stop=stop, on_epoch=saved.append)
        assert whole.epochs_run < 30 and saved[-1].epoch == whole.epochs_run
        again = gd.fit(gd.models.linear(), data, gd.sgd(0.3), batch_size=16, epochs=30, stop=stop, resume=saved[-1])
        assert (again.status, again.reason, again.epochs_run, again.steps_run, again.best_epoch) == (
            whole.status, whole.reason, whole.epochs_run, whole.steps_run, whole.best_epoch)
        assert again.compile_seconds == 0.0  # nothing to train, nothing compiled
        np.testing.assert_array_equal(again.history["train_loss"], whole.history["train_loss"])
        for ours, theirs in zip(jax.tree.leaves(again.params), jax.tree.leaves(whole.params)):
            np.testing.assert_array_equal(ours, theirs)


def test_a_checkpoint_resumes_with_its_stop_rule_written_another_way() -> None:
    """stop=None and gd.stop.diverged() are the rule a run applies alike: a checkpoint of one resumed with the other
    was refused ("its stop was none; got diverged(factor=100.0)"). A checkpoint made before, which recorded the rule
    as given, still resumes with that rule."""
    data = gd.datasets.load("linreg", n=64, features=3, noise=0.5, seed=0)
    rule = gd.sgd(0.05)
    for recorded, given in ((None, gd.stop.diverged()), (gd.stop.diverged(factor=100), None),
                            (gd.stop.max_epochs(50), gd.stop.max_epochs(50) | gd.stop.diverged())):
        saved: list[gd.Checkpoint] = []
        whole = gd.fit(gd.models.linear(), data, rule, epochs=5, stop=recorded, on_epoch=saved.append)
        again = gd.fit(gd.models.linear(), data, rule, epochs=5, stop=given, resume=saved[2])
        np.testing.assert_array_equal(again.history["train_loss"], whole.history["train_loss"])
    old = saved[2]._replace(settings=tuple((k, "max_epochs(n=50)" if k == "stop" else v) for k, v in saved[2].settings))
    assert dict(saved[2].settings)["stop"] == "max_epochs(n=50) | diverged(factor=100.0)"
    assert gd.fit(gd.models.linear(), data, rule, epochs=5, stop=gd.stop.max_epochs(50), resume=old).epochs_run == 5
    with pytest.raises(ValueError, match=r"its stop was max_epochs\(n=50\); got max_epochs\(n=50\) \| "
                                         r"diverged\(factor=1000.0\)\."):
        gd.fit(gd.models.linear(), data, rule, epochs=5, stop=gd.stop.max_epochs(50) | gd.stop.diverged(1000),
               resume=old)


def test_a_checkpoint_of_an_mlp_with_another_activation_is_refused() -> None:
    """relu and tanh mlps have the same params: a checkpoint of one went on as the other without a word (gd.resume,
    from a store, checked the recorded activation; gd.fit(resume=) did not)."""
    data = gd.datasets.load("linreg", n=64, features=3, noise=0.5, seed=0)
    saved: list[gd.Checkpoint] = []
    gd.fit(gd.models.mlp((4,)), data, gd.sgd(0.05), epochs=2, on_epoch=saved.append)
    assert dict(saved[1].settings)["activation"] == "relu"
    with pytest.raises(ValueError, match=r"^model must be the checkpoint's to resume it .*: its activation was relu; "
                                         r"got tanh\.$"):
        gd.fit(gd.models.mlp((4,), activation="tanh"), data, gd.sgd(0.05), epochs=3, resume=saved[1])
    assert gd.fit(gd.models.mlp((4,)), data, gd.sgd(0.05), epochs=3, resume=saved[1]).epochs_run == 3
    bare = saved[1]._replace(settings=())  # a checkpoint made before the activation was kept resumes as before
    assert gd.fit(gd.models.mlp((4,)), data, gd.sgd(0.05), epochs=3, resume=bare).epochs_run == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch_size": 16}, r"batch_size must be .*: its batch_size was 32; got 16\."),
        ({"seed": 2}, r"seed must be .*: its seed was 1; got 2\."),
        ({"drop_last": True, "batch_size": 30}, r"batch_size must be .*: its batch_size was 32; got 30\."),
        ({"metrics": "running"}, r"metrics must be .*: its metrics was exact; got running\."),
        ({"data": "other"}, r"data must be .*: its SHA-256 fingerprint began [0-9a-f]{12}; this data's begins [0-9a-f]{12}\.$"),
    ],
    ids=["batch_size", "seed", "drop_last", "metrics", "data"],
)
def test_a_checkpoint_resumed_with_other_batches_or_data_is_refused(change: dict[str, object], message: str) -> None:
    """gd.fit(resume=checkpoint) went on with another batch size (steps_run 300 where the run made 225), seed or
    data set (the history jumped from 0.0100 to 0.0986) without a word; gd.resume from a store refused them."""
    data = gd.datasets.load("linreg")
    base = {"batch_size": 32, "seed": 1, "epochs": 6}
    saved: list[gd.Checkpoint] = []
    whole = gd.fit(gd.models.linear(), data, gd.sgd(0.05), on_epoch=saved.append, **base)
    given = {**base, **change}
    other = gd.datasets.load("linreg", seed=5) if given.pop("data", None) else data
    with pytest.raises(ValueError, match="^" + message):
        gd.fit(gd.models.linear(), other, gd.sgd(0.05), resume=saved[2], **given)
    again = gd.fit(gd.models.linear(), data, gd.sgd(0.05), resume=saved[2], **base)
    assert again.steps_run == whole.steps_run
    np.testing.assert_array_equal(again.history["train_loss"], whole.history["train_loss"])


def test_whole_data_slices_divide_the_rows_where_a_divisor_is_near_the_limit() -> None:
    from gdlab.engine.epoch import slice_rows

    assert [slice_rows(n) for n in (300, 512, 1000, 4000, 1024, 4001, 2503)] == [300, 512, 500, 500, 512, 512, 512]
    assert slice_rows(2503, 1000) == 1000  # 2503 is prime: slices of 1000 and a remainder of 503
    assert slice_rows(2500, 1000) == 625


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("n", [7, 1024, 2500, 2503, 4096])
def test_whole_data_passes_over_slices_equal_one_pass(n: int) -> None:
    from gdlab.engine.epoch import sliced_mean
    from gdlab.engine.objective import model_objective

    model = gd.models.mlp(hidden=(5,))
    params = model.init(jax.random.PRNGKey(0), (3,), 4)
    x = jax.random.normal(jax.random.PRNGKey(1), (n, 3), jnp.float64)
    y = jax.random.randint(jax.random.PRNGKey(2), (n,), 0, 4)
    objective = model_objective(model.apply, "cross_entropy", True)
    one = jax.value_and_grad(objective.loss)(params, x, y)
    sliced = sliced_mean(jax.value_and_grad(objective.loss), params, x, y, rows=1000)
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(sliced)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-12)
    accuracy = sliced_mean(objective.evaluate, params, x, y, rows=1000)[1]
    assert float(accuracy) == pytest.approx(float(objective.evaluate(params, x, y)[1]), rel=1e-12)


def test_enable_compilation_cache_refuses_a_file_with_a_value_error_naming_path(
    restore_jax_cache: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a_file").write_text("")
    before = jax.config.jax_compilation_cache_dir
    with pytest.raises(ValueError, match=r"^path must be a directory that can be created and written; "
                       r"got '.*a_file' \(a file, not a directory\)\.$"):  # was FileExistsError
        gd.enable_compilation_cache(tmp_path / "a_file")
    with pytest.raises(ValueError, match=r"^path must be .*a_file/jax' \(a file is in the way\)"):
        gd.enable_compilation_cache(tmp_path / "a_file" / "jax")  # was NotADirectoryError
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path / "a_file"))
    with pytest.raises(ValueError, match=r"^\$GDLAB_CACHE_DIR/jax must be .*a_file/jax' \(a file is in the way\)"):
        gd.enable_compilation_cache()
    assert jax.config.jax_compilation_cache_dir == before  # JAX's settings untouched
    assert gd.enable_compilation_cache(tmp_path / "new" / "jax") == tmp_path / "new" / "jax"
    assert (tmp_path / "new" / "jax").is_dir()
