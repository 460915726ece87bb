"""The report's noise lesson (report/noise.py): which paths gdlab compare measures, how their rises are counted,
and what the conclusion and the caption say of them."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from gdlab.report import Comparison, load, save
from gdlab.report.noise import (
    PathSummary,
    measure_every,
    noise_back,
    path_plan,
    path_record,
    summarize_paths,
)
from gdlab.report.noise_text import paths_caption, paths_sentence


def _comparison(grids: dict[int, list[float]], paths: list[dict] | None = None) -> Comparison:
    labels = {1: "SGD", 32: "mini-batch 32", 4000: "batch GD"}
    variants = [{"batch_size": size, "label": labels.get(size, f"mini-batch {size}"), "steps_per_epoch": 4000 // size,
                 "configs": len(grid), "seconds": 1.0} for size, grid in grids.items()]
    rows = [{"batch_size": size, "learning_rate": rate, "seed": 0} for size, grid in grids.items() for rate in grid]
    return Comparison({"epochs": 5}, variants, rows, [{} for _ in rows], paths or [])


GRIDS = {1: [0.001, 0.00316, 0.01, 0.0316], 32: [0.01, 0.0316, 0.1, 0.316], 4000: [0.1, 0.316, 1.0, 3.16]}


def test_the_same_rate_is_the_smallest_batch_s_best_or_the_nearest_in_each_grid_within_half_a_decade() -> None:
    best = {1: (0.01, True), 32: (0.316, True), 4000: (1.0, True)}
    plan = path_plan(_comparison(GRIDS), best)
    # batch GD's grid starts at 0.1, a decade above SGD's best 0.01: it has no path at that rate
    assert plan == [("same", 1, 0.01), ("same", 32, 0.01),
                    ("best", 1, 0.01), ("best", 32, 0.316), ("best", 4000, 1.0)]
    near = {**GRIDS, 4000: [0.0316, 0.1, 1.0]}  # 0.0316 is half a decade from 0.01: taken
    assert ("same", 4000, 0.0316) in path_plan(_comparison(near), best)


def test_no_same_rate_path_where_the_smallest_batch_did_not_train_and_no_kind_of_one_variant() -> None:
    best = {1: (0.01, False), 32: (0.316, True), 4000: (1.0, True)}
    assert path_plan(_comparison(GRIDS), best) == [("best", 32, 0.316), ("best", 4000, 1.0)]
    alone = {1: (0.01, True), 32: (0.316, False), 4000: (1.0, False)}
    assert path_plan(_comparison(GRIDS), alone) == [("same", 1, 0.01), ("same", 32, 0.01)]  # one best: no panel
    assert path_plan(_comparison({1: GRIDS[1]}), {1: (0.01, True)}) == []


def test_the_best_rate_panel_is_left_out_where_every_best_rate_is_the_shared_one() -> None:
    grids = {1: [0.01, 0.1], 32: [0.01, 0.1]}
    assert path_plan(_comparison(grids), {1: (0.1, True), 32: (0.1, True)}) == [("same", 1, 0.1), ("same", 32, 0.1)]


def test_rises_are_counted_between_finite_measurements_up_to_the_first_non_finite_one() -> None:
    """A rise counts when it is more than a thousandth of the path's whole fall: linreg's SGD 'went up and down the
    most' by 3.8e-5 on a fall of 5.5, invisible on its axis."""
    paths = [
        path_record("same", 1, 0.01, 0, 2, 4, [0, 0.5, 1, 1.5, 2, 2.5, 3], [2.3, 2.0, 2.1, 1.9, 1.95, math.nan, 1.0]),
        path_record("same", 32, 0.01, 0, 1, 1, [0, 1, 2, 3], [1.0, 0.5 + 4e-4, 0.5 + 4.9e-4, 0.5]),  # 9e-5 < 5e-4
    ]
    sgd, mini = summarize_paths(_comparison({1: [0.01], 32: [0.01]}, paths))
    assert (sgd.label, sgd.rises, sgd.stretches, sgd.end, sgd.finite, sgd.start) == ("SGD", 2, 4, 1.95, False, 2.3)
    assert sgd.largest_rise == pytest.approx(0.1)
    assert (mini.label, mini.rises, mini.stretches, mini.end, mini.finite) == ("mini-batch 32", 0, 3, 0.5, True)
    assert mini.largest_rise == 0.0


