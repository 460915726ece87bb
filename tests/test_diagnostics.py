"""The learning-rate finder and the gradient noise scale against closed forms and exact values."""

from __future__ import annotations

import dataclasses
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdlab as gd
from gdlab.engine.lr_finder import find_learning_rate
from gdlab.engine.noise_scale import estimate_from_norms, exact_noise_scale, noise_scale
from gdlab.report.finder import suggestion_notes


@pytest.fixture(scope="module")
def least_squares() -> gd.Dataset:
    return gd.datasets.load("linreg", n=250, features=5, noise=0.5, seed=4)


def test_full_batch_suggestion_is_within_a_factor_of_two_of_two_over_mu_plus_l(least_squares) -> None:
    data = least_squares
    x = np.hstack([data.x_train, np.ones((data.n_train, 1))]).astype(np.float64)
    eig = np.linalg.eigvalsh(2 * x.T @ x / len(x))  # MSE Hessian
    optimal = 2 / (eig.min() + eig.max())
    result = find_learning_rate(gd.models.linear(), data, batch_size=data.n_train, seeds=2,
                                min_lr=1e-4, max_lr=10.0, steps=100, validate_epochs=20)
    assert optimal / 2 <= result.suggestion <= optimal * 2
    assert result.interval[0] <= result.suggestion <= result.interval[1]
    assert set(result.suggestions) == {"steepest", "valley", "minimum/10", "largest_stable"}
    assert result.losses.shape == (2, 100) and result.learning_rates[0] == pytest.approx(1e-4)
    shown = repr(result)  # one line, not every curve's numbers
    assert shown.startswith(f"LRFinderResult(suggestion={result.suggestion:.3g}, interval=(") and "\n" not in shown
    assert f"valley {result.suggestions['valley'].value:.3g}" in shown and "100 steps x 2 seeds" in shown


def test_when_every_candidate_diverges_the_finder_validates_a_decade_lower(least_squares, monkeypatch) -> None:
    # Batch GD on least squares diverges exactly above 2/L. Candidates both above it (as a range test can
    # leave when a slow blow-up outlasts its few steps per rate) must not give a diverged answer.
    data = least_squares
    x = np.hstack([data.x_train, np.ones((data.n_train, 1))]).astype(np.float64)
    limit = 2 / np.linalg.eigvalsh(2 * x.T @ x / len(x)).max()
    monkeypatch.setattr("gdlab.engine.lr_finder._candidates", lambda *args: [3 * limit, 6 * limit])
    result = find_learning_rate(gd.models.linear(), data, batch_size="full", seeds=2, min_lr=1e-4, max_lr=10.0,
                                steps=100, validate_epochs=8)
    rates = [v["learning_rate"] for v in result.validation]
    np.testing.assert_allclose(rates, [0.3 * limit, 0.6 * limit, 3 * limit, 6 * limit], rtol=1e-12)
    assert [v["diverged"] for v in result.validation] == [False, False, True, True]
    assert result.suggestion == pytest.approx(0.6 * limit)  # the faster of the two that train, in 8 steps
    assert result.suggestion < limit
    monkeypatch.setattr("gdlab.engine.lr_finder._candidates", lambda *args: [3 * limit, 30 * limit])
    spread = find_learning_rate(gd.models.linear(), data, batch_size="full", seeds=1, min_lr=1e-4, max_lr=100.0,
                                steps=100, validate_epochs=8)  # a decade lower meets 3 * limit again: once
    np.testing.assert_allclose([v["learning_rate"] for v in spread.validation][1:],
                               [0.3 * limit, 3 * limit, 30 * limit], rtol=1e-12)  # [0]: a grid step below 0.3 L
    # min_lr above the limit: a decade lower is min_lr itself, which diverges too (slowly: 100 epochs); no
    # answer is given rather than a diverged one
    monkeypatch.setattr("gdlab.engine.lr_finder._candidates", lambda *args: [3 * limit, 6 * limit])
    tried = ", ".join(f"{k * limit:.3g}" for k in (1.15, 3, 6))
    message = (f"min_lr must be low enough for a validated candidate to train; every one diverged within 100 "
               f"epochs, down to min_lr={1.15 * limit:g} (got the rates {tried}): lower min_lr")
    with pytest.raises(ValueError, match=re.escape(message)):
        find_learning_rate(gd.models.linear(), data, batch_size="full", seeds=2, min_lr=1.15 * limit,
                           max_lr=1.6 * limit, steps=100, validate_epochs=100)


