"""The stability limit: sharpness against eigvalsh, and the convergence rates theory predicts."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import gdlab as gd

pytestmark = pytest.mark.usefixtures("x64")


def _rotated(eigenvalues: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(len(eigenvalues),) * 2))
    return q @ np.diag(eigenvalues) @ q.T


def _quadratic_loss(a: np.ndarray):
    def loss_fn(params, x, y):
        return 0.5 * params["w"] @ jnp.asarray(a) @ params["w"] + 0.0 * jnp.sum(x)

    return loss_fn


def _dummy() -> gd.Dataset:
    return gd.datasets.from_arrays(np.zeros((2, 1)), np.zeros(2), task="regression", test_fraction=0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sharpness_matches_eigvalsh_on_quadratics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = _rotated(np.sort(rng.uniform(0.1, 10.0, size=12)), seed)
    top = gd.sharpness(_quadratic_loss(a), {"w": jnp.ones(12)}, _dummy())
    np.testing.assert_allclose(top, np.linalg.eigvalsh(a).max(), rtol=1e-4)


def test_sharpness_finds_the_top_eigenvalue_when_a_negative_one_is_larger() -> None:
    a = _rotated(np.array([-6.0, -1.0, 0.5, 2.0]))
    top = gd.sharpness(_quadratic_loss(a), {"w": jnp.ones(4)}, _dummy())
    np.testing.assert_allclose(top, 2.0, rtol=1e-4)


def test_sharpness_of_least_squares_is_the_top_eigenvalue_of_xtx_over_n() -> None:
    data = gd.datasets.load("linreg", n=400, features=6, noise=0.3, seed=2, dtype="float64")
    x = np.hstack([data.x_train, np.ones((data.n_train, 1))])
    xtx_n = x.T @ x / len(x)

    def half_mse(params, xb, yb):  # L(v) = |X v - y|^2 / (2n): Hessian X^T X / n
        v = params["v"]
        return 0.5 * jnp.mean((xb @ v[:-1] + v[-1] - yb) ** 2)

    top = gd.sharpness(half_mse, {"v": jnp.zeros(7)}, data)
    np.testing.assert_allclose(top, np.linalg.eigvalsh(xtx_n).max(), rtol=1e-4)
    model = gd.models.linear()  # mean squared error: Hessian 2 X^T X / n, at any params
    params = model.init(gd.core.batching.run_keys(0)[0], (6,), 1)
    np.testing.assert_allclose(gd.sharpness(model, params, data), 2 * np.linalg.eigvalsh(xtx_n).max(), rtol=1e-4)
    limit = gd.max_stable_learning_rate(model, params, data, momentum=0.5)
    np.testing.assert_allclose(limit, 3.0 / (2 * np.linalg.eigvalsh(xtx_n).max()), rtol=1e-4)
    limit = gd.max_stable_learning_rate(model, params, data, momentum=0.5, nesterov=True, weight_decay=0.1)
    np.testing.assert_allclose(limit, 3.0 / (2 * (2 * np.linalg.eigvalsh(xtx_n).max() + 0.1)), rtol=1e-4)


def test_sharpness_on_a_batch_uses_that_batch() -> None:
    data = gd.datasets.load("linreg", n=300, features=4, seed=3, dtype="float64")
    model = gd.models.linear()
    params = model.init(gd.core.batching.run_keys(0)[0], (4,), 1)
    pick = np.sort(np.random.default_rng(5).choice(data.n_train, size=20, replace=False))
    x = np.hstack([data.x_train[pick], np.ones((20, 1))])
    got = gd.sharpness(model, params, data, batch_size=20, seed=5)
    np.testing.assert_allclose(got, np.linalg.eigvalsh(2 * x.T @ x / 20).max(), rtol=1e-4)


def test_sharpness_takes_full_batch_as_fit_does() -> None:
    """batch_size="full" is all the training data (it was a TypeError): 2 X^T X / n's top eigenvalue."""
    data = gd.datasets.load("linreg", n=60, features=3, seed=3, dtype="float64")
    model = gd.models.linear()
    params = model.init(gd.core.batching.run_keys(0)[0], (3,), 1)
    x = np.hstack([data.x_train, np.ones((data.n_train, 1))])
    expected = np.linalg.eigvalsh(2 * x.T @ x / data.n_train).max()
    np.testing.assert_allclose(gd.sharpness(model, params, data, batch_size="full"), expected, rtol=1e-4)