def test_measure_every_gives_at_most_32_measurements_an_epoch() -> None:
    assert [measure_every(steps) for steps in (4000, 125, 32, 1, 33)] == [125, 4, 1, 1, 2]


def _path(kind: str, label: str, size: int, rate: float, rises: int, stretches: int = 160, every: int = 1,
          end: float = 1.0, largest: float = 0.0) -> PathSummary:
    return PathSummary(kind=kind, label=label, batch_size=size, learning_rate=rate, seed=0, every=every,
                       steps_per_epoch=4000 // size, rises=rises, stretches=stretches, start=2.3, end=end, finite=True,
                       largest_rise=largest)


DEFAULT = (
    _path("same", "SGD", 1, 0.01, 64, every=125, end=0.95, largest=0.18),
    _path("same", "mini-batch 32", 32, 0.01, 0, every=4, end=2.0),
    _path("same", "batch GD", 4000, 0.01, 0, stretches=5, end=2.3),
    _path("best", "SGD", 1, 0.01, 64, every=125, largest=0.18),
    _path("best", "mini-batch 32", 32, 0.316, 72, every=4, largest=0.31),
    _path("best", "batch GD", 4000, 1.0, 0, stretches=5),
)


def test_the_conclusion_says_the_smaller_batch_is_noisier_at_one_rate_and_the_larger_rates_bring_it_back() -> None:
    text = paths_sentence(DEFAULT, "SGD")
    assert text == (
        "At the same learning rate 0.01 (SGD's best), one seed's train loss on all the data, measured up to 32 times "
        "an epoch, rose for SGD in 64 of 160 stretches of 125 updates (by up to 0.18), against 0 of 160 for mini-batch "
        "32 and 0 of 5 for batch GD: the fewer samples an update averages, the noisier the path; at their own best "
        "rates mini-batch 32 at 0.316 rose in 72 of its 160 (by up to 0.31) and batch GD at 1 rose in 0 of its 5: "
        "mini-batch 32, with a larger rate than SGD, rose at least as often.")  # batch GD, which rose in none, is not said to
    caption = paths_caption(DEFAULT, VARIANTS, seeds=3, running=False)
    assert ("measured up to 32 times an epoch: every 125 updates for SGD, every 4 updates for mini-batch 32 and after "
            "every update for batch GD, so that a stretch between measurements holds 125 samples for SGD, 128 for "
            "mini-batch 32 and 4000 for batch GD.") in caption
    assert ("SGD's path went up and down the most: it rose in 64 of 160 stretches of 125 updates (by up to 0.18). "
            "The per-epoch curves above, measured once an epoch and averaged over seeds, smooth") in caption
    assert ("After the last epoch: SGD at 0.95, mini-batch 32 at 2 and batch GD at 2.3 (from 2.3 "
            "before training).") in caption
    assert ("mini-batch 32 at 0.316 rose in 72 of 160 stretches of up to 4 updates (by up to 0.31) and batch GD at 1 "
            "rose after 0 of 5 updates.") in caption  # 125 updates an epoch: its last stretch is 1 update
    assert caption.endswith("bring noise back: mini-batch 32 rose at least as often as SGD, by up to 0.31 against "
                            "0.18.")
    assert "averaged over seeds" not in paths_caption(DEFAULT, VARIANTS, seeds=1, running=False)
    assert "are each epoch's mean batch loss (metrics running), so they differ." in paths_caption(
        DEFAULT, VARIANTS, seeds=3, running=True)


VARIANTS = [("SGD", True), ("mini-batch 32", True), ("batch GD", True)]


