"""Stopping rules on hand-made metric sequences, in fit, and against the theory of quadratics."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdlab as gd
import gdlab.engine.initial_metric


def _fire_epoch(rule: gd.stop.StopRule, sequence: list[dict[str, float]], initial_loss: float = 2.3,
                ) -> tuple[int | None, tuple]:
    """Feed per-epoch metrics to a rule; return the epoch it fired at and its explanation."""
    state = rule.init()
    for epoch, row in enumerate(sequence, start=1):
        metrics = {"epoch": epoch, "step": 10 * epoch, "time": 0.5 * epoch, "initial_loss": initial_loss, **row}
        state = rule.update(state, metrics)
        if rule.fired(state):
            return epoch, rule.explain(state, metrics)
    return None, ()


def _losses(*values: float, key: str = "train_loss") -> list[dict[str, float]]:
    return [{key: v} for v in values]


def test_plateau_fires_after_patience_epochs_without_relative_improvement() -> None:
    # improvements: e2 50%, e3 10%, e4 0.05% (bad 1), e5 0.0% (bad 2) -> fires at 5 with patience 2
    seq = _losses(2.0, 1.0, 0.9, 0.89955, 0.8996, 0.5)
    epoch, (status, reason) = _fire_epoch(gd.stop.plateau(tol=1e-3, patience=2), seq)
    assert epoch == 5 and status == "converged"
    assert reason == (
        "converged: train loss improved by <= 0.001 (relative) for 2 epochs, at 0.8996, at epoch 5"
    )
    assert _fire_epoch(gd.stop.plateau(tol=1e-3, patience=3), seq)[0] is None


def test_a_plateau_near_the_initial_loss_is_stalled_not_converged() -> None:
    seq = _losses(2.30, 2.31, 2.305, 2.30, 2.31)  # initial loss 2.3: chance level, no NaN
    epoch, (status, reason) = _fire_epoch(gd.stop.plateau(tol=1e-3, patience=3), seq)
    assert epoch == 4 and status == "stalled"
    assert "not below the initial loss 2.3" in reason


def test_a_plateau_just_above_a_negative_initial_loss_is_stalled() -> None:
    """A loss_fn may start below 0: initial -5, plateau at -4.97 (worse than the start) is stalled;
    (1 - 0.01) * initial = -4.95 called it converged. -5.1 is below -5 - 0.05: converged."""
    def run(values: tuple[float, ...]) -> str:
        rule = gd.stop.plateau(tol=1e-3, patience=2)
        state = rule.init()
        for epoch, v in enumerate(values, start=1):
            metrics = {"epoch": epoch, "train_loss": v, "initial_loss": -5.0}
            state = rule.update(state, metrics)
        assert rule.fired(state)
        return rule.explain(state, metrics)[0]

    assert run((-4.97, -4.97, -4.97)) == "stalled"
    assert run((-5.1, -5.1, -5.1)) == "converged"


def test_a_plateau_that_bounced_above_its_best_is_stalled_not_converged() -> None:
    """Batch GD at rate 3.5 on mnist1d: the loss fell to 1.925 at epoch 3, then bounced (a rise counts as no
    improvement) and the rule fired at 2.26, 17% above its best, and said converged."""
    seq = _losses(2.248, 2.132, 1.925, 2.067, 2.895, 2.434, 2.363, 2.26)
    epoch, (status, reason) = _fire_epoch(gd.stop.plateau(tol=1e-4, patience=5), seq, initial_loss=2.305)
    assert (epoch, status) == (8, "stalled")
    assert reason == ("stalled: train loss improved by <= 0.0001 (relative) for 5 epochs, but the train loss ended at "
                      "2.26, 17% above its best 1.925 (epoch 3): it oscillates; the learning rate (or the momentum) is likely too high; "
                      "at epoch 8")
    # mini-batch SGD at rate 1 (the last 8 epochs): 0.9825 is 31% above 0.7472, 15% of the fall from 2.30
    seq = _losses(0.9018, 0.7605, 0.7472, 0.9174, 1.1254, 1.032, 0.8575, 0.9825)
    epoch, (status, reason) = _fire_epoch(gd.stop.plateau(tol=1e-4, patience=5), seq, initial_loss=2.3)
    assert (epoch, status) == (8, "stalled") and "0.9825, 31% above its best 0.7472 (epoch 3)" in reason


@pytest.mark.parametrize("initial, losses", [
    # linreg, SGD batch 8 at rate 0.1 at its noise floor: 27% above its lowest, 0.05% of the fall from 5.544
    (5.544, (0.01199, 0.0107, 0.01197, 0.01168, 0.01214, 0.01072, 0.01358)),
    # a loss that barely fell: 0.492 gave back 20% of the fall from 0.5 to 0.49, yet is 0.4% above it
    (0.5, (0.49, 0.492, 0.491, 0.4915, 0.492, 0.492)),
    (2.3, (1.0, 1.09, 1.09, 1.09, 1.09, 1.09)),  # 9% of the fall: within REBOUND
])
def test_a_plateau_within_the_noise_of_its_best_is_converged(initial: float, losses: tuple[float, ...]) -> None:
    epoch, (status, _) = _fire_epoch(gd.stop.plateau(tol=1e-4, patience=5), _losses(*losses), initial_loss=initial)
    assert (epoch, status) == (len(losses), "converged")


def test_fit_and_sweep_call_the_same_bouncing_plateau_stalled() -> None:
    """The plateau's state is updated per config in a sweep (arrays [seed, pair]) and explained per config."""
    data, stop = gd.datasets.load("mnist1d"), gd.stop.plateau(1e-4, 5)
    run = gd.fit(gd.models.mlp([100, 100]), data, gd.sgd(3.5), batch_size="full", epochs=30, stop=stop,
                 check_stability=False)
    assert (run.status, run.epochs_run) == ("stalled", 8) and "it oscillates" in run.reason
    swept = gd.sweep(gd.models.mlp([100, 100]), data, learning_rate=[0.5, 3.5], batch_size=["full"], epochs=30,
                     stop=stop)
    by_rate = {row["learning_rate"]: swept.run(k) for k, row in enumerate(swept.rows)}
    assert (by_rate[3.5].status, by_rate[3.5].reason) == (run.status, run.reason)
    assert by_rate[0.5].status == "max_epochs"


