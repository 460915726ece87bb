"""The comparison report: its numbers equal the sweep's, its conclusion follows them, its page is self-contained."""

from __future__ import annotations

import base64
import dataclasses
import importlib
import io
import json
import math
import re
import struct
from html import escape
from pathlib import Path

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest
from numpy.testing import assert_allclose

import gdlab as gd
import gdlab.report.summary as summary_module
from gdlab.engine.result import rise_note
from gdlab.engine.sweep import seed_initial_losses
from gdlab.report import (
    Comparison,
    Summary,
    captions,
    conclusion,
    failure,
    from_sweep,
    html,
    load,
    plots,
    render,
    render_run,
    save,
    summarize,
    table,
    variant_label,
)
from gdlab.report.noise import path_record

MODEL = gd.models.mlp(hidden=(16,))
RATES = [0.03, 0.3, 1e3]  # 1e3 diverges at both batch sizes


@pytest.fixture(scope="module")
def small(mnist1d: gd.Dataset) -> gd.Dataset:
    return gd.datasets.from_arrays(mnist1d.x_train[:400], mnist1d.y_train[:400], test_fraction=0.25, seed=1)


@pytest.fixture(scope="module")
def sweep(small: gd.Dataset) -> gd.SweepResult:
    return gd.sweep(MODEL, small, learning_rate=RATES, batch_size=[10, "full"], seeds=2, epochs=3)


@pytest.fixture(scope="module")
def comparison(sweep: gd.SweepResult, small: gd.Dataset) -> Comparison:
    settings = {"dataset": "small", "model": "MLP 40-16-10", "n_train": small.n_train, "n_test": small.n_test,
                "epochs": 3, "seeds": [0, 1], "target": 0.2, "metric": "final_test_accuracy",
                "learning_rates": {"10": RATES, str(small.n_train): RATES}}
    return from_sweep(sweep, settings, seed_initial_losses(MODEL, small, [0, 1]))


def test_the_summary_equals_what_the_sweep_result_says(sweep, comparison) -> None:
    summary = summarize(comparison)
    assert [v.batch_size for v in summary.variants] == [10, 300]
    for group, variant in zip(sweep.groups, summary.variants):
        best = gd.SweepResult(groups=(group,)).best("final_test_accuracy")
        assert variant.best_learning_rate == best["learning_rate"]
        assert variant.mean == pytest.approx(best["mean"], abs=1e-12)
        assert variant.std == pytest.approx(best["std"], abs=1e-12)
        assert variant.seeds == best["seeds"] == 2
        rows = [r for r in sweep.rows if r["batch_size"] == variant.batch_size]
        assert variant.diverged == sum(r["status"] == "diverged" for r in rows) == 2
        assert variant.too_high == 1e3
        assert variant.steps_per_epoch == group.config["steps_per_epoch"]


def test_epochs_and_seconds_to_target_follow_the_histories(sweep, comparison) -> None:
    summary = summarize(comparison)
    for g, (group, variant) in enumerate(zip(sweep.groups, summary.variants)):
        j = [lr for lr, _ in group.pairs].index(variant.best_learning_rate)
        accuracy = group.history["test_accuracy"][:, :, j].mean(axis=1)  # (epochs,) mean over seeds
        hits = np.nonzero(accuracy >= 0.2)[0]
        expected = int(hits[0]) + 1 if hits.size else None
        assert variant.epochs_to_target == expected
        runs = [(int(n), group.status[i, j]) for (i, j), n in np.ndenumerate(group.epochs_run)]
        rerun = {n - 1 for n, status in runs if status == "diverged"}  # the epochs a config diverged in
        kept = [k for k in range(max(n for n, _ in runs)) if k not in rerun]
        assert kept  # the median is over the other epochs (each config's, as many times as configs ran it)
        times = [group.history["epoch_time"][k, 0, 0] for n, _ in runs for k in range(n) if k not in rerun]
        per_epoch = np.median(times) / group.status.size
        assert variant.seconds_per_epoch == pytest.approx(per_epoch)
        if expected is not None:
            assert variant.seconds_to_target == pytest.approx(expected * per_epoch)


def test_the_initial_train_loss_is_the_loss_before_the_first_update(small) -> None:
    initial = seed_initial_losses(MODEL, small, [0, 3])
    barely = gd.sweep(MODEL, small, learning_rate=[1e-7], batch_size=["full"], seeds=[0, 3], epochs=1)
    for row in barely.rows:
        assert initial[row["seed"]] == pytest.approx(row["final_train_loss"], rel=1e-5)
    assert initial[0] != pytest.approx(initial[3], rel=1e-4)  # each seed has its own start


def _row(final: float, status: str = "max_epochs", initial: float = 2.3) -> dict:
    return {"status": status, "final_train_loss": final, "initial_train_loss": initial}


def test_failure_marks_diverged_and_collapsed_configs() -> None:
    assert failure(_row(0.9)) is None
    assert failure(_row(2.29)) is None  # too slow is not a failure
    assert failure(_row(2.3)) == "collapsed"  # back to where it started, no NaN
    assert failure(_row(7.5)) == "collapsed"
    assert failure(_row(math.nan)) == "diverged"
    assert failure(_row(math.inf)) == "diverged"
    assert failure(_row(1.0, status="diverged")) == "diverged"
    assert failure({"status": "diverged", "initial_train_loss": 2.3}) == "diverged"  # no final loss recorded


def test_failure_tells_a_config_still_diverging_at_its_end_from_one_that_collapsed() -> None:
    """A member whose own reason said diverging was counted collapsed by the comparison (any final >= initial)."""
    diverging = "ran 3 epochs" + rise_note([2.4, 2.6, 2.9], 2.3)  # each epoch up by more than 1%
    settled = "ran 3 epochs" + rise_note([2.5, 2.5, 2.5], 2.3)
    assert failure({**_row(2.9), "reason": diverging}) == "diverging"
    assert failure({**_row(2.5), "reason": settled}) == "collapsed"
    assert failure(_row(2.9)) == failure({**_row(2.9), "reason": "ran 3 epochs; collapsed"}) == "collapsed"  # as recorded
    assert failure({**_row(math.inf), "reason": diverging}) == "diverged"  # before there was a DIVERGING
    assert failure({**_row(2.9, status="diverged"), "reason": diverging}) == "diverged"