def _distances(a: np.ndarray, rule: gd.UpdateRule, steps: int, seed: int = 4) -> np.ndarray:
    """|w_k - w*| for gradient steps on f(w) = 1/2 w^T A w (w* = 0)."""
    w = jnp.asarray(np.random.default_rng(seed).normal(size=len(a)))
    state = rule.init(w)
    out = [float(jnp.linalg.norm(w))]
    for _ in range(steps):
        updates, state = rule.update(jnp.asarray(a) @ w, state, w)
        w = gd.apply_updates(w, updates)
        out.append(float(jnp.linalg.norm(w)))
    return np.array(out)


MU, BIG_L = 0.5, 20.0
KAPPA = BIG_L / MU


def test_two_over_mu_plus_l_contracts_by_kappa_minus_one_over_kappa_plus_one() -> None:
    a = _rotated(np.linspace(MU, BIG_L, 10))
    d = _distances(a, gd.sgd(2 / (MU + BIG_L)), 60)
    ratios = d[1:] / d[:-1]
    bound = (KAPPA - 1) / (KAPPA + 1)
    assert ratios.max() <= bound + 1e-12
    assert ratios.max() > bound - 1e-3  # the bound is tight: the extreme eigen-directions reach it


def test_one_over_l_contracts_by_one_minus_mu_over_l() -> None:
    a = _rotated(np.linspace(MU, BIG_L, 10))
    d = _distances(a, gd.sgd(1 / BIG_L), 200)
    ratios = d[1:] / d[:-1]
    assert ratios.max() <= 1 - MU / BIG_L + 1e-12
    assert ratios[-1] > 1 - MU / BIG_L - 1e-3


def test_heavy_ball_with_the_optimal_pair_reaches_the_accelerated_rate() -> None:
    """lr = 4/(sqrt(L)+sqrt(mu))^2, momentum = ((sqrt(k)-1)/(sqrt(k)+1))^2: rate (sqrt(k)-1)/(sqrt(k)+1)."""
    a = _rotated(np.linspace(MU, BIG_L, 10))
    rate = (np.sqrt(KAPPA) - 1) / (np.sqrt(KAPPA) + 1)
    lr = 4 / (np.sqrt(BIG_L) + np.sqrt(MU)) ** 2
    steps = 300
    d = _distances(a, gd.sgd(float(lr), momentum=float(rate**2)), steps)
    # the iteration matrix has double eigenvalues of modulus `rate`: |e_k| <= C k rate^k
    observed = (d[-1] / d[0]) ** (1 / steps)
    assert observed <= rate * 1.03
    plain = _distances(a, gd.sgd(2 / (MU + BIG_L)), steps)
    assert (plain[-1] / plain[0]) ** (1 / steps) > observed + 0.15  # clearly faster than plain GD


