"""Schedules: hand-computed values, optax and torch's formulas, properties, jit/vmap, reuse."""

from __future__ import annotations

import dataclasses
import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gdlab as gd
from gdlab import schedules as S
from gdlab.core.run_schedules import USES, ScheduleOptions, build_schedule


@jax.jit
def _evaluate(schedule: S.Schedule, steps: jax.Array) -> jax.Array:
    """One program per schedule structure: the numbers arrive as arguments."""
    return schedule(steps)


def _values(schedule: S.Schedule, steps) -> np.ndarray:
    return np.asarray(_evaluate(schedule, jnp.asarray(steps)))


# --- hand-computed values at step 0, the boundaries, the last step and beyond -----

HAND = {
    "constant": (S.constant(0.3), {0: 0.3, 1: 0.3, 10**6: 0.3}),
    "step": (
        S.step(0.1, 10, 0.5),
        {0: 0.1, 9: 0.1, 10: 0.05, 19: 0.05, 20: 0.025, 1000: 0.1 * 0.5**100},
    ),
    "multistep": (
        S.multistep(0.1, [10, 25], 0.1),
        {0: 0.1, 9: 0.1, 10: 0.01, 24: 0.01, 25: 0.001, 10**5: 0.001},
    ),
    "exponential": (
        S.exponential(0.2, 0.5, 10),
        {0: 0.2, 5: 0.2 * 0.5**0.5, 10: 0.1, 25: 0.2 * 0.5**2.5},
    ),
    "exponential staircase": (
        S.exponential(0.2, 0.5, 10, staircase=True),
        {0: 0.2, 9: 0.2, 10: 0.1, 25: 0.05},
    ),
    "inverse_time": (S.inverse_time(0.1, 0.5, 10), {0: 0.1, 10: 0.1 / 1.5, 40: 0.1 / 3}),
    "power": (S.power(0.1, 0.75, 10), {0: 0.1, 10: 0.1 / 2**0.75, 90: 0.1 / 10**0.75}),
    "polynomial": (
        S.polynomial(0.1, 0.01, 2.0, 20),
        {0: 0.1, 10: 0.01 + 0.09 * 0.25, 19: 0.01 + 0.09 / 400, 20: 0.01, 100: 0.01},
    ),
    "cosine": (S.cosine(0.1, 20, 0.01), {0: 0.1, 10: 0.055, 20: 0.01, 30: 0.01}),
    "cosine restarts": (
        S.cosine(0.1, 20, 0.01, restarts=True),
        {0: 0.1, 10: 0.055, 19: 0.01 + 0.045 * (1 + math.cos(math.pi * 0.95)), 20: 0.1, 30: 0.055},
    ),
    "cyclic": (S.cyclic(0.1, 0.5, 4), {0: 0.1, 2: 0.3, 4: 0.5, 6: 0.3, 8: 0.1, 12: 0.5}),
    "one_cycle": (
        S.one_cycle(1.0, 100, pct_start=0.3, div_factor=25.0, final_div_factor=1e4),
        {0: 0.04, 29: 1.0, 64: (1.0 + 4e-6) / 2, 99: 4e-6, 150: 4e-6},
    ),
    "warmup": (
        S.warmup(S.cosine(0.1, 20), 5, start_value=0.01),
        {0: 0.01, 2: 0.01 + 0.09 * 0.4, 5: 0.1, 15: 0.05, 25: 0.0, 100: 0.0},
    ),
    "join": (
        S.join([S.constant(0.1), S.exponential(0.1, 0.5, 10), S.constant(0.001)], [5, 25]),
        {0: 0.1, 4: 0.1, 5: 0.1, 15: 0.05, 24: 0.1 * 0.5**1.9, 25: 0.001, 10**4: 0.001},
    ),
    "by_epoch": (
        S.by_epoch(S.exponential(0.1, 0.5, 2), 100),
        {
            0: 0.1,
            99: 0.1,
            100: 0.1 * 0.5**0.5,
            150: 0.1 * 0.5**0.5,
            199: 0.1 * 0.5**0.5,
            400: 0.025,
        },
    ),
}


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("name", list(HAND))
def test_schedules_match_hand_computed_values(name: str) -> None:
    schedule, expected = HAND[name]
    got = _values(schedule, list(expected))
    np.testing.assert_allclose(got, list(expected.values()), rtol=1e-12, atol=1e-15)


