"""The sweep's memory budget: chunks that fit it, the estimate against XLA's count, and budgets too small."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import gdlab as gd
import gdlab.engine.sweep
import gdlab.engine.sweep_memory
from gdlab.core.batching import batch_plan
from gdlab.engine.epoch import batch_grad_rows
from gdlab.engine.epoch_program import _COMPILED
from gdlab.engine.sweep_memory import Budget, allocated_bytes, config_bytes, group_copy_bytes


@pytest.fixture(scope="module")
def small(mnist1d: gd.Dataset) -> gd.Dataset:
    return gd.datasets.from_arrays(mnist1d.x_train[:600], mnist1d.y_train[:600], test_fraction=0.25, seed=1)


@pytest.fixture(scope="module")
def tall() -> gd.Dataset:
    """Data that outweighs the linear model's configs: 16000 x 50 float32 inputs, 3.3 MB."""
    return gd.datasets.linreg(n=20000, features=50)


MODEL = gd.models.mlp(hidden=(24,))
LINEAR = gd.models.linear()


@pytest.fixture
def all_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every config of a chunk at once, as on a GPU (on the CPU a device trains them in cache-sized blocks,
    which need less memory than the estimate: tests/test_config_blocks.py)."""
    monkeypatch.setattr(gdlab.engine.sweep, "config_block", lambda *args: 0)


def test_chunks_that_fit_a_memory_budget_give_the_same_results(small) -> None:
    grid = {"learning_rate": gd.logspace(0.01, 1.0, 5), "batch_size": [100], "seeds": 2, "epochs": 2}
    whole = gd.sweep(MODEL, small, **grid)

    per_config = config_bytes(MODEL.init(jax.random.PRNGKey(0), (40,), 10), 100)
    fixed = group_copy_bytes(small, np.float32, 2, 100, 1)  # the 2 seeds' copies of the data, whatever the chunk
    _COMPILED.clear()  # the in-process program cache (bounded, so count from empty)
    chunked = gd.sweep(MODEL, small, max_memory=fixed + 2 * per_config * 2, **grid)  # 2 pairs x 2 seeds a chunk
    assert len(_COMPILED) == 1  # chunks of 2, 2 and 1 (padded to 2) share one program
    for a, b in zip(whole.rows, chunked.rows):
        assert a["final_train_loss"] == pytest.approx(b["final_train_loss"], rel=1e-6)
        assert a["status"] == b["status"] and a["epochs_run"] == b["epochs_run"]
    assert len(chunked.groups[0].chunk_params) == 3
    joined = chunked.groups[0].params  # [seed, pair, ...] from the three chunks
    for k, (_, i, j) in enumerate(chunked.index):
        for a, b, c in zip(jax.tree.leaves(whole.run(k).params), jax.tree.leaves(chunked.run(k).params),
                           [leaf[i, j] for leaf in jax.tree.leaves(joined)], strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
            np.testing.assert_array_equal(c, b)
    with pytest.raises(ValueError, match=r"max_memory must hold at least one config per seed \(\d+ bytes"):
        gd.sweep(MODEL, small, max_memory=100, **grid)


@pytest.mark.parametrize(
    ("hidden", "batch_size", "metrics"),
    [((100, 100), 128, "running"), ((100, 100), 4000, "exact"), ((512,), 64, "running")],
)
def test_the_memory_estimate_tracks_what_xla_allocates_per_config(mnist1d, hidden, batch_size, metrics,
                                                                  all_at_once) -> None:
    """16 configs' config_bytes against the compiled program's own count (temp + arguments + outputs, less the data)."""
    model = gd.models.mlp(hidden=hidden)
    _COMPILED.clear()
    gd.sweep(model, mnist1d, learning_rate=gd.logspace(1e-3, 0.05, 16), batch_size=[batch_size], epochs=1,
             metrics=metrics)
    (program,) = _COMPILED.values()
    data = sum(a.nbytes for a in (mnist1d.x_train, mnist1d.y_train, mnist1d.x_test, mnist1d.y_test))
    allocated = allocated_bytes(program) - data
    estimate = 16 * config_bytes(model.init(jax.random.PRNGKey(0), (40,), 10), batch_size, metrics,
                                 grad_rows=batch_grad_rows(batch_plan(mnist1d.n_train, batch_size)))
    assert 0.75 * allocated <= estimate <= 2.5 * allocated  # the default budget (free / 4) absorbs the rest


def test_a_chunk_that_xla_says_does_not_fit_the_budget_shrinks(mnist1d, all_at_once, monkeypatch) -> None:
    """An estimate that counts half of what a config needs (XLA allocates about 0.8x the real estimate
    for this model) lets 8 configs into one chunk; XLA's memory analysis of its program shrinks it."""
    model = gd.models.mlp(hidden=(512,))
    half = lambda *args: config_bytes(*args) // 2
    monkeypatch.setattr(gdlab.engine.sweep_memory, "config_bytes", half)
    fixed = group_copy_bytes(mnist1d, np.float32, 1, 64, 1)  # the seed's copy of the data
    budget = fixed + int(8 * 1.05 * half(model.init(jax.random.PRNGKey(0), (40,), 10), 64, "running"))
    grid = {"learning_rate": gd.logspace(1e-3, 0.05, 8), "batch_size": [64], "epochs": 1, "metrics": "running"}
    _COMPILED.clear()
    chunked = gd.sweep(model, mnist1d, max_memory=budget, **grid)  # the estimate alone: all 8 in one chunk
    data = sum(a.nbytes for a in (mnist1d.x_train, mnist1d.y_train, mnist1d.x_test, mnist1d.y_test))
    first, trained = [allocated_bytes(program) - data for program in _COMPILED.values()]
    assert first > budget >= trained  # 8 configs did not fit; the chunks trained do
    assert len(chunked.groups[0].chunk_params) == 2
    whole = gd.sweep(model, mnist1d, max_memory=10**10, **grid)
    for a, b in zip(whole.rows, chunked.rows, strict=True):
        assert a["final_train_loss"] == pytest.approx(b["final_train_loss"], rel=1e-5)


