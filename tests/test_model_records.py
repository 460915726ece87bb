"""A run records its model's architecture (name, hidden sizes, activation) from the Model, and runs shows it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import gdlab as gd

KW = {"batch_size": 16, "epochs": 2}


@pytest.fixture(autouse=True)
def in_tmp_path(restore_jax_cache: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in tmp_path and undo the CLI's process-wide JAX cache settings."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GDLAB_DB", raising=False)
    yield


@pytest.fixture(scope="module")
def data() -> gd.Dataset:
    return gd.datasets.load("linreg", n=64, features=3, noise=0.5, seed=0)


def _architecture(config: dict) -> tuple:
    return config["model"], config.get("hidden"), config.get("activation")


def _record_all(store: gd.store.Store, model: gd.Model, data: gd.Dataset) -> dict[str, str]:
    """A fit, a sweep and a finder of model recorded in store: their ids."""
    gd.fit(model, data, gd.sgd(0.05), record=store, **KW)
    ids = {"fit": str(store.last_run_id)}
    gd.sweep(model, data, learning_rate=[0.01, 0.05], seeds=[0], record=store, **KW)
    ids["sweep"] = str(store.last_sweep_id)
    gd.find_learning_rate(model, data, batch_size=16, seeds=1, steps=40, validate_epochs=1, record=store)
    ids["finder"] = str(store.last_run_id)
    return ids


def test_library_runs_record_the_mlps_hidden_sizes_and_activation_and_a_linear_model_none(data) -> None:
    """gd.fit, gd.sweep (its config and every member) and gd.find_learning_rate recorded an mlp as 'mlp'
    alone: its hidden sizes and activation now come from the Model; a linear model records its name only."""
    with gd.store.open("runs.db") as store:
        mlp = _record_all(store, gd.models.mlp((16, 8), activation="tanh"), data)
        linear = _record_all(store, gd.models.linear(), data)
        for ids, want in ((mlp, ("mlp", [16, 8], "tanh")), (linear, ("linear", None, None))):
            configs = [store.run(ids["fit"]).config, store.sweep(ids["sweep"]).config,
                       *(run.config for run in store.members(ids["sweep"])), store.run(ids["finder"]).config]
            assert len(configs) == 5
            assert all(_architecture(config) == want for config in configs)
        assert "hidden" not in store.run(linear["fit"]).config and "activation" not in store.run(linear["fit"]).config
    result = gd.fit(gd.models.mlp((16, 8)), data, gd.sgd(0.05), **KW)
    assert _architecture(result.config) == ("mlp", [16, 8], "relu")  # unrecorded too: the result's config


def _strip_architecture(store: gd.store.Store, run_id: str) -> None:
    """Make run_id's record as one from before the model's hidden sizes and activation were kept."""
    config = store.run(run_id).config
    for key in ("hidden", "activation"):
        config.pop(key, None)
    store.connection.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config), run_id))


def test_resume_checks_the_recorded_activation_and_a_record_from_before_still_resumes(data) -> None:
    """The recorded hidden sizes and activation are settings gd.resume checks (a tanh run resumed as relu went
    on silently); a run recorded before they were kept resumes unchecked there."""
    store = gd.store.open("runs.db")

    def interrupt(checkpoint: gd.Checkpoint) -> None:
        if checkpoint.epoch == 1:
            raise KeyboardInterrupt

    tanh = gd.models.mlp((16, 8), activation="tanh")
    ids = []
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            gd.fit(tanh, data, gd.sgd(0.05), record=store, on_epoch=interrupt, **KW)
        ids.append(str(store.last_run_id))
    with pytest.raises(gd.store.StoreError, match=r"activation must be the run's to resume run \w+: it was \"tanh\"; "
                                                  r"got \"relu\"\."):
        gd.resume(ids[0], store, gd.models.mlp((16, 8)), data, gd.sgd(0.05))
    assert gd.resume(ids[0], store, tanh, data, gd.sgd(0.05)).epochs_run == 2
    _strip_architecture(store, ids[1])
    assert gd.resume(ids[1], store, tanh, data, gd.sgd(0.05)).epochs_run == 2
    store.close()
