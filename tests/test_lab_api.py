"""The lab's JSON API in-process (FastAPI's TestClient): numbers against closed forms and the engine,
every endpoint, and bad input of every kind answered 400/404/422 with the field named."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fastapi.testclient import TestClient

import gdlab as gd
from gdlab.lab import create_app, paths, regression, schemas, training, verdicts, views
from gdlab.lab.app import BodyLimit
from gdlab.lab.regression import loss_fn
from gdlab.lab.server import is_loopback, serve
from gdlab.lab.verdicts import path_verdict, stability_limit


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab") / "lab.db"


@pytest.fixture(scope="module")
def client(db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(str(db))) as c:
        yield c


def _surface(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/api/surface", json={"grid": 0, **body})
    assert response.status_code == 200, response.text
    return response.json()


def _refused(client: TestClient, path: str, body: Any, status: int, *words: str) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail


# --- surfaces: closed forms ---------------------------------------------------------------


@pytest.mark.parametrize("learning_rate", [0.1, 0.7, 1.5, 1.99])
def test_plain_gd_on_the_quadratic_is_the_exact_iterate(client: TestClient, learning_rate: float) -> None:
    """f = (x^2 + y^2/c)/2: x_k = (1 - lr)^k x_0 and y_k = (1 - lr/c)^k y_0."""
    out = _surface(client, condition=8.0, learning_rate=learning_rate, start=[-2.5, 2.0], steps=40)
    path = np.asarray(out["paths"][0]["points"])
    k = np.arange(41)
    np.testing.assert_allclose(path[:, 0], (1 - learning_rate) ** k * -2.5, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(path[:, 1], (1 - learning_rate / 8.0) ** k * 2.0, rtol=1e-4, atol=1e-6)
    f = 0.5 * (path[:, 0] ** 2 + path[:, 1] ** 2 / 8.0)
    np.testing.assert_allclose(out["paths"][0]["values"], f, rtol=1e-4, atol=1e-7)


def test_the_limits_come_from_the_hessian_eigenvalues(client: TestClient) -> None:
    """Rotated by 30 degrees with condition 20: eigenvalues 1 and 1/20, so 2/L = 2, 2/(mu+L) = 2/1.05."""
    q = _surface(client, condition=20.0, angle=30.0)["quadratic"]
    assert q["L"] == pytest.approx(1.0, rel=1e-5) and q["mu"] == pytest.approx(0.05, rel=1e-4)
    assert q["two_over_L"] == pytest.approx(2.0, rel=1e-5)
    assert q["optimal_learning_rate"] == pytest.approx(2 / 1.05, rel=1e-5)
    assert q["rate_at_optimal"] == pytest.approx(0.95 / 1.05, rel=1e-4)


@pytest.mark.parametrize(("learning_rate", "verdict"), [(0.5, "converges"), (1.5, "oscillates"),
                                                         (2.0, "oscillates"), (2.3, "diverges")])
def test_the_verdict_in_words(client: TestClient, learning_rate: float, verdict: str) -> None:
    out = _surface(client, condition=10.0, learning_rate=learning_rate, steps=2000)
    said = out["verdicts"][0]
    assert said["verdict"] == verdict
    assert "2/L = 2" in said["why"]
    assert said["rate"] == pytest.approx(max(abs(1 - learning_rate), abs(1 - learning_rate / 10)), rel=1e-5)
    assert (out["paths"][0]["diverged_at"] is not None) == (verdict == "diverges")


def test_a_quadratic_path_still_far_from_its_minimum_is_descending_not_converged(client: TestClient) -> None:
    """Rate 0.001, 60 steps: 'converges' in green while f only fell from 3.325 to 2.969 (the closed form's
    rho = 0.9999 < 1 is true in the limit); Rosenbrock and Beale call the same 'descending'."""
    out = _surface(client, condition=10.0, learning_rate=0.001, steps=60, optimizers=["plain", "momentum", "nesterov"])
    assert [v["verdict"] for v in out["verdicts"]] == ["descending"] * 3, out["verdicts"]
    plain = out["verdicts"][0]["why"]
    # f_60 = ((0.999^60 * 2.5)^2 + (0.9999^60 * 2)^2 / 10) / 2; f falls to 1% by 60 + ln(0.01 f_0/f_60)/(2 ln 0.9999)
    f0, f60 = 3.325, ((0.999**60 * 2.5) ** 2 + (0.9999**60 * 2) ** 2 / 10) / 2
    assert round(60 + math.log(0.01 * f0 / f60) / (2 * math.log(0.9999)), -3) == 23_000
    assert f"after 60 steps f is still {f60:.4g} of 3.325 at the start (89%" in plain, plain
    assert "converges, but slowly" in plain and "0.9999x per step, so f falls to 1% of its start by step ~23,000" in plain
    assert "not yet converged within the 60 steps" in plain
    assert out["verdicts"][0]["rate"] == pytest.approx(0.9999, rel=1e-9)  # the closed form's rate is kept


@pytest.mark.parametrize("steps", [10, 15, 20, 60])
def test_a_quadratic_path_converges_once_f_is_below_one_percent_of_its_start(client: TestClient, steps: int) -> None:
    """Plain GD, rate 0.5, condition 10 from (-2.5, 2): f_k = ((0.5^k * 2.5)^2 + (0.95^k * 2)^2/10)/2 against
    verdicts.FAR * f_0 (15 steps: 0.043 > 0.033, descending; 20 steps: 0.026, converges)."""
    f = ((0.5**steps * 2.5) ** 2 + (0.95**steps * 2) ** 2 / 10) / 2
    said = _surface(client, condition=10.0, learning_rate=0.5, steps=steps)["verdicts"][0]
    assert said["verdict"] == ("descending" if f > verdicts.FAR * 3.325 else "converges"), said
    assert said["verdict"] == ("descending" if steps < 20 else "converges")


def test_momentum_overshooting_and_still_far_says_both(client: TestClient) -> None:
    """Heavy ball at rate 0.01 overshoots along curvature 1 and after 60 steps f is still 2% of its start."""
    said = _surface(client, condition=10.0, learning_rate=0.01, steps=60, optimizers=["momentum"])["verdicts"][0]
    assert said["verdict"] == "oscillates"
    assert "it overshoots along the direction of curvature 1" in said["why"]
    assert re.search(r"after 60 steps f is still 0\.06\d+ of 3\.325 at the start \(2%", said["why"]), said["why"]


def test_on_the_limit_the_steep_coordinate_swings_for_ever(client: TestClient) -> None:
    out = _surface(client, condition=10.0, learning_rate=2.0, start=[1.0, 0.0], steps=50)
    x = np.asarray(out["paths"][0]["points"])[:, 0]
    np.testing.assert_allclose(x, (-1.0) ** np.arange(51), rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["plain", "momentum", "nesterov"])
@pytest.mark.parametrize("momentum", [0.5, 0.9])
def test_each_optimizer_diverges_just_past_its_stability_limit_and_not_before(
    client: TestClient, optimizer: str, momentum: float
) -> None:
    limit = stability_limit(optimizer, 1.0, momentum)
    for factor, diverges in ((0.97, False), (1.03, True)):
        out = _surface(client, learning_rate=limit * factor, momentum=momentum, optimizers=[optimizer],
                       steps=2000, condition=4.0)
        assert (out["paths"][0]["diverged_at"] is not None) == diverges, (factor, out["verdicts"])
        assert (out["verdicts"][0]["verdict"] == "diverges") == diverges


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_paths_equal_a_python_loop_of_the_update(client: TestClient, nesterov: bool) -> None:
    """v <- m v + g; w <- w - lr v (heavy ball) or w - lr (g + m v) (Nesterov), g = grad f(w)."""
    lr, m, c = 0.3, 0.8, 5.0
    out = _surface(client, learning_rate=lr, momentum=m, condition=c, start=[2.0, -1.0], steps=30,
                   optimizers=["nesterov" if nesterov else "momentum"])
    w, v, expected = np.array([2.0, -1.0]), np.zeros(2), [np.array([2.0, -1.0])]
    for _ in range(30):
        g = w * np.array([1.0, 1.0 / c])
        v = m * v + g
        w = w - lr * (g + m * v if nesterov else v)
        expected.append(w)
    np.testing.assert_allclose(out["paths"][0]["points"], expected, rtol=1e-4, atol=1e-6)


def test_a_typed_formula_descends_by_its_own_gradient(client: TestClient) -> None:
    """f = x^2 + 3*y^2: x_k = (1 - 2 lr)^k x_0, y_k = (1 - 6 lr)^k y_0."""
    out = _surface(client, surface="formula", formula="x^2 + 3*y^2", learning_rate=0.05, start=[1.0, 1.0],
                   steps=20, grid=11)
    path = np.asarray(out["paths"][0]["points"])
    k = np.arange(21)
    np.testing.assert_allclose(path[:, 0], 0.9**k, rtol=1e-5)
    np.testing.assert_allclose(path[:, 1], 0.7**k, rtol=1e-5)
    x, y = np.meshgrid(out["grid"]["x"], out["grid"]["y"])
    np.testing.assert_allclose(out["grid"]["z"], x**2 + 3 * y**2, rtol=1e-5, atol=1e-6)
    assert out["text"] == "x^2 + 3*y^2" and out["canonical"] == "((x^2.0)+(3.0*(y^2.0)))"


def test_the_named_surfaces_grids_and_paths(client: TestClient) -> None:
    out = _surface(client, surface="rosenbrock", grid=21, learning_rate=0.001, steps=2000)
    x, y = np.meshgrid(out["grid"]["x"], out["grid"]["y"])
    np.testing.assert_allclose(out["grid"]["z"], (1 - x) ** 2 + 100 * (y - x**2) ** 2, rtol=1e-5)
    values = np.asarray(out["paths"][0]["values"])
    assert values[0] == pytest.approx(12.5) and values[-1] < values[0] / 4  # f(-1.5, 2) = 6.25 + 6.25
    end = np.asarray(out["paths"][0]["points"][-1])
    assert np.linalg.norm(end - 1) < np.linalg.norm(np.array([-1.5, 2.0]) - 1)  # along the valley to (1, 1)
    assert out["verdicts"][0]["verdict"] == "descending"  # |grad f| = 0.59 at the end: not converged
    for name, minimum in (("himmelblau", (3.0, 2.0)), ("beale", (3.0, 0.5))):  # from their default starts
        far = _surface(client, surface=name, learning_rate=0.01, steps=2000)
        assert far["paths"][0]["values"][-1] == pytest.approx(0.0, abs=1e-5)
        np.testing.assert_allclose(far["paths"][0]["points"][-1], minimum, atol=2e-3)
        assert far["verdicts"][0]["verdict"] == "converges"
    saddle = _surface(client, surface="saddle", learning_rate=0.5, steps=200)
    assert saddle["curvature_at_start"] == pytest.approx([-1.0, 1.0])
    assert saddle["paths"][0]["diverged_at"] is not None  # it slides off the saddle without bound


WHY = {"converges": "it has settled", "descending": "still descending", "oscillates": "f went up",
       "diverges": "left |x|, |y| <= 1e6", "unbounded": "unbounded below", "undefined": "not defined",
       "stalled": "cannot move"}
"""The words in a path verdict's explanation that belong to its verdict word (and to no other)."""