def test_negative_steps_count_as_step_zero() -> None:
    np.testing.assert_allclose(_values(S.cosine(0.1, 20, 0.01), [-5, 0]), [0.1, 0.1], rtol=1e-6)


# --- references: optax, and torch's OneCycleLR formula ----------------------------

STEPS = np.arange(0, 120)

OPTAX = {
    "constant": (S.constant(0.3), optax.constant_schedule(0.3)),
    "step": (S.step(0.1, 7, 0.5), optax.exponential_decay(0.1, 7, 0.5, staircase=True)),
    "multistep": (
        S.multistep(0.1, [10, 40, 41], 0.3),
        optax.piecewise_constant_schedule(0.1, {10: 0.3, 40: 0.3, 41: 0.3}),
    ),
    "exponential": (S.exponential(0.2, 0.9, 7), optax.exponential_decay(0.2, 7, 0.9)),
    "exponential staircase": (
        S.exponential(0.2, 0.9, 7, staircase=True),
        optax.exponential_decay(0.2, 7, 0.9, staircase=True),
    ),
    "polynomial": (
        S.polynomial(0.1, 0.002, 1.5, 90),
        optax.polynomial_schedule(0.1, 0.002, 1.5, 90),
    ),
    "cosine": (S.cosine(0.1, 90, 0.002), optax.cosine_decay_schedule(0.1, 90, alpha=0.02)),
    "cosine restarts": (
        S.cosine(0.1, 30, 0.002, restarts=True),
        optax.sgdr_schedule(
            [
                {
                    "init_value": 0.1,
                    "peak_value": 0.1,
                    "warmup_steps": 0,
                    "decay_steps": 30,
                    "end_value": 0.002,
                }
            ]
            * 4
        ),
    ),
    "warmup cosine": (
        S.warmup(S.cosine(0.1, 100 - 15, 0.002), 15, start_value=0.01),
        optax.warmup_cosine_decay_schedule(0.01, 0.1, 15, 100, end_value=0.002),
    ),
    "join": (
        S.join([S.constant(0.1), S.cosine(0.1, 50), S.exponential(0.05, 0.5, 5)], [20, 60]),
        optax.join_schedules(
            [
                optax.constant_schedule(0.1),
                optax.cosine_decay_schedule(0.1, 50),
                optax.exponential_decay(0.05, 5, 0.5),
            ],
            [20, 60],
        ),
    ),
}


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("name", list(OPTAX))
def test_schedules_match_optax(name: str) -> None:
    ours, theirs = OPTAX[name]
    expected = [float(theirs(jnp.asarray(t, jnp.float64))) for t in STEPS]
    np.testing.assert_allclose(_values(ours, STEPS), expected, rtol=1e-12, atol=1e-15)


def _torch_one_cycle(max_lr, total_steps, pct_start, div_factor, final_div_factor, step_num):
    """torch.optim.lr_scheduler.OneCycleLR.get_lr, anneal_strategy='cos', two phases."""
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    phases = [
        (float(pct_start * total_steps) - 1, initial_lr, max_lr),
        (total_steps - 1, max_lr, min_lr),
    ]
    start_step = 0.0
    for i, (end_step, start_lr, end_lr) in enumerate(phases):
        if step_num <= end_step or i == len(phases) - 1:
            pct = (step_num - start_step) / (end_step - start_step)
            return end_lr + (start_lr - end_lr) / 2.0 * (math.cos(math.pi * pct) + 1)
        start_step = end_step
    raise AssertionError("unreachable")


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize(
    ("total_steps", "pct_start", "div_factor", "final_div_factor"),
    [(120, 0.3, 25.0, 1e4), (37, 0.25, 10.0, 100.0), (10, 0.15, 1.0, 1.0)],
)
def test_one_cycle_matches_torch_formula(total_steps, pct_start, div_factor, final_div_factor):
    ours = S.one_cycle(0.5, total_steps, pct_start, div_factor, final_div_factor)
    args = (0.5, total_steps, pct_start, div_factor, final_div_factor)
    expected = [_torch_one_cycle(*args, t) for t in range(total_steps)]
    np.testing.assert_allclose(_values(ours, STEPS[:total_steps]), expected, rtol=1e-12)


# --- properties -------------------------------------------------------------------

