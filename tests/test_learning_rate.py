"""Schedules inside training: the recorded rate, compile reuse, and the Robbins-Monro noise floor."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd


def test_history_records_the_rate_of_each_epochs_last_update(mnist1d) -> None:
    schedule = gd.schedules.warmup(gd.schedules.cosine(0.2, decay_steps=30), warmup_steps=10)
    result = gd.fit(gd.models.logistic(), mnist1d, gd.sgd(schedule), batch_size=400, epochs=4)
    last_steps = np.arange(1, 5) * 10 - 1  # 10 updates per epoch
    np.testing.assert_allclose(result.history["learning_rate"], [float(schedule(t)) for t in last_steps],
                               rtol=1e-6)
    assert result.history["learning_rate"][0] == pytest.approx(0.2 * 9 / 10)


def test_new_schedule_numbers_do_not_recompile(mnist1d, compile_counter) -> None:
    model = gd.models.logistic()
    first = gd.fit(model, mnist1d, gd.sgd(gd.schedules.exponential(0.1, 0.5, 10)), batch_size=400, epochs=2)
    before = compile_counter.count
    second = gd.fit(model, mnist1d, gd.sgd(gd.schedules.exponential(0.3, 0.9, 7)), batch_size=400, epochs=2)
    assert compile_counter.count == before and second.compile_seconds == 0.0
    assert second.history["learning_rate"][-1] == pytest.approx(0.3 * 0.9 ** (19 / 7), rel=1e-6)
    assert first.history["learning_rate"][-1] == pytest.approx(0.1 * 0.5 ** (19 / 10), rel=1e-6)


@pytest.mark.usefixtures("x64")
def test_constant_rate_sgd_stalls_at_a_noise_floor_robbins_monro_keeps_going() -> None:
    data = gd.datasets.load("linreg", n=1000, features=5, noise=1.0, seed=0, dtype="float64")
    x = np.hstack([data.x_train, np.ones((data.n_train, 1))])
    w_ls = np.linalg.lstsq(x, data.y_train, rcond=None)[0]

    def distance(rate, epochs: int) -> float:
        result = gd.fit(gd.models.linear(), data, gd.sgd(rate), batch_size=1, epochs=epochs, seed=0)
        w = np.concatenate([np.asarray(result.params[0]["w"])[:, 0], np.asarray(result.params[0]["b"])])
        return float(np.linalg.norm(w - w_ls))

    constant = [distance(0.02, e) for e in (2, 40)]
    power = [distance(gd.schedules.power(0.02, 1.0, scale_steps=800), e) for e in (2, 10, 40)]
    assert constant[1] > 0.5 * constant[0]  # no real progress: the floor
    assert power[2] < power[1] < power[0]  # steady progress
    assert power[2] < constant[1] / 10


def test_reduce_on_plateau_fires_on_the_documented_epochs() -> None:
    rule = gd.schedules.reduce_on_plateau(factor=0.5, patience=2, cooldown=1)
    state = rule.init()
    scales = []
    for value in (1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0, 1.1):
        state = rule.update(state, value, 0.1)
        scales.append(state.scale)
    # fires after epochs 5 and 9 (patience 2: the third bad epoch; epoch 6 is cooldown)
    assert scales == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]
    assert state.reductions == 2


def test_reduce_on_plateau_threshold_accuracy_and_min_lr() -> None:
    rule = gd.schedules.reduce_on_plateau(factor=0.1, patience=0, threshold=0.1, min_lr=0.004,
                                          metric="test_accuracy")
    state = rule.init()
    state = rule.update(state, 0.5, 0.1)  # better than -inf
    state = rule.update(state, 0.54, 0.1)  # not 10% better than 0.5: fires, 0.1 -> 0.01
    assert state.scale == pytest.approx(0.1)
    state = rule.update(state, 0.56, 0.1)  # 0.56 > 0.55: better, no fire
    assert state.scale == pytest.approx(0.1)
    state = rule.update(state, 0.56, 0.1)  # fires again: 0.01 -> 0.001, floored at min_lr 0.004
    assert state.scale * 0.1 == pytest.approx(0.004)


def test_reduce_on_plateau_never_raises_the_rate_when_min_lr_is_above_it() -> None:
    """torch: new_lr = max(lr * factor, min_lr), applied only when below lr. min_lr 1.0 above the
    schedule's 0.1 used to set scale = 1.0 / 0.1 = 10 on the first firing: a 10x larger rate."""
    rule = gd.schedules.reduce_on_plateau(factor=0.5, patience=0, min_lr=1.0)
    state = rule.update(rule.init(), 1.0, 0.1)
    state = rule.update(state, 1.0, 0.1)  # no improvement: fires, but lr 0.1 is already below min_lr
    assert state.scale == 1.0 and state.reductions == 0
    state = rule.update(state, 1.0, 0.5)  # a schedule at 0.5 < min_lr: still no change
    assert state.scale == 1.0


def test_reduce_on_plateau_on_a_negative_loss_needs_a_real_improvement() -> None:
    """A loss_fn's loss may be negative: -10 then -9.9995 is worse (fires at patience 0); best * (1 - threshold)
    = -9.999 counted it as better and moved best up to it."""
    rule = gd.schedules.reduce_on_plateau(factor=0.5, patience=0, threshold=1e-4)
    state = rule.update(rule.init(), -10.0, 0.1)
    worse = rule.update(state, -9.9995, 0.1)
    assert worse.scale == 0.5 and worse.best == -10.0
    better = rule.update(state, -10.002, 0.1)  # improves by 0.002 > 1e-4 * 10
    assert better.scale == 1.0 and better.best == -10.002


def test_reduce_on_plateau_in_fit_scales_the_schedule_from_the_next_epoch(mnist1d) -> None:
    rule = gd.schedules.reduce_on_plateau(factor=0.5, patience=0, threshold=0.5)  # fires every epoch
    schedule = gd.schedules.exponential(0.1, 0.5, 10)
    result = gd.fit(gd.models.logistic(), mnist1d, gd.sgd(schedule), batch_size=400, epochs=3,
                    reduce_lr=rule)
    # epoch 1 improves on inf; epochs 2 and 3 do not improve by 50%: scales 1, 1, 0.5
    expected = [float(schedule(9)), float(schedule(19)), 0.5 * float(schedule(29))]
    np.testing.assert_allclose(result.history["learning_rate"], expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"factor": 1.0}, r"factor must be a float in \(0, 1\); got 1.0"), ({"factor": 0.0}, r"factor must be a float in \(0, 1\)"),
     ({"patience": -1}, "patience"), ({"cooldown": -2}, "cooldown"), ({"min_lr": -1.0}, "min_lr"),
     ({"metric": "val_loss"}, "metric")],
)
def test_bad_reduce_on_plateau_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        gd.schedules.reduce_on_plateau(**kwargs)