def _said_gradient_norm(why: str) -> float:
    found = re.search(r"the gradient norm is ([-+.e\d]+)", why)
    assert found is not None, why
    return float(found.group(1))


@pytest.mark.parametrize(("steps", "verdict"), [(100, "descending"), (200, "converges")])
def test_a_path_verdict_on_the_exact_gd_iterate(steps: int, verdict: str) -> None:
    """f = x^2/2, lr = 0.05: x_k = 0.95^k x_0, f falls every step, |grad f| = 0.95^N < 1e-3 from N = 135."""
    x = 0.95 ** np.arange(steps + 1)
    grad_norm = float(x[-1])
    said = path_verdict("plain", 0.5 * x**2, grad_norm, None, steps)
    assert said["verdict"] == verdict
    assert WHY[verdict] in said["why"] and not any(WHY[v] in said["why"] for v in WHY if v != verdict)
    assert _said_gradient_norm(said["why"]) == pytest.approx(grad_norm, rel=5e-3)
    assert f"after {steps} steps" in said["why"]


@pytest.mark.parametrize(("optimizer", "steps", "verdict"),
                         [("plain", 40, "descending"), ("plain", 120, "converges"), ("momentum", 40, "oscillates")])
def test_a_path_verdict_agrees_with_the_numbers_of_its_path(
    client: TestClient, optimizer: str, steps: int, verdict: str
) -> None:
    """f = x^2 + 3*y^2 from (1, 1), lr = 0.05, m = 0.9: the verdict decided from a Python loop of the update
    (plain: x_k = 0.9^k, y_k = 0.7^k) -- settled when |grad f| < 1e-3, else went up on a step or still descending."""
    out = _surface(client, surface="formula", formula="x^2 + 3*y^2", learning_rate=0.05, momentum=0.9,
                   start=[1.0, 1.0], steps=steps, optimizers=[optimizer])
    w, v, f = np.array([1.0, 1.0]), np.zeros(2), [4.0]
    m = 0.9 if optimizer == "momentum" else 0.0
    for _ in range(steps):
        v = m * v + np.array([2.0, 6.0]) * w
        w = w - 0.05 * v
        f.append(w[0] ** 2 + 3 * w[1] ** 2)
    grad_norm = float(np.hypot(2 * w[0], 6 * w[1]))
    expected = ("converges" if grad_norm < 1e-3 else "oscillates" if np.any(np.diff(f) > 0) else "descending")
    assert expected == verdict  # plain, 40 steps: |grad f| = 2*0.9^40 = 0.03; 120 steps: 6e-6
    said = out["verdicts"][0]
    assert said["verdict"] == expected, said
    assert WHY[expected] in said["why"] and not any(WHY[v] in said["why"] for v in WHY if v != expected)
    assert _said_gradient_norm(said["why"]) == pytest.approx(grad_norm, rel=5e-3)  # 3 digits


@pytest.mark.parametrize(("surface", "learning_rate", "steps"),
                         [("rosenbrock", 0.001, 1500), ("beale", 0.01, 800), ("saddle", 0.1, 60),
                          ("himmelblau", 0.01, 150)])
def test_the_verdict_word_and_its_explanation_agree_at_the_pages_defaults(
    client: TestClient, surface: str, learning_rate: float, steps: int
) -> None:
    """The page's default rate and steps per surface (lab.js DEFAULT_LR, DEFAULT_STEPS). Rosenbrock at 1500
    steps said 'converges' over 'still descending'."""
    out = _surface(client, surface=surface, learning_rate=learning_rate, steps=steps)
    said = out["verdicts"][0]
    assert WHY[said["verdict"]] in said["why"], said
    assert not any(WHY[v] in said["why"] for v in WHY if v != said["verdict"]), said
    if surface == "rosenbrock":  # f = (1 - x)^2 + 100 (y - x^2)^2 falls all the way, but is far from flat
        x, y = out["paths"][0]["points"][-1]
        grad_norm = np.hypot(-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2))
        assert grad_norm > 0.1 and np.all(np.diff(out["paths"][0]["values"]) <= 0)
        assert said["verdict"] == "descending"
        assert _said_gradient_norm(said["why"]) == pytest.approx(grad_norm, rel=1e-2)


def test_a_path_falling_ever_faster_runs_off_to_minus_infinity() -> None:
    """f = -y^2/2 with lr = 0.1: y_k = 1.1^k y_0, f_k = -1.21^k y_0^2/2 (no minimum): 'unbounded', not
    'oscillates'. A path falling slower and slower to a deep minimum is not; nor one that went up at the end."""
    f = -0.5 * 1.21 ** np.arange(200)
    said = path_verdict("momentum", f, 1e5, None, 199)
    assert said["verdict"] == "unbounded" and "runs off to -infinity" in said["why"], said
    assert path_verdict("plain", f[:40], 40.0, None, 39)["verdict"] == "descending"  # -2e3 > 1e3*(1 + 0.5) below
    assert path_verdict("plain", f[:5], 1.0, 5, 10)["verdict"] == "unbounded"  # left the box while falling
    slowing = -1e6 * (1 - 0.9 ** np.arange(200))
    assert path_verdict("plain", slowing, 1.0, None, 199)["verdict"] == "descending"
    bounced = np.concatenate([f, [f[-2]]])
    assert path_verdict("plain", bounced, 1e5, None, 200)["verdict"] == "oscillates"


@pytest.mark.parametrize(("text", "verdict"), [("x", "unbounded"), ("x - 2*y", "unbounded"), ("x*y", "unbounded"),
                                              ("abs(x) + abs(y)", "descending"), ("exp(x + y)", "descending")])
def test_a_constant_slope_with_no_minimum_is_unbounded_not_descending(
    client: TestClient, text: str, verdict: str
) -> None:
    """f = x falls by lr*1 per step for ever: it was 'descending ... not yet converged' (its fall never speeds up,
    so the ever-faster test missed it), where x*y was 'unbounded'. f read far ahead of the path tells them apart;
    |x| + |y| (a minimum ahead) and exp(x + y) (bounded below by 0) are still descending after 30 steps."""
    out = _surface(client, surface="formula", formula=text, learning_rate=0.05, steps=30, grid=0)
    said = out["verdicts"][0]
    assert said["verdict"] == verdict, said
    assert WHY[verdict] in said["why"]


