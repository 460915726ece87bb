"""``gdlab sharpness``: the top Hessian eigenvalue, the stability limit and a verdict on a rate."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table

import gdlab as gd
from gdlab.commands.fit import build_model, load_data, parse_batch_size
from gdlab.commands.progress import Bars
from gdlab.core.checks import check_int_range
from gdlab.core.rules import stability_formula, stability_limit
from gdlab.core.shortest import pair_text

GROWS = "; curvature usually grows during training, so the stable range shrinks"
"""Said after a rate that is stable at the initial params: a full-batch run at 3.5, 'oscillates but converges'
below 2/L = 4.11 there, diverged as L rose to 3.3 (gd.fit's track_sharpness shows it)."""


def verdict(learning_rate: float, top: float, momentum: float = 0.0, nesterov: bool = False) -> str:
    """What gradient descent (plain, heavy-ball or Nesterov) does along the sharpest direction at this rate, on
    the quadratic of the params measured (the initial ones): later curvature may differ."""
    if not math.isfinite(top):  # nan <= 0 is False, and the limit of nan was inf: "converges ... < inf"
        return (f"not measured: lambda_max is {top}, the loss or its curvature overflows float32 at these params "
                "(scale the features or targets)")
    if top <= 0:
        return "no positive curvature here: the stability limit does not bind"
    limit = stability_limit(top, momentum, nesterov)
    rate, bound = pair_text(learning_rate, limit)  # as many digits as tell them apart: never "4.1152 < 4.115"
    if learning_rate > limit:
        return (f"diverges at the initial params: learning_rate {rate} > {bound}, the iterates grow "
                "along the sharpest direction")
    if momentum == 0 and learning_rate > 1 / top:
        low = pair_text(1 / top, learning_rate)[0]
        return f"oscillates but converges at the initial params: 1/L = {low} < learning_rate {rate} < 2/L = {bound}{GROWS}"
    return f"converges at the initial params: learning_rate {rate} < {bound}{GROWS}"


def run_sharpness(
    *, dataset: str, target: str | None = None, task: str | None = None, model: str, hidden: str, activation: str, seed: int, batch_size: int | str | None,
    learning_rate: float, momentum: float, as_json: bool, show_progress: bool = False, nesterov: bool = False,
) -> dict[str, Any]:
    """lambda_max at the model's initial params (seeded), the rule's stability limit and the verdict."""
    gd.sgd(learning_rate, momentum=momentum, nesterov=nesterov)  # checks the rule's options, as gdlab fit does
    check_int_range("seed", seed, 0, 2**32 - 1)
    batch_size = parse_batch_size(batch_size)  # 'full' as in gdlab fit
    net = build_model(model, hidden, activation)
    data = load_data(dataset, target, task, model=model)
    gd.enable_compilation_cache()
    params = _initial_params(net, data, seed)
    with Bars(show_progress) as bars:
        top = bars.step("Lanczos for lambda_max", lambda: gd.sharpness(net, params, data, batch_size=batch_size,
                                                                                seed=seed))
    summary = {
        "lambda_max": top,
        "stability_limit": stability_limit(top, momentum, nesterov) if math.isfinite(top) and top > 0 else None,
        "formula": stability_formula(momentum, nesterov),
        "learning_rate": learning_rate,
        "momentum": momentum,
        "nesterov": nesterov,
        "verdict": verdict(learning_rate, top, momentum, nesterov),
        "where": f"initial params of {model} (seed {seed}) on {data.name}"
        + (f", a batch of {batch_size}" if batch_size not in (None, "full") else ", all training data"),
    }
    if not as_json:
        table = Table(title="gdlab sharpness", show_header=False)
        for key, value in summary.items():
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
        Console().print(table)
    return summary


def _initial_params(model: gd.Model, data: gd.Dataset, seed: int) -> Any:
    from gdlab.engine.setup import seed_params

    return seed_params(model, data, seed)