def _synthetic(curves: dict[int, list[float]], seconds: dict[int, float], epochs: int = 4,
               train: dict[int, list[float]] | None = None) -> Comparison:
    """One rate per batch size, two seeds with the same test accuracy (and train loss) curve and epoch time."""
    rows, histories, variants = [], [], []
    for size, accuracy in curves.items():
        label = variant_label(size, 1000)
        variants.append({"batch_size": size, "label": label, "steps_per_epoch": -(-1000 // size),
                         "configs": 2, "seconds": 0.0})
        for seed in (0, 1):
            rows.append({"learning_rate": 0.1, "batch_size": size, "seed": seed, "status": "max_epochs",
                         "final_train_loss": 1.0, "initial_train_loss": 2.3, "final_test_accuracy": accuracy[-1]})
            histories.append({"train_loss": (train or {}).get(size, list(np.linspace(2.0, 1.0, epochs))), "test_accuracy": accuracy,
                              "epoch_time": [2 * seconds[size]] * epochs})
    settings = {"dataset": "toy", "model": "MLP", "n_train": 1000, "n_test": 100, "epochs": epochs,
                "seeds": [0, 1], "target": 0.5, "metric": "final_test_accuracy",
                "learning_rates": {str(s): [0.1] for s in curves}}
    return Comparison(settings, variants, rows, histories)


def test_the_conclusion_names_who_reached_the_target_first_per_epoch_and_per_second() -> None:
    # SGD: 50% at epoch 2 but 1 s per epoch; mini-batch 32: epoch 3 at 0.1 s per epoch
    toy = _synthetic({1: [0.3, 0.55, 0.6, 0.6], 32: [0.2, 0.4, 0.52, 0.58], 1000: [0.1, 0.2, 0.3, 0.4]},
                     {1: 1.0, 32: 0.1, 1000: 0.05})
    summary = summarize(toy)
    assert (summary.first_by_epoch, summary.first_by_second) == ("SGD", "mini-batch 32")
    text = conclusion(summary)
    assert "Per epoch, SGD reached the target test accuracy of 50% first (epoch 2" in text
    assert "per second of compute, mini-batch 32 did (0.3 s per config, epoch 3)" in text
    assert "It was not reached within 4 epochs by batch GD." in text
    assert ("Mini-batch 32, between the smallest and the largest batch, was the fastest to the target per second "
            "of compute, with 32 updates per epoch, each averaging 32 samples.") in text
    assert "ended best: final test accuracy 60.0% ± 0.0% (mean ± std over 2 seeds)" in text

    # make mini-batch 32 slow per second too: SGD is then first both ways
    both = summarize(_synthetic({1: [0.3, 0.55, 0.6, 0.6], 32: [0.2, 0.4, 0.52, 0.58]}, {1: 1.0, 32: 1.0}))
    assert (both.first_by_epoch, both.first_by_second) == ("SGD", "SGD")
    assert "SGD reached the target test accuracy of 50% first both per epoch (epoch 2) and per second" in conclusion(both)


def test_first_per_epoch_but_not_per_second_is_explained_by_the_epoch_times_not_a_guess_at_updates() -> None:
    """Mini-batch 32 first per epoch, SGD per second: it said 'since an epoch of mini-batch 32 makes 32 updates
    against 1000 for SGD', no reason for the order; batch GD against mini-batch 500 said '1 updates'."""
    toy = _synthetic({1: [0.2, 0.4, 0.52, 0.6], 32: [0.3, 0.55, 0.6, 0.6]}, {1: 0.01, 32: 1.0})
    text = conclusion(summarize(toy))
    assert ("per second of compute, SGD did (0.03 s per config, epoch 3), since an epoch of mini-batch 32 "
            "(32 updates) took 1 s per config against 0.01 s for SGD (1000 updates).") in text
    wide = conclusion(summarize(_synthetic({500: [0.2, 0.4, 0.52, 0.6], 1000: [0.3, 0.55, 0.6, 0.6]},
                                           {500: 0.01, 1000: 1.0})))
    assert "since an epoch of batch GD (1 update) took 1 s per config against 0.01 s for mini-batch 500 (2 updates)" in wide
    assert "1 updates" not in wide and "makes" not in wide


def test_a_middle_batch_first_per_second_is_called_stable_only_where_it_took_larger_rates() -> None:
    """It said 'mini-batch 32 balanced speed and stability' whenever it was first per second; no stability was
    ever checked."""
    curves = {1: [0.3, 0.55, 0.6, 0.6], 32: [0.2, 0.4, 0.52, 0.58], 1000: [0.1, 0.2, 0.3, 0.4]}
    toy = _synthetic(curves, {1: 1.0, 32: 0.1, 1000: 0.05})
    text = conclusion(summarize(toy))
    assert "stability" not in text and "took larger rates" not in text  # no rate failed anywhere

    def failing(at: dict[int, float]) -> Comparison:  # each batch size's rate 'at' diverged in every seed
        extra = [({**r, "learning_rate": at[r["batch_size"]], "status": "diverged", "final_train_loss": math.nan,
                   "final_test_accuracy": math.nan}, h) for r, h in zip(toy.rows, toy.histories)]
        rows, histories = zip(*[*zip(toy.rows, toy.histories), *extra])
        return Comparison(toy.settings, toy.variants, list(rows), list(histories))

    stable = conclusion(summarize(failing({1: 0.3, 32: 3.0, 1000: 3.0})))
    assert ("Mini-batch 32, between the smallest and the largest batch, was the fastest to the target per second "
            "of compute, with 32 updates per epoch, each averaging 32 samples, and it took larger rates: the "
            "smallest at which most seeds failed was 3, against 0.3 for SGD.") in stable
    not_stable = conclusion(summarize(failing({1: 3.0, 32: 0.3, 1000: 3.0})))
    assert "each averaging 32 samples." in not_stable and "took larger rates" not in not_stable


def test_a_variant_no_rate_of_which_trained_is_never_first_to_the_target_nor_best() -> None:
    toy = _synthetic({1: [0.55, 0.6], 32: [0.2, 0.52]}, {1: 1.0, 32: 0.1}, epochs=2)  # SGD: 55% at epoch 1,
    rows = [{**r, "status": "diverged"} if r["batch_size"] == 1 else r for r in toy.rows]  # then diverged
    summary = summarize(Comparison(toy.settings, toy.variants, rows, toy.histories))
    sgd, mini = summary.variants
    assert (sgd.trained, sgd.epochs_to_target, sgd.seconds_to_target, mini.trained) == (False, None, None, True)
    assert (summary.first_by_epoch, summary.first_by_second) == ("mini-batch 32", "mini-batch 32")
    assert sgd.best_learning_rate == 0.1 and sgd.mean == pytest.approx(0.6)  # the numbers stay
    text = conclusion(summary)
    assert "mini-batch 32 ended best" in text and "SGD ended best" not in text
    assert "No learning rate in the grid trained SGD (all 2 configs diverged) within 2 epochs" in text
    assert "Mini-batch 32 reached the target test accuracy of 50% first both per epoch (epoch 2)" in text
    cells = table.cells(summary)
    assert cells[0][3] == "— (all diverged)" and cells[1][3] == "0.1"
    marked = [[isinstance(c, table.Failed) for c in row] for row in cells]  # what the page colours
    assert marked == [[k == 3 for k in range(len(row))] for row in cells[:1]] + [[False] * len(cells[1])]


def test_the_conclusion_says_when_no_variant_reached_the_target() -> None:
    summary = summarize(_synthetic({1: [0.1, 0.2], 32: [0.1, 0.3]}, {1: 1.0, 32: 0.1}, epochs=2))
    assert summary.first_by_epoch is None and summary.first_by_second is None
    assert "No variant reached the target test accuracy of 50% within 2 epochs." in conclusion(summary)


@pytest.mark.parametrize(("largest", "calm"), [(1000, "whose one exact step per epoch is calm."),
                                               (128, "whose every step averages 128 samples.")])
def test_the_conclusion_says_how_often_the_smallest_batch_rose_and_why_the_largest_is_calm(
        largest: int, calm: str) -> None:
    toy = _synthetic({1: [0.3, 0.4, 0.5, 0.6], largest: [0.3, 0.4, 0.5, 0.6]}, {1: 1.0, largest: 0.1},
                     train={1: [2.0, 1.5, 1.7, 1.6], largest: [2.0, 1.9, 1.8, 1.7]})
    text = conclusion(summarize(toy))
    assert "its train loss went up in 1 of 3 epoch-to-epoch changes (mean over seeds) against 0 for " in text
    assert text.endswith(calm)


def test_paths_that_never_rose_leave_the_conclusion_its_per_epoch_noise_lesson() -> None:
    """With paths that show no noise, the per-epoch lesson stays (the paths' early return dropped it, with a
    trailing space); with a path that rose, the paths' sentence takes its place."""
    toy = _synthetic({1: [0.3, 0.4, 0.5, 0.6], 1000: [0.3, 0.4, 0.5, 0.6]}, {1: 1.0, 1000: 0.1},
                     train={1: [2.0, 1.5, 1.7, 1.6], 1000: [2.0, 1.9, 1.8, 1.7]})
    calm = [path_record("same", size, 1.0, 0, 1, 4, [0, 1, 2], [2.0, 1.9, 1.8]) for size in (1, 1000)]
    text = conclusion(summarize(dataclasses.replace(toy, paths=calm)))
    assert "its train loss went up in 1 of 3 epoch-to-epoch changes" in text and text == text.strip()
    assert text == conclusion(summarize(toy))
    noisy = [path_record("same", 1, 1.0, 0, 1, 4, [0, 1, 2], [2.0, 2.1, 1.8]), calm[1]]
    text = conclusion(summarize(dataclasses.replace(toy, paths=noisy)))
    assert "rose for SGD after 1 of 2 updates (by up to 0.1), against 0 of 2 for batch GD" in text
    assert "epoch-to-epoch changes" not in text


def test_a_count_of_rises_is_written_as_a_count() -> None:
    """After 300 epochs the conclusion said 'went up in 1.5e+02 of 299 epoch-to-epoch changes'."""
    rises = [2.0, 1.5] * 150  # up in 149 of 299 changes, both seeds
    toy = _synthetic({1: [0.1] * 299 + [0.6], 1000: [0.1] * 299 + [0.6]}, {1: 1.0, 1000: 0.1}, epochs=300,
                     train={1: rises, 1000: list(np.linspace(2.0, 1.0, 300))})
    assert "its train loss went up in 149 of 299 epoch-to-epoch changes" in conclusion(summarize(toy))
    count = importlib.import_module("gdlab.report.conclusion")._count  # the package's conclusion is the function
    assert [count(n) for n in (150.0, 2.0, 2 / 3, 7 / 3, 448 / 3)] == ["150", "2", "0.667", "2.33", "149.3"]


def test_a_tie_per_epoch_is_told_as_a_tie() -> None:
    """Mini-batch 8 and batch GD both reached the target at epoch 1; the conclusion said mini-batch 8 did so
    'first both per epoch (epoch 1) and per second'."""
    toy = _synthetic({8: [0.6, 0.7], 1000: [0.55, 0.7], 32: [0.2, 0.6]}, {8: 0.1, 1000: 0.5, 32: 0.01}, epochs=2)
    text = conclusion(summarize(toy))
    assert ("Mini-batch 8 and batch GD reached the target test accuracy of 50% in the same epoch (1); per second of "
            "compute, mini-batch 32 was first (0.02 s per config, epoch 2).") in text
    assert "first both per epoch" not in text and "Per epoch," not in text
    alone = conclusion(summarize(_synthetic({8: [0.6, 0.7], 1000: [0.55, 0.7]}, {8: 0.1, 1000: 0.5}, epochs=2)))
    assert ("Mini-batch 8 and batch GD reached the target test accuracy of 50% in the same epoch (1); per second of "
            "compute, mini-batch 8 was first (0.1 s per config).") in alone


def test_the_page_is_self_contained_and_shows_the_figures_and_the_table(comparison) -> None:
    page = render(comparison)
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#|data:)""", page)  # in-page references, data: URIs
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert page.count("<svg") == 3 and page.count("</svg>") == 3
    # which std ± is, and what a per-config second holds (a reader picks a batch size by it)
    assert "dividing by their number, not one less" in page and "includes measuring the train loss" in page
    # the folded table of every config in the page's words (it had the rows' field names, final_test_accuracy)
    assert "<th>batch size</th>" in page and "<th>batch_size</th>" not in page and "<th>final_" not in page
    ids = re.findall(r'id="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # the figures' ids never clash
    summary = summarize(comparison)
    for row in table.cells(summary):
        assert "<tr><td>" + "</td><td>".join(escape(c) for c in row) + "</td></tr>" in page
    assert escape(conclusion(summary)) in page
    assert "diverged" in page and "collapsed" in page


def test_the_heatmap_writes_accuracy_as_the_table_does_and_its_colour_bar_in_percent(comparison) -> None:
    summary = summarize(comparison)
    fig = plots.heatmap_figure(comparison, summary)
    texts = {t.get_text() for t in fig.axes[0].texts}
    for v in summary.variants:
        if v.trained:  # the best cell reads as the table's mean: 49.8%, not a rounded 50%
            assert table.cells(summary)[summary.variants.index(v)][4].split(" ± ")[0] in texts
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels() if t.get_text()]
    assert labels and all(label.endswith("%") for label in labels)


def test_save_and_load_round_trip_with_non_finite_numbers(comparison, tmp_path: Path) -> None:
    broken = Comparison(comparison.settings, comparison.variants,
                        [{**comparison.rows[0], "final_train_loss": math.nan}, *comparison.rows[1:]],
                        [{**comparison.histories[0], "train_loss": [1.0, math.inf, -math.inf]},
                         *comparison.histories[1:]])
    path = save(broken, tmp_path / "sweep.json")
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    back = load(path)
    assert math.isnan(back.rows[0]["final_train_loss"])
    assert back.histories[0]["train_loss"] == [1.0, math.inf, -math.inf]
    assert back.rows[1:] == comparison.rows[1:] and back.histories[1:] == comparison.histories[1:]
    assert back.settings == comparison.settings and back.variants == comparison.variants
    assert render(load(save(comparison, tmp_path / "again.json"))) == render(comparison)


def test_gdlab_report_of_a_saved_file_without_out_writes_its_name_with_html(tmp_path: Path, monkeypatch, capsys) -> None:
    """It wrote gdlab-compare.html, silently over the compare's own default report."""
    from gdlab.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    toy = _diverging({0.01: 3.0, 0.1: 1.0})
    save(Comparison({**toy.settings, "rates_rule": "as given"}, toy.variants, toy.rows, toy.histories),
         tmp_path / "runs" / "sweep.json")
    Path("gdlab-compare.html").write_text("the compare's own report")
    assert main(["report", "runs/sweep.json", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == "sweep.html"
    assert Path("sweep.html").read_text().startswith("<!DOCTYPE html>")
    assert Path("gdlab-compare.html").read_text() == "the compare's own report"
    assert main(["report", "runs/sweep.json", "-o", "other.html"]) == 0 and Path("other.html").is_file()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, r"path must be a saved comparison .*\(not found\)"),
        ("{not json", "path must be a saved comparison JSON file"),
        ('[{"seed": 0}]', "format 'gdlab-comparison'"),
        ('{"format": "gdlab-comparison", "version": 99}', "version must be 1; got 99"),
        (('{"format": "gdlab-comparison", "version": 1, "settings": {}, "variants": [], "rows": [{}], '
          '"histories": []}'), "damaged: it needs as many rows as histories"),
        ('{"format": "gdlab-comparison", "version": 1, "variants": [], "rows": [], "histories": []}',
         "damaged: it has no settings"),
        (('{"format": "gdlab-comparison", "version": 1, "settings": null, "variants": [], "rows": [{}], '
          '"histories": [{}]}'), "damaged: settings must be an object .*; settings is not"),
    ],
)
def test_load_refuses_what_is_not_a_saved_comparison(tmp_path: Path, content: str | None, match: str) -> None:
    path = tmp_path / "x.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load(path)


def test_the_finder_figure_has_a_log_rate_axis_each_seeds_curve_and_the_suggestions_marked() -> None:
    from gdlab.engine.lr_finder import RULES, LRFinderResult, Suggestion
    from gdlab.report import finder_figure

    rates = np.geomspace(1e-4, 1.0, 50)
    losses = np.stack([2 - np.log10(rates) * 0.1, 2.1 - np.log10(rates) * 0.1])
    suggestions = {"steepest": Suggestion(1e-2, (1e-2, 1e-2)), "valley": Suggestion(3e-3, (2e-3, 4e-3))}
    result = LRFinderResult(5e-3, (2e-3, 1e-2), suggestions, rates, losses, losses, [])
    ax = finder_figure(result, seeds=[7, 8]).axes[0]
    assert ax.get_xscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["seed 7", "seed 8", "steepest 0.01", "valley 0.003", "validated 0.005"]
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), losses[1])
    assert [line.get_xdata()[0] for line in ax.get_lines()[2:]] == [1e-2, 3e-3, 5e-3]
    every = {rule: Suggestion(10.0 ** -k, (10.0 ** -k,) * 2) for k, rule in enumerate(RULES, start=1)}
    marks = finder_figure(result._replace(suggestions=every)).axes[0].get_lines()[2:-1]
    styles = [(line.get_color(), line.get_linestyle()) for line in marks]  # told apart by each: red and brown
    assert len(marks) == len(RULES) == len({c for c, _ in styles}) == len({s for _, s in styles})  # dots read alike
    same = {"steepest": Suggestion(0.644, (0.644,)), "valley": Suggestion(0.6441, (0.6441,))}  # one line hid the other
    labels = [line.get_label() for line in finder_figure(result._replace(suggestions=same)).axes[0].get_lines()]
    assert labels == ["seed 0", "seed 1", "steepest = valley 0.644", "validated 0.005"]


def test_the_finder_page_plot_and_runs_show_offer_no_rate_from_a_minority_of_seeds() -> None:
    """minimum/10 from 1 of 3 seeds (per seed [nan, 1.17, nan]) was the page's suggestion, a line on the plot and
    runs show's 'minimum/10: 1.17 (1.17 to 1.17)', beside a note that the rule offers no rate."""
    from gdlab.commands.runs import _finder_lines
    from gdlab.engine.lr_finder import LRFinderResult, Suggestion
    from gdlab.report import finder_figure, render_finder

    rates = np.geomspace(1e-5, 1.0, 30)
    losses = np.tile(np.linspace(2.0, 1.0, 30), (3, 1))
    suggestions = {"steepest": Suggestion(0.07, (0.05, 0.07, 0.1)), "minimum/10": Suggestion(1.17, (math.nan, 1.17,
                                                                                                       math.nan))}
    result = LRFinderResult(0.1, (0.1, 0.1), suggestions, rates, losses, losses,
                            [{"learning_rate": 0.1, "mean": 1.0, "std": 0.01, "diverged": False}])
    page = render_finder({"id": "f1", "model": "linear", "dataset": "linreg", "config": {}}, result)
    assert "<td>minimum/10</td><td>—</td><td>1.17 (1 of 3 seeds)</td>" in page.replace("\n", ""), page
    assert "minimum/10 offered no rate for 2 of 3 seeds" in page and "so it suggests none (—)." in page
    labels = [line.get_label() for line in finder_figure(result).axes[0].get_lines()]
    assert any(label.startswith("steepest") for label in labels)
    assert not any(label.startswith("minimum/10") for label in labels), labels
    lines = _finder_lines(result)
    assert "  minimum/10: —; spread 1.17 (1 of 3 seeds)" in lines and "  steepest: 0.07; spread 0.05 to 0.1" in lines