def test_path_verdict_reads_f_ahead_of_the_path() -> None:
    """f = x from x_0 = -2 with lr 0.05: f_k = -2 - 0.05k; ahead of x_30 = -3.5 along -x, f = -3.5 - d."""
    f = -2 - 0.05 * np.arange(31)
    ahead = f[-1] - 10.0 ** np.arange(1, 7)
    assert path_verdict("plain", f, 1.0, None, 30)["verdict"] == "descending"  # nothing read ahead
    assert path_verdict("plain", f, 1.0, None, 30, ahead)["verdict"] == "unbounded"
    assert path_verdict("plain", f, 1.0, None, 30, f[-1] - np.log1p(10.0 ** np.arange(1, 7)))["verdict"] == \
        "descending"  # falls ahead, but not by RUNS_OFF*(1 + |f_0|) = 3000
    assert path_verdict("plain", f, 1.0, None, 30, np.abs(ahead))["verdict"] == "descending"  # a minimum ahead


@pytest.mark.parametrize(("text", "start", "step", "pole"), [
    ("1/x", [-1.0, 0.0], 5, (0.0, 0.0)),  # x: -1, -0.9, -0.777, -0.611, -0.343, then 0.509: past the pole at 0
    ("log(abs(x)) + y^2", [0.5, 0.5], 2, (0.0, None)),  # x: 0.5, 0.3, -0.0333: past 0, where log|x| -> -inf
    ("-1/(x^2 + y^2)", [1.0, 0.3], 3, (0.0, 0.0)),  # a well of -inf at the origin: it said "converges"
    ("tan(x)", [1.0, 0.0], 16, (-math.pi / 2, 0.0)),  # down tan x to -pi/2, where it falls to -inf
    ("log(abs(x)) + y^2 + 100", [0.5, 0.5], 2, (0.0, None)),  # a constant added: it was "oscillates" (the test
    ("log(abs(x)) + y^2 - 100", [0.5, 0.5], 2, (0.0, None)),  # measured the fall against 1 + |f|)
])
def test_a_step_over_a_pole_is_unbounded_not_oscillating_or_converged(
    client: TestClient, text: str, start: list[float], step: int, pole: tuple[float, float | None]
) -> None:
    """1/x from x = -1 falls towards the pole at 0, a step lands past it on the positive side, and f rose from
    -2.92 to 1.96: the verdict was "oscillates ... the rate overshoots where the surface is steep"."""
    out = _surface(client, surface="formula", formula=text, start=start, learning_rate=0.1, steps=100, grid=0)
    said = out["verdicts"][0]
    assert said["verdict"] == "unbounded" and f"step {step} jumped over a pole" in said["why"], said
    assert not any(WHY[v] in said["why"] for v in WHY if v != "unbounded"), said
    found = re.search(r"near \(([-.e\d]+), ([-.e\d]+)\)", said["why"])
    assert found is not None, said
    assert float(found.group(1)) == pytest.approx(pole[0], abs=1e-3)
    if pole[1] is not None:
        assert float(found.group(2)) == pytest.approx(pole[1], abs=1e-3)


@pytest.mark.parametrize("steps", [2, 10])
@pytest.mark.parametrize("text", ["x^2 + y^2", "x^2"])
def test_a_typed_quadratic_at_its_stability_limit_oscillates(client: TestClient, text: str, steps: int) -> None:
    """x^2 + y^2 at rate 1 (= 2/L, L = 2) jumps from (-2, 2) to (2, -2) and back, f = 8 at every point: the
    verdict was "descending ... f fell on every step", where the built-in quadratic says it oscillates (and with 2
    steps, 3 points, it still said "descending")."""
    out = _surface(client, surface="formula", formula=text, learning_rate=1.0, steps=steps, grid=0)
    values = np.asarray(out["paths"][0]["values"])
    assert np.all(values == values[0]), values
    said = out["verdicts"][0]
    assert said["verdict"] == "oscillates" and "bounced between two points" in said["why"], said
    assert "fell" not in said["why"], said


def test_a_path_whose_f_float32_cannot_see_change_is_not_said_to_bounce() -> None:
    """f level on every step but moving one way (a slope too slight for float32 at f = 1e6) is descending."""
    level = np.full(11, 1e6)
    said = path_verdict("plain", level, 1e-3, None, 10)
    assert said["verdict"] == "descending" and "f stayed the same on every step" in said["why"], said
    assert path_verdict("plain", level, 1e-3, None, 10, bounces=True)["verdict"] == "oscillates"
    assert paths.bounces(np.array([[-2.0, 2.0], [2.0, -2.0]] * 3)) and not paths.bounces(np.zeros((6, 2)))
    assert not paths.bounces(np.array([[x, 0.0] for x in range(6)]))


@pytest.mark.parametrize(("text", "start", "learning_rate", "verdict"), [
    ("x^2 + y^2", [-1.0, 1.0], 0.95, "converges"),  # each step overshoots the valley floor, f below both ends
    ("-1000*exp(-100*x^2) + x^2", [-3.0, 0.0], 0.9, "oscillates"),  # steps over a deep, narrow (finite) well
    ("1/x^2", [0.5, 0.0], 0.1, "descending"),  # a pole of +inf: the path runs away from it
    ("sin(5*x) + y^2", [1.0, 1.0], 0.3, "oscillates"),
])
def test_a_step_over_a_finite_minimum_is_not_a_pole(
    client: TestClient, text: str, start: list[float], learning_rate: float, verdict: str
) -> None:
    """The zoom along a step settles at a minimum of f however deep; only a pole keeps falling (lab/poles.py)."""
    out = _surface(client, surface="formula", formula=text, start=start, learning_rate=learning_rate, steps=100,
                   grid=0)
    said = out["verdicts"][0]
    assert said["verdict"] == verdict and "pole" not in said["why"], said


@pytest.mark.parametrize(("text", "start"), [
    ("10*abs(x)^0.2 - 10", [-1.0, 0.0]),  # a cusp at its minimum -10: each zoom level falls 0.57x the last
    ("-100*(1 - abs(x)^0.1)", [-0.7, 0.0]),  # a cusp at -100 (0.76x)
    ("log(x^2 + 1e-12)", [0.5, 0.5]),  # a well 27.6 deep 1e-6 wide: the fall stops there
])
def test_a_cusp_or_a_narrow_well_bounded_below_is_not_a_pole(client: TestClient, text: str, start: list[float]) -> None:
    """These were "unbounded ... falls to -infinity": the test asked each zoom level to fall at least half as
    much as the one before, which a cusp |x|^p with p <= 0.25 does. Every optimizer's path is read."""
    out = _surface(client, surface="formula", formula=text, start=start, learning_rate=0.1, steps=300, grid=0,
                   optimizers=["plain", "momentum", "nesterov"])
    for said in out["verdicts"]:
        assert "pole" not in said["why"], said


def test_a_formula_undefined_at_the_start_says_so(client: TestClient) -> None:
    """sqrt(-1) + x is NaN everywhere: it said 'diverges, the rate is too large' beside eigenvalues 0, 0."""
    out = _surface(client, surface="formula", formula="sqrt(-1)+x", optimizers=["plain", "momentum"])
    assert [v["verdict"] for v in out["verdicts"]] == ["undefined", "undefined"]
    assert "not defined" in out["verdicts"][0]["why"] and out["f_at_start"] is None
    assert path_verdict("plain", np.array([np.nan]), 0.0, 1, 100)["verdict"] == "undefined"


@pytest.mark.parametrize(("text", "start", "learning_rate", "verdict"), [
    ("exp(100*x)", None, 0.05, "stalled"),  # f(-2, 2) = exp(-200) underflows to 0: no slope, no minimum
    ("exp(100*x)", [0.0, 0.0], 0.05, "stalled"),  # one step to x = -5, where it underflows
    ("x^2 + y^2", None, 0.5, "converges"),  # at (0, 0) exactly after one step: no slope, but curvature 2
    ("x^4 + y^4", [0.0, 0.0], 0.05, "converges"),  # no slope, no curvature, but f rises every way
    ("0*x + 1", None, 0.05, "converges"),  # flat everywhere
])
def test_no_slope_in_float32_on_a_surface_that_is_not_flat_is_stalled_not_converged(
    client: TestClient, text: str, start: list[float] | None, learning_rate: float, verdict: str
) -> None:
    """exp(100*x) from (-2, 2): "converges ... settled at f = 0", its gradient underflowed to 0 in float32."""
    out = _surface(client, surface="formula", formula=text, learning_rate=learning_rate, steps=100,
                   **({"start": start} if start else {}))
    said = out["verdicts"][0]
    assert said["verdict"] == verdict, said
    assert WHY[verdict] in said["why"] and not any(WHY[v] in said["why"] for v in WHY if v != verdict), said
    if verdict == "stalled":
        assert out["paths"][0]["values"][-1] == 0 and "f = 0 here" in said["why"], said


