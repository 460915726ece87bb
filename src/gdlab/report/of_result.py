"""A gd.sweep result as the comparison gdlab compare reports, from Python:

    sweep = gd.sweep(model, data, learning_rate=gd.logspace(1e-3, 1, 8), batch_size=[1, 32, data.n_train])
    gd.report.write_html(gd.report.from_result(sweep, data, model=model), "report.html")

The settings gdlab compare writes down itself (data set, epochs, seeds, metric, each
batch size's rates) are read off the result and the data set here.
"""

from __future__ import annotations

import math
from typing import Any

from gdlab.core.batching import batch_plan
from gdlab.core.checks import check_choice, check_float_range
from gdlab.core.dataset import Dataset
from gdlab.engine.recording import model_config
from gdlab.engine.sweep_result import SweepResult
from gdlab.report.comparison import Comparison, from_sweep
from gdlab.store.model_text import recorded_model_text

LIBRARY_RATES = "as given to gd.sweep, the same for every batch size"
"""How a library sweep's learning rates were chosen, as the report's notes say it."""


def default_metric(task: str, n_test: int) -> str:
    """What a comparison ranks by: the final test accuracy of a classifier, else the final test loss; the final
    train loss when there is no test split."""
    if n_test == 0:
        return "final_train_loss"
    return "final_test_accuracy" if task == "classification" else "final_test_loss"


def from_result(
    result: SweepResult, data: Dataset, *, model: Any = None, metric: str | None = None, target: float | None = None,
) -> Comparison:
    """The comparison of a gd.sweep result on data (the data set it trained on), for ``write_html``.

    model: the model (its name, hidden sizes and activation are shown) or a text; metric: a row key ("final_" or "best_", default
    ``default_metric``); target: the metric value whose first epoch and second the summary reports
    (a test accuracy in (0, 1]; None: no target columns). Each seed's loss before training comes
    from the result's rows (gd.sweep measures it).
    """
    if not isinstance(result, SweepResult):
        raise TypeError(f"result must be a gd.SweepResult (what gd.sweep returns); got {type(result).__name__}.")
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be the gd.Dataset the sweep trained on; got {type(data).__name__}.")
    rows = result.rows
    allowed = sorted({k for row in rows for k in row if k.startswith(("final_", "best_"))})
    metric = default_metric(data.task, data.n_test) if metric is None else check_choice("metric", metric, allowed)
    if target is not None:
        high = 1.0 if "accuracy" in metric else math.inf
        check_float_range("target", target, -math.inf if high == math.inf else 0.0, high, high_open=False)
    for group in result.groups:
        size = int(group.config["batch_size"])
        steps = batch_plan(data.n_train, size).steps
        if int(group.config["steps_per_epoch"]) != steps:
            raise ValueError(f"data must be the data set the sweep trained on: its {data.n_train} training samples "
                             f"make {steps} steps per epoch at batch size {size}, the sweep made "
                             f"{group.config['steps_per_epoch']}.")
    given = data.fingerprint() if result.data_fingerprint else ""  # a hash of all the data: once
    if given != result.data_fingerprint:  # data of the same sizes
        raise ValueError(f"data must be the data set the sweep trained on; the SHA-256 fingerprint of {data.name!r} "
                         f"begins {given[:12]}, that of the sweep's data {result.data_fingerprint[:12]}.")
    initial = {int(row["seed"]): float(row.get("initial_train_loss", math.nan)) for row in rows}
    first = result.groups[0]
    schedules = {g.schedule for g in result.groups}
    settings = {
        "dataset": data.name, "model": _model_text(model), "n_train": data.n_train, "n_test": data.n_test,
        "epochs": int(first.config["epochs"]), "seeds": [int(s) for s in first.seeds], "target": target,
        "metric": metric, "metrics": first.config.get("metrics", "exact"),
        "learning_rates": {str(g.config["batch_size"]): sorted({float(lr) for lr, _ in g.pairs}) for g in result.groups},
        "rates_rule": LIBRARY_RATES,
    }
    if len(schedules) == 1 and schedules != {"constant"}:
        settings["schedule"] = first.schedule
    return from_sweep(result, settings, initial)


def _model_text(model: Any) -> str:
    """A model in words as a record gives it ('mlp 100,100', 'mlp 64 tanh', 'linear'); a text as it is."""
    if model is None:
        return "the model given to gd.sweep"
    if isinstance(model, str):
        return model
    config = model_config(model)
    return recorded_model_text(config["model"], config)
