"""The diagnostics commands: gdlab sharpness, find-lr and noise-scale (registered on the app in cli.py)."""

from __future__ import annotations

import typer

from gdlab.commands.cli_options import (
    MAX_SEEDS,
    SEED_MAX,
    activation_option,
    dataset_option,
    db_option,
    hidden_option,
    model_option,
    target_column_option,
    task_option,
)
from gdlab.commands.json_output import json_text


def sharpness(
    dataset: str = dataset_option(),
    target_column: str | None = target_column_option(),
    task: str | None = task_option(),
    model: str = model_option(),
    hidden: str = hidden_option(),
    activation: str = activation_option(),
    seed: int = typer.Option(0, min=0, max=SEED_MAX, help="Seed of the initial params (as in gdlab fit)."),
    batch_size: str | None = typer.Option(
        None, "--batch-size", help="Hessian of one random batch of this size, or 'full' (default: all training data).",
        show_default=False,
    ),
    learning_rate: float = typer.Option(0.1, "--learning-rate", help="The rate to judge."),
    momentum: float = typer.Option(0.0, help="Heavy-ball momentum: the limit is (2 + 2*momentum)/L."),
    nesterov: bool = typer.Option(
        False, "--nesterov", help="Nesterov momentum: the limit is (2 + 2*momentum)/((1 + 2*momentum) L)."
    ),
    progress: bool = typer.Option(True, help="Show a progress spinner."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Print lambda_max (the top Hessian eigenvalue), the stability limit 2/lambda_max and a verdict."""
    from gdlab.commands.sharpness import run_sharpness

    summary = run_sharpness(
        dataset=dataset, target=target_column, task=task, model=model, hidden=hidden, activation=activation, seed=seed,
        batch_size=batch_size, learning_rate=learning_rate, momentum=momentum, as_json=as_json,
        show_progress=progress and not as_json, nesterov=nesterov,
    )
    if as_json:
        typer.echo(json_text(summary))


def find_lr(
    dataset: str = dataset_option(),
    target_column: str | None = target_column_option(),
    task: str | None = task_option(),
    model: str = model_option(),
    hidden: str = hidden_option(),
    activation: str = activation_option(),
    batch_size: str | None = typer.Option(
        None, "--batch-size", help="Batch size of the range test and the validation: k, or 'full' (batch GD). "
        "Default: 32, or 'full' when there are fewer than 32 training samples.", show_default=False,
    ),
    seeds: int = typer.Option(3, min=1, max=MAX_SEEDS, help="Seeds run at once (the spread of each suggestion)."),
    min_lr: float = typer.Option(1e-5, "--min-lr", help="The range test's first learning rate."),
    max_lr: float = typer.Option(10.0, "--max-lr", help="The range test's last learning rate."),
    steps: int = typer.Option(200, min=20, help="Steps of the range test."),
    validate_epochs: int = typer.Option(2, "--validate-epochs", min=1, help="Epochs of the validation sweep."),
    momentum: float = typer.Option(0.0, help="Heavy-ball momentum in [0, 1) of the range test and the validation "
                                             "(the rule you will train with: momentum lowers the rate that suits)."),
    plot: str | None = typer.Option(None, help="Save the curves to this .png/.svg file.", show_default=False),
    db: str = db_option(),
    record: bool = typer.Option(
        True, help="Record the finder (curves, suggestions, the validated answer) in --db.",
    ),
    progress: bool = typer.Option(True, help="Show progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """The learning-rate range test over several seeds, with its suggestions validated by a short sweep."""
    from gdlab.commands.diagnostics import run_find_lr

    summary = run_find_lr(
        dataset=dataset, target=target_column, task=task, model=model, hidden=hidden, activation=activation,
        batch_size=batch_size, seeds=seeds, min_lr=min_lr, max_lr=max_lr, steps=steps, validate_epochs=validate_epochs,
        momentum=momentum, plot=plot, as_json=as_json, db=db if record else None, show_progress=progress and not as_json,
    )
    if as_json:
        typer.echo(json_text(summary))


def noise_scale(
    dataset: str = dataset_option(),
    target_column: str | None = target_column_option(),
    task: str | None = task_option(),
    model: str = model_option(),
    hidden: str = hidden_option(),
    activation: str = activation_option(),
    seed: int = typer.Option(0, min=0, max=SEED_MAX, help="Seed of the initial params and of the batches."),
    small_batch: int | None = typer.Option(
        None, "--small-batch", min=1, help="The smaller batch size. Default: 16, or half of --big-batch when that is under 32.",
        show_default=False,
    ),
    big_batch: int | None = typer.Option(
        None, "--big-batch", min=2, help="The larger batch size. Default: 512, or all training samples when there are fewer "
        "or when --small-batch is 512 or more.", show_default=False,
    ),
    batches: int = typer.Option(64, min=2, help="Batches measured at each size."),
    learning_rate: float | None = typer.Option(
        None, "--learning-rate", help="A rate tuned at --batch-size: gives the recommended rate.", show_default=False
    ),
    batch_size: str | None = typer.Option(
        None, "--batch-size", help="The batch size --learning-rate was tuned at: k, or 'full' for a rate tuned "
        "for batch GD (default: --small-batch).",
        show_default=False,
    ),
    progress: bool = typer.Option(True, help="Show a progress spinner."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Batch-size guidance: the gradient noise scale B_simple, with a recommended batch size and rate."""
    from gdlab.commands.diagnostics import run_noise_scale

    summary = run_noise_scale(
        dataset=dataset, target=target_column, task=task, model=model, hidden=hidden, activation=activation, seed=seed,
        small_batch=small_batch, big_batch=big_batch,
        batches=batches, learning_rate=learning_rate, batch_size=batch_size, as_json=as_json,
        show_progress=progress and not as_json,
    )
    if as_json:
        typer.echo(json_text(summary))