def test_path_verdict_is_stalled_only_with_no_slope_and_a_point_where_f_differs() -> None:
    f = np.zeros(11)
    beside = (np.array([-0.25, 2.0]), 2.3e-10)
    said = path_verdict("plain", f, 0.0, None, 10, None, beside)
    assert said["verdict"] == "stalled" and "2.3e-10 at (-0.25, 2)" in said["why"], said
    assert path_verdict("plain", f, 0.0, None, 10)["verdict"] == "converges"  # f flat around: nothing beside
    assert path_verdict("plain", f, 1e-4, None, 10, None, beside)["verdict"] == "converges"  # a slope it reads
    assert "not a finite number at (8, 2)" in path_verdict("plain", f, 0.0, None, 10, None,
                                                            (np.array([8.0, 2.0]), math.nan))["why"]


def test_the_saddle_with_momentum_runs_off_to_minus_infinity(client: TestClient) -> None:
    out = _surface(client, surface="saddle", learning_rate=0.1, steps=60, optimizers=["momentum", "nesterov"])
    assert [v["verdict"] for v in out["verdicts"]] == ["unbounded", "unbounded"], out["verdicts"]


@pytest.mark.parametrize(("a", "b", "shown"), [(1.9999, 2.0, ("1.9999", "2")), (0.5, 2.0, ("0.5", "2")),
                                               (2.0, 2.0, ("2", "2")), (1.23449, 1.2345, ("1.23449", "1.2345"))])
def test_a_stated_comparison_shows_enough_digits_to_read_true(a: float, b: float, shown: tuple[str, str]) -> None:
    assert verdicts.pair_text(a, b) == shown


def test_the_quadratic_verdict_near_its_limit_reads_true(client: TestClient) -> None:
    """It said 'learning rate 2 < 2/L = 2' and 'shrinks 1x per step' at rate 1.9999 on a round bowl."""
    why = _surface(client, condition=1.0, learning_rate=1.9999, grid=0)["verdicts"][0]["why"]
    assert "learning rate 1.9999 < 2/L = 2," in why and "shrinks 0.9999x per step" in why, why
    assert verdicts.factor_text(0.95) == "0.95" and verdicts.factor_text(0.9999999) == "0.9999999"


def test_tiny_values_keep_their_six_digits_not_zero(client: TestClient) -> None:
    """f = 1e-30 (x^2 + y^2): its Hessian 2e-30 I (a float32 normal number) read "0, 0", f at (1, 1) read 0."""
    out = client.post("/api/surface", json={"surface": "formula", "formula": "1e-30*(x^2 + y^2)",
                                            "start": [1.0, 1.0], "optimizers": ["plain"], "steps": 5}).json()
    assert out["curvature_at_start"] == pytest.approx([2e-30, 2e-30], rel=1e-5)
    assert out["f_at_start"] == pytest.approx(2e-30, rel=1e-5)
    assert views.rounded(np.array([1.23456789e-30, -4.4e-22, 1e-45, 3.0, 0.0])) == [1.23457e-30, -4.4e-22, 1e-45,
                                                                                      3.0, 0.0]


def test_a_surface_answer_stays_small(client: TestClient) -> None:
    response = client.post("/api/surface", json={"optimizers": ["plain", "momentum", "nesterov"],
                                                 "steps": 2000, "grid": 200})
    assert response.status_code == 200
    assert len(response.content) < 2_000_000


# --- surfaces: bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "formula",
    ["__import__('os')", "().__class__", "x.__class__", "eval('1')", "open('/etc/passwd')", "x; y",
     "lambda: 0", "x[0]", "2x", "(" * 40 + "x" + ")" * 40, "-" * 60 + "x", "x^" * 40 + "2", "1e400", "X"],
)
def test_hostile_or_broken_formulas_are_refused_by_name(client: TestClient, formula: str) -> None:
    _refused(client, "/api/surface", {"surface": "formula", "formula": formula}, 400, "formula")


def test_a_long_formula_is_refused_before_parsing(client: TestClient) -> None:
    deep = "(" * 1000 + "x" + ")" * 1000
    _refused(client, "/api/surface", {"surface": "formula", "formula": deep}, 422, "formula", "200")
    _refused(client, "/api/surface", {"surface": "formula"}, 400, "formula must be given")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"learning_rate": "abc"}, "learning_rate"),
        ({"learning_rate": -1}, "learning_rate"),
        ({"learning_rate": 1e308}, "learning_rate"),
        ({"steps": 2001}, "steps"),
        ({"steps": 10**30}, "steps"),
        ({"steps": 1.5}, "steps"),
        ({"grid": 201}, "grid"),
        ({"condition": 0.5}, "condition"),
        ({"momentum": 1.0}, "momentum"),
        ({"optimizers": ["adam"]}, "optimizers.0"),
        ({"optimizers": []}, "optimizers"),
        ({"optimizers": ["plain", "momentum", "plain"]}, "optimizers"),  # drew the plain path twice
        ({"surface": "sphere"}, "surface"),
        ({"start": [1e9, 0]}, "start"),
        ({"start": "here"}, "start"),
        ({"view": [1, -1, 0, 1]}, "view"),
        ({"colour": "red"}, "colour"),
        ({"learning_rate": True}, "learning_rate"),  # pydantic's lax mode took true as 1.0
        ({"learning_rate": "0.5"}, "learning_rate"),
        ({"grid": True}, "grid"),
        ({"start": [True, 0]}, "start.0"),
    ],
)
def test_bad_values_answer_422_naming_the_field(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/api/surface", json=body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert response.json()["detail"].startswith(field)


def test_non_numbers_and_broken_json(client: TestClient) -> None:
    for text in ('{"learning_rate": NaN}', '{"learning_rate": Infinity}', '{"learning_rate": ', "[]"):
        response = client.post("/api/surface", content=text, headers={"content-type": "application/json"})
        assert response.status_code == 422, text


def test_broken_json_is_named_as_the_body_not_by_its_character() -> None:
    """It answered "6: JSON decode error", a field called 6 (the character where parsing stopped)."""
    response = TestClient(create_app(None)).post(
        "/api/surface", content='{"grid": ', headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "body", "message": "JSON decode error at character 9: Expecting value"}]
    assert response.json()["detail"] == "body: JSON decode error at character 9: Expecting value"


def test_a_megabyte_body_is_refused_unread(client: TestClient) -> None:
    big = json.dumps({"surface": "formula", "formula": "x" * (1 << 20)})
    _refused_raw = client.post("/api/surface", content=big, headers={"content-type": "application/json"})
    assert _refused_raw.status_code == 413  # Content Too Large
    assert _refused_raw.json()["detail"] == f"body must be at most 65536 bytes; got {len(big)} bytes."


def test_a_content_length_that_is_not_a_number_answers_400_unread() -> None:
    sent: list[dict[str, Any]] = []

    async def app(*args: Any) -> None:
        raise AssertionError("the app must not see the request")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(BodyLimit(app, limit=10)({"type": "http", "headers": [(b"content-length", b"ten")]}, receive, send))
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"]) == {"detail": "content-length must be a number of bytes; got 'ten'."}