def test_a_run_that_diverges_the_epoch_a_plateau_fires_is_diverged_in_fit_and_sweep() -> None:
    """linreg at 1.5 (2/L = 0.83): 5.5 to ~2000 in 4 epochs. plateau(patience=3) counts rises as no improvement and
    fired the same epoch as the default diverged(100): the run was called "stalled: train loss improved by <= ..."."""
    data, stop = gd.datasets.load("linreg"), gd.stop.plateau(1e-4, 3)
    run = gd.fit(gd.models.linear(), data, gd.sgd(1.5), batch_size="full", epochs=25, stop=stop, check_stability=False)
    assert run.status == "diverged" and run.reason.startswith("diverged"), run.reason
    assert run.history["train_loss"][-1] > 100 * run.initial_loss
    swept = gd.sweep(gd.models.linear(), data, learning_rate=[1.5], batch_size=["full"], epochs=25, stop=stop)
    assert (swept.run(0).status, swept.run(0).reason) == (run.status, run.reason)
    both = gd.stop.diverged() | gd.stop.plateau(1e-4, 3)  # the order of | does not decide it
    assert gd.fit(gd.models.linear(), data, gd.sgd(1.5), batch_size="full", epochs=25, stop=both,
                  check_stability=False).status == "diverged"


def test_grad_norm_fires_on_the_first_epoch_below_tol() -> None:
    seq = [{"grad_norm": g} for g in (1.0, 1e-3, 2e-4, 8.1e-5, 1e-6)]
    epoch, (status, reason) = _fire_epoch(gd.stop.grad_norm(1e-4), seq)
    assert (epoch, status) == (4, "converged")
    assert reason == "converged: gradient norm 8.10e-05 < 0.0001 at epoch 4"


def test_target_on_a_loss_falls_and_on_accuracy_rises() -> None:
    assert _fire_epoch(gd.stop.target("test_loss", 0.5), _losses(0.9, 0.6, 0.5, 0.4, key="test_loss"))[0] == 3
    epoch, (status, _) = _fire_epoch(
        gd.stop.target("test_accuracy", 0.8), _losses(0.5, 0.79, 0.81, key="test_accuracy")
    )
    assert (epoch, status) == (3, "target_reached")


def test_early_stopping_counts_epochs_since_the_best() -> None:
    seq = _losses(1.0, 0.8, 0.85, 0.79, 0.9, 0.95, 0.7, key="test_loss")
    # min_delta 0.02: 0.79 is no real improvement on 0.8, so the best stays epoch 2
    epoch, (status, reason) = _fire_epoch(gd.stop.early_stopping("test_loss", patience=3, min_delta=0.02), seq)
    assert (epoch, status) == (5, "early_stopped")
    assert "; the last improvement by more than 0.02 was at epoch 2 (to 0.8), stopped at epoch 5" in reason
    assert _fire_epoch(gd.stop.early_stopping("test_loss", patience=3), seq)[0] is None
    epoch, (_, reason) = _fire_epoch(gd.stop.early_stopping("test_loss", patience=2), seq)
    assert epoch == 6 and "its best epoch was 4 (test_loss 0.79)" in reason  # without min_delta epoch 4 is the best
    acc = _losses(0.5, 0.6, 0.55, 0.58, 0.6, key="test_accuracy")
    assert _fire_epoch(gd.stop.early_stopping("test_accuracy", patience=3), acc)[0] == 5


def test_diverged_fires_on_non_finite_or_a_factor_above_the_initial_loss() -> None:
    epoch, (status, reason) = _fire_epoch(gd.stop.diverged(factor=10), _losses(2.0, 5.0, 24.0))
    assert (epoch, status) == (3, "diverged")
    assert reason == "diverged: train loss 24 > 10 x the initial loss 2.3 at epoch 3"
    epoch, (_, reason) = _fire_epoch(gd.stop.diverged(), _losses(2.0, math.nan))
    assert epoch == 2 and "train loss nan is not finite" in reason
    # from an initial loss of exactly 0 (params at a minimum) only a non-finite loss is divergence
    start = [{"train_loss": v, "initial_loss": 0.0} for v in (1e-6, 0.5, 3.0)]
    assert _fire_epoch(gd.stop.diverged(), start)[0] is None
    assert _fire_epoch(gd.stop.diverged(), [*start, {"train_loss": math.inf, "initial_loss": 0.0}])[0] == 4


def test_budgets() -> None:
    assert _fire_epoch(gd.stop.max_epochs(3), _losses(1, 1, 1, 1))[0] == 3
    assert _fire_epoch(gd.stop.max_steps(25), _losses(1, 1, 1, 1))[0] == 3  # 10 updates per epoch
    epoch, (status, _) = _fire_epoch(gd.stop.time_budget(1.2), _losses(1, 1, 1, 1))
    assert (epoch, status) == (3, "time_budget")


def test_or_fires_on_any_and_on_all_and_explains_the_first() -> None:
    seq = [{"train_loss": 1.0, "grad_norm": g} for g in (1.0, 0.5, 1e-5, 1e-5)]
    either = gd.stop.grad_norm(1e-4) | gd.stop.max_epochs(2)
    epoch, (status, _) = _fire_epoch(either, seq)
    assert (epoch, status) == (2, "max_epochs")
    both = gd.stop.grad_norm(1e-4) & gd.stop.max_epochs(2)
    epoch, (status, reason) = _fire_epoch(both, seq)
    assert (epoch, status) == (3, "converged") and " and max_epochs: reached max_epochs 2" in reason
    assert len((either | gd.stop.plateau()).children) == 3  # (a | b) | c is flat


def test_any_of_a_budget_and_a_convergence_rule_firing_together_is_converged_in_either_order() -> None:
    """max_epochs(11) | grad_norm(1e-3) on linreg at rate 0.3 (the norm fell below tol at epoch 11) was
    "max_epochs: reached max_epochs 11", with a warning that grad_norm had not fired; the other order converged."""
    seq = [{"train_loss": 1.0, "grad_norm": g} for g in (1.0, 0.5, 1e-5, 1e-5)]
    for either in (gd.stop.max_epochs(3) | gd.stop.grad_norm(1e-4), gd.stop.grad_norm(1e-4) | gd.stop.max_epochs(3),
                   gd.stop.max_steps(30) | gd.stop.grad_norm(1e-4) | gd.stop.time_budget(1.2)):
        epoch, (status, reason) = _fire_epoch(either, seq)
        assert (epoch, status) == (3, "converged") and reason.startswith("converged: gradient norm"), reason
    epoch, (status, _) = _fire_epoch(gd.stop.time_budget(1.2) | gd.stop.max_epochs(3), seq)  # budgets: the first
    assert (epoch, status) == (3, "time_budget")
    linreg = gd.datasets.load("linreg")
    ran = [gd.fit(gd.models.linear(), linreg, gd.sgd(0.3), epochs=200, stop=stop)
           for stop in (gd.stop.max_epochs(11) | gd.stop.grad_norm(1e-3), gd.stop.grad_norm(1e-3))]
    assert ran[0].status == ran[1].status == "converged" and ran[0].reason == ran[1].reason
    assert ran[0].epochs_run == 11


