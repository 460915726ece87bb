"""Update rules: the closed-form iterate on a quadratic, and optax step by step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdlab as gd


def _spd_matrix(rng: np.random.Generator, d: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q @ np.diag(rng.uniform(0.5, 4.0, size=d)) @ q.T


def _run(rule: gd.UpdateRule, grad_fn, w0, steps: int):
    state = rule.init(w0)
    w = w0
    for _ in range(steps):
        updates, state = rule.update(grad_fn(w), state, w)
        w = gd.apply_updates(w, updates)
    return w


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("steps", [1, 7, 50])
def test_gradient_descent_matches_the_closed_form_iterate_on_a_quadratic(steps: int) -> None:
    """f(w) = 1/2 w^T A w - b^T w: w_k = w* + (I - lr A)^k (w_0 - w*)."""
    rng = np.random.default_rng(3)
    a, b, w0 = _spd_matrix(rng, 6), rng.normal(size=6), rng.normal(size=6)
    lr = 0.2
    w_star = np.linalg.solve(a, b)
    expected = w_star + np.linalg.matrix_power(np.eye(6) - lr * a, steps) @ (w0 - w_star)
    got = _run(gd.sgd(lr), lambda w: jnp.asarray(a) @ w - jnp.asarray(b), jnp.asarray(w0), steps)
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(got), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("momentum", "nesterov", "weight_decay"),
    [(0.0, False, 0.0), (0.9, False, 0.0), (0.9, True, 0.0), (0.5, False, 0.01), (0.9, True, 0.1)],
)
def test_sgd_equals_optax_step_by_step(momentum: float, nesterov: bool, weight_decay: float) -> None:
    """100 steps on identical gradients; weight decay as optax.add_decayed_weights first."""
    key = jax.random.PRNGKey(0)
    params = {"w": jax.random.normal(key, (5, 3)), "b": jnp.arange(3.0)}
    grads = [
        jax.tree.map(lambda p, i=i: jnp.sin(p * (i + 1)) + 0.1 * i, params) for i in range(100)
    ]
    ours = gd.sgd(0.05, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    theirs = optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.sgd(0.05, momentum=momentum or None, nesterov=nesterov),
    )
    p1, s1 = params, ours.init(params)
    p2, s2 = params, theirs.init(params)
    for g in grads:
        u1, s1 = ours.update(g, s1, p1)
        u2, s2 = theirs.update(g, s2, p2)
        p1, p2 = gd.apply_updates(p1, u1), optax.apply_updates(p2, u2)
        for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(s1.step) == 100


def test_a_schedule_sets_the_learning_rate_of_each_step() -> None:
    rule = gd.sgd(lambda step: 0.1 / (1.0 + step))
    w = jnp.ones(2)
    state = rule.init(w)
    seen = []
    for _ in range(3):
        seen.append(float(rule.learning_rate(state)))
        updates, state = rule.update(jnp.ones(2), state, w)
        np.testing.assert_allclose(updates, -seen[-1] * np.ones(2), rtol=1e-6)
    np.testing.assert_allclose(seen, [0.1, 0.05, 0.1 / 3], rtol=1e-6)


@pytest.mark.parametrize(
    ("learning_rate", "match"),
    [
        (lambda step: -0.1, r"^learning_rate must return a finite rate >= 0 at step 0 \(the first update\); got -0\.1\.$"),
        (lambda step: -0.1 + 0 * step, r"^learning_rate must return .*; got -0\.1\.$"),  # a float32: -0.10000000149011612
        (lambda step: jnp.nan, r"^learning_rate must return a finite rate >= 0 at step 0 .*; got nan\.$"),
        (lambda step: jnp.inf * (1.0 + step), r"^learning_rate must return a finite rate >= 0 at step 0 .*; got inf\.$"),
        (lambda step: 0.1 * step - 0.5, r"^learning_rate must return .*; got -0\.5\.$"),
        (lambda step: 0.0 * step, (r"^learning_rate must return a rate > 0 at step 0, or rise above 0 after it "
                                  r"\(a warm-up\); got 0\.0 at steps 0, 1, 10, 100, 1000, 10000\.$")),
    ],
    ids=["negative", "negative_float32", "nan", "inf", "negative_then_positive", "zero"],
)
def test_a_callable_rate_is_checked_at_step_0_before_the_run(learning_rate: object, match: str) -> None:
    """It was only called inside the compiled loop: the run diverged (-0.1, nan) or did nothing (0)."""
    with pytest.raises(ValueError, match=match):
        gd.sgd(learning_rate)
    with pytest.raises(ValueError, match=match.replace("^learning_rate", "^schedules\\[1\\]")):
        gd.schedules.join([0.1, learning_rate], [5])


@pytest.mark.parametrize(
    ("learning_rate", "match"),
    [
        # updates count from 1 as in a diverged run's reason (it was 'update 3 (epoch 2, step 2 of 2)')
        (lambda step: 0.1 - 0.05 * step, r"gives -0\.05 at update 4 \(epoch 2, step 2 of 2; schedule\(3\)\)\.$"),
        (lambda step: jnp.where(step > 4, jnp.nan, 0.1), r"gives nan at update 6 \(epoch 3, step 2 of 2; schedule\(5\)\)\.$"),
    ],
    ids=["negative_later", "nan_later"],
)
def test_a_callable_rate_is_checked_at_every_update_of_the_run_before_it_starts(learning_rate, match) -> None:
    """Checked at step 0 only, the run did gradient ascent from update 3, or blamed the gradient for a NaN rate."""
    data = gd.datasets.load("linreg", n=40, features=3, seed=0)
    rule = gd.sgd(learning_rate)  # fine at step 0
    with pytest.raises(ValueError, match="^learning_rate must be a finite rate >= 0 at every update of the run; "
                                         "the schedule " + match):
        gd.fit(gd.models.linear(), data, rule, batch_size=20, epochs=4)
    one = gd.fit(gd.models.linear(), data, rule, batch_size=20, epochs=1)  # updates 0 and 1 only: fine
    assert one.reason.startswith("max_epochs: ran 1 epoch (2 updates);")  # not '1 epochs'


def test_a_linear_decay_to_zero_at_the_last_update_is_not_refused_for_its_float32_rounding() -> None:
    """0.1 * (1 - t / 79) over 80 updates reaches 0 at the last; float32 gives -2.5e-9 there, which was refused as
    a negative rate. A rate below 0 by more than rounding still is."""
    data = gd.datasets.load("linreg")
    decay = gd.fit(gd.models.linear(), data, gd.sgd(lambda t: 0.1 * (1 - t / 79)), batch_size=100, epochs=10)
    assert decay.steps_run == 80 and decay.status == "max_epochs"
    with pytest.raises(ValueError, match=r"the schedule gives -1\.00\d*e-06 at update 80 "):
        gd.fit(gd.models.linear(), data, gd.sgd(lambda t: 0.1 * (1 - t / 79) - 1e-6), batch_size=100, epochs=10)


@pytest.mark.parametrize(
    ("learning_rate", "match"),
    [
        (lambda step: 0.1 if step < 5 else 0.01, (r"^learning_rate must be a schedule JAX can trace \(use jnp\.where, "
                                                  r"not a Python if, on the step\)")),
        (lambda step: jnp.array([0.1, 0.2]), (r"^learning_rate must give one number per step; got an array of shape "
                                             r"\(2,\) at each step\.$")),
    ],
    ids=["python_if", "vector"],
)
def test_a_rate_function_jax_cannot_trace_or_that_gives_many_numbers_is_named(learning_rate, match) -> None:
    data = gd.datasets.load("linreg", n=40, features=3, seed=0)
    with pytest.raises(ValueError, match=match):
        gd.fit(gd.models.linear(), data, gd.sgd(learning_rate), batch_size=20, epochs=2)


def test_the_stability_check_compares_the_largest_rate_of_a_schedule() -> None:
    """A warm-up to 3.0 starts small: checked at step 0 only, it diverged with no warning."""
    data = gd.datasets.load("linreg", n=200, features=5, noise=0.1, seed=0)  # 2/L = 0.76
    warm = gd.schedules.warmup(gd.schedules.constant(3.0), 5)
    with pytest.warns(gd.StabilityWarning, match=r"^learning_rate 3 \(the schedule's largest, at update 6: schedule\(5\)\) exceeds "
                                                  r"the stability limit 2/L = 0\.76"):
        gd.fit(gd.models.linear(), data, gd.sgd(warm), epochs=8)


def test_a_callable_rate_may_warm_up_from_0() -> None:
    """optax's warm-up from 0 starts at 0: accepted, and its rates are used step by step."""
    warm = optax.linear_schedule(0.0, 0.1, transition_steps=4)
    rule, w = gd.sgd(warm), jnp.ones(2)
    state = rule.init(w)
    for step in range(3):
        np.testing.assert_allclose(float(rule.learning_rate(state)), 0.025 * step, rtol=1e-6)
        _, state = rule.update(jnp.ones(2), state, w)
    gd.sgd(lambda step: jnp.where(step < 10, 0.1, 0.01))  # branch-free callables are accepted as before