def test_a_range_too_low_to_move_the_loss_gives_no_answer(least_squares) -> None:
    """Rates of 1e-9 to 1e-6 end where they began (to float noise): the finder answered 3.16e-08 'validated'."""
    with pytest.raises(ValueError, match=re.escape(
            "max_lr must be high enough for the loss to fall; got 1e-06, and no validated candidate (the rates ")) as info:
        find_learning_rate(gd.models.linear(), least_squares, batch_size=25, seeds=2, min_lr=1e-9, max_lr=1e-6,
                           steps=40)
    assert str(info.value).endswith(") lowered the mean train loss by more than 1% within 2 epochs: raise max_lr "
                                    "(or validate_epochs, if the loss starts to fall slowly).")


def test_candidates_far_below_where_the_range_test_blew_up_point_at_steps_not_max_lr(least_squares, monkeypatch) -> None:
    """20 noisy batch-1 steps placed every candidate near 1e-4 while the loss blew up near 5: it said 'raise max_lr'
    (got 10), which was far above the blow-up already; more steps validated 0.0178."""
    monkeypatch.setattr("gdlab.engine.lr_finder._candidates", lambda *args: [1e-9, 3e-9])  # too low to move
    with pytest.raises(ValueError, match=r"^steps must be enough for the range test to place the candidates; got 20, "
                       r"and no validated candidate \(the rates 1e-09, 3e-09\) lowered .* though the loss blew up only "
                       r"by the rate \S+ \(so max_lr=1000 reached high enough\): try steps=100 or more, or a larger "
                       r"batch_size \(a smoother curve\)\.$"):
        find_learning_rate(gd.models.linear(), least_squares, batch_size=1, seeds=1, min_lr=1e-3, max_lr=1e3,
                           steps=20, validate_epochs=1)
    with pytest.raises(ValueError, match=r"try steps=100 or more\.$"):  # batch GD: no batch to enlarge
        find_learning_rate(gd.models.linear(), least_squares, batch_size="full", seeds=1, min_lr=1e-3, max_lr=1e3,
                           steps=20, validate_epochs=1)


def test_the_answer_and_its_interval_hold_only_candidates_that_lowered_the_loss(least_squares, monkeypatch) -> None:
    # The seeds start 0.5 apart, so 1e-9 (which does not move: 7.70, 6.85, 6.44 before and after 2 epochs) lies
    # within one std of 1e-3 (4.7% lower): it was the low end of the interval.
    monkeypatch.setattr("gdlab.engine.lr_finder._candidates", lambda *args: [1e-9, 1e-3])
    result = find_learning_rate(gd.models.linear(), least_squares, batch_size=25, seeds=3, steps=40)
    still, best = result.validation[:2]  # then grid steps past 1e-3, the fastest of the two
    assert still["mean"] <= best["mean"] + best["std"]  # one std would have taken it in
    assert result.suggestion >= 1e-3 and result.interval[0] >= 1e-3
    # the rate that does not move with one that diverges (batch GD above 2/L): no candidate trained
    x = np.hstack([least_squares.x_train, np.ones((least_squares.n_train, 1))]).astype(np.float64)
    limit = 2 / np.linalg.eigvalsh(2 * x.T @ x / len(x)).max()
    monkeypatch.setattr("gdlab.engine.lr_finder._candidates", lambda *args: [1e-9, 6 * limit])
    message = (f"validate_epochs must be enough for a validated candidate to train; got 8, and of the candidates the "
               f"rates {6 * limit:.3g} diverged while 1e-09 did not lower the mean train loss by more than 1%: raise "
               "validate_epochs, or check the model and data.")
    with pytest.raises(ValueError, match=re.escape(message)):
        find_learning_rate(gd.models.linear(), least_squares, batch_size="full", seeds=2, steps=40, validate_epochs=8)


