"""The lab in a real browser: Debian's chromium driven by Playwright (never downloaded by a test).

The server is uvicorn on a loopback socket opened here (so it accepts as soon as it
runs); the page loads plotly.js from the server, with no network beyond loopback.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Error, Page, Route, expect, sync_playwright

from gdlab.lab import create_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
DOCS = Path(__file__).resolve().parents[1] / "docs"
WAIT_MS = 60_000  # first requests compile JAX programs on a busy 2-core machine
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("lab") / "lab.db"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(create_app(str(db)), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, url: str) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("request", lambda req: errors.append(f"left loopback: {req.url}")
            if not req.url.startswith(url) else None)
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    yield page
    page.close()
    assert errors == []


RED = "rgb(198, 40, 40)"  # lab.css's error colour, #c62828


def _held(page: Page, held: list[Route], count: int = 1) -> Route:
    """The newest held request once the route handler has it: Playwright runs the handler in a task of its own,
    which may come after page.expect_request has returned."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(held) < count:
        assert time.monotonic() < deadline, f"{count} request(s) not held after {WAIT_MS} ms: {len(held)}"
        page.wait_for_timeout(20)  # lets Playwright dispatch the route event
    return held[-1]


def test_the_learning_rate_slider_past_2_over_L_makes_the_page_say_diverges(page: Page, tmp_path: Path) -> None:
    verdict = page.locator("#s-verdict")
    expect(verdict).to_contain_text("converges")  # the default rate 0.5 on L = 1
    expect(page.locator("#s-info")).to_contain_text("2/L = 2")
    expect(page.locator("#s-lr-marks .mark-limit")).to_have_text("2/L")
    page.locator("#s-lr").fill(str(math.log10(2.3)))  # past 2/L = 2
    expect(verdict).to_contain_text("diverges")
    expect(verdict).to_contain_text("2/L = 2")
    assert float(page.locator("#s-lr-out").inner_text()) == pytest.approx(2.3, abs=0.01)  # slider steps
    page.screenshot(path=str(tmp_path / "surfaces-diverging.png"))
    page.locator("#s-lr").fill(str(math.log10(1.5)))  # between 1/L and 2/L
    expect(verdict).to_have_attribute("data-verdict", "oscillates")


def test_the_surfaces_words_at_condition_1_and_100_and_while_a_path_plays(page: Page) -> None:
    """At condition 1 the info said "shrinks 0× per step"; at 100 the slider's marks read "2/(μ+L)2/L"; after Play
    and Pause the info still gave the whole path's last f, with no word of the step shown."""
    expect(page.locator("#s-verdict")).to_contain_text("converges")
    page.locator("#s-condition").fill("0")  # condition 1: a round bowl
    expect(page.locator("#s-info")).to_contain_text("one step lands on the minimum")
    page.locator("#s-condition").fill("2")  # condition 100: 2/(μ+L) = 0.0198, 2/L = 0.02
    expect(page.locator("#s-info")).to_contain_text("the distance to the minimum shrinks 0.9802× per step")
    words = page.evaluate("""() => [...document.querySelectorAll('#s-lr-marks span')].map((el) => {
        const r = document.createRange(); r.selectNodeContents(el); const b = r.getBoundingClientRect();
        return [b.left, b.right]; })""")
    assert words[0][1] < words[1][0], words  # the words apart, not touching
    expect(page.locator("#s-now")).to_have_text("")  # the whole path shown
    page.locator("#s-play").click()
    page.locator("#s-pause").click()
    expect(page.locator("#s-now")).to_contain_text(re.compile(r"^step \d+ of 60: plain GD f = "))  # the 60 steps asked
    page.locator("#s-all").click()
    expect(page.locator("#s-now")).to_have_text("")


def test_a_click_on_the_contour_moves_the_start(page: Page) -> None:
    expect(page.locator("#s-verdict")).to_contain_text("converges")
    expect(page.locator("#s-plot")).to_have_attribute("data-clicks", "on")  # its listener comes after the draw
    before = page.evaluate("() => document.getElementById('s-plot').data.at(-1).x[0]")
    box = page.locator("#s-plot .nsewdrag").first.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.5)  # right of the centre
    page.wait_for_function(f"() => document.getElementById('s-plot').data.at(-1).x[0] !== {before}")
    start = page.evaluate("() => [document.getElementById('s-plot').data.at(-1).x[0], "
                          "document.getElementById('s-plot').data.at(-1).y[0]]")
    assert start[0] == pytest.approx(1.8, abs=0.2) and start[1] == pytest.approx(0.0, abs=0.2)
    first = page.evaluate("() => [document.getElementById('s-plot').data[1].x[0], "
                          "document.getElementById('s-plot').data[1].y[0]]")
    assert first == start  # the path starts there


def test_a_lesson_button_opens_its_preset(page: Page) -> None:
    page.locator(".tab[data-tab=learn]").click()
    expect(page.locator("#learn")).to_contain_text("Glossary")
    page.locator("[data-preset=rate]").click()
    expect(page.locator("#surfaces")).to_be_visible()
    expect(page.locator("#s-verdict")).to_have_attribute("data-verdict", "oscillates")  # 1.9, between 1/L and 2/L


LESSON_DONE = "() => T.lesson === null && !document.getElementById('t-start').disabled && T.epochs.length === 20"
"""The schedule lesson's second run (cosine, after the constant one) has ended."""


def test_the_schedule_lesson_starts_its_runs_like_the_other_lessons(page: Page, tmp_path: Path) -> None:
    """It filled the form and stopped there: the chart stayed empty until Start. Then it ran one cosine run, with
    nothing to compare it to (mini-batch 16: its loss at the floor from epoch 1). It now runs SGD at a constant
    rate, then the same with a cosine schedule over the first's dotted curve: the first bounces at its noise floor,
    the second ends below it."""
    page.locator(".tab[data-tab=train]").click()
    page.locator("#t-variant").select_option("minibatch")
    page.locator(".tab[data-tab=learn]").click()
    page.locator("[data-preset=schedule]").click()
    expect(page.locator("#train")).to_be_visible()
    expect(page.locator("#t-batch")).to_be_disabled()  # SGD: batch 1, shown greyed
    expect(page.locator("#t-batch")).to_have_value("1")
    page.wait_for_function(LESSON_DONE, polling=200, timeout=WAIT_MS * 2)
    expect(page.locator("#t-loss")).to_have_attribute("data-epochs", "20")  # 20 epochs plotted as they came
    expect(page.locator("#t-status")).to_contain_text("max_epochs")
    traces = page.evaluate("() => document.getElementById('t-loss').data.map(t => ({name: t.name, y: t.y}))")
    cosine = traces[0]["y"]  # epoch 0 (before training), 1..20
    assert traces[0]["name"] == "cosine schedule train loss"  # the legend says which curve is which
    constant = next(t["y"] for t in traces if t["name"] == "constant rate train loss")  # it was "run 3f2a… train loss"
    assert len(cosine) == len(constant) == 21 and all(math.isfinite(v) for v in cosine + constant)
    assert cosine[-1] < 0.8 * min(constant[10:])  # below the constant rate's floor, over its last ten epochs
    runs = page.evaluate("() => api('/api/runs')")["runs"][:2]  # the lesson's settings, recorded (newest first)
    assert [(r["dataset"], r["model"], r["batch_size"], r["learning_rate"], r["schedule"]) for r in runs] == [
        ("linreg", "linear", 1, 0.05, "cosine after 50 warmup steps"), ("linreg", "linear", 1, 0.05, "constant")]
    page.screenshot(path=str(tmp_path / "schedule-lesson.png"))