def test_no_lesson_is_drawn_where_the_numbers_do_not_show_it() -> None:
    calm = tuple(replace(p, rises=0) for p in DEFAULT)
    assert paths_sentence(calm, "SGD") == ""  # no path rose: nothing to say of noise
    assert "went up and down the most" not in paths_caption(calm, VARIANTS, 3, False)
    assert not noise_back(calm[3:]) and "bring noise back" not in paths_caption(calm, VARIANTS, 3, False)
    quieter = tuple(replace(p, rises=10) if p.kind == "best" and p.batch_size == 32 else p for p in DEFAULT)
    text = paths_sentence(quieter, "SGD")
    assert text.endswith("at their own best rates mini-batch 32 at 0.316 rose in 10 of its 160 (by up to 0.31) and "
                         "batch GD at 1 rose in 0 of its 5.")
    assert "bring noise back" not in paths_caption(quieter, VARIANTS, 3, False)
    level = tuple(replace(p, rises=64) if p.kind == "same" else p for p in DEFAULT)  # as noisy at one rate
    assert "the noisier the path" not in paths_sentence(level, "SGD")
    assert "went up and down the most" not in paths_caption(level, VARIANTS, 3, False)


def test_a_variant_that_never_trained_adds_no_best_rate_path_nor_an_empty_list() -> None:
    """Every variant that trained took the shared rate 0.01 as its best; batch GD never trained (its least bad
    rate 0.01 too): the best-rate panel would repeat the left one (it was an IndexError in the conclusion)."""
    grids = {1: [0.01, 0.1], 32: [0.01, 0.1], 4000: [0.01, 0.1]}
    best = {1: (0.01, True), 32: (0.01, True), 4000: (0.01, False)}
    plan = path_plan(_comparison(grids), best)
    assert plan == [("same", 1, 0.01), ("same", 32, 0.01), ("same", 4000, 0.01)]
    only_same = tuple(p for p in DEFAULT if p.kind == "same")
    assert paths_sentence(only_same, "SGD").endswith("the noisier the path.")
    mixed = (*only_same, replace(DEFAULT[3]), replace(DEFAULT[4], learning_rate=0.01))  # own rates all said already
    assert paths_sentence(mixed, "SGD").endswith("the noisier the path.")


def test_a_saved_comparison_keeps_its_paths_and_an_older_file_loads_without_them(tmp_path: Path) -> None:
    paths = [path_record("same", 1, 0.01, 0, 2, 4, [0, 0.5, 1], [2.3, math.nan, math.inf])]
    comparison = _comparison({1: [0.01]}, paths)
    back = load(save(comparison, tmp_path / "c.json"))
    assert back.paths[0]["epoch"] == [0, 0.5, 1] and math.isnan(back.paths[0]["train_loss"][1])
    assert back.paths[0]["train_loss"][2] == math.inf
    document = json.loads((tmp_path / "c.json").read_text())
    del document["paths"]
    (tmp_path / "old.json").write_text(json.dumps(document))
    assert load(tmp_path / "old.json").paths == []
    (tmp_path / "bad.json").write_text(json.dumps({**document, "paths": "lost"}))
    with pytest.raises(ValueError, match=r"is damaged: paths must be a list of objects; got str\."):
        load(tmp_path / "bad.json")
    for paths, why in [([1, 2], r"paths must be a list of objects; paths\[0\] is 1\."),
                       ([{k: v for k, v in document.get("rows", [{}])[0].items()}], r"paths\[0\] has no kind, "),
                       ([{**json.loads((tmp_path / "c.json").read_text())["paths"][0], "kind": "same"},
                         {"kind": "same"}], (r"paths\[1\] has no batch_size, learning_rate, seed, every, "
                                             r"steps_per_epoch, epoch, train_loss\."))]:
        (tmp_path / "bad.json").write_text(json.dumps({**document, "paths": paths}))  # a bare KeyError: 'kind'
        with pytest.raises(ValueError, match=r"is damaged: " + why):
            load(tmp_path / "bad.json")