def test_a_plateau_of_a_decayed_learning_rate_says_the_rate_had_decayed() -> None:
    """gdlab fit --batch-size full --learning-rate 0.5 --schedule cosine --stop plateau:1e-3:3 on MNIST-1D said
    "converged ... at 2.07" (20% accuracy): the cosine rate had fallen to 0.002 and the loss with it. gd.sweep's
    reason is gd.fit's; a constant rate's plateau has no such words."""
    data = gd.datasets.load("linreg")
    stop = gd.stop.plateau(1e-4, 2)  # it fires at a train loss of 0.92, where this least squares' minimum is 0.024
    cosine = gd.fit(gd.models.linear(), data, gd.sgd(gd.schedules.cosine(0.003, 300)), batch_size="full",
                    epochs=300, stop=stop)
    rates = cosine.history["learning_rate"]
    assert cosine.status == "converged" and rates[-1] < 0.01 * max(rates)
    assert cosine.reason.endswith(f"; its learning rate had decayed to {rates[-1]:.3g}, "
                                  f"{100 * rates[-1] / max(rates):.2g}% of its peak 0.003: the loss may have stopped "
                                  "falling because its steps did, not at a minimum"), cosine.reason
    swept = gd.sweep(gd.models.linear(), data, learning_rate=[0.003], batch_size=["full"], epochs=300, stop=stop,
                     schedule={"cosine": lambda lr: gd.schedules.cosine(lr, 300)})
    assert swept.rows[0]["reason"] == cosine.reason
    constant = gd.fit(gd.models.linear(), data, gd.sgd(0.1), batch_size="full", epochs=300, stop=stop)
    assert constant.status == "converged" and "decayed" not in constant.reason


def test_all_of_a_budget_and_a_convergence_rule_is_converged_in_either_order() -> None:
    seq = [{"train_loss": 1.0, "grad_norm": g} for g in (1.0, 0.5, 1e-5, 1e-5)]
    for both in (gd.stop.max_epochs(2) & gd.stop.grad_norm(1e-4), gd.stop.grad_norm(1e-4) & gd.stop.max_epochs(2)):
        epoch, (status, reason) = _fire_epoch(both, seq)
        assert (epoch, status) == (3, "converged") and reason.startswith("converged: gradient norm")
        assert reason.endswith(" and max_epochs: reached max_epochs 2 at epoch 2")  # it said 'at epoch 3'


def test_a_rule_that_waits_inside_and_is_explained_by_when_it_fired() -> None:
    """The target was reached at epoch 1 (0.4 <= 0.5) and the gradient rule fired at 3, where the loss was
    back up at 0.7: the reason said 'train_loss 0.7 <= 0.5 at epoch 3', which is false."""
    seq = [{"train_loss": loss, "grad_norm": g} for loss, g in ((0.4, 1.0), (0.6, 0.5), (0.7, 1e-5))]
    epoch, (status, reason) = _fire_epoch(gd.stop.target("train_loss", 0.5) & gd.stop.grad_norm(1e-4), seq)
    assert (epoch, status) == (3, "target_reached")
    assert reason == ("target_reached: train_loss 0.4 <= 0.5 at epoch 1 and converged: gradient norm 1.00e-05 < 0.0001 "
                      "at epoch 3")


def test_a_plateau_over_a_rising_loss_says_it_rose() -> None:
    """linreg at rate 1.2: the loss went 4.1, 10.7, 28.8, 79.6 from 1.806 and plateau(1e-4, 3) said 'train loss
    improved by <= 0.0001 (relative) for 3 epochs, at 79.62', as if it had levelled off."""
    epoch, (status, reason) = _fire_epoch(gd.stop.plateau(1e-4, 3), _losses(4.1, 10.7, 28.8, 79.6), initial_loss=1.806)
    assert (epoch, status) == (4, "stalled")
    assert reason == ("stalled: train loss did not improve by more than 0.0001 (relative) for 3 epochs: it rose from "
                      "4.1 (epoch 1) to 79.6, above the initial loss 1.806, at epoch 4")
    epoch, (status, reason) = _fire_epoch(gd.stop.plateau(1e-4, 3), _losses(2.3, 2.3, 2.3, 2.3), initial_loss=2.3)
    assert reason == ("stalled: train loss improved by <= 0.0001 (relative) for 3 epochs, at 2.3, not below the initial "
                      "loss 2.3, at epoch 4")  # level, not rising: as it was


def test_small_messages_say_what_is_allowed_plainly() -> None:
    """target('test_loss', nan) said 'a float in [-inf, inf)', as if -inf were allowed; time_budget's reason said
    'used the time budget 0.5 s (0.5 s)'."""
    with pytest.raises(ValueError, match=r"^value must be a finite float; got nan\.$"):
        gd.stop.target("test_loss", math.nan)
    with pytest.raises(ValueError, match=r"^value must be a float in \[0.0, 1.0\]; got -0.5\.$"):
        gd.stop.target("test_accuracy", -0.5)
    epoch, (status, reason) = _fire_epoch(gd.stop.time_budget(1.2), _losses(1, 1, 1, 1))
    assert (epoch, status) == (3, "time_budget")
    assert reason == "time_budget: used the time budget of 1.2 s (1.5 s of training) at epoch 3"