def test_a_streamed_body_is_cut_at_the_limit(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 4096

    response = client.post("/api/surface", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "65536" in response.json()["detail"]


# --- batch, SGD, mini-batch --------------------------------------------------------------


def _regression(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/api/regression", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_three_paths_from_the_same_start_with_their_counts(client: TestClient) -> None:
    out = _regression(client, n=40, batch_size=16, epochs=3, start=[-1.0, 2.0])
    batch, sgd, mini = out["series"]
    assert [s["name"] for s in out["series"]] == ["batch", "sgd", "minibatch"]
    assert [s["batch_size"] for s in out["series"]] == [40, 1, 16]
    assert len(batch["points"]) == 3 + 1 and len(sgd["points"]) == 3 * 40 + 1 and len(mini["points"]) == 3 * 3 + 1
    for s in out["series"]:
        assert s["points"][0] == [-1.0, 2.0]
    assert batch["samples"] == [0, 40, 80, 120]
    assert sgd["samples"] == list(range(121))
    assert mini["samples"] == [0, 16, 32, 40, 56, 72, 80, 96, 112, 120]  # 16 + 16 + 8 per epoch


def test_every_path_ends_where_the_engine_ends(client: TestClient) -> None:
    """gd.fit with the same data, start, seed, rate and batch size ends at the same (w, b)."""
    out = _regression(client, n=30, noise=0.3, seed=7, batch_size=4, learning_rate=0.05, epochs=4)
    points = np.asarray(out["points"], np.float32)
    data = gd.Dataset(x_train=points[:, :1], y_train=points[:, 1], x_test=points[:0, :1], y_test=points[:0, 1],
                      task="regression", n_classes=None)
    for s in out["series"]:
        result = gd.fit(loss_fn, data, gd.sgd(0.05), params=jnp.asarray([-1.0, 2.0], jnp.float32),
                        batch_size=s["batch_size"], epochs=4, seed=7, check_stability=False)
        np.testing.assert_allclose(s["points"][-1], np.asarray(result.params), rtol=1e-4, atol=1e-5)
        assert s["loss"][-1] == pytest.approx(float(result.history["train_loss"][-1]), rel=1e-4)


def test_losses_and_contour_are_the_full_data_loss(client: TestClient) -> None:
    out = _regression(client, n=25, batch_size=5, epochs=2, grid=9)
    xy = np.asarray(out["points"], np.float64)

    def loss(w: float, b: float) -> float:
        return float(np.mean((w * xy[:, 0] + b - xy[:, 1]) ** 2))

    for s in out["series"]:
        for (w, b), value in zip(s["points"], s["loss"]):
            assert value == pytest.approx(loss(w, b), rel=1e-4)
    grid = out["grid"]
    for i in (0, 4, 8):
        for j in (0, 3, 8):
            assert grid["z"][i][j] == pytest.approx(loss(grid["w"][j], grid["b"][i]), rel=1e-5)
    w, b = np.polyfit(xy[:, 0], xy[:, 1], 1)
    np.testing.assert_allclose(out["least_squares"], [w, b], rtol=1e-4)


def test_batch_gd_is_the_closed_form_gradient_step(client: TestClient) -> None:
    """(w, b) <- (w, b) - lr * 2 mean(r * (x, 1)), r = w x + b - y."""
    given = [[-1.0, -2.0], [0.0, 0.5], [1.0, 1.0], [2.0, 3.5]]
    out = _regression(client, points=given, batch_size=2, learning_rate=0.1, epochs=5, start=[0.0, 0.0])
    xy, wb = np.asarray(given), np.zeros(2)
    expected = [wb]
    for _ in range(5):
        r = wb[0] * xy[:, 0] + wb[1] - xy[:, 1]
        wb = wb - 0.1 * 2 * np.array([np.mean(r * xy[:, 0]), np.mean(r)])
        expected.append(wb)
    np.testing.assert_allclose(out["series"][0]["points"], expected, rtol=1e-5, atol=1e-6)
    assert out["points"] == given


def test_long_series_are_thinned_but_keep_their_ends(client: TestClient) -> None:
    out = _regression(client, n=500, batch_size=10, epochs=10, grid=0)
    sgd = out["series"][1]
    assert len(sgd["loss"]) == 1000 and sgd["updates"][0] == 0 and sgd["updates"][-1] == 5000
    assert sgd["samples"][-1] == 5000 and out["grid"] is None


@pytest.mark.parametrize(("learning_rate", "at"), [(0.7, 5), (1.0, 4)])
def test_sgd_that_diverges_is_named_and_cut_at_its_last_point_within_the_rule(
    client: TestClient, learning_rate: float, at: int
) -> None:
    """At the page's defaults (50 points, batch 8) a rate in the slider's range sent SGD to 1e37 and then null:
    the answer now says where it diverged (gdlab's rule: the loss above 100 x the loss before training), and its
    path stops before that, every number finite."""
    out = _regression(client, learning_rate=learning_rate)
    sgd = out["series"][1]
    assert (sgd["diverged_at"], sgd["diverged_epoch"]) == (at, 1)  # 50 updates per epoch
    assert len(sgd["points"]) == len(sgd["loss"]) == at and sgd["updates"][-1] == at - 1
    assert all(v is not None and math.isfinite(v) for v in sgd["loss"])
    assert max(sgd["loss"]) <= 100 * sgd["loss"][0] < sgd["diverged_loss"]
    w = np.asarray(out["grid"]["w"])
    assert np.all(np.isfinite(w)) and w[-1] - w[0] <= 2 * 100 * 1.15 + 1e-9  # the frame on finite points


def test_a_loss_grown_past_100_times_its_start_is_diverged_as_gdlab_says_elsewhere(client: TestClient) -> None:
    """Rate 1 at the page's defaults: 'mini-batch: 35 updates, final loss 1.71e+9 (grew from 14.1: the rate is too
    large)', not diverged (|w|, |b| stayed under 1e6), while gd.stop.diverged() (gd.fit's) stops at 100 x the loss
    before training. Each variant is now cut at its first update past that, and says the offending loss."""
    out = _regression(client, learning_rate=1.0)
    assert out["diverged_factor"] == dict(gd.stop.diverged().settings)["factor"] == 100.0
    points = np.asarray(out["points"], np.float64)
    for s in out["series"]:
        start = float(np.mean((-1.0 * points[:, 0] + 2.0 - points[:, 1]) ** 2))  # start (w, b) = (-1, 2)
        assert s["loss"][0] == pytest.approx(start, rel=1e-5)
        assert s["diverged_at"] is not None, s["name"]
        assert max(s["loss"]) <= 100 * start < s["diverged_loss"], s["name"]
    mini = out["series"][2]
    assert (mini["diverged_at"], mini["diverged_epoch"]) == (8, 2)  # 7 updates per epoch (50 = 6 x 8 + 2)


def test_first_divergence_is_gdlabs_rule() -> None:
    """Not finite, or above DIVERGED_FACTOR x the loss before training (never when that loss is 0)."""
    points = np.zeros((4, 2))
    assert regression.DIVERGED_FACTOR == 100.0
    assert regression.first_divergence(points, np.array([1.0, 2.0, 100.0, 4.0])) is None  # 100 x, not above
    assert regression.first_divergence(points, np.array([1.0, 2.0, 100.5, 4.0])) == 2
    assert regression.first_divergence(points, np.array([-2.0, 150.0, 201.0, 4.0])) == 2  # |the loss before|
    assert regression.first_divergence(points[:2], np.array([1.0, np.inf])) == 1
    assert regression.first_divergence(points[:3], np.array([0.0, 5.0, 1e30])) is None  # from 0: no factor
    assert regression.first_divergence(np.array([[0.0, 0.0], [np.nan, 0.0]]), np.array([1.0, 1.0])) == 1


def test_a_stop_that_waits_answers_once_the_run_has_ended(client: TestClient) -> None:
    """The page stopped a live run and at once started another: refused ("at most 2 training runs at once")
    while the stopped one finished its epoch. A stop with ?wait= answers once the run has ended."""
    body = {"dataset": "linreg", "model": "linear", "batch_size": 1, "epochs": 200}
    jobs = [client.post("/api/train", json=body).json()["job"] for _ in range(2)]
    assert client.post(f"/api/train/{jobs[0]}/stop", params={"wait": 60}).json() == {"job": jobs[0], "stopping": False}
    assert _events(client, jobs[0])[-1]["status"] == "interrupted"
    again = client.post("/api/train", json={**body, "epochs": 1})  # its place is free at once
    assert again.status_code == 200, again.json()
    for job in (jobs[1], again.json()["job"]):
        client.post(f"/api/train/{job}/stop", params={"wait": 60})
    bad = client.post(f"/api/train/{jobs[1]}/stop", params={"wait": -1})
    assert bad.status_code == 400 and bad.json()["detail"] == "wait must be a number of seconds in [0, 120]; got -1.0."


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"n": 1}, 422, ("n",)),
        ({"n": 1001}, 422, ("n",)),
        ({"batch_size": 60, "n": 50}, 400, ("batch_size", "50")),
        ({"epochs": 51}, 422, ("epochs",)),
        ({"n": 1000, "epochs": 50}, 400, ("epochs", "20000")),
        ({"noise": -0.1}, 422, ("noise",)),
        ({"points": [[0, 0]] * 1001}, 422, ("points",)),
        ({"points": [[0, 1e6], [1, 1]]}, 422, ("points",)),
        ({"points": [[0, "a"], [1, 1]]}, 422, ("points",)),
        ({"start": [0, 1000]}, 422, ("start",)),
        ({"learning_rate": 0}, 422, ("learning_rate",)),
        ({"epochs": True}, 422, ("epochs",)),
        ({"points": [[0, 1], [True, 2]]}, 422, ("points.1.0",)),
    ],
)
def test_bad_regression_requests(client: TestClient, body: dict[str, Any], status: int, words: tuple[str, ...]) -> None:
    _refused(client, "/api/regression", body, status, *words)


# --- training ----------------------------------------------------------------------------