def test_the_finder_legend_covers_no_curve_and_no_suggestion() -> None:
    """Curves that start high on the left (a noisy regression's) lay under the legend placed upper left."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from gdlab.engine.lr_finder import LRFinderResult, Suggestion
    from gdlab.report import finder_figure

    rates = np.geomspace(1e-5, 1.0, 100)
    losses = np.stack([6 - np.log10(rates / 1e-5) * 0.8 + 0.3 * k for k in range(3)])  # 6 on the left, down to 2
    suggestions = {rule: Suggestion(v, (v,)) for rule, v in
                   (("steepest", 0.07), ("valley", 0.05), ("minimum/10", 0.03), ("largest_stable", 0.3))}
    fig = finder_figure(LRFinderResult(0.1, (0.1, 0.18), suggestions, rates, losses, losses, []))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lays the figure out: the legend's place is known only then
    renderer = canvas.get_renderer()
    (ax,) = fig.axes
    legends = [*fig.legends, *([ax.get_legend()] if ax.get_legend() else [])]
    assert len(legends) == 1 and len(legends[0].get_texts()) == 3 + 4 + 2  # seeds, rules, interval, answer
    box = legends[0].get_window_extent(renderer)
    assert not box.overlaps(ax.get_window_extent(renderer))  # nothing drawn in the axes is under it
    for line in ax.get_lines()[:3]:
        points = ax.transData.transform(np.column_stack(line.get_data()))
        assert not any(box.contains(x, y) for x, y in points), line.get_label()


def test_gd_report_is_public_and_imported_only_when_used() -> None:
    import subprocess
    import sys

    code = ("import sys, gdlab as gd; assert 'gdlab.report' not in sys.modules and 'matplotlib' not in sys.modules; "
            "assert gd.report.render_run is gd.report.run_page.render_run; assert 'report' in gd.__all__; "
            "print(sorted(m for m in ('gdlab.report', 'matplotlib') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "['gdlab.report', 'matplotlib']"
    with pytest.raises(AttributeError, match="module 'gdlab' has no attribute 'reports'"):
        gd.reports  # noqa: B018
    names = dir(gd)  # what a shell completes: the lazy report, not the module's own imports
    assert "report" in names and {"fit", "sweep", "sgd"} <= set(names)
    assert not {"importlib", "Any"} & set(names)


def _diverging(final: dict[float, float]) -> Comparison:
    """Batch GD on a toy regression at the rates of final (rate -> final train loss); two seeds, 1 epoch."""
    rows, histories = [], []
    for rate, loss in final.items():
        for seed in (0, 1):
            status = "max_epochs" if math.isfinite(loss) and loss < 5.5 else "diverged"
            rows.append({"learning_rate": rate, "batch_size": 100, "seed": seed, "status": status,
                         "final_train_loss": loss, "initial_train_loss": 5.5, "final_test_loss": loss})
            histories.append({"train_loss": [loss], "test_loss": [loss], "epoch_time": [0.01]})
    settings = {"dataset": "toy", "model": "linear", "n_train": 100, "n_test": 20, "epochs": 1, "seeds": [0, 1],
                "target": None, "metric": "final_test_loss", "learning_rates": {"100": list(final)}}
    variants = [{"batch_size": 100, "label": "batch GD", "steps_per_epoch": 1, "configs": len(rows), "seconds": 0.0}]
    return Comparison(settings, variants, rows, histories)


def _still_diverging(toy: Comparison, rate: float, seeds: tuple[int, ...]) -> Comparison:
    """toy with the rows of rate at seeds ended on their budget still diverging (their reason says so, as
    engine.result.rise_note writes it) and the others of rate collapsed there."""
    rows = []
    for row in toy.rows:
        if row["learning_rate"] == rate:
            losses = [6.0, 6.5, 7.0] if row["seed"] in seeds else [6.0, 6.0, 6.0]  # from 5.5
            row = {**row, "status": "max_epochs", "final_train_loss": losses[-1],
                   "reason": "ran 3 epochs" + rise_note(losses, row["initial_train_loss"])}
        rows.append(row)
    return Comparison(toy.settings, toy.variants, rows, toy.histories)


def test_a_config_still_diverging_at_its_end_is_counted_apart_from_collapsed_ones_in_the_whole_report() -> None:
    """compare's conclusion said '... and 2 collapsed' of a sweep whose recorded reason counted one of them as
    diverging: the summary, table, conclusion, U-curve and --json counted every final loss above the start as
    collapsed."""
    from gdlab.commands.compare import comparison_json

    toy = _still_diverging(_diverging({0.01: 3.0, 0.1: 1.0, 1.0: 6.0, 1e3: math.inf}), 1.0, seeds=(0,))
    summary = summarize(toy)
    [v] = summary.variants
    assert (v.diverged, v.collapsed, v.diverging, v.too_high) == (2, 1, 1, 1.0)  # all three fail the rate
    text = conclusion(summary)
    assert ("in all, 2 of 8 configs diverged, 1 collapsed and 1 was still diverging when the budget ran out."
            in text), text
    assert ("collapsed (a final train loss at or above the loss before training, or back within 2% of it after "
            "rising above it) or were still diverging (a final "
            "train loss above the loss before training that rose by more than 1% in each of the last 3 epochs)"
            in text), text
    assert table.headers(summary)[-3:] == ["collapsed", "diverging", "too high from"]
    assert table.cells(summary)[0][-4:] == ["2/8", "1/8", "1/8", "1"]
    assert comparison_json(summary, toy, text)["variants"][0]["diverging"] == 1
    fig = plots.u_curve_figure(toy, summary)
    marks = {line.get_marker(): list(line.get_xdata()) for ax in fig.axes for line in ax.get_lines()
             if line.get_linestyle() == "None" and len(line.get_xdata())}
    assert (marks["^"], marks["o"], marks["x"]) == ([1.0], [1.0], [1e3, 1e3])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "diverging (still rising at the end)" in legend
    page = render(toy, summary).replace("&#x27;", "'")
    assert ("is still rising above where it started when the budget runs out (△: diverging) or ends at or above "
            "where it started, or back near it after rising above it (○: collapsed; a △ or ○ above the axis's top "
            "is drawn at the top)") in page
    assert "<td class=\"failed\">diverging</td>" in page and page.count("<td class=\"failed\">collapsed</td>") == 1


def test_the_conclusion_names_configs_still_diverging_where_no_rate_trained_and_where_few_seeds_failed() -> None:
    none = _still_diverging(_diverging({1.0: 6.0, 1e3: math.inf}), 1.0, seeds=(0, 1))
    assert conclusion(summarize(none)).startswith(
        "No learning rate in the grid trained: all 4 configs diverged, collapsed or were still diverging after 1 "
        "epoch, so no variant ended best")
    few = _still_diverging(_diverging({0.01: 3.0, 0.1: 1.0, 1.0: 6.0}), 1.0, seeds=(0,))
    rows = [{**r, "final_train_loss": 1.2, "reason": "ran 3 epochs"} if r["learning_rate"] == 1.0 and r["seed"] == 1
            else r for r in few.rows]  # seed 1 trained at 1.0: one of two seeds failed there
    text = conclusion(summarize(Comparison(few.settings, few.variants, rows, few.histories)))
    assert ("No learning rate in the grid failed for most seeds; in all, 0 of 6 configs diverged, 0 collapsed and 1 "
            "was still diverging when the budget ran out.") in text, text
    assert "None of the 6 configs diverged or collapsed" not in text  # one was diverging


def test_a_variant_where_only_a_minority_of_seeds_failed_is_not_said_to_have_no_failures() -> None:
    """The table counted SGD's collapsed 1/16 and the conclusion said "For SGD no rate in the grid diverged or
    collapsed"."""
    toy = _synthetic({1: [0.3, 0.6], 32: [0.2, 0.5], 128: [0.2, 0.5]}, dict.fromkeys((1, 32, 128), 0.1))
    base = summarize(toy)
    sgd, mini, big = base.variants
    told = dataclasses.replace(base, variants=(
        dataclasses.replace(sgd, too_high=None, collapsed=1, diverged=0, diverging=0),
        dataclasses.replace(mini, too_high=3.16, diverged=2, collapsed=0, diverging=0),
        dataclasses.replace(big, too_high=None, diverged=0, collapsed=0, diverging=0)))
    text = conclusion(told)
    assert f"For {big.label} no rate in the grid diverged or collapsed." in text, text
    assert f"For {sgd.label} no rate failed for most of its seeds, though some seeds did." in text, text
    assert f"For {sgd.label} no rate in the grid" not in text


def test_the_conclusion_draws_nothing_from_a_failure_at_the_grids_smallest_rate_nor_a_spread_of_one_seed() -> None:
    """--learning-rates 0.3,30,300: "The learning rate first became too high at 0.3 for SGD" (its smallest rate),
    and "SGD first failed at 0.3, while batch GD ... failed first at 30" offered as the noise of one sample's
    gradient. With one seed the conclusion still said "their spreads over seeds are not compared"."""
    toy = _synthetic({1: [0.3, 0.6], 32: [0.2, 0.5], 128: [0.2, 0.5]}, dict.fromkeys((1, 32, 128), 0.1))
    base = summarize(toy)
    sgd, mini, big = base.variants
    edge = dataclasses.replace(base, variants=(
        dataclasses.replace(sgd, too_high=sgd.lowest_learning_rate, diverged=2, collapsed=0, diverging=0),
        mini, dataclasses.replace(big, too_high=30.0, diverged=2, collapsed=0, diverging=0)))
    text = conclusion(edge)
    assert f"first became too high at or below {sgd.lowest_learning_rate:.3g} for {sgd.label}" in text, text
    assert "is noisy" not in text, text
    barely = dataclasses.replace(base, variants=(
        dataclasses.replace(sgd, seeds=1, initial_train_loss=2.3, best_final_train_loss=0.3, trained=True),
        mini, dataclasses.replace(big, seeds=1, initial_train_loss=2.3, best_final_train_loss=2.2, trained=True)))
    assert "spreads over seeds" not in conclusion(barely)
    many = dataclasses.replace(barely, variants=tuple(dataclasses.replace(v, seeds=3) for v in barely.variants))
    assert "spreads over seeds are not compared" in conclusion(many)


def test_variants_within_their_spread_over_seeds_end_level_not_one_best() -> None:
    """linreg: "SGD ended best: final test loss 0.01032 ± 0.000116", mini-batch 32 at 0.01033 ± 0.0001165."""
    toy = _synthetic({1: [0.3, 0.6], 32: [0.2, 0.5], 128: [0.2, 0.5]}, dict.fromkeys((1, 32, 128), 0.1))
    base = summarize(toy)
    sgd, mini, big = (dataclasses.replace(v, seeds=2, trained=True) for v in base.variants)
    level = dataclasses.replace(base, metric="final_test_loss", variants=(
        dataclasses.replace(sgd, mean=0.01032, std=0.000116), dataclasses.replace(mini, mean=0.01033, std=0.0001165),
        dataclasses.replace(big, mean=0.0107, std=0.0000011)))
    text = conclusion(level)
    assert f"{sgd.label} and {mini.label} ended level, within their spread over seeds" in text, text
    assert "ended best" not in text
    apart = dataclasses.replace(level, variants=(level.variants[0], dataclasses.replace(level.variants[1], mean=0.02),
                                                 level.variants[2]))
    assert f"{sgd.label} ended best" in conclusion(apart)
    three = dataclasses.replace(level, variants=(*level.variants[:2], dataclasses.replace(big, mean=0.01033, std=1e-4)))
    assert "SGD, mini-batch 32 and mini-batch 128 ended level" in conclusion(three)  # was 'SGD and mini-batch 32 and'