def test_inside_and_a_condition_of_the_present_must_still_hold() -> None:
    """grad_norm(1.129) & max_epochs(12) stopped at epoch 12 as 'converged: gradient norm 4.88e-01 < 1e+00 at
    epoch 4' with the norm back at 1.249: grad_norm, plateau and early_stopping stayed fired once they had fired.
    They now hold only while their condition does; target and the budgets still count from when reached. The
    reason writes grad_norm's tol as given (it was rounded to one digit)."""
    norms = (0.5, 0.4, 1.3, 1.2, 0.9, 0.8)
    seq = [{"train_loss": 1.0, "grad_norm": g} for g in norms]
    epoch, (status, reason) = _fire_epoch(gd.stop.grad_norm(1.129) & gd.stop.max_epochs(4), seq)
    assert (epoch, status) == (5, "converged")
    assert reason == "converged: gradient norm 9.00e-01 < 1.129 at epoch 5 and max_epochs: reached max_epochs 4 at epoch 4"
    falling_again = [{"train_loss": loss, "grad_norm": 1.0} for loss in (1.0, 1.0, 1.0, 0.5, 0.25, 0.2, 0.2, 0.2)]
    epoch, (status, _) = _fire_epoch(gd.stop.plateau(tol=0.01, patience=2) & gd.stop.max_epochs(5), falling_again)
    assert (epoch, status) == (8, "converged")  # a plateau at epochs 2-3; the loss fell through 6; again at 7-8
    epoch, (status, _) = _fire_epoch(gd.stop.early_stopping("train_loss", 2) & gd.stop.max_epochs(5), falling_again)
    assert (epoch, status) == (8, "early_stopped")
    reached = [{"train_loss": loss, "grad_norm": g} for loss, g in ((0.4, 1.0), (0.6, 1.0), (0.7, 1e-5))]
    epoch, (status, _) = _fire_epoch(gd.stop.target("train_loss", 0.5) & gd.stop.grad_norm(1e-4), reached)
    assert (epoch, status) == (3, "target_reached")  # the target, reached at 1, still counts at 3


