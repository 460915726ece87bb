"""The ``gdlab`` command line: a thin shell over the library.

Bad input prints one line ``error: ...`` and exits with code 2, no traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Optional

import typer

app = typer.Typer(
    name="gdlab",
    help="gdlab: a gradient-descent laboratory (batch, stochastic and mini-batch gradient descent).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
logger = logging.getLogger(__name__)


@app.callback()
def _root() -> None:
    """gdlab: a gradient-descent laboratory."""


@app.command()
def fit(
    dataset: str = typer.Option("mnist1d", help="Data set: a name (mnist1d, linreg) or a .csv/.npz path."),
    target: Optional[str] = typer.Option(None, help="Target column of a CSV file (default: the last)."),
    task: Optional[str] = typer.Option(
        None,
        help="Task of a .csv/.npz file: classification or regression "
        "(default: whole-number targets are class labels).",
    ),
    model: str = typer.Option("mlp", help="Model: linear, logistic or mlp."),
    hidden: str = typer.Option("100,100", help="MLP hidden layer sizes, comma-separated."),
    activation: str = typer.Option("relu", help="MLP activation: relu, tanh, sigmoid or gelu."),
    batch_size: Optional[str] = typer.Option(
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
    epochs: int = typer.Option(30, help="Number of epochs, >= 1."),
    seed: int = typer.Option(0, help="Seed for initialisation and data order."),
    metrics: str = typer.Option("exact", help="Epoch metrics: exact (full data) or running."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Train a model with gradient descent and print a summary."""
    from gdlab.commands.fit import FitOptions, run_fit

    options = FitOptions(
        dataset=dataset,
        target=target,
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
    )
    summary = run_fit(options, show_progress=progress and not as_json, as_json=as_json)
    if as_json:
        typer.echo(json.dumps(summary))


@app.command()
def datasets() -> None:
    """List the named data sets."""
    from gdlab.datasets import NAMES

    for name in NAMES:
        typer.echo(name)


@app.command()
def version() -> None:
    """Print the versions of gdlab and JAX."""
    import jax

    import gdlab

    typer.echo(f"gdlab {gdlab.__version__} (jax {jax.__version__}, backend {jax.default_backend()})")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; turn bad input into one line on stderr and exit code 2.

    An operating-system error (an unwritable cache directory, a full disk) is
    one line too, with exit code 1.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        app(args=args, prog_name="gdlab", standalone_mode=False)
    except typer.Exit as done:
        return int(done.exit_code)
    except typer.Abort:
        _error("aborted")
        return 130
    except typer.TyperException as err:
        if type(err).__name__ == "NoArgsIsHelpError":
            return 0  # `gdlab` alone: the help was printed
        _error(_usage_message(err, args))
        return 2
    except (ValueError, TypeError) as err:
        _error(str(err))
        return 2
    except OSError as err:
        _error(str(err))
        return 1
    return 0


def _usage_message(err: typer.TyperException, args: list[str]) -> str:
    message = " ".join(err.format_message().split())
    opts = getattr(getattr(err, "param", None), "opts", None)
    hint = getattr(err, "param_hint", None) or opts
    if hint and not isinstance(hint, str):
        hint = " / ".join(hint)
    if hint and hint not in message:
        message = f"{hint}: {message}"
    given = _given_value(args, opts or [])
    if type(err).__name__ == "BadParameter" and given is not None:
        message = f"{message.rstrip('.')}; got {given!r}."
    if "No such command" in message:
        message += f" (commands: {', '.join(sorted(app_commands()))})"
    return message


def _given_value(args: list[str], opts: list[str]) -> str | None:
    """The last value given on the command line for an option (--name value or --name=value)."""
    value = None
    for i, arg in enumerate(args):
        name, eq, inline = arg.partition("=")
        if name in opts:
            value = inline if eq else (args[i + 1] if i + 1 < len(args) else None)
    return value


def app_commands() -> list[str]:
    """The names of the CLI's commands."""
    return [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