def _events(client: TestClient, job: str) -> list[dict[str, Any]]:
    events = []
    with client.stream("GET", f"/api/train/{job}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                event = json.loads(line[6:])
                assert event["type"] == kind
                events.append(event)
    return events


def test_a_training_run_streams_the_engines_epochs_and_is_recorded(client: TestClient) -> None:
    body = {"dataset": "linreg", "model": "linear", "batch_size": 32, "learning_rate": 0.05, "epochs": 3}
    job = client.post("/api/train", json=body).json()["job"]
    events = _events(client, job)
    assert [e["type"] for e in events] == ["epoch", "epoch", "epoch", "end"]
    assert [e["epoch"] for e in events[:3]] == [1, 2, 3]
    assert events[-1]["status"] == "max_epochs"
    direct = gd.fit(gd.models.linear(), gd.datasets.linreg(n=1000), gd.sgd(0.05), batch_size=32, epochs=3, seed=0)
    np.testing.assert_allclose([e["train_loss"] for e in events[:3]], direct.history["train_loss"], rtol=1e-5)
    run_id = events[-1]["run_id"]
    listed = client.get("/api/runs").json()["runs"]
    assert run_id in [r["id"] for r in listed]
    mine = next(r for r in listed if r["id"] == run_id)
    assert (mine["learning_rate"], mine["schedule"]) == (0.05, "constant")
    stored = client.get(f"/api/runs/{run_id}").json()
    assert stored["status"] == "max_epochs"
    np.testing.assert_allclose(stored["history"]["train_loss"], direct.history["train_loss"], rtol=1e-5)
    assert stored["history"]["epoch"] == [1, 2, 3]  # the overlay's x: as streamed (it was drawn at 0, 1, 2)
    with gd.store.open(client.app.state.db) as store:  # the form's hidden sizes, unused by a linear model: not kept
        assert "hidden" not in store.run(run_id).config["lab"]


def test_a_run_diverging_in_epoch_1_streams_its_start_and_why_its_loss_is_null(client: TestClient) -> None:
    """linreg, linear, batch 32, rate 5: the one epoch's train loss came as null (the full-data float32 mean
    overflowed, though the step's loss 7.9e36 was finite) and nothing else, so the page drew empty axes and said
    'loss not finite'. The epoch now names the overflow (not_finite: inf), and the end event and the recorded run
    give the loss before training (gd.fit's initial_loss), epoch 0 on the chart."""
    body = {"dataset": "linreg", "model": "linear", "batch_size": 32, "learning_rate": 5.0, "epochs": 5}
    events = _events(client, client.post("/api/train", json=body).json()["job"])
    assert [e["type"] for e in events] == ["epoch", "end"]
    epoch, end = events
    assert epoch["train_loss"] is None and epoch["not_finite"]["train_loss"] == "inf"
    assert end["status"] == "diverged" and "(loss 7.896e+36) at epoch 1" in end["reason"]
    direct = gd.fit(gd.models.linear(), gd.datasets.linreg(n=1000), gd.sgd(5.0), batch_size=32, epochs=5, seed=0,
                    check_stability=False)
    assert direct.status == "diverged"
    assert end["initial_loss"] == pytest.approx(direct.initial_loss, rel=1e-6)
    stored = client.get(f"/api/runs/{end['run_id']}").json()
    assert stored["initial_loss"] == pytest.approx(direct.initial_loss, rel=1e-6)
    assert stored["history"]["epoch"] == [1]
    finite = _events(client, client.post("/api/train", json={**body, "learning_rate": 0.05, "epochs": 1}).json()["job"])
    assert "not_finite" not in finite[0] and finite[-1]["initial_loss"] == pytest.approx(direct.initial_loss, rel=1e-6)


def test_the_first_epoch_event_gives_the_loss_before_training(client: TestClient) -> None:
    """The chart's epoch 0 came with the end event only: a live run drew its curve from epoch 1 until it ended.
    The first epoch's event carries gd.fit's initial_loss; later ones do not."""
    body = {"dataset": "linreg", "model": "linear", "batch_size": 32, "learning_rate": 0.05, "epochs": 3}
    events = _events(client, client.post("/api/train", json=body).json()["job"])
    direct = gd.fit(gd.models.linear(), gd.datasets.linreg(n=1000), gd.sgd(0.05), batch_size=32, epochs=3, seed=0,
                    check_stability=False)
    assert [e["type"] for e in events] == ["epoch"] * 3 + ["end"]
    assert events[0]["initial_loss"] == pytest.approx(direct.initial_loss, rel=1e-6)
    assert events[0]["initial_loss"] == events[-1]["initial_loss"]
    assert ["initial_loss" in e for e in events[1:3]] == [False, False]


def test_the_lab_writes_float32_numbers_as_their_shortest_text_and_float64_ones_as_they_are(
    client: TestClient, db: Path
) -> None:
    """The epochs streamed learning_rate 0.10000000149011612 (a float32 as float64) where every CLI --json writes
    0.1, and /api/runs/{id} cut every number to 6 digits, times and a float64 run's losses too."""
    body = {"dataset": "linreg", "model": "linear", "batch_size": 32, "learning_rate": 0.1, "epochs": 2}
    job = client.post("/api/train", json=body).json()["job"]
    with client.stream("GET", f"/api/train/{job}/events") as response:
        text = "".join(response.iter_text())
    assert re.search(r'"learning_rate": ?0\.1[,}]', text) and "0.10000000149011612" not in text
    events = _events(client, job)
    run_id = events[-1]["run_id"]
    with gd.store.open(db) as store:
        history = store.history(run_id)
    stored = client.get(f"/api/runs/{run_id}").json()["history"]
    for shown in ([e for e in events if e["type"] == "epoch"], None):
        for name, values in history.items():
            got = [e[name] for e in shown] if shown else stored[name]
            if name in ("epoch_time", "wall_time"):  # float64 times, as measured
                assert got == values.tolist(), name
            else:  # each float32 as its shortest text
                assert got == [float(str(np.float32(v))) for v in values], name
    assert stored["learning_rate"] == [0.1, 0.1] and events[0]["learning_rate"] == 0.1
    with jax.enable_x64(True), gd.store.open(db) as store:  # a float64 run: its losses are float64 proper
        gd.fit(gd.models.linear(), gd.datasets.linreg(n=64), gd.sgd(0.1), epochs=2, record=store)
        run_id, history = str(store.last_run_id), store.history(str(store.last_run_id))
    stored = client.get(f"/api/runs/{run_id}").json()["history"]
    assert history["train_loss"].dtype == np.float64 and np.float32(history["train_loss"][0]) != history["train_loss"][0]
    assert stored["train_loss"] == history["train_loss"].tolist() and stored["learning_rate"] == [0.1, 0.1]


def test_the_runs_list_shows_a_library_runs_learning_rate(client: TestClient, db: Path) -> None:
    """A run recorded by gd.fit (no lab or CLI options) came with learning_rate null."""
    with gd.store.open(db) as store:
        gd.fit(gd.models.linear(), gd.datasets.linreg(n=64), gd.sgd(gd.schedules.cosine(0.05, 100)), epochs=1,
               record=store)
        run_id = store.last_run_id
    (mine,) = [r for r in client.get("/api/runs").json()["runs"] if r["id"] == run_id]
    assert (mine["learning_rate"], mine["schedule"]) == (0.05, "cosine")


def test_the_runs_api_gives_the_model_as_runs_list_json_does_with_its_text_beside(client: TestClient, db: Path) -> None:
    """/api/runs and /api/runs/{id} gave "model" as text ('mlp 16,8 tanh'), where gdlab runs list --json gives
    the name, hidden and activation: those now, and model_text (what the page shows) beside them."""
    from gdlab.commands.runs import run_list

    data = gd.datasets.linreg(n=64)
    ids = []
    with gd.store.open(db) as store:
        for model in (gd.models.mlp((16, 8), activation="tanh"), gd.models.linear()):
            gd.fit(model, data, gd.sgd(0.05), epochs=1, record=store)
            ids.append(str(store.last_run_id))
    cli = {row["run_id"]: row for row in run_list(str(db), status=None, dataset=None, since=None, as_json=True)}
    listed = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    keys = ("model", "hidden", "activation")
    for run_id, text in zip(ids, ("mlp 16,8 tanh", "linear")):
        shown = client.get(f"/api/runs/{run_id}").json()
        for api in (listed[run_id], shown):
            assert [api[k] for k in keys] == [cli[run_id][k] for k in keys]
            assert api["model_text"] == text
    assert [listed[ids[0]][k] for k in keys] == ["mlp", [16, 8], "tanh"]


def test_the_runs_list_shows_a_full_batch_run_as_full_not_its_sample_count(client: TestClient, db: Path) -> None:
    """A run of batch_size 'full' (gdlab fit --batch-size full) was listed with the n_train it resolved to. Every
    sample is a full batch however it was given (the number, or a library run's): "full", as gdlab runs list
    says (it listed those two by the number, where runs list said full)."""
    data = gd.datasets.linreg(n=64)
    ids = []
    for extra in ({"cli": {"batch_size": "full"}}, {"cli": {"batch_size": str(data.n_train)}}, {}):
        with gd.store.open(db) as store:
            gd.fit(gd.models.linear(), data, gd.sgd(0.05), batch_size="full", epochs=1,
                   record=store.recorder(extra=extra))
            ids.append(store.last_run_id)
    listed = {r["id"]: r["batch_size"] for r in client.get("/api/runs").json()["runs"]}
    assert [listed[i] for i in ids] == ["full", "full", "full"]
    with gd.store.open(db) as store:
        gd.fit(gd.models.linear(), data, gd.sgd(0.05), batch_size=16, epochs=1, record=store)
        mini = store.last_run_id
    assert {r["id"]: r["batch_size"] for r in client.get("/api/runs").json()["runs"]}[mini] == 16


def test_the_stop_button_ends_the_run_as_interrupted(client: TestClient, db: Path) -> None:
    body = {"dataset": "linreg", "model": "linear", "batch_size": 1, "epochs": 200}
    job = client.post("/api/train", json=body).json()["job"]
    assert client.post(f"/api/train/{job}/stop").json() == {"job": job, "stopping": True}
    events = _events(client, job)
    end = events[-1]
    assert end["type"] == "end" and end["status"] == "interrupted"
    epochs = [e for e in events if e["type"] == "epoch"]
    assert 1 <= len(epochs) < 200
    assert client.get(f"/api/runs/{end['run_id']}").json()["status"] == "interrupted"
    assert end["reason"] == f"stopped from the lab after epoch {len(epochs)}"
    with gd.store.open(db) as store:  # it said "interrupted: StopRequested: stopped from the lab after epoch 3 after epoch 3"
        assert store.run(end["run_id"]).reason == f"interrupted: stopped from the lab after epoch {len(epochs)}"
    # the chart's epoch 0 stays: the page drew it from the first epoch, and the end event cleared it
    assert end["initial_loss"] == epochs[0]["initial_loss"] and math.isfinite(end["initial_loss"])


def test_a_run_the_engine_refuses_ends_with_an_error_event(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the request checks cannot see (here a refusal from gd.fit itself) ends the stream with an error."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise ValueError("data: refused by the engine.")

    monkeypatch.setattr(training, "fit", refuse)
    body = {"dataset": "linreg", "model": "linear", "epochs": 2}
    job = client.post("/api/train", json=body).json()["job"]
    assert _events(client, job) == [{"type": "error", "detail": "data: refused by the engine."}]


def test_at_most_two_runs_at_once(client: TestClient) -> None:
    body = {"dataset": "linreg", "model": "linear", "batch_size": 1, "epochs": 200}
    jobs = [client.post("/api/train", json=body).json()["job"] for _ in range(2)]
    busy = client.post("/api/train", json=body)
    assert busy.status_code == 429 and "at most 2" in busy.json()["detail"]
    for job in jobs:
        client.post(f"/api/train/{job}/stop")
        assert _events(client, job)[-1]["status"] == "interrupted"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"dataset": "cifar"}, 422, ("dataset",)),
        ({"model": "resnet"}, 422, ("model",)),
        ({"hidden": [0]}, 422, ("hidden",)),
        ({"hidden": [8, 8, 8, 8]}, 422, ("hidden",)),
        ({"batch_size": "half"}, 422, ("batch_size",)),
        ({"batch_size": 900}, 422, ("batch_size", "800")),  # linreg has 800 training rows
        ({"epochs": 201}, 422, ("epochs",)),
        ({"stop": "grad<<1"}, 400, ("stop",)),
        ({"nesterov": True}, 400, ("nesterov",)),
        ({"warmup_steps": 10_000, "epochs": 1}, 400, ("warmup_steps",)),
        ({"learning_rate": "fast"}, 422, ("learning_rate",)),
        ({"batch_size": True}, 422, ("batch_size",)),  # was a job with batch size 1
        ({"learning_rate": True}, 422, ("learning_rate",)),
        ({"hidden": [True]}, 422, ("hidden",)),
        ({"model": "linear", "hidden": [10]}, 422,  # it trained a linear model, the sizes ignored
         ("hidden: applies only to model 'mlp' (the others have no hidden layers); got [10] with model 'linear'",)),
        ({"dataset": "mnist1d", "model": "logistic", "hidden": [10]}, 422, ("got [10] with model 'logistic'",)),
        ({"nesterov": 1, "momentum": 0.5}, 422, ("nesterov",)),
        # these were accepted (200) and then failed in the event stream
        ({"dataset": "linreg", "model": "logistic"}, 400,
         ("model logistic is for classification; the data set 'linreg' is regression",)),
        ({"dataset": "linreg", "model": "linear", "stop": "target:test_accuracy:0.9"}, 400,
         (("stop rule target reads test_accuracy (recorded for classification only; this is a regression); "
           "this run records"),)),
        ({"dataset": "linreg", "model": "mlp", "hidden": [4], "stop": "epochs:3 | early:test_accuracy"}, 400,
         ("stop rule early_stopping reads test_accuracy",)),
        # one_cycle over too few updates named its own total_steps and pct_start, no field of the page
        ({"batch_size": "full", "schedule": "one_cycle", "epochs": 1}, 400,
         ("schedule 'one_cycle' needs at least 4 updates after the warmup; this run has 1 (1 updates",)),
        ({"batch_size": "full", "schedule": "one_cycle", "epochs": 3}, 400, ("this run has 3 (3 updates",)),
        ({"batch_size": "full", "schedule": "one_cycle", "epochs": 6, "warmup_steps": 3}, 400,
         ("this run has 3 (6 updates, warmup_steps 3)",)),
    ],
)
def test_bad_training_requests(client: TestClient, body: dict[str, Any], status: int, words: tuple[str, ...]) -> None:
    _refused(client, "/api/train", body, status, *words)


