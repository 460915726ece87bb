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