def _hold_the_first_events(page: Page) -> list[Route]:
    """Hold the first training run's event stream (its route, in the list returned); later ones go through."""
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/api/train/*/events", hold_the_first)
    return held


def test_the_schedule_lesson_without_a_database_overlays_its_first_run_as_it_came(page: Page) -> None:
    """A lab without a database gives no run id: the lesson's second run started over an empty chart, nothing to
    compare. The ids are taken out of the stream here (as such a lab sends it)."""
    def without_ids(route: Route) -> None:
        body = route.fetch().text()  # the whole stream: the run is short
        route.fulfill(status=200, headers={"content-type": "text/event-stream"},
                      body=re.sub(r'"run_id": ?"\w+"', '"run_id": null', body))

    page.route("**/api/train/*/events", without_ids)
    page.locator(".tab[data-tab=learn]").click()
    page.locator("[data-preset=schedule]").click()
    page.wait_for_function(LESSON_DONE, polling=200, timeout=WAIT_MS * 2)
    names = page.evaluate("() => document.getElementById('t-loss').data.map(t => t.name)")
    assert "constant rate train loss" in names and "cosine schedule train loss" in names, names


def test_another_lesson_ends_the_schedule_lesson_before_its_second_run(page: Page) -> None:
    """Opened mid-lesson, the batches lesson left the schedule lesson's cosine run to start in the background when
    the first run ended."""
    held = _hold_the_first_events(page)  # the first run's epochs reach the page only once the other lesson is open
    page.locator(".tab[data-tab=learn]").click()
    page.locator("[data-preset=schedule]").click()
    _held(page, held)
    first = page.evaluate("() => T.job")
    assert page.evaluate("() => T.lesson.job") == first
    page.locator(".tab[data-tab=learn]").click()
    page.locator("[data-preset=batches]").click()
    assert page.evaluate("() => T.lesson") is None
    held[0].continue_()
    page.wait_for_function("() => T.epochs.length === 20 && !document.getElementById('t-start').disabled",
                           polling=100, timeout=WAIT_MS * 2)
    assert page.evaluate("() => T.job") == first  # no second run
    runs = page.evaluate("() => api('/api/runs')")["runs"]
    assert runs[0]["schedule"] == "constant"


def test_a_lesson_started_over_a_live_run_ends_that_run_and_plots_only_its_own(page: Page) -> None:
    """The schedule lesson now starts a run: one already going is stopped and its stream closed, not mixed into
    the chart. The first run's event stream is held (route interception) until the lesson has started its own."""
    held = _hold_the_first_events(page)
    page.locator(".tab[data-tab=train]").click()
    page.locator("#t-epochs").fill("200")
    with page.expect_request("**/api/train/*/events"):
        page.locator("#t-start").click()
    expect(page.locator("#t-stop-btn")).to_be_enabled()
    page.locator(".tab[data-tab=learn]").click()
    with page.expect_request("**/api/train/*/events"):
        page.locator("[data-preset=schedule]").click()
    _held(page, held)
    try:
        held[0].continue_()  # the first run's epochs, were its stream still open
    except Error:
        pass  # the page closed that stream
    page.wait_for_function(LESSON_DONE, polling=200, timeout=WAIT_MS * 2)
    assert page.evaluate("() => T.epochs.map(r => r.epoch)") == list(range(1, 21))
    page.wait_for_function("async () => (await api('/api/runs')).runs.some(r => r.status === 'interrupted')",
                           polling=200)  # the first run was stopped


def test_a_lesson_over_a_live_run_waits_for_its_stop_before_starting_its_own(page: Page) -> None:
    """With a second run going elsewhere (the server's limit is 2), the lesson stopped the page's run without
    waiting for it to end, was refused ("at most 2 training runs at once") and left the chart empty."""
    held = _hold_the_first_events(page)  # the page's run stays live to the page, however fast it trains
    page.locator(".tab[data-tab=train]").click()
    page.locator("#t-variant").select_option("sgd")
    page.locator("#t-epochs").fill("200")
    with page.expect_request("**/api/train/*/events"):
        page.locator("#t-start").click()
    expect(page.locator("#t-stop-btn")).to_be_enabled()
    other = page.evaluate("async () => (await api('/api/train', {dataset: 'linreg', model: 'linear', "
                          "batch_size: 1, epochs: 200})).job")
    page.evaluate("() => { window.calls = []; const ask = api; window.api = (path, body) => {"  # the page's requests
                  " const name = path.split('?')[0].split('/').pop(); window.calls.push(name);"
                  " return ask(path, body).finally(() => window.calls.push(name + ' answered')); }; }")
    try:
        page.locator(".tab[data-tab=learn]").click()
        page.locator("[data-preset=schedule]").click()
        page.wait_for_function(LESSON_DONE, polling=200, timeout=WAIT_MS * 2)
        expect(page.locator("#t-note")).to_be_hidden()
        assert page.evaluate("() => T.epochs.map(r => r.epoch)") == list(range(1, 21))
        # the new run asked for once the stop was answered (the old run ended), not beside it
        calls = page.evaluate("() => window.calls")
        assert calls[:3] == ["stop", "stop answered", "train"], calls
    finally:
        page.evaluate(f"() => api('/api/train/{other}/stop?wait=60', {{}})")
        for route in held:
            try:
                route.continue_()
            except Error:
                pass  # the page closed that stream


def test_a_surface_still_descending_is_called_descending(page: Page, tmp_path: Path) -> None:
    """Rosenbrock at its defaults (rate 0.001, 1500 steps): the verdict word said 'converges' and its
    text 'still descending'."""
    page.locator("#s-surface").select_option("rosenbrock")
    verdict = page.locator("#s-verdict")
    expect(verdict).to_have_attribute("data-verdict", "descending")
    expect(verdict.locator("span.descending")).to_have_text("descending")
    expect(verdict).to_contain_text("still descending, not yet converged within the 1500 steps")
    color = verdict.locator("span.descending").evaluate("(el) => getComputedStyle(el).color")
    assert color == "rgb(53, 87, 197)"  # its own colour, as bold as the other words
    page.screenshot(path=str(tmp_path / "rosenbrock-descending.png"))


def test_a_quadratic_run_too_slow_for_its_steps_is_not_called_converges(page: Page, tmp_path: Path) -> None:
    """Quadratic, condition 10, rate 0.001, 60 steps: 'converges' in green while f went from 3.325 to 2.969."""
    verdict = page.locator("#s-verdict")
    expect(verdict).to_contain_text("converges")  # the default rate 0.5
    page.evaluate("() => { setSurfaceLr(0.001); document.getElementById('s-lr').dispatchEvent(new Event('input')); }")
    expect(verdict).to_have_attribute("data-verdict", "descending")
    expect(verdict).to_contain_text("converges, but slowly: after 60 steps f is still 2.969 of 3.325 at the start")
    expect(verdict).to_contain_text("not yet converged within the 60 steps")
    color = verdict.locator("span.descending").evaluate("(el) => getComputedStyle(el).color")
    assert color == "rgb(53, 87, 197)"  # descending's blue, not converges' green
    page.screenshot(path=str(tmp_path / "quadratic-slow.png"))


def test_the_batch_tab_says_so_while_its_request_is_out(page: Page, tmp_path: Path) -> None:
    """The tab stayed blank for seconds while its first program compiled: now a note says so until the
    answer comes (the request is held here by route interception), and an error answer is shown."""
    held: list[Route] = []
    page.route("**/api/regression", lambda route: held.append(route))  # held until the test lets it go
    status = page.locator("#r-status")
    expect(status).to_be_hidden()
    page.locator(".tab[data-tab=batches]").click()
    _held(page, held)
    expect(status).to_be_visible()
    expect(status).to_have_attribute("data-state", "busy")
    expect(status).to_contain_text("compiling: the first run takes a few seconds")
    assert len(held) == 1 and page.locator("#r-contour").get_attribute("data-paths") is None  # nothing drawn
    page.screenshot(path=str(tmp_path / "batches-compiling.png"))
    held.pop().continue_()
    expect(page.locator("#r-contour")).to_have_attribute("data-paths", "3")
    expect(status).to_be_hidden()
    # later requests: "computing…" while out; an answer of 400 replaces the note by its message
    page.locator("#r-run").click()
    route = _held(page, held)
    expect(status).to_have_attribute("data-state", "busy")
    expect(status).to_have_text("computing…")
    held.pop()
    body = json.loads(route.request.post_data or "{}")
    route.continue_(post_data=json.dumps({**body, "batch_size": 60}))  # more than the 50 points
    expect(status).to_have_attribute("data-state", "error")
    expect(status).to_have_text("Mini-batch size must be at most the number of points 50; got 60.")  # by its label
    expect(status).to_be_visible()
    page.screenshot(path=str(tmp_path / "batches-error.png"))
    page.locator("#r-run").click()  # a field the server's schema refuses (422): named by its label too
    route = _held(page, held)
    held.pop()
    route.continue_(post_data=json.dumps({**json.loads(route.request.post_data or "{}"), "learning_rate": 50.0}))
    expect(status).to_have_text("Learning rate: Input should be less than or equal to 10; got 50.0")
    page.unroute("**/api/regression")
    page.locator("#r-run").click()  # a good answer clears the error
    expect(status).to_be_hidden()


def test_the_surfaces_tab_says_so_while_its_request_is_out(page: Page, tmp_path: Path) -> None:
    """The tab stayed blank for seconds while its first program compiled, as the Batch tab did: the same note
    says so until the answer comes (the page's first request held here by route interception, from a reload),
    'computing…' when a later one is slow, and an error answer in red."""
    held: list[Route] = []
    page.route("**/api/surface", lambda route: held.append(route))  # held until the test lets it go
    page.reload()
    status = page.locator("#s-status")
    _held(page, held)
    expect(status).to_be_visible()
    expect(status).to_have_attribute("data-state", "busy")
    expect(status).to_have_text("compiling: the first run takes a few seconds…")
    assert page.locator("#s-plot").get_attribute("data-paths") is None  # nothing drawn yet
    page.screenshot(path=str(tmp_path / "surfaces-compiling.png"))
    held.pop().continue_()
    expect(page.locator("#s-plot")).to_have_attribute("data-paths", "1")
    expect(page.locator("#s-verdict")).to_contain_text("converges")
    expect(status).to_be_hidden()
    page.locator("#s-lr").fill(str(math.log10(0.3)))  # a later request, held: "computing…" while out
    route = _held(page, held)
    expect(status).to_have_attribute("data-state", "busy")
    expect(status).to_have_text("computing…")
    body = json.loads(route.request.post_data or "{}")
    held.pop().continue_(post_data=json.dumps({**body, "surface": "formula", "formula": "x +"}))
    expect(status).to_have_attribute("data-state", "error")
    expect(status).to_have_text("f(x, y): expected a number, x, y, a function or '(' at position 3; got the end.")
    assert status.evaluate("(el) => getComputedStyle(el).color") == RED
    expect(page.locator("#s-verdict")).to_have_text("")  # no verdict of the earlier rate beside the error
    page.screenshot(path=str(tmp_path / "surfaces-error.png"))
    page.unroute("**/api/surface")
    page.locator("#s-lr").fill(str(math.log10(0.4)))  # a good answer clears the error
    expect(status).to_be_hidden()
    expect(page.locator("#s-verdict")).to_contain_text("converges")


def test_the_train_tab_before_any_run_says_what_comes_not_two_blank_boxes(page: Page) -> None:
    page.locator(".tab[data-tab=train]").click()
    expect(page.locator("#t-loss .annotation-text")).to_have_text("the train loss appears here, one point per epoch")
    expect(page.locator("#t-loss")).to_have_attribute("data-epochs", "0")
    expect(page.locator("#t-acc")).to_be_hidden()  # linreg, the first data set, has no accuracy
    box = page.locator("#t-loss .main-svg").first.bounding_box()  # drawn at the panel's size, not while hidden
    view = page.locator("#t-loss").bounding_box()
    assert box and view and box["width"] == pytest.approx(view["width"], abs=2), (box, view)