def test_a_run_that_converged_after_its_minimum_epochs_does_not_warn_of_its_budget() -> None:
    data, model = gd.datasets.load("linreg", n=40, features=3, noise=0.3, seed=1), gd.models.linear()
    at_least_3 = gd.stop.max_epochs(3) & gd.stop.grad_norm(0.5)
    result = gd.fit(model, data, gd.sgd(0.05), batch_size=8, epochs=10, stop=at_least_3)  # warnings are errors
    assert result.status == "converged" and result.history["grad_norm"][-1] < 0.5 < result.history["grad_norm"][-2]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: gd.stop.plateau(tol=-1.0), "tol"),
        (lambda: gd.stop.plateau(patience=0), r"patience must be an integer in \[1, inf\]; got 0"),
        (lambda: gd.stop.early_stopping("val_loss"), r"metric must be one of .*'test_loss'.*got 'val_loss'"),
        (lambda: gd.stop.grad_norm(0.0), "tol"),
        (lambda: gd.stop.diverged(factor=0.5), "factor"),
        (lambda: gd.stop.target("loss", 1.0), "metric"),
        (lambda: gd.stop.target("test_accuracy", 1.5), r"value must be a float in \[0.0, 1.0\]; got 1.5"),
        (lambda: gd.stop.target("grad_norm", -1e-3), r"value must be a float in \[0.0, inf\); got -0.001"),
        (lambda: gd.stop.max_epochs(0), "max_epochs"),
        (lambda: gd.stop.time_budget(-1), "seconds"),
    ],
)
def test_bad_rule_arguments(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# --- in fit -------------------------------------------------------------------------------------


def _quadratic(eigenvalues: np.ndarray, seed: int = 0):
    """f(w) = 1/2 w^T A w with the given spectrum under a random rotation; minimum at 0."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(len(eigenvalues),) * 2))
    a = q @ np.diag(eigenvalues) @ q.T
    data = gd.datasets.from_arrays(np.zeros((2, 1)), np.zeros(2), task="regression", test_fraction=0.0)

    def loss_fn(params, x, y):
        w = params["w"]
        return 0.5 * w @ jnp.asarray(a) @ w + 0.0 * jnp.sum(x)

    return a, data, loss_fn, {"w": jnp.asarray(rng.normal(size=len(eigenvalues)))}


@pytest.mark.usefixtures("x64")
def test_below_two_over_l_converges_above_it_diverges() -> None:
    mu, big_l = 0.5, 4.0
    _, data, loss_fn, w0 = _quadratic(np.linspace(mu, big_l, 8))
    stop = gd.stop.grad_norm(1e-8)
    ok = gd.fit(loss_fn, data, gd.sgd(0.98 * 2 / big_l), epochs=3000, params=w0, stop=stop)
    assert ok.status == "converged" and ok.reason.startswith("converged: gradient norm")
    with pytest.warns(gd.StabilityWarning, match=r"learning_rate 0.51 exceeds the stability limit 2/L = 0.5 \(L = (4|3.99)\)"):
        bad = gd.fit(loss_fn, data, gd.sgd(1.02 * 2 / big_l), epochs=3000, params=w0, stop=stop)
    assert bad.status == "diverged" and bad.epochs_run < 3000
    assert "x the initial loss" in bad.reason


@pytest.mark.usefixtures("x64")
def test_early_stopping_restores_the_best_epoch_even_if_another_rule_stopped(mnist1d) -> None:
    model = gd.models.logistic()
    kwargs = {"batch_size": 50, "seed": 3}
    stop = gd.stop.early_stopping("test_loss", patience=100) | gd.stop.max_epochs(6)
    with pytest.warns(gd.ConvergenceWarning, match="before early_stopping fired"):
        result = gd.fit(model, mnist1d, gd.sgd(2.0), epochs=6, stop=stop, **kwargs)
    assert result.status == "max_epochs"
    best = int(np.argmin(result.history["test_loss"])) + 1
    assert result.best_epoch == best
    again = gd.fit(model, mnist1d, gd.sgd(2.0), epochs=best, **kwargs)
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(again.params)):
        np.testing.assert_array_equal(a, b)
    assert best < 6 or np.argmin(result.history["test_loss"]) == 5  # a real choice was made


def test_early_stopping_with_min_delta_says_which_epoch_it_restores() -> None:
    """min_delta 0.05: the rule waits from epoch 5 (its last improvement by more than 0.05), while the lowest
    train loss, whose params restore_best returns, is a later epoch's; the reason names both, and a sweep's
    config says the same."""
    data = gd.datasets.load("linreg", seed=0)
    stop = gd.stop.early_stopping("train_loss", 3, min_delta=0.05, restore_best=True)
    result = gd.fit(gd.models.linear(), data, gd.sgd(0.01), batch_size=32, epochs=40, stop=stop)
    losses = result.history["train_loss"]
    lowest = int(np.argmin(losses)) + 1
    waited = int(np.flatnonzero(np.diff(np.concatenate([[np.inf], losses])) < -0.05)[-1]) + 1
    assert result.status == "early_stopped" and waited < lowest == result.best_epoch
    assert (f"the last improvement by more than 0.05 was at epoch {waited} (to {losses[waited - 1]:.4g}), "
            f"stopped at epoch {result.epochs_run}; the params returned are those of epoch {lowest}, the best "
            f"train_loss ({losses[lowest - 1]:.4g})") in result.reason
    swept = gd.sweep(gd.models.linear(), data, learning_rate=[0.01], batch_size=[32], seeds=[0], epochs=40, stop=stop)
    assert swept.rows[0]["reason"] == result.reason


def test_early_stopping_says_it_restored_an_earlier_epoch_and_which_metrics_are_its() -> None:
    """early_stopping(test_loss, 2) on linreg stops at epoch 5 and returns epoch 3's params: the reason named the
    best epoch but not that its params were returned, and summary()'s final_* are epoch 5's."""
    data = gd.datasets.load("linreg")
    stop = gd.stop.early_stopping("test_loss", 2)
    run = gd.fit(gd.models.linear(), data, gd.sgd(0.05), batch_size=32, epochs=15, stop=stop)
    test_loss = run.history["test_loss"]
    assert (run.status, run.best_epoch, run.epochs_run) == ("early_stopped", 3, 5) and run.restored
    assert run.reason.endswith(f"stopped at epoch 5; the params returned are those of epoch 3, the best test_loss "
                               f"({test_loss[2]:.4g})")
    assert run.returned_metrics()["test_loss"] == test_loss[2] != test_loss[-1]
    summary = run.summary()
    assert summary["returned_epoch"] == 3 and summary["returned_test_loss"] == pytest.approx(test_loss[2], rel=1e-6)
    assert summary["final_test_loss"] == pytest.approx(test_loss[-1], rel=1e-6)  # the history's last, as before
    swept = gd.sweep(gd.models.linear(), data, learning_rate=[0.05], batch_size=[32], epochs=15, stop=stop).run(0)
    assert (swept.reason, swept.best_epoch) == (run.reason, 3)
    with pytest.warns(gd.ConvergenceWarning):  # 3 epochs: the best is the last
        last = gd.fit(gd.models.linear(), data, gd.sgd(0.05), batch_size=32, epochs=3, stop=stop)
    assert last.best_epoch == 3 and not last.restored and "params returned" not in last.reason
    assert "returned_epoch" not in last.summary()


def test_early_stopping_restores_the_best_epoch_when_the_run_diverges_and_says_so() -> None:
    data = gd.datasets.load("linreg", n=200, features=5, noise=0.1, seed=0)
    rule = gd.sgd(gd.schedules.join([0.1, 3.0], [10]))  # 3.0 is past 2/L: it diverges after epoch 10
    with pytest.warns(gd.StabilityWarning, match=r"learning_rate 3 \(the schedule's largest, at update 11: schedule\(10\)\)"):
        result = gd.fit(gd.models.linear(), data, rule, epochs=30, stop=gd.stop.early_stopping("test_loss", 20))
    assert (result.status, result.best_epoch) == ("diverged", 10)
    assert result.reason.endswith(f"; the params returned are those of epoch 10, the best test_loss "
                                  f"({result.history['test_loss'][9]:.4g})")
    again = gd.fit(gd.models.linear(), data, rule, epochs=10)
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(again.params), strict=True):
        np.testing.assert_array_equal(a, b)


def blowing_up(a: float = 2.0) -> tuple[gd.Dataset, object, dict[str, jax.Array]]:
    """f(w) = a |w|^2 / 2 (no data): GD at learning_rate r gives w_k = (1 - r a)^k w_0."""
    data = gd.datasets.from_arrays(np.zeros((2, 1)), np.zeros(2), task="regression", test_fraction=0.0)

    def loss_fn(params, x, y):
        return 0.5 * a * jnp.sum(params["w"] ** 2) + 0.0 * jnp.sum(x)

    return data, loss_fn, {"w": jnp.asarray([0.7, -0.4])}


@pytest.mark.usefixtures("x64")
def test_restore_best_returns_the_initial_params_when_no_epoch_betters_them() -> None:
    """At learning_rate 3/a, w_k = (-2)^k w_0: epoch k's loss is 4^k times the initial one, so no epoch is
    better than the start, and diverged() (factor 100) stops the run at epoch 4 (4^4 = 256 > 100)."""
    a = 2.0
    data, loss_fn, w0 = blowing_up(a)
    initial = 0.5 * a * float(np.sum(np.asarray(w0["w"]) ** 2))
    stop = gd.stop.early_stopping("train_loss", patience=10)
    result = gd.fit(loss_fn, data, gd.sgd(3 / a), epochs=10, params=w0, stop=stop, check_stability=False)
    np.testing.assert_allclose(result.history["train_loss"], initial * 4.0 ** np.arange(1, 5), rtol=1e-12)
    assert (result.status, result.epochs_run, result.best_epoch) == ("diverged", 4, 0)
    assert result.initial_loss == pytest.approx(initial, rel=1e-12)
    assert result.reason.endswith("; the params returned are the initial ones (before epoch 1), whose train_loss 0.65 no epoch bettered")
    np.testing.assert_array_equal(result.params["w"], w0["w"])
    early = gd.fit(loss_fn, data, gd.sgd(3 / a), epochs=10, params=w0, check_stability=False,
                   stop=gd.stop.early_stopping("train_loss", patience=2) | gd.stop.diverged(1e6))
    assert (early.status, early.best_epoch) == ("early_stopped", 0)  # not diverged: the reason says so too
    assert early.reason.endswith("; the params returned are the initial ones (before epoch 1), whose train_loss 0.65 no epoch bettered")
    np.testing.assert_array_equal(early.params["w"], w0["w"])
    with pytest.warns(gd.ConvergenceWarning, match="before early_stopping fired"):
        calm = gd.fit(loss_fn, data, gd.sgd(0.5 / a), epochs=3, params=w0, stop=stop)  # w_k = w_0 / 2^k
    assert (calm.best_epoch, calm.reason) == (3, f"max_epochs: ran 3 epochs (3 updates); final train loss {initial / 64:.4g}")
    np.testing.assert_allclose(calm.params["w"], np.asarray(w0["w"]) / 8, rtol=1e-12)


@pytest.mark.usefixtures("x64")
def test_restore_best_on_train_loss_takes_the_initial_params_loss_the_run_measured_already(monkeypatch) -> None:
    """fit and sweep measure each start's train loss for their rules; restore_best on train_loss reuses it
    (it measured it again, in a program of its own); a metric of its own is still measured."""
    a = 2.0
    data, loss_fn, w0 = blowing_up(a)
    initial = 0.5 * a * float(np.sum(np.asarray(w0["w"]) ** 2))

    def again(*args: object) -> None:
        raise AssertionError("measured the initial params again")

    monkeypatch.setattr(gdlab.engine.initial_metric, "initial_metric", again)
    stop = gd.stop.early_stopping("train_loss", patience=2) | gd.stop.diverged(1e6)
    fit = gd.fit(loss_fn, data, gd.sgd(3 / a), epochs=10, params=w0, stop=stop, check_stability=False)
    swept = gd.sweep(loss_fn, data, learning_rate=[3 / a], batch_size=["full"], seeds=1, epochs=10, params=w0,
                     stop=stop).run(0)
    for run in (fit, swept):
        assert (run.status, run.best_epoch) == ("early_stopped", 0)
        assert run.reason.endswith(f"; the params returned are the initial ones (before epoch 1), whose train_loss {initial:.4g} no "
                                   "epoch bettered")
        np.testing.assert_array_equal(run.params["w"], w0["w"])
    with pytest.raises(AssertionError, match="measured the initial params again"):
        gd.fit(loss_fn, data, gd.sgd(3 / a), epochs=10, params=w0, check_stability=False, metrics="exact",
               stop=gd.stop.early_stopping("grad_norm", patience=2) | gd.stop.diverged(1e6))


def test_budget_ends_warn_only_when_convergence_was_asked_for(mnist1d) -> None:
    model = gd.models.logistic()
    with pytest.warns(gd.ConvergenceWarning, match=r"ended on its budget before plateau fired \(max_epochs"):
        gd.fit(model, mnist1d, gd.sgd(0.1), batch_size=500, epochs=2, stop=gd.stop.plateau(1e-9, 5))
    result = gd.fit(model, mnist1d, gd.sgd(0.1), batch_size=500, epochs=2)  # no warning (errors here)
    assert result.status == "max_epochs"


def test_rules_that_cannot_fire_on_this_run_are_refused(mnist1d) -> None:
    no_test = gd.datasets.from_arrays(mnist1d.x_train[:100], mnist1d.y_train[:100], test_fraction=0.0)
    with pytest.raises(ValueError, match="early_stopping reads test_loss, which a run without test data"):
        gd.fit(gd.models.logistic(), no_test, gd.sgd(0.1), stop=gd.stop.early_stopping("test_loss"))
    with pytest.raises(ValueError, match=r"grad_norm reads grad_norm \(needs metrics='exact'\)"):
        gd.fit(gd.models.logistic(), mnist1d, gd.sgd(0.1), metrics="running", stop=gd.stop.grad_norm(1e-3))
    with pytest.raises(TypeError, match="stop must be a rule"):
        gd.fit(gd.models.logistic(), mnist1d, gd.sgd(0.1), stop="plateau")


def test_divergence_is_always_on_and_catches_collapse_without_nan(mnist1d) -> None:
    """A run whose loss explodes past 100 x its start is diverged even when the user's rule is a budget."""
    result = gd.fit(gd.models.logistic(), mnist1d, gd.sgd(500.0), batch_size=32, epochs=5,
                    stop=gd.stop.max_epochs(5))
    assert result.status == "diverged", result.reason


# --- the --stop syntax ----------------------------------------------------------------------------


def test_parse_builds_the_rules_it_names() -> None:
    rule = gd.stop.parse("grad<1e-4 | plateau:1e-3:2 & epochs:3")
    assert rule.name == "any" and [c.name for c in rule.children] == ["grad_norm", "all"]
    assert [c.name for c in rule.children[1].children] == ["plateau", "max_epochs"]
    seq = [{"train_loss": v, "grad_norm": 1.0} for v in (2.0, 1.0, 1.0, 1.0, 1.0)]
    epoch, (status, _) = _fire_epoch(rule, seq)
    assert (epoch, status) == (4, "converged")  # plateau fires at 4, epochs:3 has fired since 3
    assert _fire_epoch(gd.stop.parse("grad<1e-4"), [{"grad_norm": 5e-5}])[0] == 1
    early = gd.stop.parse("early:test_accuracy:2:0.01")
    assert early.restore == "test_accuracy"
    assert _fire_epoch(gd.stop.parse("target:test_loss:0.5"), _losses(0.7, 0.4, key="test_loss"))[0] == 2


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("plateau:x:5", r"does not parse at column 9 \('x:5'\): 'x' is not a number"),
        ("grad<1e-4 |", r"column 12 \(''\): an empty term"),
        ("foo", r"unknown rule 'foo'; rules are grad<TOL, plateau"),
        ("early:val_loss", r"^stop 'early:val_loss': METRIC in early:METRIC:PATIENCE:MIN_DELTA must be one of"),
        ("time:-1", r"^stop 'time:-1': SECONDS in time:SECONDS must be a float in \(0, inf\); got -1.0\.$"),
        ("target:test_loss", r"target takes exactly 2 arguments \(METRIC and VALUE\), e\.g\. target:test_loss:0\.5; got 1\.$"),
        ("time", r"time takes exactly 1 argument \(SECONDS\), e\.g\. time:60; got 0\.$"),
        ("plateau:1:2:3", r"plateau takes at most 2 arguments \(TOL and PATIENCE\), e\.g\. plateau:1e-4:5; got 3\.$"),
        ("early:test_loss:1:0:x", (r"early takes at most 3 arguments \(METRIC, PATIENCE and MIN_DELTA\), e\.g\. "
                                  r"early:test_loss:10; got 4\.$")),
        ("", "stop must be a rule such as"),
    ],
)
def test_parse_errors_say_where(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gd.stop.parse(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("diverged:0.5", "FACTOR in diverged:FACTOR must be a float in [1.0, inf); got 0.5."),
        ("plateau:-1", "TOL in plateau:TOL:PATIENCE must be a float in [0.0, inf); got -1.0."),
        ("plateau:1e-4:0", "PATIENCE in plateau:TOL:PATIENCE must be an integer in [1, inf]; got 0."),
        ("early:test_loss:0", "PATIENCE in early:METRIC:PATIENCE:MIN_DELTA must be an integer in [1, inf]; got 0."),
        ("early:test_loss:5:-1", "MIN_DELTA in early:METRIC:PATIENCE:MIN_DELTA must be a float in [0.0, inf); got -1.0."),
        ("target:test_accuracy:1.5", "VALUE in target:METRIC:VALUE must be a float in [0.0, 1.0]; got 1.5."),
        ("grad<0", "TOL in grad<TOL must be a float in (0, inf); got 0.0."),
        ("steps:0", "N in steps:N must be an integer in [1, inf]; got 0."),
        ("epochs:0", "N in epochs:N must be an integer in [1, inf]; got 0."),
    ],
)
def test_a_value_a_rule_refuses_is_named_as_the_syntax_writes_it(text: str, expected: str) -> None:
    """diverged:0.5 said 'factor must be ...': in the CLI that became --factor, the step schedule's option."""
    with pytest.raises(ValueError) as caught:
        gd.stop.parse(text)
    assert str(caught.value) == f"stop {text!r}: {expected}"
    with pytest.raises(ValueError) as inside:  # inside a longer rule: which term
        gd.stop.parse(f"grad<1e-4 | {text}")
    assert str(inside.value) == f"stop 'grad<1e-4 | {text}', in {text!r}: {expected}"