def test_no_rule_offers_a_rate_outside_the_range_tested(least_squares) -> None:
    """From min_lr=0.1, a seed's loss is lowest at about 0.5: minimum/10 was 0.05, below the range; it is NaN."""
    result = find_learning_rate(gd.models.linear(), least_squares, batch_size=25, seeds=2, min_lr=0.1, max_lr=100.0,
                                steps=40)
    values = [v for s in result.suggestions.values() for v in (s.value, *s.per_seed)]
    assert all(0.1 <= v <= 100.0 for v in values if not np.isnan(v))
    assert np.isnan(result.suggestions["minimum/10"].per_seed).any()
    note = ("minimum/10 offered no rate for 1 of 2 seeds: where a seed's lowest loss came within a decade of the "
            "lowest rate tested (0.1), a tenth of it lies below the range tested; so it suggests none (—).")
    assert suggestion_notes(result) == [note]


def test_a_loss_that_blows_up_at_once_asks_for_a_lower_min_lr_and_sparse_points_for_more_steps(least_squares) -> None:
    """It said 'steps must leave at least 10 points ...; got 1 (raise steps ...)' for both, and 1 was no count of
    steps: from min_lr=1000 the first update blows the loss up, with any number of steps."""
    for steps in (40, 400):
        with pytest.raises(ValueError, match=re.escape(
                "min_lr must be low enough for the loss to fall before it blows up; got 1000, and the loss blew up "
                "after 1 point of the range test, by the rate ")) as info:
            find_learning_rate(gd.models.linear(), least_squares, batch_size=25, seeds=2, min_lr=1e3, max_lr=1e9,
                               steps=steps)
        assert str(info.value).endswith(" (10 points are needed): lower min_lr by a decade or more.")
    # 35 decades in 20 steps: 5 points before it blows up at about 1, far above min_lr; the steps asked for do
    kwargs = {"batch_size": 25, "seeds": 2, "min_lr": 1e-5, "max_lr": 1e30}
    with pytest.raises(ValueError, match=re.escape(
            "steps must leave at least 10 points of the range test before the loss blows up; got 20, which left 5 "
            "points below the rate 1.62e+04, by which it blew up: try steps=77 or more, or a max_lr below 1e+30.")):
        find_learning_rate(gd.models.linear(), least_squares, steps=20, **kwargs)
    result = find_learning_rate(gd.models.linear(), least_squares, steps=77, **kwargs)
    assert np.isfinite(result.losses).sum(axis=1).max() >= 10


def test_the_validated_answer_is_stable_across_seed_sets(mnist1d) -> None:
    small = gd.datasets.from_arrays(mnist1d.x_train[:1000], mnist1d.y_train[:1000], test_fraction=0.2)
    model = gd.models.mlp(hidden=(32,))
    answers = [
        find_learning_rate(model, small, batch_size=32, seeds=[3 * k, 3 * k + 1, 3 * k + 2], steps=120,
                           validate_epochs=2).suggestion
        for k in range(5)
    ]
    most = max(answers.count(a) for a in answers)
    assert most >= 4, answers


def test_training_at_the_suggestion_beats_ten_times_lower_and_higher(mnist1d) -> None:
    model = gd.models.mlp(hidden=(64,))
    result = find_learning_rate(model, mnist1d, batch_size=32, seeds=2, steps=150, validate_epochs=1)
    spread = result.suggestions["steepest"].spread
    assert spread[0] <= result.suggestions["steepest"].value <= spread[1]

    def final_loss(rate: float) -> float:
        return gd.fit(model, mnist1d, gd.sgd(rate), batch_size=32, epochs=3, metrics="running").history[
            "train_loss"][-1]

    best = final_loss(result.suggestion)
    assert best < final_loss(result.suggestion / 10)
    assert best < final_loss(result.suggestion * 10)


def test_the_finder_leaves_the_params_bit_identical(least_squares) -> None:
    model = gd.models.linear()
    params = model.init(jax.random.PRNGKey(3), (5,), 1)
    copy = jax.tree.map(lambda a: np.array(a, copy=True), params)
    find_learning_rate(model, least_squares, batch_size=25, seeds=2, steps=40, params=params)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(copy)):
        np.testing.assert_array_equal(np.asarray(a), b)