GRID = np.arange(0, 300)
_rate = st.floats(0.01, 0.99)
_lr = st.floats(1e-4, 10.0)
_steps = st.integers(1, 100)
_fraction = st.one_of(st.just(0.0), st.floats(1e-3, 1.0))  # no subnormals: XLA flushes them to 0


@st.composite
def _decays(draw):
    """(schedule, end value) for a decay that should never rise."""
    lr = draw(_lr)
    kind = draw(st.sampled_from(["step", "multistep", "exponential", "inverse_time", "power",
                                 "polynomial", "cosine"]))  # fmt: skip
    if kind == "step":
        return S.step(lr, draw(_steps), draw(_rate)), 0.0
    if kind == "multistep":
        milestones = sorted(draw(st.sets(_steps, min_size=1, max_size=4)))
        return S.multistep(lr, milestones, draw(_rate)), 0.0
    if kind == "exponential":
        return S.exponential(lr, draw(_rate), draw(_steps), draw(st.booleans())), 0.0
    if kind == "inverse_time":
        return S.inverse_time(lr, draw(st.floats(0.01, 10.0)), draw(_steps)), 0.0
    if kind == "power":
        return S.power(lr, draw(st.floats(0.01, 1.0)), draw(_steps)), 0.0
    end = lr * draw(_fraction)
    if kind == "polynomial":
        return S.polynomial(lr, end, draw(st.floats(0.1, 4.0)), draw(_steps)), end
    return S.cosine(lr, draw(_steps), end), end


@settings(max_examples=60, deadline=None)
@given(_decays())
def test_decays_never_rise_and_stay_between_their_end_points(case) -> None:
    schedule, end = case
    lr = schedule.params[0]
    with jax.enable_x64(True):
        v = _values(schedule, GRID)
    assert v[0] == pytest.approx(lr, rel=1e-12)
    assert np.all(np.diff(v) <= 1e-15 * v[:-1])
    assert np.all((v >= end * (1 - 1e-12)) & (v <= lr * (1 + 1e-12)))


@st.composite
def _shaped(draw):
    """(schedule, low, high) for schedules that rise as well as fall."""
    lr = draw(_lr)
    kind = draw(st.sampled_from(["cyclic", "one_cycle", "warmup", "cosine restarts"]))
    if kind == "cyclic":
        high = lr * draw(st.floats(1.0, 100.0))
        return S.cyclic(lr, high, draw(_steps)), lr, high
    if kind == "one_cycle":
        total, div, final_div = draw(_steps) + 10, draw(st.floats(1, 100)), draw(st.floats(1, 1e4))
        pct = draw(st.floats(1.5 / total, 0.95))
        return S.one_cycle(lr, total, pct, div, final_div), lr / div / final_div, lr
    if kind == "warmup":
        start, end = 2 * lr * draw(_fraction), lr * draw(_fraction)
        schedule = S.warmup(S.cosine(lr, draw(_steps), end), draw(_steps), start)
        return schedule, min(start, end), max(start, lr)
    end = lr * draw(_fraction)
    return S.cosine(lr, draw(_steps), end, restarts=True), end, lr


@settings(max_examples=40, deadline=None)
@given(_shaped())
def test_schedules_stay_between_their_end_points(case) -> None:
    schedule, low, high = case
    with jax.enable_x64(True):
        v = _values(schedule, GRID)
    assert np.all(v >= low * (1 - 1e-12)), (v.min(), low)
    assert np.all(v <= high * (1 + 1e-12)), (v.max(), high)


# --- jit, vmap, scan --------------------------------------------------------------


def _stack(schedules):
    return jax.tree.map(lambda *xs: np.asarray(xs, np.float32), *[s.params for s in schedules])


def test_vmap_over_params_gives_each_rows_schedule() -> None:
    """A sweep: one fn, the numbers stacked (learning rates and step counts alike)."""
    rows = [S.warmup(S.cosine(lr, d, 0.1 * lr), w) for lr, d, w in [(0.1, 50, 5), (0.4, 20, 10)]]
    got = jax.vmap(rows[0].fn, in_axes=(0, None))(_stack(rows), jnp.arange(60))
    assert got.shape == (2, 60)
    for row, schedule in zip(got, rows):
        np.testing.assert_allclose(row, _values(schedule, np.arange(60)), rtol=1e-6)
    cosine_5_of_50 = 0.01 + 0.045 * (1 + math.cos(math.pi * 5 / 50))
    np.testing.assert_allclose(
        got[:, [0, 5, 10]], [[0, 0.1, cosine_5_of_50], [0, 0.2, 0.4]], rtol=1e-5
    )