@pytest.mark.parametrize(
    ("combine", "expected"),
    [
        (lambda rule: rule | 5, "| combines stopping rules such as gd.stop.plateau(); got 5 (int)."),
        (lambda rule: 5 | rule, "| combines stopping rules such as gd.stop.plateau(); got 5 (int)."),
        (lambda rule: rule & "epochs:3", "& combines stopping rules such as gd.stop.plateau(); got 'epochs:3' (str)."),
        (lambda rule: gd.stop.any_of(rule, None), ("rules must be stopping rules such as gd.stop.plateau(); got None "
                                                   "(NoneType) as rule 1 of any_of.")),
        (lambda rule: gd.stop.all_of(), ("rules must be one or more stopping rules such as gd.stop.plateau(); got none "
                                         "(all_of()).")),
    ],
)
def test_combining_a_rule_with_what_is_not_one_names_what_was_given(combine: Any, expected: str) -> None:
    """grad_norm(1e-3) | 5 printed the ~380-character repr of both operands as a tuple of StopRules."""
    with pytest.raises(TypeError) as caught:
        combine(gd.stop.grad_norm(1e-3))
    assert str(caught.value) == expected


def test_diverged_inside_all_of_does_not_switch_off_the_always_on_divergence_rule() -> None:
    data, model = gd.datasets.load("linreg", n=64, features=3, noise=0.5, seed=0), gd.models.linear()
    alone = gd.fit(model, data, gd.sgd(3.0), batch_size=8, epochs=8, stop=gd.stop.plateau())
    both = gd.fit(model, data, gd.sgd(3.0), batch_size=8, epochs=8, stop=gd.stop.diverged() & gd.stop.plateau())
    assert (alone.status, alone.epochs_run) == ("diverged", 1)
    assert (both.status, both.epochs_run, both.reason) == (alone.status, alone.epochs_run, alone.reason)
    # a diverged rule or-ed in stays the user's own: its factor is the one the reason names
    own = gd.fit(model, data, gd.sgd(3.0), batch_size=8, epochs=8, stop=gd.stop.diverged(1e6) | gd.stop.plateau())
    assert (own.status, own.epochs_run) == ("diverged", 1) and "1e+06 x the initial loss" in own.reason