def test_a_batch_size_group_over_max_memory_is_refused_before_any_group_trains(compile_counter) -> None:
    """batch_size=[8, "full"] under a budget that holds only the batch-8 config trained the whole batch-8
    group (compiling and running every epoch) before failing on "full"."""
    x = np.random.default_rng(2).normal(size=(1600, 10)).astype(np.float32)
    data = gd.datasets.from_arrays(x, (x[:, 0] > 0).astype(int), test_fraction=0.25)
    model = gd.models.mlp((17,))
    params = model.init(jax.random.PRNGKey(0), (10,), 2)
    whole = batch_grad_rows(batch_plan(data.n_train, data.n_train))  # slices of batch GD's gradient on a CPU
    few = group_copy_bytes(data, np.float32, 1, 8, 1)  # one seed's copy of the data in its order, and a batch
    copy = group_copy_bytes(data, np.float32, 1, data.n_train, 1, whole)  # the data in stored order
    # metrics "running": no train pass at the end, so a step's activations set each batch size's need
    small = config_bytes(params, 8, "running")
    full = config_bytes(params, data.n_train, "running", grad_rows=whole)
    assert small + few < full + copy
    budget = (small + few + full + copy) // 2
    compiled, epochs = compile_counter.count, []
    with pytest.raises(ValueError, match=rf"max_memory must hold at least one config per seed \({full + copy} bytes "
                                         rf"for 1 seed at batch_size 1200: {full} for the configs and {copy} for the "
                                         rf"copies of the training data the epochs read\); got {budget}"):
        gd.sweep(model, data, learning_rate=[0.1], batch_size=[8, "full"], epochs=2, max_memory=budget,
                 metrics="running", callback=lambda group, epoch, active: epochs.append(epoch))
    assert epochs == [] and compile_counter.count == compiled


