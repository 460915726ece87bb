"""test_every: the test pass every n-th epoch and at a run's last, the same training and numbers otherwise."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd
from gdlab.engine.epoch import is_test_epoch

TESTED = ("test_loss", "test_accuracy")


@pytest.fixture(scope="module")
def small(mnist1d: gd.Dataset) -> gd.Dataset:
    return gd.datasets.from_arrays(mnist1d.x_train[:600], mnist1d.y_train[:600], test_fraction=0.25, seed=1)


@pytest.mark.parametrize(("epochs", "every", "due"), [
    (7, 3, [3, 6, 7]), (6, 3, [3, 6]), (4, 1, [1, 2, 3, 4]), (5, 10, [5]),
])
def test_the_test_pass_is_due_every_nth_epoch_and_at_the_last(epochs: int, every: int, due: list[int]) -> None:
    assert [e + 1 for e in range(epochs) if is_test_epoch(e, epochs, every)] == due


def _same_but_untested(every_epoch: dict, sparse: dict, tested: list[int]) -> None:
    """sparse's history is every_epoch's, with the test metrics NaN except at the (1-based) tested epochs."""
    assert every_epoch.keys() == sparse.keys()
    for name, values in every_epoch.items():
        if name in ("epoch_time", "wall_time"):
            continue
        if name in TESTED:
            mask = np.isin(np.arange(1, len(values) + 1), tested)
            assert np.all(np.isnan(sparse[name][~mask])), name
            np.testing.assert_allclose(sparse[name][mask], values[mask], rtol=1e-6, err_msg=name)
        else:
            np.testing.assert_allclose(sparse[name], values, rtol=1e-6, err_msg=name)


def test_fit_tests_every_nth_epoch_and_trains_as_it_would_testing_every_epoch(small) -> None:
    args = {"batch_size": 30, "epochs": 7, "metrics": "running"}
    every = gd.fit(gd.models.mlp(hidden=(24,)), small, gd.sgd(0.05), **args)
    sparse = gd.fit(gd.models.mlp(hidden=(24,)), small, gd.sgd(0.05), test_every=3, **args)
    _same_but_untested(every.history, sparse.history, [3, 6, 7])
    assert sparse.config["test_every"] == 3 and "test_every" not in every.config


@pytest.mark.parametrize(("lr", "status"), [(0.5, "target_reached"), (1e4, "diverged")])
def test_a_fit_that_ends_between_test_epochs_measures_its_last_epoch(small, lr: float, status: str) -> None:
    args = {"batch_size": 30, "epochs": 8, "stop": gd.stop.target("train_loss", 1.5)}
    every = gd.fit(gd.models.mlp(hidden=(24,)), small, gd.sgd(lr), **args)
    sparse = gd.fit(gd.models.mlp(hidden=(24,)), small, gd.sgd(lr), test_every=3, **args)
    assert every.status == sparse.status == status
    last = len(sparse.history["test_loss"])
    assert last % 3 != 0  # the run ended on an epoch that skipped the pass
    _same_but_untested(every.history, sparse.history, [e for e in range(1, last + 1) if e % 3 == 0 or e == last])
    assert np.isfinite(sparse.history["test_accuracy"][-1])


def test_a_callback_sees_the_last_epochs_test_metrics(small) -> None:
    seen: list[tuple[int, float]] = []
    gd.fit(gd.models.mlp(hidden=(24,)), small, gd.sgd(0.5), batch_size=30, epochs=8, test_every=4,
           stop=gd.stop.target("train_loss", 1.5), callback=lambda e, row: seen.append((e, row["test_loss"])))
    assert [e for e, loss in seen if np.isfinite(loss)] == [4, seen[-1][0]]


def test_a_sweep_tests_every_nth_epoch_and_each_configs_last(small) -> None:
    grid = {"learning_rate": [0.02, 0.5, 1e4], "batch_size": [30], "seeds": 2, "epochs": 8,
                "stop": gd.stop.target("train_loss", 1.5)}
    every = gd.sweep(gd.models.mlp(hidden=(24,)), small, **grid)
    sparse = gd.sweep(gd.models.mlp(hidden=(24,)), small, test_every=3, **grid)
    assert {r["status"] for r in sparse.rows} == {"diverged", "max_epochs", "target_reached"}
    for k, (a, b) in enumerate(zip(every.rows, sparse.rows, strict=True)):
        assert (a["status"], a["reason"], a["epochs_run"]) == (b["status"], b["reason"], b["epochs_run"])
        ran = b["epochs_run"]
        _same_but_untested(every.run(k).history, sparse.run(k).history,
                           [e for e in range(1, ran + 1) if e % 3 == 0 or e == ran])
        for name in ("final_test_loss", "final_test_accuracy"):
            np.testing.assert_allclose(b[name], a[name], rtol=1e-6)
    assert sparse.groups[0].config["test_every"] == 3


@pytest.mark.parametrize("run", ["fit", "sweep"])
def test_a_rule_that_reads_a_test_metric_needs_every_epoch_tested(small, run: str) -> None:
    stop = gd.stop.early_stopping("test_loss", patience=2)
    with pytest.raises(ValueError, match=r"reads test_loss, which test_every=2 measures only once every 2 epochs"):
        if run == "fit":
            gd.fit(gd.models.mlp(hidden=(8,)), small, gd.sgd(0.1), epochs=2, stop=stop, test_every=2)
        else:
            gd.sweep(gd.models.mlp(hidden=(8,)), small, learning_rate=[0.1], epochs=2, stop=stop, test_every=2)


@pytest.mark.parametrize("value", [0, -3, 1.5, "2"])
def test_test_every_must_be_a_positive_integer(small, value) -> None:
    with pytest.raises((ValueError, TypeError), match="test_every"):
        gd.fit(gd.models.mlp(hidden=(8,)), small, gd.sgd(0.1), epochs=2, test_every=value)
    with pytest.raises((ValueError, TypeError), match="test_every"):
        gd.sweep(gd.models.mlp(hidden=(8,)), small, learning_rate=[0.1], epochs=2, test_every=value)


def test_report_curves_join_the_measured_epochs() -> None:
    """A test curve measured every 2nd epoch is drawn through those points, not as isolated markers."""
    from matplotlib.figure import Figure

    from gdlab.report.plots import _band

    ax = Figure().subplots()
    nan = np.nan
    values = np.array([[nan, 0.3, nan, 0.5, 0.6], [nan, 0.5, nan, 0.7, 0.8]])  # 2 seeds, 5 epochs
    _band(ax, np.arange(1, 6), values, "red", "mini-batch")
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[2, 0.4], [4, 0.6], [5, 0.7]])


def test_a_recorded_run_resumes_with_its_test_every_and_ends_as_the_uninterrupted_run(small, tmp_path) -> None:
    args = {"batch_size": 30, "epochs": 7, "test_every": 3}
    whole = gd.fit(gd.models.mlp(hidden=(8,)), small, gd.sgd(0.1), **args)
    store = gd.store.open(tmp_path / "runs.db")
    crashed = store.recorder(checkpoint_every=2)
    crashed.fail = lambda error: None  # a crash records nothing more

    def crash_after_5(checkpoint: gd.Checkpoint) -> None:
        if checkpoint.epoch == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gd.fit(gd.models.mlp(hidden=(8,)), small, gd.sgd(0.1), record=crashed, on_epoch=crash_after_5, **args)
    store.connection.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (crashed.run_id,))
    again = gd.resume(crashed.run_id, store, gd.models.mlp(hidden=(8,)), small, gd.sgd(0.1))  # test_every: the run's
    assert again.config["test_every"] == 3
    stored = store.history(crashed.run_id)
    for name in ("train_loss", *TESTED):
        np.testing.assert_array_equal(again.history[name], whole.history[name])  # NaN where untested
        np.testing.assert_array_equal(stored[name], whole.history[name])
    assert np.isnan(stored["test_loss"]).sum() == 4  # epochs 1, 2, 4, 5
    store.close()