def test_the_train_tab_says_so_until_the_first_epoch(page: Page, tmp_path: Path) -> None:
    """Between Start and the first epoch (seconds: the run compiles) the chart stayed blank and only a small
    'starting…' under the buttons moved: the note now says so until the first epoch comes (the event stream
    held here by route interception); a refused run and an error event show in red in it."""
    held: list[Route] = []
    page.route("**/api/train/*/events", lambda route: held.append(route))
    page.locator(".tab[data-tab=train]").click()
    note = page.locator("#t-note")
    expect(note).to_be_hidden()
    page.locator("#t-epochs").fill("2")
    page.locator("#t-start").click()
    _held(page, held)
    expect(note).to_be_visible()
    expect(note).to_have_attribute("data-state", "busy")
    expect(note).to_have_text("starting: the first epoch may take a few seconds while it compiles…")
    expect(page.locator("#t-loss")).to_have_attribute("data-epochs", "0")
    # the empty chart says what will come there, without Plotly's bare -1..6 axes
    expect(page.locator("#t-loss .annotation-text")).to_have_text("the train loss appears here, one point per epoch")
    expect(page.locator("#t-loss .xtick")).to_have_count(0)
    expect(page.locator("#t-loss .ytick")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "train-compiling.png"))
    held.pop().continue_()
    expect(page.locator("#t-status")).to_contain_text("max_epochs")  # the run ended: none left running
    expect(note).to_be_hidden()
    expect(page.locator("#t-loss .annotation-text")).to_have_count(0)
    expect(page.locator("#t-loss .xtick")).not_to_have_count(0)
    page.unroute("**/api/train/*/events")
    # a run the server refuses: its message in red in the note, the field named by its label ("stop" before)
    page.locator("#t-stop").fill("grad<<1")
    page.locator("#t-start").click()
    expect(note).to_have_attribute("data-state", "error")
    expect(note).to_have_text("Stop rules 'grad<<1' does not parse at column 6 ('<1'): '<1' is not a number.")
    assert note.evaluate("(el) => getComputedStyle(el).color") == RED
    expect(page.locator("#t-start")).to_be_enabled()
    # an error event from the stream (the job and its stream answered here: no run starts on the server)
    page.route("**/api/train", lambda route: route.fulfill(json={"job": "fake"}))
    page.route("**/api/train/fake/events", lambda route: route.fulfill(
        status=200, content_type="text/event-stream",
        body='event: error\ndata: {"type": "error", "detail": "data: refused by the engine."}\n\n'))
    page.locator("#t-stop").fill("")
    page.locator("#t-start").click()
    expect(note).to_have_attribute("data-state", "error")
    expect(note).to_have_text("data: refused by the engine.")
    expect(page.locator("#t-start")).to_be_enabled()
    page.screenshot(path=str(tmp_path / "train-error.png"))


def test_the_three_optimizers_side_by_side_for_the_readme(page: Page, tmp_path: Path) -> None:
    for name in ("momentum", "nesterov"):
        page.locator(f".s-opt[value={name}]").check()
    page.locator("#s-condition").fill("1.3")  # condition 20
    page.locator("#s-angle").fill("30")
    page.locator("#s-lr").fill(str(math.log10(0.6)))
    # the answer to the last of these requests drawn: an earlier one (angle 0) has the same paths and verdicts
    expect(page.locator("#s-status")).to_have_attribute("data-state", "")
    expect(page.locator("#s-plot")).to_have_attribute("data-paths", "3")
    expect(page.locator("#s-verdict")).to_have_attribute("data-verdict", "converges oscillates oscillates")
    lines = page.locator("#s-plot .scatterlayer .trace")
    expect(lines).to_have_count(4)  # three paths and the start
    page.screenshot(path=str(tmp_path / "surfaces.png"))
    if os.environ.get("GDLAB_UPDATE_DOCS") == "1":  # README's picture, redrawn only when asked (not by every run)
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "lab.png"))


def test_batch_sgd_and_mini_batch_draw_three_paths_and_two_charts(page: Page, tmp_path: Path) -> None:
    page.locator(".tab[data-tab=batches]").click()
    contour = page.locator("#r-contour")
    expect(contour).to_have_attribute("data-paths", "3")
    drawn = page.evaluate(
        "() => document.getElementById('r-contour').data"
        ".filter(t => t.type === 'scatter' && t.mode === 'lines').map(t => [t.name, t.x.length])"
    )
    assert [name.split(" (")[0] for name, _ in drawn] == ["batch GD", "SGD", "mini-batch"]
    assert [length for _, length in drawn] == [5 + 1, 5 * 50 + 1, 5 * 7 + 1]  # 50 points, batch 8: 7 per epoch
    # the default rate is the 0.05 its label first shows (a step of 0.01 decade snapped it to 10^-1.3 = 0.05012)
    expect(page.locator("#r-lr-out")).to_have_text("0.05")
    assert page.evaluate("() => regressionRequest().learning_rate") == pytest.approx(0.05, rel=1e-4)
    assert page.locator("#r-contour .scatterlayer .trace path.js-line").count() == 3
    for chart in ("#r-updates", "#r-samples"):
        expect(page.locator(f"{chart} .scatterlayer .trace")).to_have_count(3)
    assert page.locator("#r-scatter circle").count() == 50
    for chart, x_title, y_title in (("#r-contour", "w", "b"), ("#r-updates", "updates", "full-data loss"),
                                    ("#r-samples", "samples seen", "full-data loss")):
        assert page.locator(f"{chart} .g-xtitle").text_content() == x_title  # plotly.js 4 drops string titles
        assert page.locator(f"{chart} .g-ytitle").text_content() == y_title
        legend = page.locator(f"{chart} .legend").bounding_box()
        area = page.locator(f"{chart} .nsewdrag").first.bounding_box()
        assert legend is not None and area is not None
        assert legend["y"] >= area["y"] + area["height"]  # below the axes: not over the paths' start
    page.screenshot(path=str(tmp_path / "batches.png"))
    # drag the first point 80 px up: the server recomputes from the moved data
    before = page.evaluate("() => R.data.points[0]")
    box = page.locator("#r-scatter circle").first.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y - 40)
    page.mouse.move(x, y - 80)
    page.mouse.up()
    page.wait_for_function(f"() => R.data.points[0][1] > {before[1]} + 0.5")
    after = page.evaluate("() => R.data.points[0]")
    assert after[0] == pytest.approx(before[0], abs=0.05)  # moved straight up
    assert page.evaluate("() => R.data.points.length") == 50


def test_a_short_training_run_updates_the_curve_live(page: Page, tmp_path: Path) -> None:
    runs_before = len(page.evaluate("() => api('/api/runs')")["runs"])  # the lesson's run may be there
    page.locator(".tab[data-tab=train]").click()
    page.locator("#t-epochs").fill("15")
    page.evaluate(  # record every redraw of the loss chart: the value each one replaced (a callback may bring
        # several records when events come together on a loaded machine; each record keeps its old value)
        "() => { window.seen = []; new MutationObserver((records) => records.forEach((r) => window.seen.push("
        "+r.oldValue))).observe(document.getElementById('t-loss'), "
        "{attributes: true, attributeOldValue: true, attributeFilter: ['data-epochs']}); }"
    )
    page.locator("#t-start").click()
    loss = page.locator("#t-loss")
    expect(loss).to_have_attribute("data-epochs", "15")
    expect(page.locator("#t-status")).to_contain_text("max_epochs")
    points = page.evaluate("() => document.getElementById('t-loss').data[0].y.length")
    assert points == 16  # the 15 epochs and, once the run has ended, epoch 0: the loss before training
    seen = [n for n in page.evaluate("() => window.seen") + [15] if n]  # the values replaced, then the last
    # redrawn as the epochs arrived (at most once per animation frame: a burst of epochs is one redraw)
    assert seen == sorted(set(seen)) and seen[-1] == 15, seen
    assert page.locator("#t-loss .g-xtitle").text_content() == "epoch"
    ticks = page.locator("#t-loss .xtick text").all_text_contents()
    assert ticks and all(t.isdigit() for t in ticks), ticks  # whole epochs, no 2.5
    expect(page.locator("#t-acc")).to_be_hidden()  # linreg: no accuracy, no empty chart
    expect(page.locator("#t-loss .annotation-text")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "train.png"))
    page.locator("#t-runs-box summary").click()
    expect(page.locator("#t-runs label")).to_have_count(runs_before + 1)
    page.locator("#t-runs input").first.check()  # newest first: this run  # overlay the recorded run: a dotted curve, equal to the live one
    page.wait_for_function("() => document.getElementById('t-loss').data.some(t => t.name.startsWith('run '))")
    overlay = page.evaluate(
        "() => document.getElementById('t-loss').data.filter(t => t.name.startsWith('run '))[0].y")
    live = page.evaluate("() => document.getElementById('t-loss').data[0].y")
    assert overlay == pytest.approx(live, rel=1e-5)
    xs = page.evaluate("() => document.getElementById('t-loss').data.map(t => Array.from(t.x))")
    assert xs[-1] == xs[0] == list(range(16))  # the recorded run on the same epochs (0: before training)
    page.locator("#t-lr").fill("100")  # diverges in epoch 1: no finite loss to draw, the chart says so
    page.locator("#t-epochs").fill("2")
    page.locator("#t-start").click()
    expect(page.locator("#t-status")).to_contain_text("diverged: non-finite loss")
    expect(page.locator("#t-loss .annotation-text")).to_have_text("diverged in epoch 1 (loss overflowed float32)")
    words, axes = page.locator("#t-loss .annotation").bounding_box(), page.locator("#t-loss .nsewdrag").bounding_box()
    assert words and axes  # inside the axes (right of the line at epoch 1), not run off the chart's left edge
    assert axes["x"] <= words["x"] and words["x"] + words["width"] <= axes["x"] + axes["width"], (words, axes)