def test_new_hyperparameters_reuse_the_same_update_function() -> None:
    """Numbers live in the state, so a compiled program built on update serves every value."""
    assert gd.sgd(0.1).update is gd.sgd(0.7).update
    assert gd.sgd(0.1, momentum=0.5).update is gd.sgd(0.3, momentum=0.9).update
    assert gd.sgd(0.1).update is not gd.sgd(0.1, momentum=0.9).update


@pytest.mark.parametrize(
    "learning_rate",
    [np.float32(0.25), np.array(0.25), jnp.float32(0.25), jnp.asarray(0.25), np.int64(1), jnp.asarray(1)],
    ids=["np.float32", "np-0d", "jnp.float32", "jnp-0d", "np.int64", "jnp-int"],
)
def test_a_numpy_or_jax_scalar_learning_rate_is_a_number(learning_rate) -> None:
    """0-d arrays are numbers. f = |w|^2 / 2 (g = w), momentum 0.5, two steps:
    w_1 = (1 - lr) w_0;  v_2 = 0.5 w_0 + w_1;  w_2 = w_1 - lr v_2 = (1 - lr)^2 w_0 - 0.5 lr w_0."""
    w0 = jnp.asarray([2.0, -4.0])
    rule = gd.sgd(learning_rate, momentum=jnp.float32(0.5))
    assert float(rule.learning_rate(rule.init(w0))) == float(learning_rate)
    np.testing.assert_allclose(_run(rule, lambda w: w, w0, 2),
                               (1 - float(learning_rate)) ** 2 * w0 - 0.5 * float(learning_rate) * w0, rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -0.1}, ValueError, r"learning_rate must be a float in \(0, inf\); got -0.1"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate"),
        ({"learning_rate": float("nan")}, ValueError, "learning_rate"),
        ({"learning_rate": float("inf")}, ValueError, "learning_rate"),
        ({"learning_rate": "0.1"}, TypeError, "learning_rate"),
        ({"learning_rate": jnp.asarray([0.1])}, TypeError, "learning_rate"),
        ({"learning_rate": jnp.asarray(-0.1)}, ValueError, "learning_rate"),
        ({"learning_rate": np.array(True)}, TypeError, "learning_rate"),
        ({"learning_rate": 0.1, "momentum": 1.0}, ValueError, r"momentum must be a float in \[0.0, 1.0\)"),
        ({"learning_rate": 0.1, "momentum": -0.5}, ValueError, "momentum"),
        ({"learning_rate": 0.1, "weight_decay": -1.0}, ValueError, "weight_decay"),
        ({"learning_rate": 0.1, "nesterov": True}, ValueError, "nesterov"),
        ({"learning_rate": 0.1, "nesterov": "yes"}, TypeError, "nesterov"),
    ],
)
def test_bad_hyperparameters_name_the_parameter(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        gd.sgd(**kwargs)


@pytest.mark.parametrize(
    ("rule", "name"),
    [(lambda: gd.sgd(1e39), "learning_rate"), (lambda: gd.sgd(0.1, weight_decay=1e39), "weight_decay"),
     (lambda: gd.sgd(gd.schedules.exponential(1e39, 0.5, 10)), "learning_rate")],
    ids=["rate", "weight_decay", "schedule"],
)
def test_a_number_too_large_for_the_params_dtype_is_refused_not_made_inf(rule, name) -> None:
    # numpy would cast 1e39 to float32 inf (with only a RuntimeWarning) and the run would diverge
    with pytest.raises(ValueError, match=rf"{name} must be at most 3.403e\+38 in size to fit float32; got 1e\+39"):
        rule().init({"w": jnp.zeros(3)})
    assert float(gd.sgd(3e38).init({"w": jnp.zeros(3)}).hyper.learning_rate[0]) == pytest.approx(3e38)


@pytest.mark.parametrize(
    ("rule", "name"),
    [(lambda: gd.sgd(1e-320), "learning_rate"), (lambda: gd.sgd(0.1, momentum=1e-46), "momentum"),
     (lambda: gd.sgd(0.1, weight_decay=1e-50), "weight_decay")],
    ids=["rate", "momentum", "weight_decay"],
)
def test_a_number_too_small_for_the_params_dtype_is_refused_not_made_zero(rule, name) -> None:
    """gd.sgd(1e-320) trained with a learning rate of 0 (float32 has no such number), saying nothing."""
    with pytest.raises(ValueError, match=rf"{name} must be at least 1.401e-45 in size \(where not 0\) to fit float32"):
        rule().init({"w": jnp.zeros(3)})
    hyper = gd.sgd(1e-40, momentum=0.0, weight_decay=0.0).init({"w": jnp.zeros(3)}).hyper  # subnormal: kept
    assert float(hyper.learning_rate[0]) == pytest.approx(1e-40, rel=1e-3) and float(hyper.weight_decay) == 0.0
    half = gd.sgd(1e-5).init({"w": jnp.zeros(3, jnp.float16)}).hyper  # float16's subnormal 1e-5 was refused
    assert float(half.learning_rate[0]) == pytest.approx(1e-5, rel=1e-2)
    with pytest.raises(ValueError, match=r"learning_rate must be at least 5.96e-08 in size \(where not 0\) to fit float16"):
        gd.sgd(1e-8).init({"w": jnp.zeros(3, jnp.float16)})


def test_integer_params_are_refused_naming_params_and_the_dtype() -> None:
    with pytest.raises(TypeError, match="params must be floating-point arrays.*got dtype int32"):
        gd.sgd(0.1).init({"w": jnp.array([1, 2], dtype=jnp.int32)})
    state = gd.sgd(0.1).init({"w": jnp.array([1.0, 2.0])})
    assert float(jax.tree.leaves(state.hyper.learning_rate)[0]) == pytest.approx(0.1)