def test_the_terminal_table_with_a_diverging_column_fits_150_columns_one_line_per_variant(capsys) -> None:
    """Four variants, a target and the diverging column: eleven columns, the widest table compare prints."""
    from gdlab.commands.compare import print_summary

    toy = _synthetic({1: [0.3, 0.6], 32: [0.2, 0.5], 128: [0.2, 0.5], 1000: [0.2, 0.5]}, dict.fromkeys((1, 32, 128, 1000), 0.1))
    wide = dataclasses.replace(summarize(toy), variants=tuple(
        dataclasses.replace(v, best_learning_rate=0.0316, mean=0.613, std=0.0213, seeds=3, epochs_to_target=12,
                            seconds_to_target=123.0, diverged=12, collapsed=3, diverging=2, configs=24, too_high=3.16)
        for v in summarize(toy).variants))
    assert len(table.headers(wide)) == 11
    print_summary(wide, Comparison({**toy.settings, "rates_rule": "as given"}, toy.variants, toy.rows, toy.histories),
                  conclusion(wide), {})
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 150
    rows = [line for line in lines if line.startswith("│ ") and "/24" in line]
    assert len(rows) == 4 and all("61.3% ± 2.1%" in row and "│ 12/24 │ 3/24 │ 2/24 │" in " ".join(row.split())
                                  for row in rows), "\n".join(lines)


def test_a_sweep_recorded_before_diverging_was_told_apart_reports_as_before() -> None:
    """Its reasons lack DIVERGING: every final loss above the start is collapsed, and no diverging column."""
    toy = _diverging({0.01: 3.0, 0.1: 1.0, 1.0: 6.0, 1e3: math.inf})
    rows = [{**r, "status": "max_epochs"} if r["learning_rate"] == 1.0 else r for r in toy.rows]
    old = summarize(Comparison(toy.settings, toy.variants, rows, toy.histories))
    assert (old.variants[0].collapsed, old.variants[0].diverging) == (2, 0)
    assert "in all, 2 of 8 configs diverged and 2 collapsed." in conclusion(old)
    assert "diverging" not in table.headers(old) and "still diverging" not in conclusion(old)


def test_when_every_config_diverged_the_conclusion_names_no_winner_and_no_slow_rate() -> None:
    text = conclusion(summarize(_diverging({100.0: 2e5, 1e3: math.inf, 1e4: 2e9})))
    assert text.startswith("No learning rate in the grid trained: all 6 configs diverged or collapsed within 1 "
                           "epoch, so no variant ended best")
    assert "ended best" not in text.replace("no variant ended best", "")
    assert "Too low a rate" not in text and "inf" not in text  # not 'the loss only fell from 5.5 to inf'
    slow = conclusion(summarize(_diverging({0.001: 5.4, 0.1: 1.0, 1e3: math.inf})))
    # one variant: nothing to be best among (it said "batch GD ended best")
    assert "With a budget of 1 epoch, batch GD ended at final test loss" in slow and "ended best" not in slow
    assert "only fell from about 5.5 to 5.4 (batch GD at 0.001)" in slow


def test_a_rate_that_neither_failed_but_ended_clearly_worse_is_too_high_for_the_budget() -> None:
    """gdlab compare at 0.5, 1.5, 3.5 (batch GD, 30 epochs): 3.5 ended at train loss 2.18 against 1.68 at 1.5 and
    the conclusion said 'No learning rate in the grid was too high'. Here 1.0 ends at 4.0 against 1.0 at the best
    rate 0.1, from 5.5: 67% of the fall given back, over WORSE (10%)."""
    text = conclusion(summarize(_diverging({0.01: 3.0, 0.1: 1.0, 1.0: 4.0})))
    assert "too high" not in text  # the table's "too high from" is where most seeds failed: none did here
    assert ("None of the 6 configs diverged or collapsed by gdlab's rules. Yet a learning rate above the best did "
            "clearly worse within this budget of 1 epoch: batch GD at 1 ended at a mean final train loss of 4 against 1 at its "
            "best rate 0.1 (mean final test loss 4 against 1).") in text, text
    two = conclusion(summarize(_diverging({0.1: 1.0, 0.5: 3.5, 1.0: 4.0})))
    assert ("Yet a learning rate above the best did clearly worse within this budget of 1 epoch: batch GD at 0.5 ended at a "
            "mean final train loss of 3.5 against 1 at its best rate 0.1") in two  # its smallest such rate: one paragraph
    close = conclusion(summarize(_diverging({0.01: 3.0, 0.1: 1.0, 1.0: 1.4})))  # 0.4 < 0.45: within WORSE of the fall
    assert close.endswith("None of the 6 configs diverged or collapsed by gdlab's rules."), close


def test_too_high_names_the_smallest_failing_rate_and_the_seed_where_there_is_one() -> None:
    """'from there most seeds diverged' with one seed, and with a larger rate that trained again."""
    toy = _diverging({0.01: 1.0, 0.1: math.inf, 1.0: 1.0})  # 0.1 diverged, 1.0 trained
    text = conclusion(summarize(toy))
    assert ("The learning rate first became too high at 0.1 for batch GD, the smallest rate at which most seeds "
            "diverged (a non-finite train loss, or one above the divergence rule's factor, 100 by default, times the "
            "loss before training) or collapsed") in text  # a library sweep's: its rule's factor is not known
    assert "from there" not in text
    kept = [k for k, r in enumerate(toy.rows) if r["seed"] == 0]
    one = Comparison({**toy.settings, "seeds": [0]}, [{**toy.variants[0], "configs": 3}],
                     [toy.rows[k] for k in kept], [toy.histories[k] for k in kept])
    single = conclusion(summarize(one))
    assert "the smallest rate at which the seed diverged (a non-finite train loss, or one above" in single
    assert "most seeds" not in single
    titles = [plots.heatmap_figure(c, summarize(c)).axes[0].get_title() for c in (toy, one)]
    assert titles == [f"Final test loss ({seeds}); ×: {who} diverged or collapsed; box: the best rate"
                      for seeds, who in (("mean over seeds", "most seeds"), ("one seed", "the seed"))]


def test_diverged_is_defined_as_the_divergence_rule_counts_it_not_only_as_a_non_finite_loss() -> None:
    """SGD at 0.1 on linreg ended at a finite 3.5e22, caught by gd.stop.diverged(factor=100), while the conclusion
    and the page defined diverged as '(a non-finite loss)'."""
    toy = _diverging({0.01: 1.0, 0.1: 3.5e22})
    assert {r["status"] for r in toy.rows if r["learning_rate"] == 0.1} == {"diverged"}
    compared = Comparison({**toy.settings, "diverged_factor": 100.0}, toy.variants, toy.rows, toy.histories)
    text = conclusion(summarize(compared))
    assert ("most seeds diverged (a non-finite train loss, or one above 100 x the loss before training) or "
            "collapsed") in text, text
    assert "non-finite loss)" not in text
    page = render(compared)
    assert ("Diverged: a non-finite train loss, or one above 100 x the loss before training (gd.stop.diverged, "
            "which stops the run).") in page.replace("&#x27;", "'")
    assert "Diverged: the loss became non-finite" not in page


def test_each_variant_draws_its_diverged_seeds_in_its_own_row_of_the_band_above_the_loss_axis() -> None:
    """Two variants diverging at the same rate: the second's × hid the first's (one height for all); then the rows
    sat on the loss axis above its top, where they read as losses: now in a band of their own."""
    toy = _diverging({0.01: 3.0, 0.1: 1.0, 1e3: math.inf})
    rows = toy.rows + [{**row, "batch_size": 10} for row in toy.rows]
    variants = [*toy.variants, {**toy.variants[0], "batch_size": 10, "label": "mini-batch 10", "steps_per_epoch": 10}]
    settings = {**toy.settings, "learning_rates": {"100": [0.01, 0.1, 1e3], "10": [0.01, 0.1, 1e3]}}
    two = Comparison(settings, variants, rows, toy.histories * 2)
    ax, band = plots.u_curve_figure(two, summarize(two)).axes
    assert not [line for line in ax.get_lines() if line.get_marker() == "x" and len(line.get_xdata())]
    assert ax.get_ylim()[1] == pytest.approx(5.5 * 1.6 * 1.05)  # no rows above the top
    crosses = [line for line in band.get_lines() if line.get_marker() == "x" and len(line.get_xdata())]
    heights = [sorted(line.get_ydata()) for line in crosses]
    # the first variant on top (the band's y axis runs down); a rate's two seeds side by side in their row
    assert heights == [[-0.25, 0.25], [0.75, 1.25]]  # one diverged rate, its two seeds
    assert band.get_ylim() == (1.5, -0.5)
    assert [line.get_color() for line in crosses] == plots.colors(summarize(two))


def test_a_variant_with_one_rate_where_every_seed_trained_shows_its_mean() -> None:
    """Its mean line went through one point and drew nothing."""
    toy = _diverging({0.01: 6.0, 0.1: 1.0, 1e3: math.inf, 1e4: 0.5})  # 0.01 and 1e3 failed: 0.1 and 1e4 trained alone
    ax = plots.u_curve_figure(toy, summarize(toy)).axes[0]
    [dashes] = [line for line in ax.get_lines() if line.get_marker() == "_"]
    assert list(dashes.get_xdata()) == [0.1, 1e4] and list(dashes.get_ydata()) == [1.0, 0.5]
    assert dashes.get_color() == plots.colors(summarize(toy))[0]
    joined = _diverging({0.01: 2.0, 0.1: 1.0, 1e3: math.inf})  # two neighbours: the line shows them
    assert not [line for line in plots.u_curve_figure(joined, summarize(joined)).axes[0].get_lines()
                if line.get_marker() == "_"]


def test_the_heatmap_colours_span_the_configs_that_trained_not_a_diverged_loss() -> None:
    toy = _diverging({0.001: 5.4, 0.01: 3.0, 0.1: 0.01, 1e3: 1e30, 1e4: math.inf})
    summary = summarize(toy)
    fig = plots.heatmap_figure(toy, summary)
    image = fig.axes[0].images[0]
    colours = image.to_rgba(np.asarray(image.get_array()))[0]
    assert len({tuple(np.round(c, 3)) for c in colours[:3]}) == 3  # 5.4, 3.0 and 0.01 tell apart
    assert isinstance(image.norm, matplotlib.colors.LogNorm)  # 0.01 to 5.4: over two decades
    assert_allclose((image.norm.vmin, image.norm.vmax), (0.01, 5.4))
    assert_allclose(colours[3], colours[0])  # a diverged cell takes the worst colour,
    assert_allclose(colours[4], colours[0])  # one with no finite loss too, not the grey of a missing cell


def test_a_grid_of_thousands_of_rates_draws_marks_by_kind_labels_few_cells_and_tells_the_grid_by_its_range() -> None:
    rates = list(np.geomspace(1e-4, 1e4, 400))
    toy = _diverging({lr: (5.4 - lr if lr < 1 else 6.0 if lr < 100 else math.inf) for lr in rates})
    for row in toy.rows:  # 1 to 100: collapsed, finite at 6.0 above its start of 5.5
        row["status"] = "max_epochs" if row["final_train_loss"] == 6.0 else row["status"]
    summary = summarize(toy)
    ax, band = plots.u_curve_figure(toy, summary).axes
    marks = {line.get_marker(): line for axes in (ax, band) for line in axes.get_lines()
             if line.get_linestyle() == "None" and len(line.get_xdata())}
    assert set(marks) == {".", "o", "x"}  # one line of marks per kind, not 800 lines
    for marker, kind in ((".", None), ("o", "collapsed"), ("x", "diverged")):
        assert sorted(marks[marker].get_xdata()) == sorted(r["learning_rate"] for r in toy.rows if failure(r) == kind)
    assert marks["x"] in band.get_lines() and set(marks["x"].get_ydata()) == {-0.25, 0.25}  # its row: 2 seeds
    [line] = [line for line in ax.get_lines() if line.get_label() == "batch GD"]
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    np.testing.assert_allclose(y[x < 1], 5.4 - x[x < 1])  # the seeds' mean where both trained
    assert np.isnan(y[x >= 1]).all()  # no mean of failed seeds (collapsed at 6.0 or diverged): the line breaks
    heat = plots.heatmap_figure(toy, summary).axes[0]
    assert len(heat.get_xticks()) == plots.LABELLED_RATES and len(heat.texts) == 1  # the best cell's value only
    assert [t.get_text() for t in heat.get_xticklabels()][::15] == ["0.0001", "1e+04"]
    assert html._rates(rates) == "400 from 0.0001 to 1e+04, log-spaced"
    assert html._rates([*rates[:-1], 2e4]) == "400 from 0.0001 to 2e+04"  # not log-spaced
    assert html._rates(rates[:3]) == "0.0001, 0.000105, 0.00011"