def test_one_cycle_takes_its_shortest_run() -> None:
    spec = training.TrainSpec(batch_size="full", schedule="one_cycle", epochs=training.ONE_CYCLE_MIN_UPDATES)
    schedule = training.build_schedule(spec, 800)
    assert float(schedule(0)) == pytest.approx(spec.learning_rate / 25)  # the rise starts at lr/div_factor


@pytest.mark.parametrize("size", [2.5, "2.5", "half", True, 0, 4001, None])
@pytest.mark.parametrize("dataset", ["linreg", "mnist1d"])
def test_a_bad_batch_size_is_one_plain_message(client: TestClient, size: object, dataset: str) -> None:
    """2.5 answered pydantic's union jargon: "batch_size.literal['full']: Input should be 'full'; batch_size.int: ...".
    The range is the data set's (linreg's said [1, 4000] too, then refused 3000 as over its 800 rows)."""
    response = client.post("/api/train", json={"dataset": dataset, "batch_size": size})
    assert response.status_code == 422
    rows = training.load_dataset(dataset).n_train
    assert schemas.TRAIN_ROWS[dataset] == rows
    assert response.json()["detail"] == (
        f"batch_size: must be 'full' or a whole number in [1, {rows}] ({dataset}'s training rows); got {json.dumps(size)}")


def test_the_page_bounds_each_data_sets_batch_size_by_the_servers_rows() -> None:
    script = (Path(schemas.__file__).parent / "static" / "lab.js").read_text()
    found = re.search(r"const T_ROWS = \{ linreg: (\d+), mnist1d: (\d+) \};", script)
    assert found is not None and dict(zip(["linreg", "mnist1d"], map(int, found.groups()))) == schemas.TRAIN_ROWS


def test_the_pages_data_set_menu_says_each_sets_train_and_test_rows() -> None:
    """The menu said "linreg (regression, 1000)" beside a batch-size limit of 800."""
    page = (Path(schemas.__file__).parent / "static" / "index.html").read_text()
    for name in schemas.TRAIN_ROWS:
        data = training.load_dataset(name)
        option = re.search(rf'<option value="{name}">([^<]*)</option>', page)
        assert option is not None and f"{data.n_train} train + {data.n_test} test" in option.group(1), name


def test_a_batch_size_over_linregs_rows_is_refused_with_its_range(client: TestClient) -> None:
    response = client.post("/api/train", json={"dataset": "linreg", "batch_size": 801})
    assert response.status_code == 422
    assert response.json()["detail"] == "batch_size: must be 'full' or a whole number in [1, 800] (linreg's training rows); got 801"
    with_bad_data = client.post("/api/train", json={"dataset": "cifar", "batch_size": 0})
    assert "batch_size: must be 'full' or a whole number >= 1; got 0" in with_bad_data.json()["detail"]


