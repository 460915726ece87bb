"""gdlab compare's noise lesson measured: one seed's loss path per variant at the same learning rate.

Each path is ``gd.fit`` of the sweep's config at that rate and seed with ``loss_every`` (the same run as the
sweep's member, up to float rounding; on one device with XLA's kernels whatever the compare's ``--kernel``): at
every epoch's end it holds the member's train loss as ``metrics="exact"`` records it (``"running"`` records the
mean of the epoch's batch losses instead).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gdlab as gd
from gdlab.report import Comparison
from gdlab.report.noise import measure_every, path_plan, path_record
from gdlab.report.summary import Summary


def with_paths(comparison: Comparison, summary: Summary, model: gd.Model, data: gd.Dataset) -> Comparison:
    """The comparison with its variants' paths measured (none where ``path_rates`` finds no shared rate)."""
    best = {v.batch_size: (v.best_learning_rate, v.trained) for v in summary.variants}
    steps = {int(v["batch_size"]): int(v["steps_per_epoch"]) for v in comparison.variants}
    epochs = int(comparison.settings["epochs"])
    seed = int(comparison.settings["seeds"][0])
    paths: list[dict[str, Any]] = []
    measured: dict[tuple[int, float], gd.LossPath] = {}  # SGD's best rate is both kinds' rate: measured once
    for kind, size, rate in path_plan(comparison, best):
        every = measure_every(steps[size])
        if (size, rate) not in measured:
            result = gd.fit(model, data, gd.sgd(rate), batch_size=size, epochs=epochs, seed=seed, loss_every=every,
                            test_every=epochs, check_stability=False, devices=1)  # one test pass: the path needs none
            assert result.loss_path is not None  # loss_every asked for it
            measured[size, rate] = result.loss_path
        path = measured[size, rate]
        paths.append(path_record(kind, size, rate, seed, every, steps[size], path.epoch, path.train_loss))
    return dataclasses.replace(comparison, paths=paths)