def test_the_finder_builds_a_schedule_from_its_answer(least_squares) -> None:
    result = find_learning_rate(gd.models.linear(), least_squares, batch_size=25, seeds=1, steps=40)
    schedule = result.schedule("cosine", total_steps=100, warmup_steps=10)
    assert float(schedule(10)) == pytest.approx(result.suggestion, rel=1e-6)
    assert float(result.schedule("one_cycle", 100)(29)) == pytest.approx(result.suggestion, rel=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_lr": 1.0, "max_lr": 0.1}, r"min_lr must be smaller than max_lr \(0.1\); got 1.0"),
        ({"min_lr": -1.0}, "min_lr"),
        ({"steps": 5}, r"steps must be an integer in \[20, inf\]"),
        ({"batch_size": 10_000}, "batch_size"),
        ({"min_lr": 1e3, "max_lr": 1e9}, "min_lr must be low enough for the loss to fall before it blows up"),
        ({"validate_epochs": 0}, r"validate_epochs must be an integer in \[1, inf\]; got 0"),
        ({"max_lr": 1e300}, r"max_lr must be at most 3.403e\+38 in size to fit float32; got 1e\+300"),
    ],
)
def test_bad_finder_arguments(least_squares, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        find_learning_rate(gd.models.linear(), least_squares, **{"batch_size": 25, "steps": 40, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"grid_per_decade": 0}, ValueError, r"grid_per_decade must be an integer in \[1, inf\]; got 0"),
        ({"callback": 3}, TypeError, r"callback must be None or a function callback\(stage, done, total\)"),
        ({"record": "runs.db"}, TypeError, "record must be None or an object with methods record_finder"),
    ],
)
def test_finder_arguments_that_used_to_fail_after_the_range_test(least_squares, kwargs, error, match,
                                                                 compile_counter) -> None:
    """grid_per_decade=0 was a ZeroDivisionError, a bad callback or record an AttributeError,
    each after the range test had compiled and run."""
    with pytest.raises(error, match=match):
        find_learning_rate(gd.models.linear(), least_squares, **{"batch_size": 25, "steps": 40, **kwargs})
    assert compile_counter.count == 0


def test_the_finder_takes_full_batch_as_fit_does(least_squares) -> None:
    """batch_size="full" (or None) is every sample, as in gd.fit; it was a TypeError."""
    kwargs = {"seeds": 1, "steps": 40, "validate_epochs": 2}
    full = find_learning_rate(gd.models.linear(), least_squares, batch_size="full", **kwargs)
    n = find_learning_rate(gd.models.linear(), least_squares, batch_size=least_squares.n_train, **kwargs)
    np.testing.assert_array_equal(full.raw_losses, n.raw_losses)
    assert full.suggestion == n.suggestion


def test_the_finders_default_batch_is_every_sample_of_a_data_set_smaller_than_32(least_squares) -> None:
    """Its default 32 was refused on 20 samples ("batch_size must be an integer in [1, 20] ...; got 32"), a value
    the user never gave; gdlab find-lr adapts its 32 (and gd.fit trains full batch by default). A 32 given is still
    checked."""
    x, y = np.asarray(least_squares.x_train[:20]), np.asarray(least_squares.y_train[:20])
    small = gd.datasets.from_arrays(x, y, test_fraction=0)
    kwargs = {"seeds": 1, "steps": 40, "validate_epochs": 2}
    default = find_learning_rate(gd.models.linear(), small, **kwargs)
    full = find_learning_rate(gd.models.linear(), small, batch_size="full", **kwargs)
    np.testing.assert_array_equal(default.raw_losses, full.raw_losses)
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 20\] \(20 training samples\) or "
                                         r"'full'; got 32\.$"):
        find_learning_rate(gd.models.linear(), small, batch_size=32, **kwargs)


def test_one_full_batch_epoch_validates_by_the_loss_after_its_update(least_squares, monkeypatch) -> None:
    """The running train loss of one full-batch epoch is the loss before its update: every candidate tied, and
    the lowest rate was the answer."""
    monkeypatch.setattr("gdlab.engine.lr_finder._candidates", lambda *args: [1e-3, 0.1])
    result = find_learning_rate(gd.models.linear(), least_squares, batch_size="full", seeds=2, steps=40,
                                validate_epochs=1)
    slow, fast = result.validation[:2]
    assert fast["mean"] < 0.9 * slow["mean"] and result.suggestion >= 0.1


def test_diagnostics_name_data_of_the_wrong_type(least_squares) -> None:
    model = gd.models.linear()
    params = model.init(jax.random.PRNGKey(0), (5,), 1)
    arrays = (least_squares.x_train, least_squares.y_train)
    for call in (lambda: find_learning_rate(model, arrays), lambda: noise_scale(model, params, arrays),
                 lambda: exact_noise_scale(model, params, arrays), lambda: gd.sharpness(model, params, arrays)):
        with pytest.raises(TypeError, match="data must be a gdlab Dataset .*; got tuple"):
            call()  # was AttributeError: 'tuple' object has no attribute 'n_train' / 'task'