def test_unknown_jobs_and_runs(client: TestClient) -> None:
    assert client.get("/api/train/nope/events").status_code == 404
    assert client.post("/api/train/nope/stop").status_code == 404
    assert client.get("/api/runs/ffffffff").status_code == 400
    assert client.get("/api/runs", params={"limit": 0}).status_code == 400


def test_a_lab_without_a_database_lists_no_runs() -> None:
    with TestClient(create_app(None)) as bare:
        assert bare.get("/api/runs").json() == {"db": None, "runs": []}
        assert bare.get("/api/runs/abc").status_code == 400


# --- page, assets, schema, server --------------------------------------------------------


def test_the_page_and_its_assets_are_local(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "gdlab lab" in page.text
    for asset in ("/static/lab.js", "/static/lab.css"):
        text = client.get(asset).text
        assert "http://" not in text and "https://" not in text, asset
    assert "http://" not in page.text and "https://" not in page.text
    plotly = client.get("/vendor/plotly.min.js")
    assert plotly.status_code == 200 and "javascript" in plotly.headers["content-type"]
    assert len(plotly.content) > 1_000_000 and b"plotly" in plotly.content[:2000].lower()


@pytest.mark.parametrize("path", ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
                                  "/static/%2e%2e/%2e%2e/__init__.py", "/static//etc/passwd"])
def test_static_files_cannot_escape_their_folder(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "import" not in response.text and "root:" not in response.text


class _Inputs(HTMLParser):
    """The page's <input> elements by id: their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("id"):
            self.inputs[str(found["id"])] = found


def _log(v: float) -> float:
    return 10**v  # a slider over the decades of a rate


_PAGE_FIELDS = [  # the page's input, the request and field it fills, the page value as the request's
    ("r-n", "RegressionRequest", "n", float), ("r-noise", "RegressionRequest", "noise", float),
    ("r-batch", "RegressionRequest", "batch_size", float), ("r-lr", "RegressionRequest", "learning_rate", _log),
    ("r-epochs", "RegressionRequest", "epochs", float), ("r-seed", "RegressionRequest", "seed", float),
    ("s-condition", "SurfaceRequest", "condition", _log), ("s-angle", "SurfaceRequest", "angle", float),
    ("s-lr", "SurfaceRequest", "learning_rate", _log), ("s-momentum", "SurfaceRequest", "momentum", float),
    ("s-steps", "SurfaceRequest", "steps", float), ("t-lr", "TrainRequest", "learning_rate", float),
    ("t-momentum", "TrainRequest", "momentum", float), ("t-warmup", "TrainRequest", "warmup_steps", float),
    ("t-epochs", "TrainRequest", "epochs", float),
]


def test_the_pages_fields_stay_within_the_servers_ranges_and_points_start_at_its_least(client: TestClient) -> None:
    """The Points slider started at 5 while the server takes 2 points (the fewest that make a line): the page's
    and the server's ranges are one now. Every other field of the page stays within what the server accepts."""
    page = _Inputs()
    page.feed(client.get("/").text)
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(page.inputs) >= {field for field, *_ in _PAGE_FIELDS}
    for field, request, name, value in _PAGE_FIELDS:
        attrs, bounds = page.inputs[field], schemas[request]["properties"][name]
        if attrs.get("min") is not None:
            low = value(float(str(attrs["min"])))
            assert low >= bounds.get("minimum", -math.inf) and low > bounds.get("exclusiveMinimum", -math.inf), field
        if attrs.get("max") is not None:
            high = value(float(str(attrs["max"])))
            assert high <= bounds.get("maximum", math.inf) and high < bounds.get("exclusiveMaximum", math.inf), field
    regression = schemas["RegressionRequest"]["properties"]
    given_points = next(kind for kind in regression["points"]["anyOf"] if kind.get("type") == "array")
    assert float(str(page.inputs["r-n"]["min"])) == regression["n"]["minimum"] == given_points["minItems"] == 2


def test_the_openapi_schema_lists_every_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/surface", "/api/regression", "/api/train", "/api/train/{job_id}/events",
        "/api/train/{job_id}/stop", "/api/runs", "/api/runs/{run_id}",
    }
    surface = schema["components"]["schemas"]["SurfaceRequest"]["properties"]
    assert surface["steps"]["maximum"] == 2000 and surface["grid"]["maximum"] == 200


@pytest.mark.usefixtures("restore_jax_cache")
def test_serve_prints_the_url_and_warns_off_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import uvicorn

    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    with _free_port() as port:
        serve(host="127.0.0.1", port=port, db=None)
        out, err = capsys.readouterr()
        assert out.strip() == f"gdlab lab: http://127.0.0.1:{port}/  (Ctrl-C to stop)" and err == ""
        serve(host="0.0.0.0", port=port, db=None)
        out, err = capsys.readouterr()
    # bound to every address: the URL to open is this machine's name (http://0.0.0.0:PORT/ was printed)
    assert f"gdlab lab: http://localhost:{port}/" in out and err.startswith("warning: bound to 0.0.0.0")
    assert [c["host"] for c in calls] == ["127.0.0.1", "0.0.0.0"] and calls[1]["port"] == port
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache" / "jax")  # a later lab compiles less
    with pytest.raises(ValueError, match="port"):
        serve(port=70000)
    assert is_loopback("localhost") and is_loopback("::1") and not is_loopback("192.168.1.2")


@pytest.mark.usefixtures("restore_jax_cache")
def test_gdlab_lab_passes_its_options_to_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import uvicorn

    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path / "cache"))

    from gdlab.cli import main

    served: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append((app, kw)))
    db = tmp_path / "runs.db"
    with _free_port() as port:
        assert main(["lab", "--port", str(port), "--host", "0.0.0.0", "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert f"http://localhost:{port}/" in out and "warning: bound to 0.0.0.0" in err
    assert out.endswith("gdlab lab: stopped\n")
    app, options = served[0]
    assert options["host"] == "0.0.0.0" and options["port"] == port and app.state.db == str(db)
    assert main(["lab", "--port", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_ctrl_c_stops_gdlab_lab_as_it_says_with_exit_code_0(tmp_path: Path) -> None:
    """Ctrl-C is how the lab is stopped (its URL line says so): it printed "error: interrupted" and exited 130."""
    env = {**os.environ, "GDLAB_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": os.pathsep.join(sys.path)}
    with _free_port() as port:
        pass
    lab = subprocess.Popen([sys.executable, "-m", "gdlab", "lab", "--port", str(port), "--db", str(tmp_path / "r.db")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert lab.stdout is not None
        assert lab.stdout.readline().startswith(f"gdlab lab: http://127.0.0.1:{port}/")  # serving (or about to)
        deadline = time.monotonic() + 60
        while True:  # until it answers: the signal then reaches uvicorn's own handler
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:  # refused while uvicorn starts: wait on the process a little (it must not have ended)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    lab.wait(timeout=0.05)
                    pytest.fail(f"gdlab lab ended before it served: {lab.communicate()}")
                if time.monotonic() > deadline:
                    pytest.fail("gdlab lab did not answer within 60 s")
        lab.send_signal(signal.SIGINT)
        out, err = lab.communicate(timeout=60)
    finally:
        lab.kill()
    assert (lab.returncode, out, err) == (0, "gdlab lab: stopped\n", "")


def test_gdlab_lab_refuses_a_port_in_use_and_an_unknown_host_before_printing_the_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """uvicorn printed its own 'ERROR: [Errno 98] ...' after the URL and exited with code 3."""
    import uvicorn

    from gdlab.cli import main

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("the lab must not start"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["lab", "--port", str(port)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == (f"error: the lab cannot listen on 127.0.0.1 port {port}: Address already in use "
                                 "(choose another --port or --host).\n")
    with _free_port() as port:
        assert main(["lab", "--host", "no-such-host.invalid", "--port", str(port)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: --host must be an address or a name of this machine; got "
                                        "'no-such-host.invalid' (")
    assert len(err.splitlines()) == 1


def test_gdlab_lab_refuses_a_bad_database_before_serving(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The lab served, and every training run ended in an error event, /api/runs answered 400."""
    import uvicorn

    from gdlab.cli import main

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("the lab must not start"))
    (tmp_path / "notes.txt").write_text("not a database\n")
    for db, why in ((tmp_path, "--db must be a database file path; got"),
                    (tmp_path / "notes.txt", "--db must be a gdlab database; ")):
        with _free_port() as port:
            assert main(["lab", "--port", str(port), "--db", str(db)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(f"error: {why}") and len(err.splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "not a database\n"


@contextlib.contextmanager
def _free_port() -> Iterator[int]:
    """A port no other process can take while the test uses it: held bound (not listening) with SO_REUSEADDR,
    which the lab's own check binds as well (a port closed before use may meanwhile go to another process,
    and the lab would refuse it as in use)."""
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])