def test_a_grid_too_fine_for_a_cross_per_cell_hatches_each_run_of_failed_cells() -> None:
    rates = list(np.geomspace(1e-4, 1e4, 400))  # diverged from 0.01 to 0.1 and from 1 on: two runs
    toy = _diverging({lr: (math.inf if 0.01 <= lr < 0.1 or lr >= 1 else 5.4 - lr) for lr in rates})
    heat = plots.heatmap_figure(toy, summarize(toy)).axes[0]
    [hatched] = [patch for patch in heat.patches if patch.get_hatch()]
    runs = [(min(x for x, _ in p), max(x for x, _ in p)) for p in hatched.get_path().to_polygons()]
    failed = [j for j, lr in enumerate(rates) if 0.01 <= lr < 0.1 or lr >= 1]
    split = next(k for k in range(1, len(failed)) if failed[k] != failed[k - 1] + 1)
    assert runs == [(failed[0] - 0.5, failed[split - 1] + 0.5), (failed[split] - 0.5, failed[-1] + 0.5)]
    assert "hatched: most seeds diverged" in heat.get_title() and len(heat.texts) == 1  # no × per cell
    few = plots.heatmap_figure(small := _diverging({0.1: 1.0, 1e3: math.inf}), summarize(small)).axes[0]
    assert not [patch for patch in few.patches if patch.get_hatch()] and "×: most seeds" in few.get_title()
    assert [t.get_text() for t in few.texts] == ["1", "×"]


def test_a_sweep_of_more_configs_than_listed_tables_the_best_of_each_batch_size(monkeypatch) -> None:
    rates = list(np.geomspace(1e-3, 1e3, 30))
    toy = _diverging({lr: (5.4 - lr if lr < 1 else 6.0 if lr < 100 else math.inf) for lr in rates})
    for row in toy.rows:  # seed 1 a little worse than seed 0; 1 to 100: collapsed (finite, above the start)
        row["final_test_loss"] = row["final_train_loss"] + 0.01 * row["seed"]
    summary = summarize(toy)

    def listed() -> list[tuple[str, int]]:  # (rate as the table prints it, seed)
        body = html._all_configs(toy, summary)
        return [(m[0], int(m[1])) for m in re.findall(r"<tr><td>100 \(all\)</td><td>([^<]+)</td><td>(\d)</td>", body)]

    assert len(listed()) == 60 and "Every config (60)" in html._all_configs(toy, summary)
    monkeypatch.setattr(html, "LISTED_CONFIGS", 7)
    trained = sorted((r for r in toy.rows if failure(r) is None), key=lambda r: r["final_test_loss"])
    assert [(f"{r['learning_rate']:.4g}", r["seed"]) for r in trained[:7]] == listed()
    assert "The best 7 configs of each batch size by test loss, of 60" in html._all_configs(toy, summary)
    accuracy = [{**r, "final_test_accuracy": r["learning_rate"]} for r in toy.rows]  # higher is better
    best = html.best_rows(accuracy, "final_test_accuracy", 3)
    assert [r["learning_rate"] for r in best] == sorted((r["learning_rate"] for r in trained), reverse=True)[:3]
    two = [*toy.rows, *({**r, "batch_size": 10} for r in toy.rows)]
    assert [r["batch_size"] for r in html.best_rows(two, "final_test_loss", 2)] == [100, 100, 10, 10]
    assert [failure(r) for r in html.best_rows(toy.rows, "final_test_loss", 60)[-4:]] == ["diverged"] * 4


def _seed_marks(svg: str, summary: Summary) -> int:
    """The SVG's <use> marks in a variant's colour: the U-curve's seeds (ticks and legend keys are black)."""
    colours = "|".join(plots.colors(summary))
    return len(re.findall(rf'<use [^>]*\bx="[^>]*style="[^"]*(?:{colours})', svg))


def test_a_small_sweeps_u_curve_draws_one_vector_mark_per_seed(comparison) -> None:
    summary = summarize(comparison)
    svg = plots.u_curve(comparison, summary)
    assert _seed_marks(svg, summary) == len(comparison.rows) == 12  # trained, collapsed and diverged alike
    assert "<image" not in svg


def test_a_sweep_of_more_configs_than_rasterized_seeds_draws_every_seed_in_one_image_under_the_means() -> None:
    rates = list(np.geomspace(1e-4, 1e4, 700))  # 1,400 configs; 1e3 and up diverge, 1 to 1e3 collapse
    toy = _diverging({lr: (5.4 - lr if lr < 1 else 6.0 if lr < 1e3 else math.inf) for lr in rates})
    for row in toy.rows:  # collapsed: finite at 6.0, above its start of 5.5
        row["status"] = "max_epochs" if row["final_train_loss"] == 6.0 else row["status"]
    summary = summarize(toy)
    assert len(toy.rows) > plots.RASTERIZED_SEEDS
    fig = plots.u_curve_figure(toy, summary)
    ax = fig.axes[0]
    marks = {line.get_marker(): line for axes in fig.axes for line in axes.get_lines()
             if line.get_linestyle() == "None" and len(line.get_xdata())}
    for marker, kind in ((".", None), ("o", "collapsed"), ("x", "diverged")):  # still one mark per seed
        assert sorted(marks[marker].get_xdata()) == sorted(r["learning_rate"] for r in toy.rows if failure(r) == kind)
    [mean] = [line for line in ax.get_lines() if line.get_label() == "batch GD"]
    assert not mean.get_rasterized()
    assert all(m.get_rasterized() and m.get_zorder() < mean.get_zorder() for m in marks.values())
    assert "diverged (the band above, a row per batch size)" in [t.get_text() for t in fig.legends[0].get_texts()]
    svg = plots.u_curve(toy, summary)
    assert svg.count("<image") == 2 and _seed_marks(svg, summary) == 0  # every variant's marks: one image an axes
    data = max(re.findall(r'"data:image/png;base64,([^"]+)"', svg), key=len)  # the loss axis's (the band's: ×)
    pixels = matplotlib.image.imread(io.BytesIO(base64.b64decode(data)), format="png")
    colour = np.all(np.abs(pixels[..., :3] - matplotlib.colors.to_rgb(plots.colors(summary)[0])) < 0.02, axis=-1)
    assert np.sum(colour & (pixels[..., 3] > 0.5)) > 1000  # the marks are in it
    assert len(svg) < 150_000  # 1,400 vector marks took 270 KB
    assert len(render(toy, summary)) < 400_000


@pytest.mark.parametrize("variants", [1, 2, 3, 4])
def test_the_u_curve_legend_fits_inside_its_figure(variants) -> None:
    """With a diverging entry, one variant's five entries in four columns (filled column by column) paired two long
    labels and ran past both sides of the figure; two or three variants' legends did by a little before."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    toy = _still_diverging(_diverging({0.01: 3.0, 0.1: 1.0, 1.0: 6.0, 1e3: math.inf}), 1.0, seeds=(0,))
    sizes = [100, 1, 10, 32][:variants]
    rows = [{**r, "batch_size": size} for size in sizes for r in toy.rows]
    kinds = [{**toy.variants[0], "batch_size": size, "label": variant_label(size, 100)} for size in sizes]
    many = Comparison({**toy.settings, "learning_rates": {str(s): [0.01, 0.1, 1.0, 1e3] for s in sizes}}, kinds,
                      rows, toy.histories * variants)
    fig = plots.u_curve_figure(many, summarize(many))
    FigureCanvasAgg(fig).draw()
    box = fig.legends[0].get_window_extent()
    assert len(fig.legends[0].get_texts()) == variants + 4
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width, (box, fig.bbox)


def test_the_u_curve_legend_is_outside_the_axes_and_names_only_the_kinds_of_failure_drawn() -> None:
    """It listed △ diverging and ○ collapsed where no config was either."""
    toy = _diverging({0.001: 5.4, 0.1: 1.0, 1e3: math.inf})
    fig = plots.u_curve_figure(toy, summarize(toy))
    assert fig.axes[0].get_legend() is None and len(fig.legends) == 1
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert labels == ["batch GD", "diverged (the band above, a row per batch size)",
                      "mean over seeds, where every seed trained"]
    collapsed = _still_diverging(_diverging({0.001: 5.4, 0.1: 1.0, 1.0: 6.0}), 1.0, seeds=())
    labels = [text.get_text() for text in plots.u_curve_figure(collapsed, summarize(collapsed)).legends[0].get_texts()]
    # "settled" read wrong of a loss 85x its start after 2 updates: collapsed is where it ended, not how
    assert labels == ["batch GD", "collapsed (ended near or above the start)", "mean over seeds, where every seed trained"]
    assert len(plots.u_curve_figure(collapsed, summarize(collapsed)).axes) == 1  # nothing diverged: no band


def test_with_one_epoch_the_test_panel_shares_the_epoch_axis_of_the_train_loss() -> None:
    toy = _diverging({0.001: 5.4, 0.1: 1.0})
    axes = plots.curves_figure(toy, summarize(toy)).axes
    assert axes[0].get_shared_x_axes().joined(axes[0], axes[2])
    low, high = axes[2].get_xlim()
    assert low < 0 and high > 1  # epoch 0 to 1, not 0.95 to 1.05


def test_a_diverged_variants_curve_leaves_the_loss_axis_and_decades_of_loss_go_on_a_log_axis() -> None:
    """An SGD whose every rate diverged (its least bad curve at 1e21) set the train-loss axis: a 1e21 offset, the
    other variants flat at 0. A regression's loss falling from 5.5 to 0.01 lay flat on a linear axis."""
    rows, histories = [], []
    for size, loss in ((1, 1e21), (100, 1.0)):
        for seed in (0, 1):
            rows.append({"learning_rate": 0.3, "batch_size": size, "seed": seed,
                         "status": "diverged" if loss > 100 else "max_epochs", "final_train_loss": loss,
                         "initial_train_loss": 5.5, "final_test_loss": loss})
            histories.append({"train_loss": [loss], "test_loss": [loss], "epoch_time": [0.01]})
    settings = {"dataset": "toy", "model": "linear", "n_train": 100, "n_test": 20, "epochs": 1, "seeds": [0, 1],
                "target": None, "metric": "final_test_loss", "learning_rates": {"1": [0.3], "100": [0.3]}}
    variants = [{"batch_size": size, "label": label, "steps_per_epoch": steps, "configs": 2, "seconds": 0.0}
                for size, label, steps in ((1, "SGD", 100), (100, "batch GD", 1))]
    blown = Comparison(settings, variants, rows, histories)
    axes = plots.curves_figure(blown, summarize(blown)).axes
    for ax in axes[:2]:  # the train loss, per epoch and per second
        low, high = ax.get_ylim()
        assert ax.get_yscale() == "linear" and low <= 0.8 * 1.0 and high == pytest.approx(1.6 * 5.5), (low, high)
    decades = _diverging({0.001: 5.4, 0.1: 0.01})
    axes = plots.curves_figure(decades, summarize(decades)).axes
    assert [ax.get_yscale() for ax in axes] == ["log"] * 4  # train and test loss
    assert axes[0].get_ylim() == pytest.approx((0.8 * 0.01, 1.1 * 5.5))  # nothing rose: little room above the start
    rose = _diverging({0.001: 5.4, 0.1: 1.0})
    for history in rose.histories:  # every curve above its start after epoch 1
        history["train_loss"] = [7.0, *history["train_loss"][1:]]
    assert plots.curves_figure(rose, summarize(rose)).axes[0].get_ylim()[1] == pytest.approx(1.6 * 5.5)


def _run_record(status: str, reason: str) -> dict:
    return {"id": "r1", "status": status, "reason": reason, "model": "linear", "dataset": "linreg", "epochs": 3,
            "epochs_run": 3, "steps_run": 9, "seed": 0, "config": {"batch_size": 32}}


def test_a_run_that_diverged_in_its_first_epoch_says_so_instead_of_an_empty_figure() -> None:
    reason = "diverged: non-finite loss inf at epoch 1, step 9 of 25 (update 9)"
    history = {"train_loss": np.array([np.inf]), "test_loss": np.array([np.inf]), "wall_time": np.array([0.1])}
    page = render_run(_run_record("diverged", reason), history)  # an empty legend warned (an error here)
    assert f'<p class="conclusion bad">{reason}</p>' in page  # not 'diverged: diverged: ...'; red, not green
    assert '<p class="conclusion">max_epochs: -</p>' in render_run(_run_record("max_epochs", ""), history)
    assert '<p class="conclusion open">' in render_run(_run_record("interrupted", "interrupted: Ctrl-C"), history)
    assert "No finite loss was recorded: the run diverged in its first epoch" in page
    assert "<svg" not in page