def test_the_finder_reports_its_progress(least_squares) -> None:
    seen: list[tuple[str, int, int]] = []
    find_learning_rate(gd.models.linear(), least_squares, batch_size=25, seeds=1, steps=40, validate_epochs=3,
                       callback=lambda *stage: seen.append(stage))
    assert seen[:5] == [("range test", 0, 1), ("range test", 1, 1)] + [("validation", e, 3) for e in (1, 2, 3)]
    sweeps = len(seen[2:]) // 3  # the first, then one per grid step past the best
    assert seen[2:] == [("validation", e, 3 * ((e + 2) // 3)) for e in range(1, 3 * sweeps + 1)]


def test_the_finders_validation_progress_never_falls_back_over_further_sweeps(least_squares, monkeypatch) -> None:
    """Each further validation sweep (a decade lower, a grid step past the best) reported its epochs from 1 of
    validate_epochs again: the bar of gdlab find-lr jumped back to the start. done now counts the epochs of every
    sweep so far and total grows by validate_epochs per sweep; a sweep that ended early (every candidate diverged,
    here within 2 of its 5 epochs) fills its share."""
    data = least_squares
    x = np.hstack([data.x_train, np.ones((data.n_train, 1))]).astype(np.float64)
    limit = 2 / np.linalg.eigvalsh(2 * x.T @ x / len(x)).max()
    monkeypatch.setattr("gdlab.engine.lr_finder._candidates", lambda *args: [3 * limit, 6 * limit])
    seen: list[tuple[str, int, int]] = []
    result = find_learning_rate(gd.models.linear(), data, batch_size="full", seeds=1, min_lr=1e-4, max_lr=10.0,
                                steps=100, validate_epochs=5, callback=lambda *stage: seen.append(stage))
    sweeps = 2 + len(result.validation) - 4  # the candidates, a decade lower (2 rates each), then 1 rate each
    assert sweeps >= 2 and seen[:2] == [("range test", 0, 1), ("range test", 1, 1)]
    stages, done, totals = zip(*seen[2:], strict=True)
    assert set(stages) == {"validation"}
    assert list(done) == sorted(set(done))  # it rises, never repeats or falls back
    assert list(totals) == sorted(totals) and set(totals) == {5 * k for k in range(1, sweeps + 1)}
    assert all(total - 5 < d <= total for d, total in zip(done, totals, strict=True))  # within its own sweep
    assert all(("validation", 5 * k, 5 * k) in seen for k in range(1, sweeps + 1))  # each sweep's share filled
    assert len([d for d in done if d <= 5]) < 5  # the first sweep (both candidates diverged) ended early


def test_a_model_that_is_not_finite_at_min_lr_is_refused(least_squares) -> None:
    def nan_loss(params, x, y):
        return jnp.mean((x @ params["w"] - y) ** 2) * jnp.nan

    with pytest.raises(ValueError, match="min_lr must give a finite loss"):
        find_learning_rate(nan_loss, least_squares, batch_size=25, steps=40, params={"w": jnp.zeros(5)})


def test_a_loss_not_finite_at_min_lr_for_one_seed_is_refused_naming_it(least_squares) -> None:
    """A sample that makes the loss NaN, in seed 0's first batch but not in seed 1's first 10: seed 1's curve had
    enough points, seed 0's none, and the rules took the argmin of an empty curve (a bare numpy ValueError)."""
    from gdlab.engine.lr_finder import _batches

    later = {row for batch in _batches(1, least_squares.n_train, 10, 10) for row in batch}
    row = next(r for r in _batches(0, least_squares.n_train, 10, 1)[0] if r not in later)
    x = np.array(least_squares.x_train).copy()
    x[row] = 1e9
    data = dataclasses.replace(least_squares, x_train=x)

    def nan_at_row(params, x, y):
        return jnp.where(jnp.any(x > 1e8), jnp.nan, jnp.mean((x @ params["w"] - y) ** 2))

    message = "min_lr must give a finite loss; the loss at min_lr=1e-05 is not finite for seed 0 of [0, 1]"
    with pytest.raises(ValueError, match=re.escape(message)):
        find_learning_rate(nan_at_row, data, batch_size=10, seeds=[0, 1], steps=40, params={"w": jnp.zeros(5)})


@pytest.mark.usefixtures("x64")
def test_two_batch_noise_scale_is_within_20_percent_of_the_exact_value() -> None:
    data = gd.datasets.load("linreg", n=5000, features=10, noise=1.0, seed=0, dtype="float64")
    model = gd.models.linear()
    params = ({"w": jnp.asarray(data.info["true_weights"][:, None] + 0.2),
               "b": jnp.asarray([data.info["true_bias"] + 0.2])},)
    exact = exact_noise_scale(model, params, data)
    estimate = noise_scale(model, params, data, small_batch=16, big_batch=1024, batches=300, seed=1,
                           learning_rate=0.01, batch_size=16)
    assert abs(estimate.b_simple - exact) <= 0.2 * exact
    assert estimate.interval[0] < estimate.b_simple < estimate.interval[1]
    assert estimate.recommended_batch_size == round(estimate.b_simple)
    assert estimate.recommended_learning_rate == pytest.approx(0.01 * estimate.recommended_batch_size / 16)
    # the parts: tr(Sigma) and |G|^2 against the per-example computation
    x = np.hstack([data.x_train, np.ones((data.n_train, 1))])
    w = np.concatenate([np.asarray(params[0]["w"])[:, 0], np.asarray(params[0]["b"])])
    per_example = 2 * (x @ w - data.y_train)[:, None] * x
    assert estimate.grad_norm_sq == pytest.approx(float(per_example.mean(0) @ per_example.mean(0)), rel=0.2)
    assert exact == pytest.approx(
        float(((per_example - per_example.mean(0)) ** 2).sum(1).mean() / (per_example.mean(0) @ per_example.mean(0))),
        rel=1e-9,
    )


@pytest.mark.usefixtures("x64")
def test_the_noise_scale_interval_never_reaches_below_zero() -> None:
    """B_simple >= 0; with 4 batches a resampled estimate falls below 0 (the CLI showed '-6.636 .. 43.88')."""
    result = gd.noise_scale(gd.models.linear(), None, gd.datasets.load("linreg"), batches=4)
    low, high = result.interval
    assert low == 0.0 < result.b_simple < high  # cut at 0, the estimate inside


def test_exact_noise_scale_in_closed_form_and_infinite_without_a_mean_gradient() -> None:
    """f_i(c) = (c - y_i)^2 / 2: g_i = c - y_i, G = c - mean(y), tr(Sigma) = var(y), B = var(y) / G^2.
    With mean(y) = c, G = 0: B = inf, as noise_scale reports it (was a ZeroDivisionError)."""
    y = np.array([-1.0, 1.0, -1.0, 1.0, -3.0, 3.0])
    data = gd.datasets.from_arrays(np.zeros((6, 1)), y, test_fraction=0.0)

    def loss_fn(c, x, y):
        return jnp.mean((c - y) ** 2) / 2

    assert exact_noise_scale(loss_fn, jnp.asarray(0.5), data) == pytest.approx(np.var(y) / 0.25, rel=1e-12)
    assert exact_noise_scale(loss_fn, jnp.asarray(0.0), data) == float("inf")


def test_noise_scale_with_non_finite_gradients_is_nan_with_a_note_and_no_recommendation() -> None:
    """The gradients overflow float32: it was B_simple inf ('all noise') and the small batch recommended."""
    x = (np.arange(40.0) * 1e25)[:, None]
    data = gd.datasets.from_arrays(x, np.arange(40.0) / 2 + 0.1, test_fraction=0.0)
    result = noise_scale(gd.models.linear(), None, data, small_batch=16, big_batch=32, batches=8,
                         learning_rate=0.1)
    assert np.isnan([result.b_simple, *result.interval, result.grad_norm_sq, result.trace_sigma]).all()
    assert result.recommended_batch_size is None and result.recommended_learning_rate is None
    assert result.note is not None and result.note.startswith("not measured: the gradients are not finite")
    assert np.isnan(estimate_from_norms(float("inf"), float("inf"), 16, 32, 40)).all()  # inf - inf warned
    finite = noise_scale(gd.models.linear(), None, gd.datasets.load("linreg"), batches=4)
    assert finite.note is None and finite.recommended_batch_size is not None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"small_batch": 64, "big_batch": 32}, r"big_batch must be larger than small_batch \(64\); got 32"),
     ({"small_batch": 0}, "small_batch"), ({"big_batch": 10**6}, "big_batch"), ({"batches": 1}, "batches"),
     # batch_size only scales learning_rate: alone it was silently ignored
     ({"batch_size": 8}, (r"batch_size is the batch size learning_rate was tuned at, so it needs learning_rate; "
                          r"got batch_size=8 without learning_rate\.")),
     ({"learning_rate": 0.1, "batch_size": 0}, r"batch_size must be an integer in \[1, "),
     ({"learning_rate": -0.1}, r"learning_rate must be a float in \(0, inf\); got -0.1")],
)
def test_bad_noise_scale_arguments(least_squares, kwargs, match) -> None:
    model = gd.models.linear()
    params = model.init(jax.random.PRNGKey(0), (5,), 1)
    with pytest.raises(ValueError, match=match):
        noise_scale(model, params, least_squares, **{"small_batch": 4, "big_batch": 64, **kwargs})