def test_a_run_that_ends_above_its_starting_loss_says_it_collapsed_and_a_tie_does_not() -> None:
    """Batch GD past 2/L on least squares (L = 2.42 here): the loss rose from 5.54 to 6.35 in 2 epochs and the
    reason said only 'final train loss 6.345' (status max_epochs), while gd.sweep's results call it collapsed.
    A loss that did not move (a rate far too low) read "collapsed (the learning rate is likely too high)"."""
    data = gd.datasets.load("linreg")
    high = gd.fit(gd.models.linear(), data, gd.sgd(1.0), batch_size="full", epochs=2, check_stability=False)
    final = float(high.history["train_loss"][-1])
    assert high.status == "max_epochs" and final > high.initial_loss
    assert high.reason == (f"max_epochs: ran 2 epochs (2 updates); final train loss {final:.4g}; the train loss "
                           f"ended at {final:.4g}, above the {high.initial_loss:.4g} before training: collapsed (the "
                           "learning rate is likely too high)")
    fine = gd.fit(gd.models.linear(), data, gd.sgd(0.1), batch_size="full", epochs=5)
    assert fine.reason.endswith(f"final train loss {float(fine.history['train_loss'][-1]):.4g}")
    still = gd.fit(gd.models.linear(), data, gd.sgd(1e-9), batch_size="full", epochs=2)
    assert float(still.history["train_loss"][-1]) == pytest.approx(still.initial_loss, rel=1e-6)
    assert "collapsed" not in still.reason
    tie = gd.fit(gd.models.linear(), data, gd.sgd(0.1), batch_size="full", epochs=1, metrics="running", seed=1)
    assert tie.history["train_loss"][-1] == pytest.approx(tie.initial_loss, rel=1e-6)  # the loss before its update
    assert "collapsed" not in tie.reason
    swept = gd.sweep(gd.models.linear(), data, learning_rate=[0.1, 1.0], batch_size=["full"], epochs=2)
    reasons = {row["learning_rate"]: swept.run(k).reason for k, row in enumerate(swept.rows)}
    assert reasons[1.0] == high.reason and "collapsed" not in reasons[0.1]


def test_a_run_whose_loss_still_grows_at_its_end_is_diverging_not_collapsed() -> None:
    """Batch GD at rate 1 on least squares, past 2/L = 0.827: the loss grows about 1.5x an epoch (5.54 to 405 in
    12 epochs) and misses only the 100x divergence rule; its reason said 'collapsed'. Fit and sweep agree."""
    data = gd.datasets.load("linreg")
    run = gd.fit(gd.models.linear(), data, gd.sgd(1.0), batch_size="full", epochs=12, check_stability=False)
    final = float(run.history["train_loss"][-1])
    assert run.status == "max_epochs" and final < 100 * run.initial_loss
    assert run.reason == (f"max_epochs: ran 12 epochs (12 updates); final train loss {final:.4g}; the train loss "
                          f"ended at {final:.4g}, above the {run.initial_loss:.4g} before training: diverging (the "
                          "loss rose by more than 1% in each of the last 3 epochs; it had not yet reached the "
                          "divergence rule, 100 x the loss before training; the learning rate is likely too high)")
    swept = gd.sweep(gd.models.linear(), data, learning_rate=[1.0], batch_size=["full"], epochs=12)
    assert swept.run(0).reason == run.reason
    stop = gd.stop.plateau(1e9, 2)  # fires at epoch 3 whatever the loss does: a rule's reason says it too
    stopped = gd.fit(gd.models.linear(), data, gd.sgd(1.0), batch_size="full", epochs=5, stop=stop,
                     check_stability=False)
    assert stopped.epochs_run == 3 and "before training: diverging (" in stopped.reason
    assert gd.sweep(gd.models.linear(), data, learning_rate=[1.0], batch_size=["full"], epochs=5,
                    stop=stop).run(0).reason == stopped.reason
    own = gd.fit(gd.models.linear(), data, gd.sgd(1.0), batch_size="full", epochs=3, check_stability=False,
                 stop=gd.stop.diverged(1e6))  # 3 epochs: the rises from the loss before training count
    assert "diverging (" in own.reason and "the divergence rule, 1e+06 x the loss before training" in own.reason