def test_a_run_that_diverged_later_marks_the_epoch_on_its_curves() -> None:
    history = {"train_loss": np.array([2.0, 1.5, np.inf]), "test_loss": np.array([2.1, 1.6, np.inf]),
               "wall_time": np.array([0.1, 0.2, 0.3])}
    page = render_run(_run_record("diverged", "diverged: non-finite loss inf at epoch 3"), history)
    assert page.count("stroke: #b00020") == 3  # the diverged epoch on both axes, and in the legend
    calm = render_run(_run_record("max_epochs", "ran 3 epochs"), {**history, "train_loss": np.array([2.0, 1.5, 1.2])})
    assert "stroke: #b00020" not in calm and '<p class="conclusion">max_epochs: ran 3 epochs</p>' in calm


def _finder_result(validation: list[dict]) -> gd.LRFinderResult:
    """A one-seed finder on a made-up curve: no valley, 0.01 validated, validation as given."""
    from gdlab.engine.lr_finder import LRFinderResult, Suggestion

    rates = np.geomspace(1e-4, 1.0, 20)
    losses = np.stack([2 - np.log10(rates) * 0.1])
    suggestions = {"steepest": Suggestion(1e-2, (1e-2,)), "valley": Suggestion(math.nan, (math.nan,))}
    return LRFinderResult(1e-2, (1e-2, 1e-2), suggestions, rates, losses, losses, validation)


def test_the_finder_page_says_diverged_and_none_where_it_had_no_number() -> None:
    from gdlab.report import render_finder

    result = _finder_result([{"learning_rate": 1e-2, "mean": 0.5, "std": 0.0, "diverged": False},
                             {"learning_rate": 1.0, "mean": math.inf, "std": 0.0, "diverged": True}])
    page = render_finder({"id": "f1", "model": "linear", "dataset": "linreg", "config": {}}, result)
    assert '<tr><td>1</td><td class="failed">diverged</td><td>—</td><td></td></tr>' in page  # the mean was inf
    assert "<tr><td>valley</td><td>—</td><td>—</td><td>—</td></tr>" in page  # no valley on the one curve
    assert ">inf<" not in page and ">nan<" not in page and "nan to nan" not in page
    # its interval is the one rate 0.01: no band of zero width, and the answer does not say "0.01 to 0.01"
    assert "(the only candidate within one standard deviation of the best)" in page and "best: 0.01 to" not in page
    assert "grey band" not in page  # the caption spoke of a band the figure does not draw
    assert "<th>chosen</th>" in page
    assert not plots_of_finder(result).patches


def plots_of_finder(result: gd.LRFinderResult):
    from gdlab.report.finder import finder_figure

    return finder_figure(result).axes[0]


def test_a_recorded_finder_reads_back_diverged_where_its_mean_is_not_finite(tmp_path: Path) -> None:
    from dataclasses import asdict

    from gdlab.report import render_finder

    # no 'diverged' key, as an older gdlab's finder gave it: the store keeps only the mean, and load_finder
    # derives 'diverged' from it
    result = _finder_result([{"learning_rate": 1e-2, "mean": 0.5, "std": 0.0},
                             {"learning_rate": 1.0, "mean": math.inf, "std": 0.0}])
    with gd.store.open(tmp_path / "runs.db") as store:
        store.record_finder({"model": "linear", "dataset": "linreg", "seeds": [0]}, result)
        run = store.run(store.last_run_id)
        back = store.finder(run.id)
    assert [v["diverged"] for v in back.validation] == [False, True]
    page = render_finder(asdict(run), back)
    assert '<tr><td>1</td><td class="failed">diverged</td><td>—</td><td></td></tr>' in page
    assert "<tr><td>0.01</td><td>0.5</td><td>0</td><td>answer</td></tr>" in page


def test_the_seconds_axes_label_small_times_in_readable_units() -> None:
    toy = _diverging({0.001: 5.4, 0.1: 1.0})  # 0.01 s per epoch over 4 configs: 2.5 ms per config
    fig = plots.curves_figure(toy, summarize(toy))
    fig.draw_without_rendering()
    labels = [t.get_text() for t in fig.axes[1].get_xticklabels() if t.get_text()]
    assert "2 ms" in labels and all(label.endswith("s") and len(label) <= 7 for label in labels), labels


def test_a_run_pages_train_loss_starts_from_the_loss_before_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compare report's curves start at epoch 0; a run's page started at epoch 1, with nothing before training."""
    from gdlab.report import run_page

    monkeypatch.setattr(run_page, "_svg", lambda fig, name: fig)  # the figure itself, not its SVG
    history = {"train_loss": np.array([2.0, 1.5]), "test_loss": np.array([2.1, 1.7]), "wall_time": np.array([0.1, 0.2])}
    by_epoch, by_second = run_page.curves(history, initial_loss=2.3).axes[:2]
    for ax, x in ((by_epoch, [0, 1, 2]), (by_second, [0, 0.1, 0.2])):
        train, test = ax.get_lines()[:2]
        np.testing.assert_allclose(train.get_xdata(), x)
        np.testing.assert_allclose(train.get_ydata(), [2.3, 2.0, 1.5])
        assert len(test.get_xdata()) == 2  # the test loss before training is not measured
    assert by_epoch.get_xlim() == (-0.5, 2.5)
    unknown = run_page.curves(history, initial_loss=None).axes[0]  # an old record: none stored
    assert list(unknown.get_lines()[0].get_xdata()) == [1, 2] and unknown.get_xlim() == (0.5, 2.5)


def test_the_run_page_lists_each_setting_once_and_no_best_learning_rate() -> None:
    run = {**_run_record("max_epochs", "ran 2 epochs"), "dataset_fingerprint": "abc",
           "config": {"batch_size": 32, "dataset_fingerprint": "abc"}}
    history = {"train_loss": np.array([2.0, 1.5]), "learning_rate": np.array([0.1, 0.05])}
    page = render_run(run, history)
    assert page.count("<td>dataset_fingerprint</td>") == 1
    assert "<tr><td>learning_rate</td><td>0.05</td><td></td></tr>" in page  # not '0.05 (epoch 2)' as a best

    run["config"] = {"rule": {"learning_rate": [float(np.float32(0.1)), 0.123456789], "momentum": 0.9}}
    page = render_run(run, {**history, "grad_norm": np.array([1.0, 0.5])})
    assert "<td>rule.learning_rate</td><td>[0.1, 0.123456789]</td>" in page  # float32's 0.1, not 0.10000000149011612
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page  # readable on a phone
    assert "Measured after each epoch.</figcaption>" in page and "track_sharpness" not in page  # none tracked


def test_a_sweep_members_page_says_its_seconds_are_its_groups_not_its_own() -> None:
    """A member's wall_time is its vmapped group's (the same for every config of its batch size); the page
    called it 'the run's wall-clock seconds'."""
    history = {"train_loss": np.array([2.0, 1.5]), "wall_time": np.array([0.1, 0.2])}
    sweep = {"id": "s1", "kind": "compare", "status": "done", "position": 0, "configs": 8,
             "grid": {"batch_size": [32]}, "report": "gdlab report s1"}
    member = render_run(_run_record("max_epochs", "ran 2 epochs"), history, sweep)
    assert "the run&#x27;s wall-clock seconds" not in member and "<td>train seconds</td>" not in member
    assert ("the same curves against the wall-clock seconds of the vmapped program that trained this config "
            "together with the other configs of its batch size") in member
    assert "<td>train seconds of its vmapped group (all its configs together)</td><td>0.2</td>" in member
    alone = render_run(_run_record("max_epochs", "ran 2 epochs"), history)
    assert "the run&#x27;s wall-clock seconds" in alone and "<td>train seconds</td><td>0.2</td>" in alone


def test_the_run_pages_curves_are_titled_by_what_they_show() -> None:
    """A regression run (no accuracy) had its loss curves under 'Loss and accuracy'."""
    history = {"train_loss": np.array([2.0, 1.5]), "test_loss": np.array([2.1, 1.6]), "wall_time": np.array([0.1, 0.2])}
    regression = render_run(_run_record("max_epochs", "ran 2 epochs"), history)
    assert "<h2>Loss</h2>" in regression and "accuracy" not in regression.lower()
    classifier = render_run(_run_record("max_epochs", "ran 2 epochs"), {**history, "test_accuracy": np.array([0.5, 0.6])})
    assert "<h2>Loss and accuracy</h2>" in classifier


def test_the_finder_plots_title_names_no_line_style_its_rules_do_not_all_have() -> None:
    """It said 'dotted: each rule's suggestion' over dotted, dashed, dash-dot and solid lines."""
    from gdlab.engine.lr_finder import LRFinderResult, Suggestion
    from gdlab.report import finder_figure

    rates = np.geomspace(1e-5, 1.0, 30)
    losses = np.tile(np.linspace(2.0, 1.0, 30), (2, 1))
    suggestions = {rule: Suggestion(v, (v, v)) for rule, v in
                   (("steepest", 0.07), ("valley", 0.05), ("minimum/10", 0.03), ("largest_stable", 0.3))}
    (ax,) = finder_figure(LRFinderResult(0.1, (0.1, 0.1), suggestions, rates, losses, losses, [])).axes
    styles = {line.get_linestyle() for line in ax.get_lines() if line.get_label().split()[0] in suggestions}
    assert len(styles) == 4  # each rule its own dash: no one style names them all
    title = ax.get_title()
    assert not any(word in title for word in ("dotted", "dashed")), title
    assert "vertical lines: each rule's suggestion" in title and "solid black: the validated rate" in title