def test_noise_scale_s_default_batches_adapt_to_small_data_as_the_cli_s_do() -> None:
    """gd.noise_scale(model, None, data) on 16 training samples said 'small_batch must be an integer in [1, 16];
    got 16' (its defaults 16 and 512), while gdlab noise-scale adapted them: 16 samples measure at 8 and 16."""
    data = gd.datasets.load("linreg", n=20, features=3, seed=0)  # 16 training samples
    adapted = noise_scale(gd.models.linear(), None, data, batches=4)
    assert (adapted.small_batch, adapted.big_batch) == (8, 16)
    assert adapted == noise_scale(gd.models.linear(), None, data, 8, 16, batches=4)
    assert (noise_scale(gd.models.linear(), None, data, 4, batches=4).big_batch,
            noise_scale(gd.models.linear(), None, data, big_batch=10, batches=4).small_batch) == (16, 5)
    with pytest.raises(ValueError, match=r"^small_batch must be an integer in \[1, 15\], less than the 16 training "):
        noise_scale(gd.models.linear(), None, data, 16, batches=4)
    with pytest.raises(TypeError, match=r"^small_batch must be an integer in \[1, inf\]; got 'a'\.$"):
        noise_scale(gd.models.linear(), None, data, "a", batches=4)  # type: ignore[arg-type]
    one = gd.datasets.from_arrays(np.ones((2, 2)), np.ones(2), test_fraction=0.5, seed=0)
    with pytest.raises(ValueError, match=r"^data must have at least 2 training samples .*; got 1\.$"):
        noise_scale(gd.models.linear(), None, one)