def test_vmap_and_scan_over_steps_equal_the_elementwise_values() -> None:
    schedule = S.one_cycle(1.0, 40)
    expected = [_torch_one_cycle(1.0, 40, 0.3, 25.0, 1e4, t) for t in range(40)]
    by_vmap = jax.vmap(schedule)(jnp.arange(40))
    _, by_scan = jax.lax.scan(lambda c, t: (c, schedule(t)), None, jnp.arange(40))
    np.testing.assert_allclose(by_vmap, expected, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(by_scan, expected, rtol=1e-5, atol=1e-9)


def test_a_schedule_is_a_callable_of_the_step() -> None:
    schedule = S.exponential(0.2, 0.5, 10)
    assert float(schedule(10)) == pytest.approx(0.1, rel=1e-6)
    assert float(schedule(jnp.int32(20))) == pytest.approx(0.05, rel=1e-6)
    assert schedule(jnp.arange(3)).dtype == jnp.float32


# --- same structure, same fn; new numbers, no new compile --------------------------

SAME_STRUCTURE = [
    (S.constant(0.1), S.constant(0.2)),
    (S.step(0.1, 5, 0.5), S.step(0.3, 7, 0.1)),
    (S.multistep(0.1, [5], 0.5), S.multistep(0.3, [7, 9], 0.1)),
    (S.exponential(0.1, 0.5, 5), S.exponential(0.3, 0.9, 7)),
    (S.inverse_time(0.1, 0.5), S.inverse_time(0.3, 2.0, 7)),
    (S.power(0.1, 0.6), S.power(0.3, 1.0, 7)),
    (S.polynomial(0.1, 0.0, 1.0, 5), S.polynomial(0.3, 0.1, 2.0, 7)),
    (S.cosine(0.1, 5), S.cosine(0.3, 7, 0.1)),
    (S.cyclic(0.1, 0.5, 5), S.cyclic(0.3, 0.4, 7)),
    (S.one_cycle(0.1, 50), S.one_cycle(0.3, 70, 0.5, 10.0, 100.0)),
    (S.warmup(S.cosine(0.1, 5), 3), S.warmup(S.cosine(0.3, 7, 0.1), 2, 0.01)),
    (S.join([S.constant(0.1), S.cosine(0.1, 5)], [3]), S.join([0.2, S.cosine(0.3, 7)], [9])),
    (S.by_epoch(S.step(0.1, 5, 0.5), 10), S.by_epoch(S.step(0.3, 7, 0.1), 20)),
]


@pytest.mark.parametrize(("a", "b"), SAME_STRUCTURE)
def test_same_structure_shares_one_fn(a: S.Schedule, b: S.Schedule) -> None:
    assert a.fn is b.fn
    assert a.params != b.params


def test_a_different_structure_has_another_fn() -> None:
    assert S.exponential(0.1, 0.5, 5).fn is not S.exponential(0.1, 0.5, 5, staircase=True).fn
    assert S.cosine(0.1, 5).fn is not S.cosine(0.1, 5, restarts=True).fn
    assert S.warmup(S.cosine(0.1, 5), 3).fn is not S.warmup(S.constant(0.1), 3).fn
    assert S.by_epoch(S.cosine(0.1, 5), 3).fn is not S.by_epoch(S.constant(0.1), 3).fn


def test_new_numbers_reuse_the_compiled_program(compile_counter) -> None:
    first = S.warmup(S.cosine(0.1, 50, 0.01), 5)
    second = S.warmup(S.cosine(0.4, 20, 0.0), 10, 0.02)
    run = jax.jit(lambda params, steps: first.fn(params, steps))
    steps = np.array([0, 5, 10, 15], np.int32)
    a = run(first.params, steps)
    after_first = compile_counter.count
    b = run(second.params, steps)
    assert after_first >= 1
    assert compile_counter.count == after_first
    np.testing.assert_allclose(
        a, [0.0, 0.1, 0.01 + 0.045 * (1 + math.cos(math.pi / 10)),
            0.01 + 0.045 * (1 + math.cos(math.pi / 5))], rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(b, [0.02, 0.21, 0.4, 0.2 * (1 + math.cos(math.pi / 4))], rtol=1e-5)
    # A Schedule is a pytree with a static fn: passed whole to jit, it reuses the program too.
    np.testing.assert_allclose(_evaluate(first, steps), a, rtol=1e-6)
    after_evaluate = compile_counter.count
    np.testing.assert_allclose(_evaluate(second, steps), b, rtol=1e-6)
    assert compile_counter.count == after_evaluate


# --- as_schedule, SCHEDULES -------------------------------------------------------


def test_as_schedule_takes_floats_callables_and_schedules() -> None:
    cosine = S.cosine(0.1, 10)
    assert S.as_schedule(cosine) is cosine
    assert S.as_schedule(0.25).fn is S.constant(0.5).fn
    np.testing.assert_allclose(_values(S.as_schedule(0.25), [0, 99]), [0.25, 0.25])
    wrapped = S.as_schedule(lambda t: 0.1 / (1.0 + t))
    np.testing.assert_allclose(_values(wrapped, [0, 1, 3]), [0.1, 0.05, 0.025], rtol=1e-6)


def test_step_lists_may_be_numpy_or_jax_arrays() -> None:
    """milestones_steps / boundaries_steps as 1-D arrays (np.arange, jnp.array) are step lists."""
    listed = S.multistep(0.1, [5, 10], 0.5)
    steps = jnp.arange(14)
    for milestones in (np.array([5, 10]), jnp.array([5, 10]), (5, 10)):
        np.testing.assert_array_equal(S.multistep(0.1, milestones, 0.5)(steps), listed(steps))
    joined = S.join([0.1, 0.2, 0.3], np.array([4, 8]))
    np.testing.assert_allclose(joined(jnp.array([3, 4, 7, 8])), [0.1, 0.2, 0.2, 0.3], rtol=1e-6)
    with pytest.raises(TypeError, match="milestones_steps must be a strictly increasing sequence"):
        S.multistep(0.1, np.array([[5, 10]]), 0.5)


def test_schedules_table_names_each_factory_taking_learning_rate_first() -> None:
    assert gd.schedules.SCHEDULES is S.SCHEDULES
    assert set(S.SCHEDULES) == {"constant", "step", "multistep", "exponential", "inverse_time",
                                "power", "polynomial", "cosine", "cyclic", "one_cycle"}  # fmt: skip
    for name, factory in S.SCHEDULES.items():
        assert factory.__name__ == name
        assert next(iter(inspect.signature(factory).parameters)) == "learning_rate"
        assert factory is getattr(S, name)


# --- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "args", "error", "match"),
    [
        (S.constant, (0.0,), ValueError, r"learning_rate must be a float in \(0, inf\); got 0.0"),
        (S.constant, ("0.1",), TypeError, "learning_rate"),
        (S.step, (0.1, 0, 0.5), ValueError, r"step_size_steps must be an integer in \[1, 2147483647\]; got 0\."),
        # 10**20 steps passed and made gd.fit's loss NaN at its first update
        (S.cosine, (0.1, 10**20), ValueError, r"decay_steps must be an integer in \[1, 2147483647\]; got 1(0){20}\."),
        (S.multistep, (0.1, [5, 10**20], 0.5), ValueError, r"milestones_steps\[1\] must be an integer in \[1, 2147483647\]"),
        (S.step, (0.1, 2.5, 0.5), TypeError, "step_size_steps"),
        (S.step, (0.1, 5, 1.0), ValueError, r"factor must be a float in \(0, 1\); got 1.0"),
        (S.step, (0.1, 5, 0.0), ValueError, "factor"),
        (S.multistep, (0.1, [10, 5], 0.5), ValueError, "milestones_steps must be a strictly"),
        (S.multistep, (0.1, [5, 5], 0.5), ValueError, "milestones_steps"),
        (S.multistep, (0.1, [0, 5], 0.5), ValueError, r"milestones_steps\[0\]"),
        (S.multistep, (0.1, [], 0.5), ValueError, "milestones_steps must be a non-empty"),
        (S.multistep, (0.1, 10, 0.5), TypeError, "milestones_steps"),
        (S.exponential, (0.1, 1.5, 10), ValueError, "decay_rate"),
        (S.exponential, (0.1, 0.5, -1), ValueError, "decay_steps"),
        (S.exponential, (0.1, 0.5, 10, "yes"), TypeError, "staircase"),
        (S.inverse_time, (0.1, -0.5), ValueError, "decay_rate"),
        (S.power, (0.1, 1.5), ValueError, r"power must be a float in \(0, 1\]; got 1.5"),
        (S.power, (0.1, 0.0), ValueError, "power"),
        (S.power, (0.1, 0.5, 0), ValueError, "scale_steps"),
        (
            S.polynomial,
            (0.1, 0.2, 1.0, 10),
            ValueError,
            r"end_value must be a float in \[0.0, 0.1\]",
        ),
        (S.polynomial, (0.1, 0.0, 0.0, 10), ValueError, "power"),
        (S.cosine, (0.1, 0), ValueError, "decay_steps"),
        (S.cosine, (0.1, 10, -0.1), ValueError, "end_value"),
        (S.cosine, (-0.1, 10), ValueError, "learning_rate"),
        (
            S.cyclic,
            (0.1, 0.05, 10),
            ValueError,
            r"max_learning_rate must be a float in \[0.1, inf\)",
        ),
        (S.cyclic, (0.1, 0.5, 0), ValueError, "half_cycle_steps"),
        (S.one_cycle, (0.1, 0), ValueError, "total_steps"),
        (S.one_cycle, (0.1, 100, 1.0), ValueError, r"pct_start must be a float in \(0, 1\)"),
        (S.one_cycle, (0.1, 100, 0.0), ValueError, "pct_start"),
        (S.one_cycle, (0.1, 10, 0.1), ValueError, r"pct_start .* total_steps=10 .*got 0.1"),
        (S.one_cycle, (0.1, 1), ValueError, r"total_steps must be an integer in \[2, inf\]; got 1"),
        (S.one_cycle, (0.1, 100, 0.3, 0.5), ValueError, "div_factor"),
        (S.one_cycle, (0.1, 100, 0.3, 25.0, 0.1), ValueError, "final_div_factor"),
        (S.warmup, (S.constant(0.1), 0), ValueError, "warmup_steps"),
        (S.warmup, (S.constant(0.1), 5, -0.1), ValueError, "start_value"),
        (S.warmup, ("cosine", 5), TypeError, "schedule must be a float"),
        (S.join, ([], []), ValueError, "schedules must hold at least one schedule"),
        (
            S.join,
            ([0.1, 0.2], []),
            ValueError,
            r"boundaries_steps must hold len\(schedules\) - 1 = 1",
        ),
        (S.join, ([0.1, 0.2, 0.3], [20, 10]), ValueError, "boundaries_steps"),
        (S.join, ([0.1, -0.2], [5]), ValueError, r"schedules\[1\]"),
        (S.by_epoch, (S.constant(0.1), 0), ValueError, "steps_per_epoch"),
        (S.as_schedule, ("fast",), TypeError, "learning_rate must be a float"),
    ],
)
def test_bad_arguments_name_the_parameter(factory, args, error, match) -> None:
    with pytest.raises(error, match=match):
        factory(*args)


# --- run_schedules: the --schedule options each schedule reads ---------------------------------------------------

_CHANGED = {"decay_steps": 7, "decay_rate": 0.5, "end_value": 0.01, "power": 0.5, "factor": 0.5,
            "step_size_steps": 7, "milestones_steps": "7", "scale_steps": 7, "max_learning_rate": 0.5,
            "half_cycle_steps": 7, "restarts": True, "pct_start": 0.5}


@pytest.mark.parametrize("name", sorted(USES))
def test_uses_lists_exactly_the_options_that_change_each_schedule(name: str) -> None:
    """Each option away from its default changes the schedule (steps 0..99 of a 40-step run) iff USES lists it,
    so check_all_used refuses exactly the options that would be ignored."""
    steps = jnp.arange(100)
    base = np.asarray(build_schedule(0.1, ScheduleOptions(schedule=name), 40)(steps))
    reads = []
    for option, value in _CHANGED.items():
        options = dataclasses.replace(ScheduleOptions(schedule=name), **{option: value})
        if not np.array_equal(np.asarray(build_schedule(0.1, options, 40)(steps)), base):
            reads.append(option)
            options.check_all_used()
        else:
            with pytest.raises(ValueError, match=rf"{option} applies only to schedules .*; got {option}="):
                options.check_all_used()
    assert sorted(reads) == sorted(USES[name])
    assert set(_CHANGED) == set(vars(ScheduleOptions())) - {"schedule", "warmup_steps"}