@pytest.mark.parametrize("losses, initial, word", [
    ((2.3022, 2.3349, 2.3424, 2.3597), 2.319, "collapsed"),  # mnist1d at chance: a 0.3% step among the rises
    ((2.5, 2.4, 2.45, 2.5), 2.3, "collapsed"),  # a fall among the last 3
    ((5.7, 6.3), 5.5, "collapsed"),  # 2 epochs: 2 rises only
    ((5.7, 6.3, 7.6), 5.5, "diverging"),  # from the loss before training: 3 rises
    ((5.0, 5.7, 6.3, 7.6), 5.5, "diverging"),  # the last 3 of 4
    ((7.0, 5.7, 6.3, 7.6), 5.5, "collapsed"),  # the last 3 of 4 hold a fall: the loss before training is no epoch
])
def test_rise_note_calls_diverging_only_three_real_rises_in_a_row(losses: tuple[float, ...], initial: float,
                                                                  word: str) -> None:
    from gdlab.engine.result import rise_note

    assert f"before training: {word} (" in rise_note(list(losses), initial)


def test_a_run_a_rule_stopped_above_its_starting_loss_says_it_collapsed_too() -> None:
    """Only max_epochs reasons said so; a rule's (a plateau at a loss above the start) did not, while the sweep's
    results count such a config as collapsed."""
    data = gd.datasets.load("linreg")
    stop = gd.stop.plateau(1e9, 1)  # fires at epoch 2 whatever the loss does (3 rising epochs: diverging)
    run = gd.fit(gd.models.linear(), data, gd.sgd(1.0), batch_size="full", epochs=5, stop=stop, check_stability=False)
    assert run.status != "max_epochs" and run.epochs_run == 2
    assert run.reason.endswith(f"above the {run.initial_loss:.4g} before training: collapsed (the learning rate is "
                               "likely too high)")
    swept = gd.sweep(gd.models.linear(), data, learning_rate=[1.0], batch_size=["full"], epochs=5, stop=stop)
    assert swept.run(0).reason == run.reason


@pytest.mark.parametrize("losses, peak, collapsed", [
    ((2.309, 2.283, 2.421, 2.351, 2.302), 2.421, True),  # mnist1d, batch 32 at 3.16: kicked up, back near the start
    ((2.288, 3.976, 2.329, 2.323, 2.277), 3.976, True),  # 1.8% below the start after a rise: within 2%
    ((2.43, 2.802, 2.196, 2.167, 2.20), 2.802, False),  # 4.6% below it: it trained a little (SGD at 0.1)
    ((2.318, 2.318, 2.317, 2.316, 2.315), 2.318, False),  # a rate too low never rose above its start
    ((2.309, 2.283, 2.421, 2.351, 2.302), math.nan, False),  # no peak known: as before
])
def test_a_run_kicked_above_its_start_that_ended_back_near_it_collapsed(
        losses: tuple[float, ...], peak: float, collapsed: bool) -> None:
    """Too high a rate left mini-batch 32 near chance (10% test accuracy) just below its start (2.302 and 2.277
    from 2.319): neither counted as failed, and the compare put 'too high from' a half-decade too far."""
    from gdlab.engine.result import COLLAPSED, peak_loss, rise_note
    from gdlab.engine.sweep_result import failure

    note = rise_note(list(losses), 2.3192, peak=peak)
    assert (COLLAPSED in note) is collapsed
    if collapsed:
        assert note == (f"; the train loss rose to {peak:.4g} and came back to {losses[-1]:.4g}, within 2% of the "
                        "2.319 before training: collapsed (the learning rate is likely too high)")
    row = {"status": "max_epochs", "final_train_loss": losses[-1], "initial_train_loss": 2.3192, "reason": note}
    assert failure(row) == ("collapsed" if collapsed else None)
    assert peak_loss([2.3, math.nan, math.inf, 2.9, 2.5]) == 2.9 and math.isnan(peak_loss([math.nan]))


def test_fit_reads_the_peak_over_the_whole_run_and_the_sweep_over_its_rows() -> None:
    """f(w) = w^2 / 2 by plain GD, one update an epoch: rate 2.5 kicks w to -1.5 w (the loss x 2.25), 1/3 brings it
    back to -w (the start's loss), then 1e-3 for 5 epochs falls 1% in all: the peak is epoch 1's, outside the last
    RISING_EPOCHS + 1 losses that the rise note read, and the run collapsed."""
    from gdlab.engine.sweep_chunk import _peak

    data = gd.datasets.from_arrays(np.zeros((8, 1), np.float32), np.zeros(8, np.float32), task="regression",
                                   test_fraction=0.0)

    def loss(p, x, y):
        return 0.5 * jnp.sum(p["w"] ** 2) + 0.0 * jnp.mean(y)

    rate = gd.schedules.join([gd.schedules.constant(2.5), gd.schedules.constant(1 / 3), gd.schedules.constant(1e-3)],
                             [1, 2])
    run = gd.fit(loss, data, gd.sgd(rate), params={"w": np.ones(3, np.float32)}, batch_size="full", epochs=7,
                 check_stability=False)
    assert run.history["train_loss"][0] == pytest.approx(1.5 * 2.25) and run.history["train_loss"][1] == pytest.approx(1.5)
    assert run.reason.endswith("the train loss rose to 3.375 and came back to 1.485, within 2% of the 1.5 before "
                               "training: collapsed (the learning rate is likely too high)")
    rows = [{"train_loss": np.array([[v]])} for v in (2.0, math.nan, 5.0, 1.0)]
    assert _peak(rows, 0, 0) == 5.0