def _pair_bytes(data: gd.Dataset, seeds: int, batch_size: int) -> int:
    """XLA's count for one (learning rate, momentum) pair of `seeds` configs, less the data it is given."""
    _COMPILED.clear()
    gd.sweep(LINEAR, data, learning_rate=[0.01], batch_size=[batch_size], seeds=seeds, epochs=1)
    (program,) = _COMPILED.values()
    given = sum(a.nbytes for a in (data.x_train, data.y_train, data.x_test, data.y_test))
    return allocated_bytes(program) - given


@pytest.mark.parametrize(("seeds", "batch_size"), [(1, 50), (3, 50), (3, 16000), (1, 8000), (3, 10000)])
def test_the_estimate_counts_the_data_each_seed_gathers_in_its_order(tall, seeds, batch_size, all_at_once) -> None:
    """A seed's epoch reads the training data in its own order (x[order]): XLA counted 40 KB for one pair of
    3 seeds of linreg(n=1000), which the estimate put at 8 KB. With 3.3 MB of data the copies are nearly
    all of a pair's bytes; one batch of all the data (16000 rows) reads it in stored order, one copy. One
    full batch and a remainder (10000 + 6000 rows) is 1 copy per seed, not 2 (estimated at 1.96x XLA's
    count); 1 seed in batches of 8000 is 1 copy and the batch its step slices (estimated at 0.68x)."""
    params = LINEAR.init(jax.random.PRNGKey(0), tall.input_shape, tall.outputs)
    grad_rows = batch_grad_rows(batch_plan(tall.n_train, batch_size))
    fixed = group_copy_bytes(tall, np.float32, seeds, batch_size, 1, grad_rows)
    estimate = fixed + seeds * config_bytes(params, batch_size, grad_rows=grad_rows)
    per_seed = 2 if seeds > 1 and tall.n_train // batch_size > 1 else 1
    assert fixed >= (1 if batch_size == tall.n_train else per_seed * seeds) * tall.x_train.nbytes
    assert 1.0 <= estimate / _pair_bytes(tall, seeds, batch_size) <= 1.1  # never under XLA's count
    assert group_copy_bytes(tall, np.float32, seeds, batch_size, 2) == 0  # a data axis gathers each batch


def test_a_budget_under_the_seeds_copies_of_the_data_is_refused_before_anything_trains(tall, all_at_once) -> None:
    """Twice the configs' own bytes (the old estimate) is under what one pair of 3 seeds needs: the sweep
    used to run it silently over max_memory."""
    params = LINEAR.init(jax.random.PRNGKey(0), tall.input_shape, tall.outputs)
    configs = 3 * config_bytes(params, 50)
    fixed = group_copy_bytes(tall, np.float32, 3, 50, 1)
    assert 2 * configs < _pair_bytes(tall, 3, 50)
    epochs: list[int] = []
    with pytest.raises(ValueError, match=(
            rf"^max_memory must hold at least one config per seed \({configs + fixed} bytes for 3 seeds at batch_size "
            rf"50: {configs} for the configs and {fixed} for the copies of the training data the epochs read\); "
            rf"got {2 * configs}\.$")):
        gd.sweep(LINEAR, tall, learning_rate=[0.01, 0.1], batch_size=[50], seeds=3, epochs=1,
                 max_memory=2 * configs, callback=lambda group, epoch, active: epochs.append(epoch))
    assert epochs == []


def test_one_pair_over_a_given_budget_by_xla_s_count_is_an_error_and_over_the_default_runs(
        small, all_at_once, monkeypatch) -> None:
    """An estimate of 1 byte a config lets any chunk in; XLA's analysis of a single pair then says it does
    not fit. A max_memory the user gave is an error naming XLA's count; the default budget (a quarter of
    the free memory) runs one pair a chunk."""
    monkeypatch.setattr(gdlab.engine.sweep_memory, "config_bytes", lambda *args: 1)
    monkeypatch.setattr(gdlab.engine.sweep, "group_copy_bytes", lambda *args: 0)
    grid = {"learning_rate": [0.01, 0.1, 0.3], "batch_size": [50], "seeds": 2, "epochs": 1}
    with pytest.raises(ValueError, match=r"^max_memory must hold at least one config per seed \((\d+) bytes for 2 "
                                         r"seeds at batch_size 50, as XLA's memory analysis of its program counts "
                                         r"them\); got 1000\.$") as error:
        gd.sweep(MODEL, small, max_memory=1000, **grid)
    assert int(error.value.args[0].split("(")[1].split()[0]) > 1000
    monkeypatch.setattr(gdlab.engine.sweep, "memory_budget", lambda given: Budget(1000, False))
    result = gd.sweep(MODEL, small, **grid)
    assert len(result.groups[0].chunk_params) == 3 and len(result) == 6