def test_the_heatmap_embeds_one_pixel_per_cell_drawn_sharp() -> None:
    """A 400-rate heatmap was resampled to the figure's pixels and smoothed by the browser: cells blurred."""
    rates = list(np.geomspace(1e-4, 1e4, 400))
    toy = _diverging({lr: (math.inf if lr >= 1 else 5.4 - lr) for lr in rates})
    svg = plots.heatmap(toy, summarize(toy))
    [image] = [tag for tag in re.findall(r"<image [^>]*>", svg) if "pixelated" in tag]  # not the colour bar's
    png = base64.b64decode(re.search(r'href="data:image/png;base64,\s*([^"]+)"', image).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (len(rates), 1)  # width, height


def test_one_seed_shows_no_spread_over_seeds() -> None:
    """With --seeds 1 every accuracy read '± 0.0%' and the notes explained ± as a std over the seeds."""
    toy = _synthetic({1: [0.3, 0.55], 32: [0.2, 0.52]}, {1: 1.0, 32: 0.1}, epochs=2)
    one = [k for k, r in enumerate(toy.rows) if r["seed"] == 0]
    single = Comparison({**toy.settings, "seeds": [0]}, [{**v, "configs": 1} for v in toy.variants],
                        [toy.rows[k] for k in one], [toy.histories[k] for k in one])
    summary = summarize(single)
    assert [row[4] for row in table.cells(summary)] == ["55.0%", "52.0%"]
    assert [row[4] for row in table.cells(summarize(toy))] == ["55.0% ± 0.0%", "52.0% ± 0.0%"]
    page = render(single)
    assert "± is the standard deviation" not in page and "one seed per config" in page
    assert "± is the standard deviation" in render(toy)
    assert "final test accuracy 55.0% (one seed)" in conclusion(summary)


def test_a_small_nonzero_spread_over_seeds_is_not_written_as_zero() -> None:
    """Accuracies 55.05% and 54.95% (std 0.05%) read '55.0% ± 0.0%' in the table and the conclusion."""
    toy = _synthetic({1: [0.3, 0.55], 32: [0.2, 0.52]}, {1: 1.0, 32: 0.1}, epochs=2)
    rows = [{**r, "final_test_accuracy": r["final_test_accuracy"] + (0.0005 if r["seed"] else -0.0005)}
            if r["batch_size"] == 1 else r for r in toy.rows]
    summary = summarize(Comparison(toy.settings, toy.variants, rows, toy.histories))
    assert summary.variants[0].std == pytest.approx(0.0005)
    assert [row[4] for row in table.cells(summary)] == ["55.0% ± 0.050%", "52.0% ± 0.0%"]  # zero stays 0.0%
    text = conclusion(summary)
    assert "final test accuracy 55.0% ± 0.050% (mean ± std over 2 seeds)" in text
    assert "varied over seeds by ± 0.050% against ± 0.0% for mini-batch 32" in text
    spread = importlib.import_module("gdlab.report.conclusion").spread_text
    assert [spread("final_test_accuracy", v) for v in (0.0123, 0.0004, 0.00001234, math.nan)] == [
        "1.2%", "0.040%", "0.0012%", "nan%"]
    assert spread("final_test_loss", 0.0005) == "0.0005"


def _spread_by(toy: Comparison, half: dict[int, float]) -> Comparison:
    """toy with each batch size's two seeds moved apart by ± half[size] in test accuracy (std half[size])."""
    rows = [{**r, "final_test_accuracy": r["final_test_accuracy"] + (1 if r["seed"] else -1) * half[r["batch_size"]]}
            for r in toy.rows]
    return Comparison(toy.settings, toy.variants, rows, toy.histories)


def test_spreads_shown_together_have_one_precision_and_compare_as_read() -> None:
    """A float32 std of 0.0999% printed '0.100%' beside 0.15% printed '0.1%', and the conclusion read 'SGD was the
    noisier: ... ± 0.1% against ± 0.100%'."""
    toy = _synthetic({1: [0.3, 0.637], 32: [0.2, 0.642]}, {1: 1.0, 32: 0.1}, epochs=2)
    spread_apart = _spread_by(toy, {1: 0.0015, 32: 0.000999})
    summary = summarize(spread_apart)
    assert [row[4] for row in table.cells(summary)] == ["63.7% ± 0.15%", "64.2% ± 0.10%"]
    text = conclusion(summary)
    assert "varied over seeds by ± 0.15% against ± 0.10% for mini-batch 32" in text, text
    assert "64.2% ± 0.10% (mean ± std over 2 seeds)" in text
    page = render(spread_apart)
    assert "63.7% ± 0.15%" in page and "64.2% ± 0.10%" in page
    spread = importlib.import_module("gdlab.report.conclusion").spread_text
    assert [spread("final_test_accuracy", v) for v in (0.000999, 0.0015, 0.123, 0.9996, 0.0)] == [
        "0.10%", "0.15%", "12%", "100%", "0.0%"]
    # equal as printed: no "noisier" claim from the spreads (1.001e-3 > 9.99e-4, both '0.10%')
    even = conclusion(summarize(_spread_by(toy, {1: 0.001001, 32: 0.000999})))
    assert "varied over seeds" not in even, even


def test_no_seed_spread_is_compared_with_a_batch_that_barely_trained() -> None:
    """'SGD was the noisier: ± 2.0% against ± 0.35% for batch GD, whose one exact step per epoch is calm' of a batch GD
    at 20% accuracy whose train loss had barely moved in the budget."""
    toy = _synthetic({1: [0.3, 0.637], 1000: [0.15, 0.2]}, {1: 1.0, 1000: 0.1}, epochs=2)
    rows = [{**r, "final_train_loss": 2.25 if r["batch_size"] == 1000 else 1.0} for r in toy.rows]  # from 2.3
    barely = _spread_by(Comparison(toy.settings, toy.variants, rows, toy.histories), {1: 0.02, 1000: 0.0035})
    text = conclusion(summarize(barely))
    assert "noisier" not in text and "calm" not in text, text
    failed = [{**r, "learning_rate": 1.0, "status": "diverged", "final_train_loss": math.nan} for r in rows
              if r["batch_size"] == 1]  # SGD fails at 1.0: the sentence on where each failed comes first
    settings = {**toy.settings, "learning_rates": {"1": [0.1, 1.0], "1000": [0.1]}}
    both = conclusion(summarize(Comparison(settings, toy.variants, rows + failed, toy.histories + toy.histories[:2])))
    assert "failed at no rate of its grid. Batch GD had barely trained" in both, both
    assert ("Batch GD had barely trained at its best rate (its train loss fell by 0.05, against 1.3 for SGD), so "
            "their spreads over seeds are not compared.") in text, text
    trained = _spread_by(toy, {1: 0.02, 1000: 0.0035})  # both fell from 2.3 to 1.0
    assert "At its best rate SGD was the noisier" in conclusion(summarize(trained))


def test_the_notes_name_the_compared_variants_updates_and_the_seconds_the_page_shows() -> None:
    """'an SGD epoch makes 100 updates' with no SGD compared, and 'Seconds are compute time per config' for a
    regression without a target, which has no seconds column."""
    two = _diverging({0.01: 3.0, 0.1: 1.0})
    rows = two.rows + [{**row, "batch_size": 10} for row in two.rows]
    variants = [*two.variants, {**two.variants[0], "batch_size": 10, "label": "mini-batch 10", "steps_per_epoch": 10}]
    loss = Comparison({**two.settings, "learning_rates": {"100": [0.01, 0.1], "10": [0.01, 0.1]}}, variants, rows,
                      two.histories * 2)
    notes = html._notes(loss.settings, summarize(loss))
    assert "an epoch makes 1 update for batch GD and 10 updates for mini-batch 10." in notes
    assert "SGD" not in notes and "Seconds (the table" not in notes
    assert "The loss curves&#x27; time axis is compute time per config" in notes
    toy = _synthetic({1: [0.3, 0.55], 32: [0.2, 0.52]}, {1: 1.0, 32: 0.1}, epochs=2)
    notes = html._notes(toy.settings, summarize(toy))
    assert "an epoch makes 1000 updates for SGD and 32 updates for mini-batch 32." in notes
    assert "Seconds (the table&#x27;s, and the loss curves&#x27; time axis) are compute time per config" in notes


def test_too_low_a_rate_shows_the_digits_where_the_loss_moved() -> None:
    """'the train loss only fell from about 2.32 to 2.32': three digits hid the fall."""
    toy = _diverging({1e-4: 2.3187, 0.1: 1.0})  # the start is 5.5 there; make it 2.32
    rows = [{**r, "initial_train_loss": 2.3209} for r in toy.rows]
    text = conclusion(summarize(Comparison(toy.settings, toy.variants, rows, toy.histories)))
    assert "the train loss only fell from about 2.321 to 2.319 (" in text, text


def test_a_comparison_of_one_config_says_the_one_config_not_the_1_configs() -> None:
    """gdlab compare --learning-rates 0.01 --batch-sizes 16 --seeds 1 said 'none of the 1 configs diverged'."""
    one = _diverging({0.01: 1.0})
    single = Comparison({**one.settings, "seeds": [0]}, [{**one.variants[0], "configs": 1}], one.rows[:1],
                        one.histories[:1])
    assert "The one config neither diverged nor collapsed by gdlab's rules." in conclusion(summarize(single))
    failed = Comparison(single.settings, single.variants, [{**single.rows[0], "status": "diverged"}], single.histories)
    assert "trained: the one config diverged or collapsed within 1 epoch" in conclusion(summarize(failed))
    toy = _synthetic({1: [0.3, 0.55], 32: [0.2, 0.52]}, {1: 1.0, 32: 0.1}, epochs=2)
    kept = [k for k, r in enumerate(toy.rows) if r["seed"] == 0]
    sgd_failed = Comparison({**toy.settings, "seeds": [0]}, [{**v, "configs": 1} for v in toy.variants],
                            [{**toy.rows[k], "status": "diverged" if toy.rows[k]["batch_size"] == 1 else "max_epochs"}
                             for k in kept], [toy.histories[k] for k in kept])
    assert "No learning rate in the grid trained SGD (its one config diverged) within 2 epochs" in conclusion(
        summarize(sgd_failed))


def test_too_low_a_rate_is_named_only_where_its_loss_fell_far_less_than_at_the_best_rate() -> None:
    """On linreg SGD's smallest rate ended at 0.0615 from 5.71 (0.037 at its best), and the conclusion said
    'the train loss only fell from about 5.71 to 0.0615'."""
    fast = summarize(_diverging({0.001: 0.0615, 0.01: 0.037, 1e3: math.inf}))
    assert fast.variants[0].best_final_train_loss == pytest.approx(0.037)
    assert "Too low a rate" not in conclusion(fast)
    slow = conclusion(summarize(_diverging({0.001: 4.4, 0.01: 0.037, 1e3: math.inf})))
    assert "the train loss only fell from about 5.5 to 4.4 (batch GD at 0.001)." in slow


def test_seconds_per_epoch_leave_out_the_epoch_a_config_diverged_in() -> None:
    """With two epochs the median was a mean: the epoch re-run to find a divergence made a variant's seconds
    per epoch many times too large."""
    rows, histories = [], []
    for rate, status, times in ((0.1, "max_epochs", [5.0, 0.1]), (1e3, "diverged", [5.0])):
        for seed in (0, 1):
            rows.append({"learning_rate": rate, "batch_size": 100, "seed": seed, "status": status,
                         "final_train_loss": 1.0 if status != "diverged" else math.inf, "initial_train_loss": 5.5})
            histories.append({"train_loss": [1.0] * len(times), "epoch_time": times})
    variants = [{"batch_size": 100, "label": "batch GD", "steps_per_epoch": 1, "configs": 4, "seconds": 0.0}]
    settings = {"dataset": "toy", "model": "linear", "n_train": 100, "n_test": 0, "epochs": 2, "seeds": [0, 1],
                "target": None, "metric": "final_train_loss", "learning_rates": {"100": [0.1, 1e3]}}
    toy = Comparison(settings, variants, rows, histories)
    assert summary_module.seconds_per_epoch(toy, 100) == pytest.approx(0.1 / 4)  # was 5.0 / 4
    alone = Comparison(settings, variants, rows[2:], histories[2:])  # only the diverged epoch: it is all there is
    assert summary_module.seconds_per_epoch(alone, 100) == pytest.approx(5.0 / 2)


def test_the_u_curve_of_losses_spanning_decades_has_a_log_loss_axis() -> None:
    """A regression's final losses (0.01 against 5.5 at the start) lay flat on the x axis of a linear one."""
    wide = _diverging({0.001: 5.4, 0.01: 0.5, 0.1: 0.01, 1e3: math.inf})
    rows = wide.rows + [{**row, "batch_size": 10} for row in wide.rows]
    variants = [*wide.variants, {**wide.variants[0], "batch_size": 10, "label": "mini-batch 10", "steps_per_epoch": 10}]
    settings = {**wide.settings, "learning_rates": {"100": [0.001, 0.01, 0.1, 1e3], "10": [0.001, 0.01, 0.1, 1e3]}}
    two = Comparison(settings, variants, rows, wide.histories * 2)
    ax, band = plots.u_curve_figure(two, summarize(two)).axes
    assert ax.get_yscale() == "log" and ax.get_ylim() == pytest.approx((0.008, 5.5 * 1.6 * 1.05))
    assert band.get_yscale() == "linear"  # the diverged configs' band has no loss scale
    crosses = [line for line in band.get_lines() if line.get_marker() == "x" and len(line.get_xdata())]
    assert [sorted({round(y) for y in line.get_ydata()}) for line in crosses] == [[0], [1]]  # a row per variant
    assert [t.get_text() for t in band.get_yticklabels()] == ["batch GD", "mini-batch 10"]
    narrow = _diverging({0.001: 5.4, 0.1: 1.0, 1e3: math.inf})  # 8.8 over 0.8: linear as before
    assert plots.u_curve_figure(narrow, summarize(narrow)).axes[0].get_yscale() == "linear"


def test_a_library_sweep_reports_from_the_result_and_its_data(sweep, small, comparison, tmp_path) -> None:
    """gd.report.from_result reads the settings gdlab compare writes down off the result and the data set."""
    made = gd.report.from_result(sweep, small, model=MODEL, target=0.2)
    assert made.settings == {
        "dataset": small.name, "model": "mlp 16", "n_train": 300, "n_test": 100, "epochs": 3, "seeds": [0, 1],
        "target": 0.2, "metric": "final_test_accuracy", "metrics": sweep.groups[0].config["metrics"],
        "learning_rates": {"10": RATES, "300": RATES}, "rates_rule": "as given to gd.sweep, the same for every batch size"}
    # each seed's loss before training from the rows: the numbers the compare path measures on its own
    assert [r["initial_train_loss"] for r in made.rows] == [r["initial_train_loss"] for r in comparison.rows]
    assert made.rows == comparison.rows and made.histories == comparison.histories
    assert summarize(made).variants == summarize(comparison).variants
    page = gd.report.write_html(made, tmp_path / "report.html").read_text()
    assert f"mlp 16 on {small.name} (300 training and 100 test samples)" in page  # with its hidden sizes
    for where, why in ((tmp_path, "a file path, not a directory"), (tmp_path / "no" / "r.html", "in an existing dir")):
        for write in (gd.report.write_html, gd.report.save):  # bare IsADirectoryError, FileNotFoundError
            with pytest.raises(ValueError, match=f"path must be {why}"):
                write(made, where)
    assert "as given to gd.sweep" in page
    loss = gd.report.from_result(sweep, small, metric="final_test_loss")
    assert loss.settings["metric"] == "final_test_loss" and loss.settings["target"] is None
    assert loss.settings["model"] == "the model given to gd.sweep"


def test_a_report_ranked_by_the_best_test_accuracy_says_best_and_draws_its_test_curves(sweep, small) -> None:
    """metric="best_test_accuracy" drew empty test panels (no history of that name) and called each
    config's best epoch's accuracy its 'final test accuracy'."""
    made = gd.report.from_result(sweep, small, metric="best_test_accuracy")
    summary = summarize(made)
    assert "best test accuracy" in table.headers(summary) and "final test accuracy" not in table.headers(summary)
    best = max((v for v in summary.variants if v.trained), key=lambda v: v.mean)
    assert f"best test accuracy {best.mean:.1%}" in conclusion(summary)
    test_panels = plots.curves_figure(made, summary).axes[2:]
    drawn = [len(line.get_xdata()) for ax in test_panels for line in ax.get_lines() if line.get_marker() == "o"]
    assert drawn == [3] * 4  # two variants, per epoch and per second
    assert "final test accuracy" not in render(made)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"metric": "test_accuracy"}, ValueError, r"metric must be one of \{.*'final_test_accuracy'.*\}; got 'test_accuracy'"),
        ({"target": 1.5}, ValueError, r"target must be a float in \[0.0, 1.0\]; got 1.5"),
        ({"result": "sweep"}, TypeError, "result must be a gd.SweepResult"),
        ({"data": "small"}, TypeError, "data must be the gd.Dataset the sweep trained on; got str"),
    ],
)
def test_from_result_refuses_bad_input(sweep, small, kwargs, error, match) -> None:
    args = {"result": sweep, "data": small, **kwargs}
    with pytest.raises(error, match=match):
        gd.report.from_result(args.pop("result"), args.pop("data"), **args)