@pytest.mark.parametrize(
    ("momentum", "nesterov", "weight_decay", "expected"),
    [(0.0, False, 0.0, 2 / BIG_L), (0.9, False, 0.0, 3.8 / BIG_L), (0.9, True, 0.0, 3.8 / (2.8 * BIG_L)),
     (0.5, True, 0.0, 3.0 / (2.0 * BIG_L)), (0.5, False, 1.0, 3.0 / (BIG_L + 1.0))],
)
def test_the_rules_stability_limit_is_where_the_iteration_turns_unstable(momentum, nesterov, weight_decay,
                                                                         expected) -> None:
    """Heavy ball (2 + 2m)/L, Nesterov (2 + 2m)/((1 + 2m) L), weight decay adds to L: 2% below the
    limit the iterates shrink, 2% above they grow (the top eigen-direction leaves at eigenvalue -1)."""
    a = _rotated(np.linspace(MU, BIG_L, 10))
    rule = gd.sgd(0.1, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    limit, formula = rule.stability_limit(rule.init(jnp.zeros(10)), BIG_L)
    assert limit == pytest.approx(expected, rel=1e-12)
    assert ("Nesterov" in formula) == nesterov
    kwargs = {"momentum": momentum, "nesterov": nesterov, "weight_decay": weight_decay}
    below = _distances(a, gd.sgd(0.98 * limit, **kwargs), 400)
    above = _distances(a, gd.sgd(1.02 * limit, **kwargs), 400)
    assert below[-1] < 0.1 * below[0] and above[-1] > 10 * above[0]


def test_fit_warns_for_a_nesterov_rate_above_its_limit() -> None:
    """Nesterov momentum 0.9 at lr 2 on L = 1 diverges (limit 3.8/2.8 = 1.36) but passed the heavy-ball
    check (3.8) without a StabilityWarning."""
    loss = _quadratic_loss(np.eye(2))
    with pytest.warns(gd.StabilityWarning, match=r"learning_rate 2 exceeds the stability limit "
                                                  r"\(2 \+ 2\*momentum\)/\(\(1 \+ 2\*momentum\) L\) with Nesterov "
                                                  r"momentum 0.9 = 1.4 \(L = 1\)"):
        gd.fit(loss, _dummy(), gd.sgd(2.0, momentum=0.9, nesterov=True), params={"w": jnp.ones(2)}, epochs=1)


def test_history_tracks_sharpness_every_n_epochs() -> None:
    data = gd.datasets.load("linreg", n=200, features=3, seed=1, dtype="float64")
    x = np.hstack([data.x_train, np.ones((data.n_train, 1))])
    expected = 2 * np.linalg.eigvalsh(x.T @ x / len(x)).max()
    result = gd.fit(gd.models.linear(), data, gd.sgd(0.1), batch_size=16, epochs=4, track_sharpness=2)
    s = result.history["sharpness"]
    assert np.isnan(s[0]) and np.isnan(s[2])
    np.testing.assert_allclose(s[[1, 3]], expected, rtol=1e-3)


def test_bad_sharpness_arguments() -> None:
    data = _dummy()
    loss = _quadratic_loss(np.eye(2))
    with pytest.raises(ValueError, match="tol"):
        gd.sharpness(loss, {"w": jnp.ones(2)}, data, tol=0.0)
    with pytest.raises(ValueError, match="max_iter"):
        gd.sharpness(loss, {"w": jnp.ones(2)}, data, max_iter=0)
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 2\]"):
        gd.sharpness(loss, {"w": jnp.ones(2)}, data, batch_size=3)
    with pytest.raises(ValueError, match="momentum"):
        gd.max_stable_learning_rate(loss, {"w": jnp.ones(2)}, data, momentum=1.5)


def test_sharpness_and_noise_scale_of_no_params_measure_where_fit_of_that_seed_starts() -> None:
    """gd.sharpness(model, None, data) measured at params drawn from jax.random.PRNGKey(0) whatever the seed,
    not where gd.fit starts, and its signature said params: Params (gd.noise_scale's docstring promised the
    seed's initial params and drew the same PRNGKey(0) ones)."""
    import inspect

    from gdlab.engine.setup import seed_params

    data = gd.datasets.load("linreg", n=60, features=3, seed=1)
    model = gd.models.mlp(hidden=(4,))
    for seed in (0, 3):
        start = seed_params(model, data, seed)
        assert gd.sharpness(model, None, data, seed=seed) == gd.sharpness(model, start, data, seed=seed)
        drawn = gd.noise_scale(model, None, data, 8, 16, batches=4, seed=seed).b_simple
        assert drawn == gd.noise_scale(model, start, data, 8, 16, batches=4, seed=seed).b_simple
    assert "None" in str(inspect.signature(gd.sharpness).parameters["params"].annotation)
    assert "params None measures at the model's initial params drawn from ``seed``" in (gd.sharpness.__doc__ or "")