def test_the_caption_names_the_nearest_rates_the_variants_left_out_and_a_path_that_diverged() -> None:
    """linreg's SGD best 0.001 with mini-batches at the grid's nearest 0.00316 and batch GD's grid a decade off: the
    caption said 'every variant at one rate' and 'per epoch at this rate'; a diverged path went unsaid."""
    same = (_path("same", "SGD", 1, 0.001, 30, every=25, end=0.5, largest=0.2),
            _path("same", "mini-batch 32", 32, 0.00316, 0, every=1),
            replace(_path("same", "mini-batch 128", 128, 0.00316, 3, every=1), finite=False))
    variants = [*VARIANTS[:2], ("mini-batch 128", True), ("batch GD", False)]
    caption = paths_caption(same, variants, seeds=2, running=False)
    assert ("Left: every variant at SGD's best rate, 0.001, or the nearest of its grid (mini-batch 32 at 0.00316 and "
            "mini-batch 128 at 0.00316). Batch GD is not drawn there: no rate of its grid lies within half a decade "
            "of it.") in caption
    assert "Mini-batch 128 diverged at this rate (its path ends at the last finite measurement, ×)." in caption
    assert "SGD at 0.5 and mini-batch 32 at 1 (from 2.3 before training)" in caption
    text = paths_sentence(same, "SGD")
    assert text.startswith("At SGD's best learning rate or the nearest of each grid, one seed's")
    assert "3 of 160 (by up to 0) for mini-batch 128, which then diverged" in text
    sgd = _path("same", "SGD", 1, 0.01, 1, stretches=1, largest=0.5)  # batch sizes 1 and full, one epoch
    one = (sgd, _path("same", "batch GD", 4000, 0.01, 0, stretches=1), replace(sgd, kind="best"),
           _path("best", "batch GD", 4000, 10.0, 0, stretches=1))
    assert paths_sentence(one, "SGD").endswith("; at its own best rate batch GD at 10 rose in 0 of its 1.")
    assert "SGD at 0.01 rose after 1 of 1 update (by up to 0.5)" in paths_caption(one, variants, 1, False)
    untrained = [("SGD", True), ("mini-batch 128", False), ("batch GD", True)]
    assert paths_caption(one[2:], untrained, 1, False).endswith(
        "Mini-batch 128 is not drawn there: no rate of its grid trained.")


def test_the_sentences_fit_their_numbers_one_stretch_no_rise_to_bring_back_and_a_lone_path() -> None:
    """'rose in 1 of 1 stretches'; 'the larger steps bring noise back' where the smallest batch rose in none; a
    'same' panel of one path gave 'against : the fewer samples'."""
    one = _path("best", "SGD", 1, 0.01, 1, stretches=1, every=125, largest=0.2)
    assert "rose in 1 of 1 stretch of 125 updates" in paths_caption((one,), VARIANTS, 1, False)
    calm_sgd = (replace(one, rises=0, stretches=160), _path("best", "mini-batch 32", 32, 0.316, 1, every=4,
                                                           largest=0.1))
    assert noise_back(calm_sgd) == ()
    assert "bring noise back" not in paths_caption(calm_sgd, VARIANTS, 1, False)
    lone = (_path("same", "SGD", 1, 0.01, 5, every=125, largest=0.2),)
    assert paths_sentence(lone, "SGD") == ("At the same learning rate 0.01 (SGD's best), one seed's train loss on all "
                                           "the data, measured up to 32 times an epoch, rose for SGD in 5 of 160 "
                                           "stretches of 125 updates (by up to 0.2).")  # nothing to compare
    two = (*lone, replace(_path("same", "batch GD", 4000, 0.01, 0, stretches=2), finite=False))
    assert "which then diverged" in paths_sentence(two, "SGD")
    both = (*two, replace(_path("same", "mini-batch 32", 32, 0.01, 0), finite=False))
    assert "Batch GD and mini-batch 32 diverged at this rate (their paths end at the last" in paths_caption(
        both, [*VARIANTS], 1, False)