def test_a_burst_of_epochs_is_drawn_in_a_few_redraws_not_one_per_epoch(page: Page) -> None:
    """A 200-epoch run froze the page for ~13 s: every epoch event redrew the whole chart (Plotly.react), and
    the stream brings fast epochs in bursts. Here all 200 come in one answer (the job and its stream are
    answered by the test): the chart is redrawn at most once per animation frame, so far fewer times than
    epochs came, and ends with all 200."""
    rows = "".join(f'event: epoch\ndata: {{"type": "epoch", "epoch": {i}, "train_loss": {1 / i}}}\n\n'
                   for i in range(1, 201))
    page.route("**/api/train", lambda route: route.fulfill(json={"job": "burst"}))
    page.route("**/api/train/burst/events", lambda route: route.fulfill(
        status=200, content_type="text/event-stream",
        body=rows + 'event: end\ndata: {"type": "end", "status": "max_epochs", "reason": "max_epochs: 200"}\n\n'))
    page.locator(".tab[data-tab=train]").click()
    page.evaluate("() => { window.redraws = 0; const react = Plotly.react; Plotly.react = (el, ...rest) => {"
                  " if ((el.id || el) === 't-loss') window.redraws += 1; return react(el, ...rest); }; }")
    page.locator("#t-start").click()
    expect(page.locator("#t-status")).to_have_text("max_epochs: 200")
    expect(page.locator("#t-loss")).to_have_attribute("data-epochs", "200")
    assert page.evaluate("() => document.getElementById('t-loss').data[0].y.length") == 200
    redraws = page.evaluate("() => window.redraws")
    assert 1 <= redraws <= 10, redraws  # one for the empty chart at Start, then one per frame (was 201)


def test_a_runs_list_answered_late_does_not_untick_a_run(page: Page) -> None:
    """The list is asked for twice when a run ends with the box open (the run's end and the box's toggle):
    the older answer, arriving after a run was ticked and while its curve loaded, redrew the list unticked
    (and Playwright's check() failed). The answers are held and given here in that order."""
    run = {"id": "0123abcd", "model": "mlp", "hidden": [16, 8], "activation": "tanh", "model_text": "mlp 16,8 tanh",
           "dataset": "linreg", "status": "max_epochs", "epochs_run": 2}
    lists: list[Route] = []
    curves: list[Route] = []
    page.route("**/api/runs", lambda route: lists.append(route))
    page.route("**/api/runs/0123abcd", lambda route: curves.append(route))
    page.evaluate("() => { window.listed = 0; const ask = api; window.api = (path, body) => ask(path, body)"
                  ".finally(() => { if (path === '/api/runs') window.listed += 1; }); }")  # counts the lists read
    page.locator(".tab[data-tab=train]").click()
    page.locator("#t-runs-box summary").click()  # asks for the list: held, answered last
    _held(page, held=lists)
    page.evaluate("() => { loadRuns(); }")  # asked again, as a run's end does
    _held(page, held=lists, count=2)
    lists[1].fulfill(json={"db": "lab.db", "runs": [run]})
    box = page.locator("#t-runs input[value='0123abcd']")
    box.check()
    _held(page, held=curves)
    lists[0].fulfill(json={"db": "lab.db", "runs": [run]})  # the older answer, late, read before the curve
    page.wait_for_function("() => window.listed === 2")
    curves[0].fulfill(json={**run, "history": {"epoch": [1, 2], "train_loss": [1.0, 0.5]}})
    # the chart has no data before its first draw (nothing trained on this page): a throwing predicate ends the wait
    page.wait_for_function("() => (document.getElementById('t-loss').data || [])"
                           ".some(t => t.name === 'run 0123abcd train loss')")
    expect(box).to_be_checked()
    assert page.locator("#t-runs label").count() == 1
    expect(page.locator("#t-runs label")).to_contain_text("0123abcd mlp 16,8 tanh on linreg")  # its model_text


def _small_report(tmp_path: Path) -> Path:
    """A compare report of three variants on linreg (two rates, two seeds each), written in tmp_path."""
    from gdlab.report import Comparison, variant_label, write_html

    rows, histories, variants = [], [], []
    for size, steps in ((1, 800), (16, 50), (800, 1)):
        variants.append({"batch_size": size, "label": variant_label(size, 800), "steps_per_epoch": steps,
                         "configs": 4, "seconds": 0.0})
        for rate in (0.001, 0.0316):
            for seed in (0, 1):
                loss = 0.01025 + 4e-5 * seed + rate
                rows.append({"learning_rate": rate, "batch_size": size, "seed": seed, "status": "max_epochs",
                             "final_train_loss": loss, "initial_train_loss": 6.04, "final_test_loss": loss})
                histories.append({"train_loss": [1.0, loss], "test_loss": [1.1, loss], "epoch_time": [0.00061] * 2})
    settings = {"dataset": "linreg", "model": "linear", "n_train": 800, "n_test": 200, "epochs": 2, "seeds": [0, 1],
                "target": 0.05, "metric": "final_test_loss",
                "learning_rates": {str(v["batch_size"]): [0.001, 0.0316] for v in variants}}
    return write_html(Comparison(settings, variants, rows, histories), tmp_path / "report.html")


def test_the_compare_report_fits_an_800_pixel_window(browser: Browser, tmp_path: Path) -> None:
    """The ten-column summary table wrapped past the page's right edge (a sideways scroll) at 800 px."""
    page = browser.new_page(viewport={"width": 800, "height": 900})
    page.goto(_small_report(tmp_path).as_uri())
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 800
    right = page.evaluate("() => document.querySelector('table').getBoundingClientRect().right")
    assert right <= 800
    page.close()


def test_on_a_phone_the_report_scrolls_its_table_and_figures_in_their_boxes(browser: Browser, tmp_path: Path) -> None:
    """At 390 px the page was 608 px wide (the table) and the figures shrank to 0.44 (4-5 px text)."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(_small_report(tmp_path).as_uri())
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # the page never scrolls sideways
    boxes = page.evaluate("""() => [document.querySelector('.wide'), ...document.querySelectorAll('figure')]
        .map(b => [b.clientWidth, b.scrollWidth, getComputedStyle(b).overflowX])""")
    assert len(boxes) == 4 and all(client <= 390 and scroll > client and how == "auto" for client, scroll, how in boxes)
    widths = page.evaluate("() => [...document.querySelectorAll('figure svg')].map(s => s.getBoundingClientRect().width)")
    assert len(widths) == 3 and min(widths) >= 640  # drawn at a readable size, scrolled in its figure
    page.close()


def test_a_phone_stacks_the_controls_above_full_width_charts(browser: Browser, url: str, tmp_path: Path) -> None:
    """At 390x844 the 270 px control column stayed beside the charts (squeezed to 20-60 px) and the header ran
    off the right edge (the Learn tab cut off): now no sideways scroll, and each tab's main chart is drawn at
    least 300 px wide."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    width = "() => document.documentElement.scrollWidth"
    drawn = "(id) => (document.getElementById(id)._fullLayout || {}).width"
    expect(page.locator("#s-plot")).to_have_attribute("data-paths", "1")
    learn = page.locator(".tab[data-tab=learn]").bounding_box()
    assert learn is not None and learn["x"] + learn["width"] <= 390  # the last tab on screen
    for tab, plot in (("surfaces", "s-plot"), ("batches", "r-contour"), ("train", "t-loss"), ("learn", None)):
        page.locator(f".tab[data-tab={tab}]").click()
        if tab == "batches":
            expect(page.locator("#r-contour")).to_have_attribute("data-paths", "3")
        if tab == "train":
            page.locator("#t-epochs").fill("2")
            page.locator("#t-start").click()
            expect(page.locator("#t-loss")).to_have_attribute("data-epochs", "2")
        page.screenshot(path=str(tmp_path / f"phone-{tab}.png"), full_page=True)
        assert page.evaluate(width) <= 390, tab
        if plot:
            assert page.evaluate(drawn, plot) >= 300, tab
            controls = page.locator(f"#{tab} .controls").bounding_box()
            chart = page.locator(f"#{plot}").bounding_box()
            assert controls is not None and chart is not None and chart["y"] >= controls["y"] + controls["height"]
    page.close()
    assert errors == []


def test_sgd_diverging_inside_the_sliders_range_is_named_and_the_frame_stays_finite(page: Page, tmp_path: Path) -> None:
    """Learning rate 1 at the defaults (50 points, batch 8): SGD ran to 1e37 and null, Plotly threw
    'createImageData ... source width is zero', the contour's axes went to ~1e37 and the info line kept the last
    run's numbers. Now each variant is named as diverged by gdlab's rule (the loss above 100 x the loss before
    training: mini-batch's 1.71e+9 from 14.1 was 'grew', not diverged), its path ends at its last point within the
    rule and its 'diverged here' x lies inside the frame (SGD's sat off it, listed in the legend, never seen)."""
    page.locator(".tab[data-tab=batches]").click()
    info = page.locator("#r-info")
    expect(info).to_contain_text("final loss")
    page.locator("#r-lr").fill("0")  # 10^0 = 1, the slider's top
    expect(info).to_have_attribute("data-diverged", "batch sgd minibatch")
    expect(info).to_contain_text("SGD (1 sample): diverged at update 4 (epoch 1): its loss 2627 is above 100 x the "
                                 "loss before training (14.1); its path stops at the update before (loss 361.7)")
    expect(info).to_contain_text("mini-batch: diverged at update 8 (epoch 2): its loss 1451 is above 100 x")
    expect(info).not_to_contain_text("grew")
    traces = page.evaluate("() => document.getElementById('r-contour').data.map(t => [t.name, t.x, t.y])")
    names = [t[0] for t in traces]
    assert "SGD (1 sample) (B=1), diverged" in names and "SGD (1 sample) diverged here" in names
    ranges = page.evaluate("() => { const l = document.getElementById('r-contour')._fullLayout; "
                           "return [...l.xaxis.range, ...l.yaxis.range]; }")
    assert all(math.isfinite(v) and abs(v) < 1e3 for v in ranges), ranges
    marks = [t for t in traces if (t[0] or "").endswith("diverged here")]
    assert len(marks) == 3
    for name, (w,), (b,) in marks:
        assert ranges[0] <= w <= ranges[1] and ranges[2] <= b <= ranges[3], (name, w, b, ranges)
    page.screenshot(path=str(tmp_path / "batches-sgd-diverged.png"))