class _Calls:
    """A sweep recorder that keeps the names of the methods called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def begin_sweep(self, config, members) -> None:
        self.calls.append("begin_sweep")

    def sweep_epoch(self, epoch) -> None:
        self.calls.append("sweep_epoch")

    def end_sweep(self, result) -> None:
        self.calls.append("end_sweep")

    def fail_sweep(self, error) -> None:
        self.calls.append("fail_sweep")


def test_a_group_over_a_given_max_memory_by_xla_s_count_is_refused_before_any_group_trains(
        small, all_at_once, monkeypatch) -> None:
    """An estimate of 1 byte a config lets both groups of batch_size=[10, "full"] in; XLA's count of the
    batch-10 pair fits the budget, the full batch's does not. The batch-10 group trained (and was recorded)
    before the full batch's program compiled and failed; now every group compiles before any trains, and
    each program compiles once."""
    monkeypatch.setattr(gdlab.engine.sweep_memory, "config_bytes", lambda *args: 1)
    monkeypatch.setattr(gdlab.engine.sweep, "group_copy_bytes", lambda *args: 0)
    grid = {"learning_rate": [0.1], "batch_size": [10, "full"], "epochs": 2}
    _COMPILED.clear()
    whole = gd.sweep(MODEL, small, **grid)  # the default budget: XLA's count of each group's pair
    given = small.x_train.nbytes + small.x_test.nbytes + 4 * (small.n_train + small.n_test)  # int32 labels
    few, full = [allocated_bytes(program) - given for program in _COMPILED.values()]
    assert few < full
    budget, recorder, epochs = (few + full) // 2, _Calls(), []
    with pytest.raises(ValueError, match=rf"^max_memory must hold at least one config per seed \({full} bytes for 1 "
                                         rf"seed at batch_size 450, as XLA's memory analysis of its program counts "
                                         rf"them\); got {budget}\.$"):
        gd.sweep(MODEL, small, max_memory=budget, record=recorder,
                 callback=lambda group, epoch, active: epochs.append((group, epoch)), **grid)
    assert epochs == [] and recorder.calls == []
    _COMPILED.clear()
    fits = gd.sweep(MODEL, small, max_memory=full, record=recorder, **grid)
    assert len(_COMPILED) == 2  # the programs compiled up front, one a group, are those the groups train with
    assert (recorder.calls[0], recorder.calls[-1]) == ("begin_sweep", "end_sweep")
    assert [r["final_train_loss"] for r in fits.rows] == [r["final_train_loss"] for r in whole.rows]


def test_a_pair_over_the_default_budget_runs_one_pair_at_a_time(tall, all_at_once, monkeypatch) -> None:
    """The default budget (a quarter of the free memory), not one the user gave: 3 seeds' copies of 3.3 MB of
    data over it were refused, naming a max_memory the user never gave (find_learning_rate and the CLI
    cannot give one). They run, one pair a chunk, as over XLA's count."""
    monkeypatch.setattr(gdlab.engine.sweep, "memory_budget", lambda given: Budget(10**6, False))
    result = gd.sweep(LINEAR, tall, learning_rate=[0.001, 0.01], batch_size=[50], seeds=3, epochs=1)
    assert len(result.groups[0].chunk_params) == 2 and [row["status"] for row in result.rows] == ["max_epochs"] * 6