# --- the noise scale tracked during training ---------------------------------------------------


def test_the_tracked_noise_scale_equals_a_direct_call_at_the_same_params_and_seed(least_squares) -> None:
    from gdlab.engine.noise_tracking import BATCHES, noise_batches

    data, model = least_squares, gd.models.linear()
    tracked = gd.fit(model, data, gd.sgd(0.05), batch_size=20, epochs=4, seed=5, track_noise_scale=2)
    history = tracked.history
    assert np.isnan(history["noise_scale"][[0, 2]]).all() and np.isfinite(history["noise_scale"][[1, 3]]).all()
    small, big = noise_batches(20, data.n_train)
    assert (small, big) == (20, 160)
    for epoch in (2, 4):
        params = gd.fit(model, data, gd.sgd(0.05), batch_size=20, epochs=epoch, seed=5).params
        direct = noise_scale(model, params, data, small, big, batches=BATCHES, seed=5 + epoch)
        assert history["noise_scale"][epoch - 1] == direct.b_simple
        assert (history["noise_scale_low"][epoch - 1], history["noise_scale_high"][epoch - 1]) == direct.interval
    untracked = gd.fit(model, data, gd.sgd(0.05), batch_size=20, epochs=4, seed=5)
    assert "noise_scale" not in untracked.history  # off by default
    np.testing.assert_array_equal(untracked.history["train_loss"], history["train_loss"])  # measuring changes nothing
    with pytest.raises(ValueError, match=r"track_noise_scale must be an integer in \[0, "):
        gd.fit(model, data, gd.sgd(0.05), epochs=1, track_noise_scale=-1)
    for name in ("track_noise_scale", "track_sharpness"):  # past the last epoch it measured nothing, silently
        with pytest.raises(ValueError, match=rf"^{name} must be at most epochs \(4\), or it never measures; got 5\.$"):
            gd.fit(model, data, gd.sgd(0.05), epochs=4, **{name: 5})