def test_a_path_that_left_the_frame_before_diverging_is_marked_where_it_left(page: Page) -> None:
    """A diverged path whose last point lies outside the contour's frame: its x sat there, off the chart. Now it
    sits where the path crossed the frame's edge, and the legend says so (an answer made up here: the frame
    w, b in [-1, 1], SGD from (0, 0) to (0.5, 0) to (3, 0.5): it leaves at w = 1, b = 0.1)."""
    frame = [-1.0, 0.0, 1.0]
    series = [{"name": name, "batch_size": size, "updates": [0, 1, 2], "samples": [0, size, 2 * size],
               "points": [[0.0, 0.0], [0.5, 0.0], [3.0, 0.5]] if name == "sgd" else [[0.0, 0.0]] * 3,
               "loss": [1.0, 2.0, 50.0] if name == "sgd" else [1.0, 1.0, 1.0],
               "diverged_at": 3 if name == "sgd" else None, "diverged_epoch": 1 if name == "sgd" else None,
               "diverged_loss": 400.0 if name == "sgd" else None}
              for name, size in (("batch", 4), ("sgd", 1), ("minibatch", 2))]
    answer = {"points": [[-1.0, 0.0], [0.0, 0.1], [0.5, 0.2], [1.0, 0.3]], "least_squares": [0.2, 0.1],
              "start": [0.0, 0.0], "series": series, "diverged_factor": 100.0,
              "grid": {"w": frame, "b": frame, "z": [[1.0, 1.0, 1.0]] * 3}}
    page.route("**/api/regression", lambda route: route.fulfill(json=answer))
    page.locator(".tab[data-tab=batches]").click()
    expect(page.locator("#r-info")).to_contain_text("SGD (1 sample): diverged at update 3 (epoch 1): its loss 400 is "
                                                    "above 100 x the loss before training (1)")
    traces = page.evaluate("() => document.getElementById('r-contour').data.map(t => [t.name, t.x, t.y])")
    marks = {t[0]: (t[1][0], t[2][0]) for t in traces if t[0] and "diverged" in t[0] and "B=" not in t[0]}
    assert list(marks) == ["SGD (1 sample) diverged (left the frame here)"], marks
    assert marks["SGD (1 sample) diverged (left the frame here)"] == pytest.approx((1.0, 0.1))


def test_a_past_run_longer_than_the_live_one_sets_the_epoch_axis_in_its_own_colour(page: Page, tmp_path: Path) -> None:
    """A 200-epoch past run over a 20-epoch live one: the tick spacing came from the live run (100+ overlapping
    labels, negative epochs), and the overlay took Plotly's default colours, the live curves' own red and blue.
    The curves are set here as the stream and the runs endpoint would bring them."""
    page.locator(".tab[data-tab=train]").click()
    page.evaluate("""() => {
        T.epochs = Array.from({length: 20}, (_, i) => ({epoch: i + 1, train_loss: 1 / (i + 1), test_loss: 1.1 / (i + 1)}));
        const epoch = Array.from({length: 200}, (_, i) => i + 1);
        T.overlays = {old: {history: {epoch, train_loss: epoch.map((e) => 2 / e)}},
                      older: {history: {epoch: [1, 2], train_loss: [3, 2]}}};
        T.ticked = new Set(["old", "older"]);
        drawTraining();
    }""")
    ticks = [int(t) for t in page.locator("#t-loss .xtick text").all_text_contents()]
    assert 3 <= len(ticks) <= 12 and min(ticks) >= 1 and max(ticks) >= 150, ticks
    colours = page.evaluate("() => document.getElementById('t-loss').data.map(t => t.line.color)")
    live, overlays = colours[:2], colours[2:]
    assert len(overlays) == 2 and all(c for c in overlays), colours
    assert not set(overlays) & set(live) and len(set(overlays)) == 2, colours
    page.screenshot(path=str(tmp_path / "train-overlay.png"))


def test_overlaid_runs_differ_in_colour_or_dash_and_name_their_data_set_when_sets_differ(page: Page) -> None:
    """The 7th ticked run took the 1st's colour and dots (two runs alike in the legend), and linreg's MSE curves sat on
    MNIST-1D's cross-entropy axis with nothing to tell them apart."""
    page.locator(".tab[data-tab=train]").click()
    traces = page.evaluate("""() => {
        T.epochs = [];
        T.overlays = Object.fromEntries(Array.from({length: 8}, (_, i) => [`r${i}`,
            {dataset: i < 7 ? "mnist1d" : "linreg", history: {epoch: [1, 2], train_loss: [2, 1]}}]));
        T.ticked = new Set(Object.keys(T.overlays));
        drawTraining();
        return document.getElementById('t-loss').data.filter(t => t.name.startsWith("run "))
            .map(t => ({name: t.name, style: `${t.line.color} ${t.line.dash}`}));
    }""")
    assert len(traces) == 8 and len({t["style"] for t in traces}) == 8, traces
    assert traces[0]["name"] == "run r0 train loss (mnist1d)" and traces[7]["name"] == "run r7 train loss (linreg)"
    same = page.evaluate("""() => {
        T.overlays = {a: {dataset: "linreg", history: {epoch: [1], train_loss: [1]}}};
        T.ticked = new Set(["a"]);
        drawTraining();
        return document.getElementById('t-loss').data.filter(t => t.name.startsWith("run ")).map(t => t.name);
    }""")
    assert same == ["run a train loss"]  # one data set: no word added


