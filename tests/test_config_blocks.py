"""Config blocks: a CPU device trains its sweep configs a cache-sized block at a time, with the same numbers."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import gdlab as gd
import gdlab.engine.sweep as sweep_module
from gdlab.engine import config_blocks
from gdlab.engine.config_blocks import (
    BLOCK_CACHE_MOST,
    CACHE_MULTIPLE,
    MIN_PAIRS,
    block_pairs,
    config_block,
    l2_bytes,
    l3_bytes,
    step_bytes,
)
from gdlab.engine.epoch_program import _COMPILED
from gdlab.engine.sweep_memory import allocated_bytes


@pytest.mark.parametrize(("pairs", "most", "size"), [
    (16, 8, 8), (32, 9, 8), (12, 8, 6), (8, 8, 8), (5, 8, 5), (4, 1, 1), (13, 8, 13), (14, 8, 7), (9, 4, 3),
])
def test_block_pairs_divides_the_pairs_and_keeps_blocks_near_the_most(pairs: int, most: int, size: int) -> None:
    assert block_pairs(pairs, most) == size


def test_a_block_holds_about_one_l2_cache_of_step_working_set_and_two_pairs_of_each_seed() -> None:
    params = gd.models.mlp().init(jax.random.PRNGKey(0), (40,), 10)  # 15210 params, widths 100 + 100 + 10
    caches = {"cache": 1 << 20, "l3": 36 << 20}
    assert step_bytes(params, 128) == 4 * (2 * 15210 + 2 * 128 * 210)
    assert CACHE_MULTIPLE == 1 and MIN_PAIRS == 2
    assert config_block(params, 128, **caches) == (1 << 20) // (4 * (2 * 15210 + 2 * 128 * 210)) == 3
    assert block_pairs(16, config_block(params, 128, **caches)) == 2  # a 16-pair device: blocks of 2
    assert config_block(params, 128, seeds=3, **caches) == 6  # 3 seeds: still 2 pairs of each
    assert config_block(params, 1, **caches) == (1 << 20) // (4 * 4 * 15210) == 4  # SGD: weights in L2 / 2
    assert config_block(params, 1, seeds=3, **caches) == 6
    assert config_block(params, 2, **caches) == (1 << 20) // (4 * (2 * 15210 + 2 * 2 * 210)) == 8
    # the floor of 2 pairs holds while they fit in 2/3 of the L3: 6 configs of 3.4 MB (batch 2000) do,
    # 6 of 6.8 MB (the full batch of 4000 rows) do not, 2 of them do
    assert config_block(params, 2000, seeds=3, **caches) == 6
    assert config_block(params, 4000, seeds=3, **caches) == 1
    assert config_block(params, 4000, seeds=1, **caches) == 2
    assert config_block(params, 4000, seeds=1, cache=1 << 20, l3=1 << 20) == 1  # no L3 room: one at a time
    assert l2_bytes() >= 1 << 14 and l3_bytes() >= l2_bytes()


@pytest.mark.parametrize(("l2", "block"), [(512 << 10, 1), (1 << 20, 3), (2 << 20, 3), (4 << 20, 3)])
def test_a_block_counts_on_the_cores_l2_up_to_one_mib(monkeypatch, l2: int, block: int) -> None:
    """On a 2 MiB L2 the whole L2's block (6: pairs of 4 of a 16-pair device) ran slower than 1 MiB's (3: pairs
    of 2) at batch 128; a 512 KiB L2 keeps its own (1, raised to 2 pairs by MIN_PAIRS)."""
    params = gd.models.mlp().init(jax.random.PRNGKey(0), (40,), 10)
    monkeypatch.setattr(config_blocks, "l2_bytes", lambda: l2)
    monkeypatch.setattr(config_blocks, "l3_bytes", lambda: 36 << 20)
    assert BLOCK_CACHE_MOST == 1 << 20
    assert config_blocks.config_block(params, 128, seeds=1) == max(block, MIN_PAIRS)
    assert config_blocks.config_block(params, 128, seeds=1, cache=l2) == max(l2 // step_bytes(params, 128), MIN_PAIRS)


@pytest.fixture(scope="module")
def small(mnist1d: gd.Dataset) -> gd.Dataset:
    return gd.datasets.from_arrays(mnist1d.x_train[:600], mnist1d.y_train[:600], test_fraction=0.25, seed=1)


def test_a_sweep_in_blocks_equals_the_sweep_all_at_once(small, monkeypatch) -> None:
    """Blocks of one pair per seed against one block: the same rows, and less memory.

    Not bit for bit: a vmap over 3 pairs and one over 1 round differently (by 1e-7; a chaotic config,
    lr 0.5 with momentum 0.9, grows that to 20% in 8 epochs, so the grid leaves it out)."""
    grid = {"learning_rate": [0.02, 0.5, 1e4], "momentum": [0.0, 0.5], "batch_size": [30], "seeds": [1, 2],
                "epochs": 8, "stop": gd.stop.target("train_loss", 1.5)}
    programs = {}
    results = {}
    for block in (0, 2):
        monkeypatch.setattr(sweep_module, "config_block", lambda *args, b=block: b)
        _COMPILED.clear()
        results[block] = gd.sweep(gd.models.mlp(hidden=(24,)), small, **grid)
        programs[block] = allocated_bytes(next(iter(_COMPILED.values())))
    whole, blocked = results[0], results[2]
    assert {r["status"] for r in whole.rows} == {"diverged", "max_epochs", "target_reached"}
    for a, b in zip(whole.rows, blocked.rows, strict=True):
        assert (a["status"], a["reason"], a["epochs_run"]) == (b["status"], b["reason"], b["epochs_run"])
        for key in ("final_train_loss", "final_test_loss", "final_test_accuracy"):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5)
    for i in (i for i, row in enumerate(whole.rows) if row["status"] != "diverged"):
        for x, y in zip(jax.tree.leaves(whole.run(i).params), jax.tree.leaves(blocked.run(i).params)):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    if programs[0] is not None:
        assert programs[2] < programs[0]  # one pair of each seed at a time holds fewer activations