def test_from_result_refuses_another_data_set(sweep, small) -> None:
    other = gd.datasets.from_arrays(small.x_train[:150], small.y_train[:150], test_fraction=0.0)
    with pytest.raises(ValueError, match="data must be the data set the sweep trained on: its 150 training samples "
                                         "make 15 steps per epoch at batch size 10, the sweep made 30"):
        gd.report.from_result(sweep, other)
    same_sizes = gd.datasets.from_arrays(np.concatenate([small.x_train, small.x_test]),  # another split: 300 + 100
                                         np.concatenate([small.y_train, small.y_test]), test_fraction=0.25, seed=2)
    with pytest.raises(ValueError, match=r"data must be the data set the sweep trained on; the SHA-256 fingerprint of "
                                         r"'arrays' begins \w{12}, that of the sweep's data \w{12}\.$"):
        gd.report.from_result(sweep, same_sizes)  # was reported on as if it were the sweep's data
    assert gd.report.from_result(sweep.select(sweep.groups[0].schedule), small).settings["n_train"] == 300


def test_a_momentum_grid_is_refused_not_mixed(small) -> None:
    """The summary ranks learning rates per batch size: two momenta would be averaged as if seeds."""
    both = gd.sweep(MODEL, small, learning_rate=[0.1], momentum=[0.0, 0.9], batch_size=[100], epochs=1)
    with pytest.raises(ValueError, match=r"a comparison report shows one momentum; this sweep trained the momenta "
                                         r"\[0.0, 0.9\] \(report a sweep of one momentum\)"):
        gd.report.from_result(both, small)


def test_train_seconds_read_as_whole_seconds_from_where_three_digits_round_to_1000() -> None:
    """999.5 printed '1e+03' (three significant digits round it up to 1000, which .3g writes in exponent form)."""
    from gdlab.store.seconds_text import seconds_text

    assert [seconds_text(v) for v in (999.4, 999.5, 999.97, 1234.5, 12.34, 0.04223)] == [
        "999", "1000", "1000", "1234", "12.3", "0.0422"]


@pytest.mark.parametrize(
    ("accuracy", "seconds", "train", "said"),
    [
        # SGD lower per epoch but 10x dearer per epoch: mini-batch 32 lower at the shortest curve's end (0.2 s)
        ({1: [0.3, 0.6], 32: [0.2, 0.5]}, {1: 1.0, 32: 0.1}, {1: [1.0, 0.5], 32: [1.5, 0.9]},
         ["after epoch 1, SGD had the lowest train loss (1) and mini-batch 32 the highest (1.5)",
          "after epoch 2, SGD still had the lowest (0.5)", "An epoch took 1 s for SGD and 100 ms for mini-batch 32",
          "at 200 ms, where the shortest curve ends, mini-batch 32 had the lowest train loss (0.9)"]),
        # the other way: SGD slower per epoch, cheaper per epoch, so lower per second
        ({1: [0.2, 0.5], 32: [0.3, 0.6]}, {1: 0.1, 32: 1.0}, {1: [1.5, 0.9], 32: [1.0, 0.5]},
         ["after epoch 1, mini-batch 32 had the lowest train loss (1) and SGD the highest (1.5)",
          "An epoch took 100 ms for SGD and 1 s for mini-batch 32",
          "where the shortest curve ends, SGD had the lowest train loss (0.9)"]),
    ],
)
def test_the_curves_caption_names_who_fell_fastest_per_epoch_and_per_second_in_this_report(
        accuracy, seconds, train, said) -> None:
    """It always said 'the smaller the batch, the faster the loss falls ... an epoch of many small updates
    costs more than one big one', whichever way the curves and epoch times went."""
    toy = _synthetic(accuracy, seconds, epochs=2, train=train)
    text = captions.curves_caption(toy, summarize(toy))
    for claim in said:
        assert claim in text, (claim, text)
    page = render(toy)
    fixed = ("the faster the loss falls", "many small updates costs more")
    assert escape(text, quote=True) in page and not any(claim in page for claim in fixed)


def test_the_heatmap_caption_says_how_the_best_rate_moved_with_the_batch_here() -> None:
    """It always said 'the good rates move right as the batch grows'."""
    toy = _synthetic({1: [0.3, 0.6], 32: [0.2, 0.5]}, {1: 1.0, 32: 0.1}, epochs=2)
    rates = {1: 0.5, 32: 0.05}  # the smaller batch's best rate is the larger one
    falling = Comparison(toy.settings, toy.variants, [{**r, "learning_rate": rates[r["batch_size"]]} for r in toy.rows],
                         toy.histories)
    text = captions.heatmap_caption(summarize(falling))
    assert "Here the best rate was 0.5 for SGD and 0.05 for mini-batch 32: falling as the batch grows." in text
    rising = {1: 0.05, 32: 0.5}
    grows = Comparison(toy.settings, toy.variants, [{**r, "learning_rate": rising[r["batch_size"]]} for r in toy.rows],
                       toy.histories)
    assert "rising with the batch size" in captions.heatmap_caption(summarize(grows))
    assert "move right as the batch grows" not in render(falling)
    three = _synthetic({1: [0.3, 0.6], 32: [0.2, 0.5], 128: [0.2, 0.5]}, {1: 1.0, 32: 0.1, 128: 0.1}, epochs=2)
    flat_top = {1: 0.05, 32: 0.5, 128: 0.5}  # the default compare's 0.01, 0.316, 1, 1: not 'rising' at the top
    top = Comparison(three.settings, three.variants,
                     [{**r, "learning_rate": flat_top[r["batch_size"]]} for r in three.rows], three.histories)
    assert captions.heatmap_caption(summarize(top)).endswith(
        "0.05 for SGD, 0.5 for mini-batch 32 and 0.5 for mini-batch 128: never falling as the batch grows.")


def _best_rates(rates: dict[int, float], collapsed: tuple[int, ...] = ()) -> Summary:
    """The summary of a toy comparison with one rate per batch size, in the order of rates (a sweep's grid order),
    the batch sizes in collapsed ending above their start (no rate trained)."""
    toy = _synthetic({size: [0.3, 0.6] for size in rates}, dict.fromkeys(rates, 0.1), epochs=2)
    rows = [{**r, "learning_rate": rates[r["batch_size"]],
             "final_train_loss": 3.0 if r["batch_size"] in collapsed else 1.0} for r in toy.rows]
    return summarize(Comparison(toy.settings, toy.variants, rows, toy.histories))


def test_the_heatmap_caption_orders_the_variants_by_batch_size_not_as_the_sweep_listed_them() -> None:
    """gdlab report of gd.sweep(batch_size=[512, 32]) said '0.5 for mini-batch 512 and 0.1 for mini-batch 32:
    falling as the batch grows' where the best rate rose with the batch size."""
    summary = _best_rates({512: 0.5, 32: 0.1})
    assert [v.batch_size for v in summary.variants] == [512, 32]
    assert captions.heatmap_caption(summary).endswith(
        "Here the best rate was 0.1 for mini-batch 32 and 0.5 for mini-batch 512: rising with the batch size.")


@pytest.mark.parametrize(
    ("rates", "said"),
    [
        ({512: 0.1, 32: 0.1, 8: 0.3},
         "Here the best rate was 0.1 for every batch size that trained (mini-batch 8: no rate trained)."),
        ({512: 0.5, 32: 0.1, 8: 0.3},
         ("Here the best rate was 0.1 for mini-batch 32 and 0.5 for mini-batch 512: rising with the batch size "
          "(mini-batch 8: no rate trained).")),
    ],
)
def test_the_heatmap_caption_names_the_variants_it_leaves_out(rates, said) -> None:
    """'the best rate was 0.1 for every batch size' of a comparison one variant of which had no best rate."""
    summary = _best_rates(rates, collapsed=(8,))
    assert [v.trained for v in summary.variants] == [True, True, False]
    assert captions.heatmap_caption(summary).endswith(said), captions.heatmap_caption(summary)


def test_a_run_page_makes_no_claim_about_batch_sizes_one_run_cannot_show() -> None:
    """A batch GD run's page said 'an epoch of many small updates costs more than one big one'."""
    history = {"train_loss": np.array([2.0, 1.5]), "wall_time": np.array([0.1, 0.2])}
    page = render_run(_run_record("max_epochs", "ran 2 epochs"), history)
    assert "small updates" not in page and "the run&#x27;s wall-clock seconds (compiling left out)." in page


def test_the_finder_title_fits_inside_its_figure() -> None:
    """Its one line, 'Learning-rate range test: ... the validat', ran past both sides of the PNG and the page."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from gdlab.engine.lr_finder import LRFinderResult, Suggestion
    from gdlab.report import finder_figure

    rates = np.geomspace(1e-5, 1.0, 30)
    losses = np.tile(np.linspace(2.0, 1.0, 30), (2, 1))
    suggestions = {rule: Suggestion(v, (v, v)) for rule, v in
                   (("steepest", 0.07), ("valley", 0.05), ("minimum/10", 0.03), ("largest_stable", 0.3))}
    fig = finder_figure(LRFinderResult(0.1, (0.05, 0.2), suggestions, rates, losses, losses, []))
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    box = fig.axes[0].title.get_window_extent(renderer)
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width, (box, fig.bbox)


def test_gdlab_report_of_a_saved_file_refuses_a_default_name_that_exists(tmp_path: Path, monkeypatch, capsys) -> None:
    """gdlab compare --out c.html --json-out c.json, then gdlab report c.json: it silently replaced c.html."""
    from gdlab.cli import main

    monkeypatch.chdir(tmp_path)
    toy = _diverging({0.01: 3.0, 0.1: 1.0})
    save(Comparison({**toy.settings, "rates_rule": "as given"}, toy.variants, toy.rows, toy.histories), "c.json")
    Path("c.html").write_text("the compare's own report")
    assert main(["report", "c.json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'c.html' exists" in err and "--out PATH, or --out c.html to replace it" in err
    assert Path("c.html").read_text() == "the compare's own report"
    assert main(["report", "c.json", "--out", "c.html"]) == 0  # asked for by name: replaced
    assert Path("c.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("final", "note"),
    [
        ({0.01: 1.0, 0.1: 2.0, 1.0: 3.0}, "batch GD's best rate 0.01 is the smallest tried: the grid may not reach its best."),
        ({0.01: 3.0, 0.1: 2.0, 1.0: 1.0}, "batch GD's best rate 1 is the largest tried: the grid may not reach its best."),
        ({0.01: 3.0, 0.1: 1.0, 1.0: math.inf}, None),  # inside the grid: nothing to say
    ],
)
def test_a_best_rate_at_the_edge_of_its_grid_is_noted_in_the_table_and_the_page(final, note, capsys) -> None:
    """The summary named SGD's best rate 0.01, the smallest tried, with no word that the grid may stop short."""
    from gdlab.commands.compare import print_summary

    toy = _diverging(final)
    summary = summarize(toy)
    assert table.edge_notes(toy, summary) == ([] if note is None else [note])
    page = render(toy)
    print_summary(summary, Comparison({**toy.settings, "rates_rule": "as given"}, toy.variants, toy.rows,
                                      toy.histories), conclusion(summary), {})
    printed = " ".join(capsys.readouterr().out.split())
    if note is None:
        assert "tried: the grid may not reach" not in page and "tried: the grid" not in printed
    else:
        assert f'<p class="sub">{escape(note)}</p>' in page and note in printed
