"""gdlab fit: train one model with one update rule (registered on the app in cli.py)."""

from __future__ import annotations

import typer

from gdlab.commands.cli_options import (
    MAX_STEPS,
    SEED_MAX,
    TARGET_COLUMN_HELP,
    activation_option,
    dataset_option,
    db_option,
    hidden_option,
    model_option,
    stop_words,
    task_option,
    word,
)
from gdlab.commands.json_output import json_text


def fit(
    dataset: str = dataset_option(),
    target_column: str | None = typer.Option(
        None, "--target", "--target-column", help=TARGET_COLUMN_HELP, show_default=False
    ),
    task: str | None = task_option(),
    model: str = model_option(),
    hidden: str = hidden_option(),
    activation: str = activation_option(),
    batch_size: str | None = typer.Option(
        None,
        "--batch-size",
        help="Batch size: 1 (SGD), k (mini-batch) or 'full' (batch GD). "
        "Default: 32, or 'full' when there are fewer than 32 training samples.",
        show_default=False,
    ),
    learning_rate: float = typer.Option(0.1, "--learning-rate", help="Learning rate, > 0."),
    momentum: float = typer.Option(0.0, help="Heavy-ball momentum in [0, 1)."),
    nesterov: bool = typer.Option(False, help="Use Nesterov momentum."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="L2 weight decay, >= 0."),
    epochs: int = typer.Option(30, min=1, help="Number of epochs."),
    seed: int = typer.Option(0, min=0, max=SEED_MAX, help="Seed for initialisation and data order."),
    metrics: str = typer.Option("exact", help="Epoch metrics: exact (full data) or running.",
                                callback=word("metrics")),
    test_every: int = typer.Option(1, "--test-every", min=1, help="Measure the test metrics every n-th epoch and at the last (NaN between)."),
    stop: list[str] = typer.Option(  # noqa: B008 -- typer's idiom; B008 spares the other options' immutable types
        [],
        "--stop",
        help="Stopping rule, e.g. 'grad<1e-4', 'plateau:1e-4:5', 'early:test_loss:10', "
        "'target:test_accuracy:0.6', 'time:60', 'steps:500'; & is all, | is any; repeat for any. Read at each "
        "epoch's end (steps and time stop at the first epoch end past them).", callback=stop_words,
    ),
    schedule: str = typer.Option(
        "constant",
        help="Learning-rate schedule: constant, step, multistep, exponential, inverse_time, "
        "power, polynomial, cosine, cyclic or one_cycle (counted in updates).", callback=word("schedule"),
    ),
    warmup_steps: int = typer.Option(
        0,
        "--warmup-steps",
        "--warmup",
        min=0,
        help="Linear warmup from 0 over this many updates, before the schedule.",
    ),
    decay_steps: int | None = typer.Option(
        None,
        "--decay-steps",
        min=1,
        max=MAX_STEPS,
        help="exponential, inverse_time, polynomial, cosine: decay length (default: the run).",
        show_default=False,
    ),
    decay_rate: float | None = typer.Option(
        None,
        "--decay-rate",
        help="exponential (default 0.01 over the run), inverse_time (default 1.0).",
        show_default=False,
    ),
    end_value: float = typer.Option(
        0.0,
        "--end-value",
        help="polynomial, cosine: the final learning rate.",
    ),
    power: float = typer.Option(
        1.0, help="power (Robbins-Monro exponent), polynomial."
    ),
    factor: float = typer.Option(
        0.1,
        help="step, multistep: multiply the rate by this at each drop.",
    ),
    step_size_steps: int | None = typer.Option(
        None,
        "--step-size-steps",
        min=1,
        max=MAX_STEPS,
        help="step: updates between drops (default: a third of the run).",
        show_default=False,
    ),
    milestones_steps: str | None = typer.Option(
        None,
        "--milestones-steps",
        help="multistep: comma-separated updates to drop at (default: 1/2 and 3/4 of the run).",
        show_default=False,
    ),
    scale_steps: int | None = typer.Option(
        None,
        "--scale-steps",
        min=1,
        max=MAX_STEPS,
        help="power: lr / (1 + t/scale_steps)^power (default: a tenth of the run).",
        show_default=False,
    ),
    max_learning_rate: float | None = typer.Option(
        None,
        "--max-learning-rate",
        help="cyclic: the top of the cycle (default 10x the rate).",
        show_default=False,
    ),
    half_cycle_steps: int | None = typer.Option(
        None,
        "--half-cycle-steps",
        min=1,
        max=MAX_STEPS,
        help="cyclic: updates from bottom to top (default: an eighth of the run).",
        show_default=False,
    ),
    restarts: bool = typer.Option(
        False, help="cosine: warm restarts every decay-steps."
    ),
    pct_start: float = typer.Option(
        0.3,
        "--pct-start",
        help="one_cycle: the rising part of the run.",
    ),
    track_noise_scale: int = typer.Option(
        0, "--track-noise-scale", min=0, help="Measure the gradient noise scale B_simple every N epochs (0: off).",
    ),
    db: str = db_option(),
    record: bool = typer.Option(
        True, help="Record the run (config, metrics per epoch, checkpoints) in --db.",
    ),
    checkpoint_every: int = typer.Option(
        1, "--checkpoint-every", min=1, help="Save a checkpoint every N epochs (and at the end).",
    ),
    devices: int | None = typer.Option(
        None, min=1, help="Data parallel over N devices: each batch split N ways (batch size a multiple of N).",
        show_default=False,
    ),
    coordinator: str | None = typer.Option(
        None, help="HOST:PORT of process 0, to train across processes (with --num-processes, --process-id).",
        show_default=False,
    ),
    num_processes: int | None = typer.Option(
        None, "--num-processes", min=1, help="How many processes train together.",
        show_default=False,
    ),
    process_id: int | None = typer.Option(
        None, "--process-id", min=0, help="This process's index, 0 .. num-processes - 1 (0 records the run).",
        show_default=False,
    ),
    coordinator_timeout: float = typer.Option(
        60.0, "--coordinator-timeout", help="Seconds to wait for the coordinator before giving up.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Train a model with gradient descent, record the run in --db and print a summary."""
    from gdlab.commands.fit import FitOptions, ProcessOptions, RecordOptions, run_fit
    from gdlab.core.run_schedules import ScheduleOptions

    options = FitOptions(
        dataset=dataset,
        target=target_column,
        task=task,
        model=model,
        hidden=hidden,
        activation=activation,
        batch_size=batch_size,
        learning_rate=learning_rate,
        momentum=momentum,
        nesterov=nesterov,
        weight_decay=weight_decay,
        epochs=epochs,
        seed=seed,
        metrics=metrics,
        test_every=test_every,
        stop=tuple(stop),
        devices=devices,
        schedule=ScheduleOptions(
            schedule=schedule,
            warmup_steps=warmup_steps,
            decay_steps=decay_steps,
            decay_rate=decay_rate,
            end_value=end_value,
            power=power,
            factor=factor,
            step_size_steps=step_size_steps,
            milestones_steps=milestones_steps,
            scale_steps=scale_steps,
            max_learning_rate=max_learning_rate,
            half_cycle_steps=half_cycle_steps,
            restarts=restarts,
            pct_start=pct_start,
        ),
        track_noise_scale=track_noise_scale,
    )
    summary = run_fit(
        options, show_progress=progress and not as_json, as_json=as_json,
        record=RecordOptions(db=db if record else None, checkpoint_every=checkpoint_every),
        processes=ProcessOptions(coordinator, num_processes, process_id, coordinator_timeout),
    )
    if as_json:
        typer.echo(json_text(summary))