@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)])
def test_the_contour_is_drawn_at_equal_scale_with_the_legend_below(
    browser: Browser, url: str, viewport: tuple[int, int], tmp_path: Path
) -> None:
    """One x unit was ~152 px and one y unit ~82 px at 1280x800 (a 45 degree valley drawn at ~28 degrees), and
    the legend covered the start marker at (-2.5, 2)."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.locator("#s-angle").fill("45")
    expect(page.locator("#s-angle-out")).to_have_text("45°")
    expect(page.locator("#s-status")).to_have_attribute("data-state", "")
    scale = page.evaluate("() => { const l = document.getElementById('s-plot')._fullLayout; "
                          "return [l.xaxis._length / (l.xaxis.range[1] - l.xaxis.range[0]), "
                          "l.yaxis._length / (l.yaxis.range[1] - l.yaxis.range[0])]; }")
    assert scale[0] == pytest.approx(scale[1], rel=0.01), scale
    shown = page.evaluate("() => [...document.getElementById('s-plot')._fullLayout.xaxis.range, "
                          "...document.getElementById('s-plot')._fullLayout.yaxis.range]")
    assert shown == pytest.approx([-3, 3, -3, 3], abs=1e-6)  # the whole view, and no more
    legend = page.locator("#s-plot .legend").bounding_box()
    area = page.locator("#s-plot .nsewdrag").first.bounding_box()
    assert legend is not None and area is not None
    assert legend["y"] >= area["y"] + area["height"]  # below the axes: not over the start
    page.screenshot(path=str(tmp_path / "surfaces-equal-scale.png"))
    page.close()


def test_surfaces_refuses_bad_fields_aloud_and_leaves_no_stale_chart(page: Page) -> None:
    """A formula that does not parse left the last formula's chart and info line; with no optimizer ticked plain
    GD was drawn anyway; Steps 5000, 0 or -5 were clamped in silence; f NaN everywhere showed eigenvalues 0, 0."""
    status, info, plot = page.locator("#s-status"), page.locator("#s-info"), page.locator("#s-plot")
    expect(plot).to_have_attribute("data-paths", "1")
    page.locator("#s-surface").select_option("formula")
    expect(info).to_contain_text("Hessian eigenvalues at the start")
    page.locator("#s-formula").fill("x +")
    page.locator("#s-formula").dispatch_event("change")
    expect(status).to_have_attribute("data-state", "error")
    expect(plot).to_have_attribute("data-paths", "0")
    expect(info).to_have_text("")
    assert page.locator("#s-plot .main-svg").count() == 0  # no chart of the earlier formula
    page.locator("#s-formula").fill("sqrt(-1)+x")
    page.locator("#s-formula").dispatch_event("change")
    expect(info).to_contain_text("f is not defined at the start (-2, 2)")
    expect(page.locator("#s-verdict")).to_have_attribute("data-verdict", "undefined")
    page.locator(".s-opt[value=plain]").uncheck()
    expect(status).to_have_attribute("data-state", "hint")
    expect(status).to_have_text("Tick an optimizer (plain, momentum or Nesterov) to draw its path.")
    expect(plot).to_have_attribute("data-paths", "0")
    page.locator(".s-opt[value=momentum]").check()
    expect(plot).to_have_attribute("data-paths", "1")
    for typed, said in (("5000", "5000"), ("0", "0"), ("-5", "-5"), ("", "nothing (the field is empty)")):
        page.locator("#s-steps").fill(typed)
        page.locator("#s-steps").dispatch_event("change")
        expect(status).to_have_text(f"Steps must be a whole number in [1, 2000]; got {said}.")
        expect(plot).to_have_attribute("data-paths", "0")
    page.locator("#s-steps").fill("30")
    page.locator("#s-steps").dispatch_event("change")
    expect(status).to_be_hidden()
    expect(plot).to_have_attribute("data-paths", "1")


def _drag(page: Page, index: int, dy: float) -> None:
    """Drag scatter point ``index`` by dy pixels (up when negative), in two moves, and wait for its answer."""
    box = page.locator("#r-scatter circle").nth(index).bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + dy / 2)
    page.mouse.move(x, y + dy)
    with page.expect_response("**/api/regression"):
        page.mouse.up()
    expect(page.locator("#r-status")).not_to_have_attribute("data-state", "busy")


def test_a_point_dragged_past_the_range_stops_at_its_edge_and_can_be_dragged_back(page: Page) -> None:
    """Dragged past y = 100 the request was refused ("Points: coordinates must be within [-100, 100]") and the
    scatter cleared: the point could not be dragged back."""
    page.locator(".tab[data-tab=batches]").click()
    expect(page.locator("#r-contour")).to_have_attribute("data-paths", "3")
    before = page.evaluate("() => R.data.points[0]")
    _drag(page, 0, -8000)  # ~0.03 per pixel at the default points: y far past 100
    assert page.locator("#r-status").get_attribute("data-state") == ""  # answered, no error
    expect(page.locator("#r-scatter circle")).to_have_count(50)
    moved = page.evaluate("() => R.data.points[0]")
    assert moved[1] == 100 and moved[0] == pytest.approx(before[0], abs=0.05)  # held at the edge, straight up
    _drag(page, 0, 100)  # back down: the chart is there to drag it
    assert page.evaluate("() => R.data.points[0][1]") < 90


def test_the_mini_batch_label_follows_points_lowered_below_it(page: Page) -> None:
    page.locator(".tab[data-tab=batches]").click()
    expect(page.locator("#r-contour")).to_have_attribute("data-paths", "3")
    page.locator("#r-batch").fill("40")
    expect(page.locator("#r-batch-out")).to_have_text("40")
    page.locator("#r-n").fill("10")  # fewer points than the batch: the batch is 10 now, and says so
    expect(page.locator("#r-info")).to_contain_text("mini-batch: 5 updates")
    expect(page.locator("#r-batch-out")).to_have_text("10")


def test_points_go_down_to_the_two_the_server_takes(page: Page) -> None:
    """The Points slider stopped at 5 while the server takes 2 points, the fewest that make a line."""
    page.locator(".tab[data-tab=batches]").click()
    expect(page.locator("#r-contour")).to_have_attribute("data-paths", "3")
    page.locator("#r-n").fill("2")
    expect(page.locator("#r-scatter circle")).to_have_count(2)
    expect(page.locator("#r-n-out")).to_have_text("2")
    expect(page.locator("#r-info")).to_contain_text("mini-batch: 5 updates")  # batch 2 (Points): one per epoch
    expect(page.locator("#r-batch-out")).to_have_text("2")
    expect(page.locator("#r-contour")).to_have_attribute("data-paths", "3")
    assert page.locator("#r-status").get_attribute("data-state") == ""  # answered, no error


def test_the_chosen_mini_batch_size_comes_back_when_points_rise_again(page: Page) -> None:
    """Points lowered to 5 capped the slider at 5, and raised again it stayed at 5, not the 8 chosen."""
    page.locator(".tab[data-tab=batches]").click()
    expect(page.locator("#r-info")).to_contain_text("mini-batch: 35 updates")  # 50 points, batch 8: 7 per epoch
    page.locator("#r-n").fill("5")
    expect(page.locator("#r-info")).to_contain_text("mini-batch: 5 updates")  # batch 5: one per epoch
    expect(page.locator("#r-batch-out")).to_have_text("5")
    page.locator("#r-n").fill("50")
    expect(page.locator("#r-info")).to_contain_text("mini-batch: 35 updates")  # batch 8 again, sent
    expect(page.locator("#r-batch-out")).to_have_text("8")
    expect(page.locator("#r-batch")).to_have_value("8")
    page.locator("#r-n").fill("5")
    expect(page.locator("#r-info")).to_contain_text("mini-batch: 5 updates")
    page.locator("#r-batch").fill("4")  # a size chosen while capped is the new choice
    expect(page.locator("#r-info")).to_contain_text("mini-batch: 10 updates")  # batch 4: two per epoch
    page.locator("#r-n").fill("40")
    expect(page.locator("#r-info")).to_contain_text("mini-batch: 50 updates")  # batch 4: 10 per epoch
    expect(page.locator("#r-batch")).to_have_value("4")


def test_train_says_an_empty_field_is_empty_and_lists_each_runs_rate_and_batch(page: Page) -> None:
    page.locator(".tab[data-tab=train]").click()
    page.locator("#t-batch").fill("")
    page.locator("#t-start").click()
    expect(page.locator("#t-note")).to_have_text(
        'Batch size must be a whole number in [1, 800] for linreg (or choose the variant "batch (all data)"); '
        "got nothing (the field is empty).")
    page.locator("#t-batch").fill("25")
    page.locator("#t-lr").fill("")
    page.locator("#t-lr").press_sequentially("1e")  # not a number: the field's value is "" but it is not empty
    page.locator("#t-start").click()
    expect(page.locator("#t-note")).to_have_text("Learning rate must be a number; got something that is not a number.")
    page.locator("#t-lr").fill("0.02")
    page.locator("#t-epochs").fill("1")
    page.locator("#t-start").click()
    expect(page.locator("#t-status")).to_contain_text("max_epochs")
    page.locator("#t-runs-box summary").click()
    expect(page.locator("#t-runs label").first).to_contain_text("1 epochs, learning rate 0.02, batch size 25")


def test_a_full_batch_run_is_listed_as_batch_all_data_not_its_sample_count(page: Page) -> None:
    """The variant "batch (all data)" was listed as "batch size 800" (4000 on MNIST-1D): the size it resolved to."""
    page.locator(".tab[data-tab=train]").click()
    page.locator("#t-variant").select_option("full")
    page.locator("#t-epochs").fill("1")
    page.locator("#t-start").click()
    expect(page.locator("#t-status")).to_contain_text("max_epochs")
    run_id = page.locator("#t-status").inner_text().split("(run ")[1].rstrip(")")
    page.locator("#t-runs-box summary").click()
    label = page.locator(f"#t-runs label:has(input[value='{run_id}'])")
    expect(label).to_contain_text("learning rate 0.05, batch (all data)")
    expect(label).not_to_contain_text("batch size")


def test_train_checks_only_the_fields_its_model_uses_and_names_bad_entries(page: Page) -> None:
    """Hidden sizes were checked for linear and logistic models too ('hidden: List should have at least 1
    item'), "64,abc" became [64] in silence, the Model list offered linear for MNIST-1D (refused with a 400),
    and Batch size 2.5 answered pydantic's 'batch_size.literal['full']: ...'."""
    note = page.locator("#t-note")
    page.locator(".tab[data-tab=train]").click()
    expect(page.locator("#t-hidden")).to_be_disabled()  # linear: no hidden layers, greyed like Batch size for SGD
    page.locator("#t-model").select_option("mlp")
    expect(page.locator("#t-hidden")).to_be_enabled()
    for typed, why in (("64,abc", '"abc" is not'), ("abc", '"abc" is not'), ("64,,8", "an empty entry is not"),
                       ("0,300", '"0", "300" are not'), ("", "got nothing (the field is empty)")):
        page.locator("#t-hidden").fill(typed)
        page.locator("#t-start").click()
        expect(note).to_have_attribute("data-state", "error")
        expect(note).to_contain_text("Hidden sizes must be 1 to 3 whole numbers in [1, 256]")
        expect(note).to_contain_text(why)
    page.locator("#t-model").select_option("linear")  # the bad sizes do not matter to a linear model: not sent
    page.route("**/api/train", lambda route: route.fulfill(json={"job": "none"}))
    page.route("**/api/train/none/events", lambda route: route.fulfill(
        status=200, content_type="text/event-stream",
        body='event: end\ndata: {"type": "end", "status": "max_epochs", "reason": "max_epochs: 0"}\n\n'))
    with page.expect_request("**/api/train") as sent:
        page.locator("#t-start").click()
    body = json.loads(sent.value.post_data or "{}")
    assert body["model"] == "linear" and "hidden" not in body
    expect(page.locator("#t-status")).to_have_text("max_epochs: 0")
    page.unroute("**/api/train")
    page.locator("#t-dataset").select_option("mnist1d")  # classes: logistic or MLP, not linear
    expect(page.locator("#t-model")).to_have_value("logistic")
    assert page.evaluate("() => [...document.getElementById('t-model').options].filter(o => !o.disabled)"
                         ".map(o => o.value)") == ["logistic", "mlp"]
    page.locator("#t-dataset").select_option("linreg")
    expect(page.locator("#t-model")).to_have_value("linear")
    page.locator("#t-batch").fill("2.5")
    page.locator("#t-start").click()
    expect(note).to_have_text('Batch size must be a whole number in [1, 800] for linreg (or choose the variant '
                              '"batch (all data)"); got "2.5".')
    page.locator("#t-batch").fill("801")  # over linreg's 800 rows, though MNIST-1D has 4000
    page.locator("#t-start").click()
    expect(note).to_have_text('Batch size must be a whole number in [1, 800] for linreg (or choose the variant '
                              '"batch (all data)"); got "801".')
    page.locator("#t-batch").fill("32")
    page.locator("#t-epochs").fill("201")  # the server's 422, by the form's label
    page.locator("#t-start").click()
    expect(note).to_have_text("Epochs: Input should be less than or equal to 200; got 201")  # it said not what
    page.locator("#t-epochs").fill("5")
    page.locator("#t-stop").fill("early:test_accuracy:3")  # a 400 whose first word is a field's name, not its label
    page.locator("#t-start").click()
    expect(note).to_contain_text("stop rule early_stopping reads test_accuracy (recorded for classification only")


def test_the_batch_size_box_shows_the_size_each_variant_trains_with(page: Page) -> None:
    """SGD (batch 1) greyed the box with the mini-batch's 32 still in it; batch GD with its 32 too."""
    page.locator(".tab[data-tab=train]").click()
    page.locator("#t-dataset").select_option("linreg")
    page.locator("#t-variant").select_option("minibatch")
    page.locator("#t-batch").fill("48")
    page.locator("#t-variant").select_option("sgd")
    expect(page.locator("#t-batch")).to_have_value("1")
    expect(page.locator("#t-batch")).to_be_disabled()
    page.locator("#t-variant").select_option("full")
    expect(page.locator("#t-batch")).to_have_value("800")  # linreg's training rows
    page.locator("#t-dataset").select_option("mnist1d")
    expect(page.locator("#t-batch")).to_have_value("4000")
    page.locator("#t-variant").select_option("minibatch")
    expect(page.locator("#t-batch")).to_have_value("48")  # what was typed, back
    expect(page.locator("#t-batch")).to_be_enabled()


def test_a_past_run_that_diverged_is_marked_without_stretching_the_loss_axis(page: Page, tmp_path: Path) -> None:
    """A run that diverged in epoch 1 (loss 1e22) overlaid: its single point was drawn with mode "lines"
    (invisible) and its 1e22 stretched the log axis to 22 decades, flattening the live curve. Now a single point
    is a marker, the axis spans the trained losses and the diverged loss is marked on its top edge."""
    page.locator(".tab[data-tab=train]").click()
    page.evaluate("""() => {
        T.epochs = Array.from({length: 20}, (_, i) => ({epoch: i + 1, train_loss: 1 / (i + 1)}));
        T.overlays = {boom: {status: "diverged", history: {epoch: [1], train_loss: [1e22]}},
                      once: {status: "max_epochs", history: {epoch: [1], train_loss: [0.3]}},
                      late: {status: "diverged", history: {epoch: [1, 2, 3], train_loss: [0.4, 0.2, null]}}};
        T.ticked = new Set(["boom", "once", "late"]);
        drawTraining();
    }""")
    traces = page.evaluate("() => document.getElementById('t-loss').data.map(t => "
                           "({name: t.name, mode: t.mode, x: Array.from(t.x), y: Array.from(t.y)}))")
    by_name = {t["name"]: t for t in traces}
    assert by_name["run once train loss"]["mode"] == "markers"  # one point: visible
    assert by_name["run late train loss"]["y"] == [0.4, 0.2]  # its finite epochs, as a line
    top = page.evaluate("() => document.getElementById('t-loss')._fullLayout.yaxis.range")[1]
    assert top < math.log10(2), top  # the trained losses 0.05..1 set the axis, not 1e22
    for name, epoch in (("run boom diverged (epoch 1 train loss 1.00e+22)", 1), ("run late diverged (epoch 3 train loss not finite)", 3)):
        mark = by_name[name]
        assert mark["mode"] == "markers" and mark["x"] == [epoch]
        assert 0 < math.log10(mark["y"][0]) <= top  # on the top edge, inside the axis
    expect(page.locator("#t-loss .scatterlayer .point")).not_to_have_count(0)
    page.screenshot(path=str(tmp_path / "train-overlay-diverged.png"))


def _start_with_events(page: Page, stream: str) -> None:
    """Start a run on the Train tab whose event stream is ``stream`` (the server trains nothing)."""
    page.route("**/api/train", lambda route: route.fulfill(json={"job": "live"}))
    page.route("**/api/train/live/events", lambda route: route.fulfill(
        status=200, content_type="text/event-stream", body=stream))
    page.locator(".tab[data-tab=train]").click()
    page.locator("#t-start").click()


def test_this_run_diverging_to_a_finite_loss_is_marked_without_stretching_the_loss_axis(page: Page) -> None:
    """A live run whose last loss was 1e22 (finite: the divergence rule fired at 100x the initial loss) drew it
    on the axis, 22 decades, its trained epochs a flat line at the bottom. Its end event says diverged: the
    last loss is then marked on the top edge, as a past run's is."""
    epochs = [(1, 1.0), (2, 0.5), (3, 0.3), (4, 1e22)]
    stream = "".join(f'event: epoch\ndata: {{"type": "epoch", "epoch": {n}, "train_loss": {v}}}\n\n' for n, v in epochs)
    stream += 'event: end\ndata: {"type": "end", "status": "diverged", "reason": "diverged: at epoch 4"}\n\n'
    _start_with_events(page, stream)
    expect(page.locator("#t-status")).to_have_text("diverged: at epoch 4")
    traces = page.evaluate("() => document.getElementById('t-loss').data.map(t => ({name: t.name, y: Array.from(t.y)}))")
    by_name = {t["name"]: t for t in traces}
    assert by_name["train loss"]["y"] == [1.0, 0.5, 0.3, 1e22]  # the curve keeps its points; the axis leaves it
    top = page.evaluate("() => document.getElementById('t-loss')._fullLayout.yaxis.range")[1]
    assert top < math.log10(2), top  # 0.3..1 set the axis, not 1e22
    mark = by_name["this run diverged (epoch 4 train loss 1.00e+22)"]["y"][0]
    assert 0 < math.log10(mark) <= top  # on the top edge


def test_the_accuracy_axis_stays_within_0_and_100_percent(page: Page) -> None:
    """One epoch's accuracy (a 1-epoch run, or one that diverged in epoch 1) gave an axis from -80% to 120%."""
    stream = ('event: epoch\ndata: {"type": "epoch", "epoch": 1, "train_loss": 2.1, "test_loss": 2.2, '
              '"test_accuracy": 0.2}\n\n')
    stream += 'event: end\ndata: {"type": "end", "status": "max_epochs", "reason": "max_epochs: ran 1 epoch"}\n\n'
    _start_with_events(page, stream)
    expect(page.locator("#t-status")).to_have_text("max_epochs: ran 1 epoch")
    expect(page.locator("#t-acc")).to_be_visible()
    low, high = page.evaluate("() => document.getElementById('t-acc')._fullLayout.yaxis.range")
    assert 0 <= low < 0.2 < high <= 1, (low, high)


def test_a_run_diverging_in_epoch_1_draws_where_it_started_and_says_its_loss_overflowed(page: Page, tmp_path: Path) -> None:
    """linreg, linear, mini-batch 32, rate 5, 5 epochs: the status said 'non-finite gradient or update (loss
    7.896e+36) at epoch 1' over empty axes (0.1 to 10k) and a legend 'this run diverged (loss not finite)'. The chart
    now draws the loss before training at epoch 0, and says the epoch's loss was too large to represent (the
    full-data float32 mean overflowed to inf; the step's loss was finite)."""
    page.locator(".tab[data-tab=train]").click()
    page.locator("#t-dataset").select_option("linreg")
    page.locator("#t-model").select_option("linear")
    page.locator("#t-variant").select_option("minibatch")
    page.locator("#t-batch").fill("32")
    page.locator("#t-lr").fill("5")
    page.locator("#t-epochs").fill("5")
    page.locator("#t-start").click()
    expect(page.locator("#t-status")).to_contain_text(
        "diverged: non-finite gradient or update (loss 7.896e+36) at epoch 1, step 19 of 25")
    expect(page.locator("#t-loss .annotation-text")).to_have_text("diverged in epoch 1 (loss overflowed float32)")
    traces = page.evaluate("() => document.getElementById('t-loss').data.map(t => "
                           "({name: t.name, x: Array.from(t.x), y: Array.from(t.y)}))")
    by_name = {t["name"]: t for t in traces}
    assert by_name["train loss"]["x"] == [0, 1] and by_name["train loss"]["y"][1] is None
    start = by_name["train loss"]["y"][0]
    assert start == pytest.approx(5.54416, rel=1e-5)  # gd.fit's initial_loss for this run (the API test checks it)
    assert "this run diverged (epoch 1 train loss overflowed float32)" in by_name  # the epoch's, not the step's
    low, high = page.evaluate("() => document.getElementById('t-loss')._fullLayout.yaxis.range")
    assert low < math.log10(start) < high, (low, high)  # the axis holds where it started
    x_range = page.evaluate("() => document.getElementById('t-loss')._fullLayout.xaxis.range")
    assert x_range[0] < 0 and x_range[1] > 1, x_range  # epochs 0 and 1 both on the axis
    expect(page.locator("#t-loss .scatterlayer .trace").first.locator(".point")).to_have_count(1)  # epoch 0, drawn
    page.screenshot(path=str(tmp_path / "train-diverged-epoch-1.png"))


@pytest.mark.parametrize("ends", [False, True], ids=["live", "then an end without initial_loss"])
def test_a_live_run_draws_where_it_started_from_its_first_epoch(page: Page, ends: bool) -> None:
    """The Train chart drew epoch 0 (the loss before training) only once the run ended. Here the run's event stream
    is one first epoch (route fulfilled; reconnection put off), so the run never ends: epoch 0 is drawn from it.
    An end event without initial_loss (a run stopped from the page, before it had one) erased it."""
    first = {"epoch": 1, "train_loss": 0.5, "test_loss": 0.6, "learning_rate": 0.05, "grad_norm": 1.0,
             "epoch_time": 0.01, "wall_time": 0.01, "initial_loss": 5.5}
    body = f"retry: 600000\nevent: epoch\ndata: {json.dumps(first)}\n\n"
    end = {"type": "end", "status": "interrupted", "reason": "stopped from the lab after epoch 1", "run_id": None}
    body += f"event: end\ndata: {json.dumps(end)}\n\n" if ends else ""
    page.route("**/api/train/*/events", lambda route: route.fulfill(
        status=200, headers={"content-type": "text/event-stream"}, body=body))
    page.locator(".tab[data-tab=train]").click()
    page.locator("#t-dataset").select_option("linreg")
    page.locator("#t-model").select_option("linear")
    page.locator("#t-epochs").fill("3")
    page.locator("#t-start").click()
    expect(page.locator("#t-status")).to_have_text("stopped from the lab after epoch 1" if ends else
                                                   "epoch 1: train loss 0.5")
    page.wait_for_function("() => document.getElementById('t-loss').data?.some(t => t.name === 'train loss')")
    trace = page.evaluate("() => document.getElementById('t-loss').data.filter(t => t.name === 'train loss')"
                          ".map(t => ({x: Array.from(t.x), y: Array.from(t.y)}))[0]")
    assert trace == {"x": [0, 1], "y": [5.5, 0.5]}
    if not ends:
        expect(page.locator("#t-stop-btn")).to_be_enabled()  # still live: nothing ended it


def test_a_new_surface_is_drawn_over_its_own_view(page: Page, tmp_path: Path) -> None:
    """Rosenbrock after Himmelblau: its view is x in [-2, 2], y in [-1, 3], but the x axis kept [-3, 3]
    (Plotly.react under scaleanchor and constrain), with blank bands beside the contour."""
    ranges = ("() => { const l = document.getElementById('s-plot')._fullLayout; "
              "return [...l.xaxis.range, ...l.yaxis.range]; }")
    plot = page.locator("#s-plot")
    for surface, view in (("himmelblau", [-5, 5, -5, 5]), ("rosenbrock", [-2, 2, -1, 3]),
                          ("quadratic", [-3, 3, -3, 3])):
        page.locator("#s-surface").select_option(surface)
        expect(page.locator("#s-status")).to_have_attribute("data-state", "")
        page.wait_for_function(f"() => S.data && S.data.surface === '{surface}'")
        expect(plot).to_have_attribute("data-clicks", "on")  # drawn (the click listener comes after the draw)
        assert page.evaluate(ranges) == pytest.approx(view, abs=1e-6), surface
    page.screenshot(path=str(tmp_path / "quadratic-after-rosenbrock.png"))


def test_the_batch_tab_refuses_a_bad_seed_aloud_and_leaves_no_stale_chart(page: Page) -> None:
    """Seed -1 answered an error with the previous run's charts and info line still shown; an empty Seed ran
    as 0 and 100000 (over the field's 99999) ran in silence."""
    status, contour, info = page.locator("#r-status"), page.locator("#r-contour"), page.locator("#r-info")
    page.locator(".tab[data-tab=batches]").click()
    expect(contour).to_have_attribute("data-paths", "3")
    for typed, said in (("-1", "-1"), ("", "nothing (the field is empty)"), ("100000", "100000"), ("2.5", "2.5")):
        page.locator("#r-seed").fill(typed)
        page.locator("#r-seed").dispatch_event("change")
        expect(status).to_have_text(f"Seed must be a whole number in [0, 99999]; got {said}.")
        expect(contour).to_have_attribute("data-paths", "0")
        expect(info).to_have_text("")
        for chart in ("#r-contour", "#r-updates", "#r-samples"):
            expect(page.locator(f"{chart} .main-svg")).to_have_count(0)
        expect(page.locator("#r-scatter circle")).to_have_count(0)
        page.locator("#r-seed").fill("3")  # a good seed draws again
        page.locator("#r-seed").dispatch_event("change")
        expect(contour).to_have_attribute("data-paths", "3")
        expect(status).to_be_hidden()
    page.locator("#r-seed").fill("99999")  # New points past the field's largest seed: back to 0, not refused
    page.locator("#r-regen").click()
    expect(page.locator("#r-seed")).to_have_value("0")
    expect(contour).to_have_attribute("data-paths", "3")
    expect(status).to_be_hidden()
    page.locator("#r-seed").fill("")
    page.locator("#r-seed").press_sequentially("1e")  # the browser reads "" from text that is not a number
    page.locator("#r-seed").dispatch_event("change")
    expect(status).to_have_text("Seed must be a whole number in [0, 99999]; got something that is not a number.")
    page.locator("#r-seed").fill("3")
    page.locator("#r-seed").dispatch_event("change")
    expect(contour).to_have_attribute("data-paths", "3")
    # the server's refusal clears the charts too
    page.route("**/api/regression", lambda route: route.continue_(
        post_data=json.dumps({**json.loads(route.request.post_data or "{}"), "batch_size": 60})))
    page.locator("#r-run").click()
    expect(status).to_have_text("Mini-batch size must be at most the number of points 50; got 60.")
    expect(contour).to_have_attribute("data-paths", "0")
    expect(page.locator("#r-contour .main-svg")).to_have_count(0)


def test_sliders_have_names_keyboard_steps_of_a_twentieth_decade_and_tabs_are_tabs(page: Page) -> None:
    """The 9 sliders had no accessible name (their label holds an <output> before the <input>); the learning
    rate moved 0.001 of a decade per arrow key (5 presses from 1e-4 gave 1.01e-4); the tabs were plain
    buttons, without role="tab", aria-selected or arrow keys."""
    names = {"s-condition": "Condition number L/μ", "s-angle": "Rotation", "s-lr": "Learning rate",
             "s-momentum": "Momentum m", "r-n": "Points", "r-noise": "Noise", "r-batch": "Mini-batch size",
             "r-lr": "Learning rate", "r-epochs": "Epochs"}
    assert page.locator("input[type=range]").count() == len(names)
    for tab in ("batches", "surfaces"):  # a slider in a hidden tab has no accessible name: each tab shown
        page.locator(f".tab[data-tab={tab}]").click()
        for slider, name in names.items():
            if slider[0] == tab[0]:
                expect(page.locator(f"#{slider}")).to_have_accessible_name(name)
    expect(page.locator("#s-verdict")).to_contain_text("converges")
    page.evaluate("() => { setSurfaceLr(1e-4); document.getElementById('s-lr').dispatchEvent(new Event('input')); }")
    expect(page.locator("#s-lr-out")).to_have_text("1.00e-4")
    page.locator("#s-lr").focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#s-lr-out")).to_have_text("1.78e-4")  # 10^(-4 + 5 * 0.05)
    expect(page.locator("#s-lr")).to_have_attribute("aria-valuetext", "1.78e-4")  # said as the rate, not its log
    page.keyboard.press("PageDown")
    expect(page.locator("#s-lr-out")).to_have_text("1.00e-4")
    # the tabs: role tab, one selected, arrow keys move along them (wrapping), Home and End
    tabs = page.get_by_role("tablist", name="Lab sections").get_by_role("tab")
    expect(tabs).to_have_count(4)
    surfaces, batches = page.get_by_role("tab", name="Surfaces"), page.get_by_role("tab", name="Batch, SGD, mini-batch")
    expect(surfaces).to_have_attribute("aria-selected", "true")
    surfaces.focus()
    page.keyboard.press("ArrowRight")
    expect(batches).to_have_attribute("aria-selected", "true")
    expect(batches).to_be_focused()
    expect(page.get_by_role("tabpanel", name="Batch, SGD, mini-batch")).to_be_visible()
    expect(surfaces).to_have_attribute("aria-selected", "false")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")  # past the first: the last
    expect(page.get_by_role("tab", name="Learn")).to_be_focused()
    expect(page.locator("#learn")).to_be_visible()
    page.keyboard.press("Home")
    expect(surfaces).to_have_attribute("aria-selected", "true")
    expect(page.locator("#surfaces")).to_be_visible()
    assert [t.get_attribute("tabindex") for t in tabs.all()] == ["0", "-1", "-1", "-1"]  # one tab stop


def test_a_path_stuck_where_f_underflows_is_stalled_and_where_f_overflows_is_grey(page: Page, tmp_path: Path) -> None:
    """exp(100*x) from (-2, 2): "converges ... settled at f = 0" (the gradient underflowed to 0 in float32), and the
    contour blank where f overflows, with the y = 0 axis line across the blank like a contour line."""
    expect(page.locator("#s-plot")).to_have_attribute("data-paths", "1")
    page.locator("#s-surface").select_option("formula")
    page.locator("#s-formula").fill("exp(100*x)")
    page.locator("#s-formula").dispatch_event("change")
    expect(page.locator("#s-verdict")).to_have_attribute("data-verdict", "stalled")
    expect(page.locator("#s-verdict")).to_contain_text("no minimum is shown")
    expect(page.locator("#s-info")).to_contain_text("Grey: f is not a finite number there")
    grey = page.evaluate("() => { const t = document.getElementById('s-plot').data.find(t => t.type === 'heatmap');"
                         " return t && t.x.filter((x, j) => t.z[0][j] === 1); }")
    assert grey and min(grey) == pytest.approx(0.9, abs=0.05) and max(grey) == 3  # exp(100*x) > 3.4e38 past 0.887
    assert page.evaluate("() => document.getElementById('s-plot').layout.yaxis.zeroline") is False
    page.screenshot(path=str(tmp_path / "stalled.png"))
    page.locator("#s-formula").fill("x^2 + 3*y^2")  # finite everywhere: no grey, no note
    page.locator("#s-formula").dispatch_event("change")
    expect(page.locator("#s-verdict")).to_have_attribute("data-verdict", "converges")
    expect(page.locator("#s-info")).not_to_contain_text("Grey")
    assert page.evaluate("() => document.getElementById('s-plot').data.some(t => t.type === 'heatmap')") is False


def test_the_info_line_agrees_with_the_verdict_on_a_formula_undefined_at_the_start(page: Page) -> None:
    """log(x) at the start (-2, 2): the verdict said 'undefined' and the info line 'diverged at step 1'."""
    expect(page.locator("#s-plot")).to_have_attribute("data-paths", "1")
    page.locator("#s-surface").select_option("formula")
    page.locator("#s-formula").fill("log(x)")
    page.locator("#s-formula").dispatch_event("change")
    expect(page.locator("#s-verdict")).to_have_attribute("data-verdict", "undefined")
    info = page.locator("#s-info")
    expect(info).to_contain_text("plain GD: no step (f is not defined at the start)")
    expect(info).not_to_contain_text("diverged")