def test_full_batch_validation_reads_the_loss_after_the_last_update(least_squares, monkeypatch) -> None:
    """Each full-batch epoch's running loss is the loss before its update: over 2 epochs it was the loss after one
    update, where momentum has not yet acted (momentum 0.9 validated exactly as 0). The mean is gd.fit's final loss."""
    monkeypatch.setattr("gdlab.engine.lr_finder._candidates", lambda *args: [0.1])
    result = find_learning_rate(gd.models.linear(), least_squares, batch_size="full", seeds=[0, 1], steps=40,
                                momentum=0.9, validate_epochs=2)
    finals = [gd.fit(gd.models.linear(), least_squares, gd.sgd(0.1, momentum=0.9), epochs=2, seed=seed,
                     check_stability=False).history["train_loss"][-1] for seed in (0, 1)]
    at = next(v for v in result.validation if v["learning_rate"] == 0.1)
    np.testing.assert_allclose(at["mean"], np.mean(finals), rtol=1e-5)


def test_an_answer_at_the_edge_of_the_candidates_is_checked_one_grid_step_past_it(least_squares, monkeypatch) -> None:
    """Where every candidate is below the best rate, the fastest was the answer though one grid step higher trains
    better: the finder goes on along the grid (4 per decade) until a rate past the best did worse."""
    data = least_squares
    x = np.hstack([data.x_train, np.ones((data.n_train, 1))]).astype(np.float64)
    limit = 2 / np.linalg.eigvalsh(2 * x.T @ x / len(x)).max()
    monkeypatch.setattr("gdlab.engine.lr_finder._candidates", lambda *args: [10 ** -2.25, 10 ** -2])
    result = find_learning_rate(gd.models.linear(), data, batch_size="full", seeds=2, min_lr=1e-4, max_lr=10.0,
                                steps=100, validate_epochs=8)
    rates = [v["learning_rate"] for v in result.validation]
    means = [v["mean"] for v in result.validation]
    assert limit / 4 <= result.suggestion < limit  # 8 steps of batch GD: fastest below 2/L
    k = rates.index(result.suggestion)
    assert 0 < k < len(rates) - 1 and means[k + 1] > means[k] and means[k - 1] > means[k]
    np.testing.assert_allclose(np.diff(np.log10(rates)), 0.25, rtol=1e-9)  # one grid step apart, none skipped


def test_mini_batch_validation_is_the_last_epochs_running_loss_and_says_so(least_squares) -> None:
    """A mini-batch candidate's mean is the seeds' mean batch loss over the last epoch (gd.fit with metrics="running"),
    not gd.fit's default final train loss (all the data after the last update): the header said 'final'."""
    from gdlab.report.finder import VALIDATION_HEADERS

    result = find_learning_rate(gd.models.linear(), least_squares, batch_size=25, seeds=[0, 1], steps=40)
    fits = [gd.fit(gd.models.linear(), least_squares, gd.sgd(result.suggestion), batch_size=25, epochs=2, seed=seed,
                   metrics="running") for seed in (0, 1)]
    at = next(v for v in result.validation if v["learning_rate"] == result.suggestion)
    np.testing.assert_allclose(at["mean"], np.mean([f.history["train_loss"][-1] for f in fits]), rtol=1e-5)
    assert VALIDATION_HEADERS[1] == "mean train loss, last epoch"


def test_a_rule_most_seeds_gave_no_rate_suggests_none_and_adds_no_candidates() -> None:
    """The tables showed '—' for a rate from 1 of 3 seeds, while the engine still gave it as the rule's value
    (find-lr --json) and validated the grid rates around it."""
    from gdlab.engine import lr_finder

    assert math.isnan(lr_finder._geomean((math.nan, 1.17, math.nan)))
    assert math.isnan(lr_finder._geomean((math.nan, 1.17)))  # 1 of 2 is not most
    assert lr_finder._geomean((1.0, 4.0, math.nan)) == pytest.approx(2.0)
    assert lr_finder._geomean((0.5,)) == pytest.approx(0.5)
    assert lr_finder._candidates([math.nan, 0.1], 4, 1e-3, 10.0) == lr_finder._candidates([0.1], 4, 1e-3, 10.0)
