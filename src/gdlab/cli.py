"""The ``gdlab`` command line: a thin shell over the library.

Bad input prints one line ``error: ...`` and exits with code 2, no traceback.
Here: the app, resume, compare, report, lab, datasets, version and ``main``; fit is in commands/cli_fit.py,
the ``runs`` group in commands/cli_runs.py, sharpness, find-lr and noise-scale in commands/cli_diagnostics.py, the
shared options in commands/cli_options.py and the error messages in commands/cli_errors.py.
"""

from __future__ import annotations

import importlib
import logging
import os
import sqlite3
import sys
import warnings
from typing import Any

import typer

from gdlab.commands.cli_diagnostics import find_lr, noise_scale, sharpness
from gdlab.commands.cli_errors import failure, given_value, usage_message
from gdlab.commands.cli_fit import fit
from gdlab.commands.cli_options import (
    MAX_SEEDS,
    activation_option,
    dataset_option,
    db_option,
    hidden_option,
    model_option,
    target_column_option,
    task_option,
    word,
)
from gdlab.commands.cli_runs import runs_app
from gdlab.commands.cpu_devices import arrange_cpu_devices
from gdlab.commands.help_format import wrap_at_spaces
from gdlab.commands.interrupts import INTERRUPTS
from gdlab.commands.json_output import json_text

app = typer.Typer(
    name="gdlab",
    help="gdlab: a gradient-descent laboratory (batch, stochastic and mini-batch gradient descent).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},  # the subcommands inherit it
)
app.add_typer(runs_app, name="runs")
logger = logging.getLogger(__name__)


@app.callback()
def _root() -> None:
    """gdlab: a gradient-descent laboratory."""


app.command()(fit)


@app.command()
def resume(
    run_id: str = typer.Argument(
        ..., help="The run to go on with, or the gdlab compare sweep to finish (see gdlab runs list)."
    ),
    db: str = db_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Go on with an interrupted gdlab fit run from its last checkpoint (it ends as if never stopped),
    or go on with the unfinished configs of an interrupted gdlab compare sweep from their last checkpoints."""
    from gdlab.commands.resume import run_resume

    summary = run_resume(run_id, db, show_progress=progress and not as_json, as_json=as_json)
    if as_json:
        typer.echo(json_text(summary))


app.command()(sharpness)


@app.command()
def compare(
    dataset: str = dataset_option(),
    target_column: str | None = target_column_option(),
    task: str | None = task_option(),
    model: str = model_option(),
    hidden: str = hidden_option(),
    activation: str = activation_option(),
    learning_rates: str | None = typer.Option(
        None, "--learning-rates", help="lo:hi:n (log-spaced) or a comma-separated list, for every variant. "
        "Default: 8 rates per batch size, shifted with batch_size^0.7 (from 1e-4 for SGD, from 0.01 at most).",
        show_default=False,
    ),
    batch_sizes: str = typer.Option("1,32,128,full", "--batch-sizes", help="Batch sizes: 1 (SGD), k, full."),
    seeds: int = typer.Option(3, min=1, max=MAX_SEEDS, help="Seeds per config (0, 1, ...)."),
    epochs: int = typer.Option(5, min=1, help="The budget: epochs for every variant (the same samples seen)."),
    target: float | None = typer.Option(
        None, help="Target to reach: a test accuracy (default 0.5) or, for regression, a test loss.",
        show_default=False,
    ),
    metrics: str = typer.Option("exact", help="Epoch metrics: exact (full data) or running (cheaper).",
                                callback=word("metrics")),
    test_every: int = typer.Option(
        1, "--test-every", min=1, help="Measure the test metrics every n-th epoch and at the last (the target is "
        "then checked only there)."
    ),
    kernel: str = typer.Option(
        "xla", help="How each step's gradient is computed: xla, or fused (one GPU kernel per config for an MLP "
        "with relu, tanh or sigmoid; on a CPU it runs interpreted, slowly).", callback=word("kernel"),
    ),
    out: str = typer.Option("gdlab-compare.html", help="The HTML report to write."),
    csv: str | None = typer.Option(None, help="Also write one CSV row per config here."),
    json_out: str | None = typer.Option(
        None, "--json-out", help="Also save the sweep here (for gdlab report).", show_default=False
    ),
    db: str = db_option(),
    record: bool = typer.Option(
        True, help="Record the comparison (a sweep with one run per config) in --db."
    ),
    checkpoint_seconds: float = typer.Option(
        30.0, "--checkpoint-seconds", help="Save the configs still training at the first epoch end this many "
        "seconds after the last save, and late enough that saving takes at most a tenth of the time (0: every "
        "epoch); gdlab resume goes on from there.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Compare batch, stochastic and mini-batch gradient descent over learning rates; write an HTML report."""
    from gdlab.commands.compare import CompareOptions, run_compare

    options = CompareOptions(
        dataset=dataset, target_column=target_column, task=task, model=model, hidden=hidden, activation=activation,
        learning_rates=learning_rates, batch_sizes=batch_sizes,
        seeds=seeds, epochs=epochs, target=target, metrics=metrics, test_every=test_every, out=out, csv=csv, json_out=json_out,
        db=db if record else None, kernel=kernel, checkpoint_seconds=checkpoint_seconds,
    )
    summary = run_compare(options, show_progress=progress and not as_json, as_json=as_json)
    if as_json:
        typer.echo(json_text(summary))


@app.command()
def report(
    target: str = typer.Argument(
        ..., metavar="ID_OR_FILE",
        help="A run, sweep or find-lr id in --db (see gdlab runs list), or a sweep saved by gdlab compare --json-out.",
    ),
    out: str | None = typer.Option(
        None, "--output", "--out", "-o",
        help="The HTML report to write (default, in the current folder: a saved file's name with .html, sweep.json "
        "-> sweep.html, refused where that file exists, as the compare's own report may; gdlab-report-ID.html for "
        "an id).",
        show_default=False,
    ),
    db: str = db_option(),
    schedule: str | None = typer.Option(
        None, help="For a sweep that trained a schedule grid: the schedule to report (one per batch size).",
        show_default=False, callback=word("schedule"),
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the summary as one JSON object: out (the report's path); for a sweep, saved "
        "or recorded, settings, variants, first_by_epoch, first_by_second, conclusion, notes and paths (each noise "
        "path's rises; as gdlab compare --json); "
        "for an id also id, kind, status and reason, and schedule (--schedule), suggestion and interval (find-lr) "
        "or sweep_id (a sweep's member run).",
    ),
) -> None:
    """Write the self-contained HTML report of a recorded run, sweep or find-lr, or of a saved sweep file."""
    from gdlab.commands.report import run_report

    summary = run_report(target, out, db, as_json=as_json, schedule=schedule)
    if as_json:
        typer.echo(json_text(summary))


app.command("find-lr")(find_lr)
app.command("noise-scale")(noise_scale)


@app.command()
def lab(
    port: int = typer.Option(8765, min=1, max=65535, help="The port to listen on."),
    host: str = typer.Option(
        "127.0.0.1", help="The address to bind (127.0.0.1: this machine only; anything else warns)."
    ),
    db: str = db_option(),
) -> None:
    """Open the lab: a local web page where gradient descent moves (prints its URL; Ctrl-C stops it)."""
    from gdlab.lab import serve

    try:
        serve(host=host, port=port, db=db)
    except KeyboardInterrupt:  # uvicorn shut down, then raised the signal again
        pass
    INTERRUPTS.reset()  # Ctrl-C is how the lab is stopped: it ends well, exit code 0
    typer.echo("gdlab lab: stopped")


@app.command()
def datasets(
    as_json: bool = typer.Option(False, "--json", help="Print the names as one JSON list."),
) -> None:
    """List the named data sets."""
    from gdlab.commands.json_output import json_text
    from gdlab.datasets import NAMES

    typer.echo(json_text(list(NAMES)) if as_json else "\n".join(NAMES))


@app.command()
def version(
    as_json: bool = typer.Option(False, "--json", help="Print the versions as one JSON object."),
) -> None:
    """Print the versions of gdlab and JAX."""
    import jax

    import gdlab
    from gdlab.commands.json_output import json_text

    versions = {"gdlab": gdlab.__version__, "jax": jax.__version__, "backend": jax.default_backend()}
    typer.echo(json_text(versions) if as_json else
               f"gdlab {versions['gdlab']} (jax {versions['jax']}, backend {versions['backend']})")


wrap_at_spaces(app)  # every command above, and runs' (the help's lines break at spaces only)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; turn bad input into one line on stderr and exit code 2.

    A damaged --db is bad input too (exit code 2); an operating-system error (a full disk, named as
    the --db it could not write, or a file that cannot be read) or running out of memory is one line
    with exit code 1.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        return _main(args)
    finally:
        INTERRUPTS.reset()  # an interrupt of this command is no later command's


def _main(args: list[str]) -> int:
    """main's work: the command's exit code, its errors as one line."""
    try:
        with warnings.catch_warnings():  # a warning is one line, as an error is (gdlab fit prints its own)
            warnings.showwarning = lambda message, *_: _warning(_in_options(str(message), args))
            code = app(args=args, prog_name="gdlab", standalone_mode=False)
    except typer.Exit as done:
        return _said_if_interrupted(int(done.exit_code))
    except typer.Abort:
        _error("aborted")
        return 130
    except typer.TyperException as err:
        if type(err).__name__ == "NoArgsIsHelpError":  # `gdlab` alone: its message is the help
            typer.echo(err.format_message())
            return 0
        _error(usage_message(err, args, app_commands()))
        return 2
    except (ValueError, TypeError) as err:
        _error(_in_options(str(err), args))
        return 2
    except (OSError, sqlite3.Error, MemoryError, RuntimeError) as err:
        failed = failure(err, _db(args))
        if failed is None:
            raise
        _error(failed[0])
        return failed[1]
    return _said_if_interrupted(code if isinstance(code, int) else 0)  # typer.Exit(n) inside a command returns n


def _said_if_interrupted(code: int) -> int:
    """code; 130 (Ctrl-C, which typer turns into that code without a word) says "interrupted" where the command
    did not say how its work stands. A Ctrl-C Python dropped that no check raised again (after the last epoch,
    while the table printed) makes a command that ended well end as interrupted too."""
    if code == 0 and INTERRUPTS.seen:
        code = 130
    if code == 130 and not INTERRUPTS.told:
        _error("interrupted")
    return code


def _in_options(message: str, args: list[str]) -> str:
    """message with the parameters the command takes as options named as typed (--learning-rate, not
    learning_rate); the library's own messages stay as they are for library users."""
    from gdlab.commands.option_names import as_options

    return as_options(message, _command(args).params, args)


def _command(args: list[str]) -> Any:
    """The click command args run (gdlab, gdlab runs, or one of their commands; typer's own click)."""
    command: Any = typer.main.get_command(app)
    for arg in (a for a in args if not a.startswith("-")):
        if arg not in getattr(command, "commands", {}):
            break
        command = command.commands[arg]
    return command


def _db(args: list[str]) -> str | None:
    """The --db of the command args run: as typed, else $GDLAB_DB, else its default; None if it takes none."""
    param = next((p for p in _command(args).params if p.name == "db"), None)
    if param is None:
        return None
    return given_value(args, param.opts) or os.environ.get(param.envvar or "") or param.default


def app_commands() -> list[str]:
    """The names of the CLI's commands (and command groups such as runs)."""
    commands = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    return commands + [g.name or "" for g in app.registered_groups]


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def asks_for_help(args: list[str]) -> bool:
    """Whether the command line only asks for help (no arguments, -h or --help): no command runs, so the
    library need not load first (`gdlab --help` in a fraction of the time)."""
    return not args or any(a in ("-h", "--help") for a in args)


def run() -> None:
    """The ``gdlab`` program: one CPU device per core for sweeps (before JAX starts), then ``main``.

    Tests call ``main`` in-process and never change how their own JAX starts.
    """
    try:
        arrange_cpu_devices()
    except ValueError as err:
        _error(str(err))
        sys.exit(2)
    try:
        if not asks_for_help(sys.argv[1:]):  # the library (JAX, NumPy: a second or more), before any command
            with INTERRUPTS.deferred():  # an interrupt inside jaxlib's import crashed the interpreter
                importlib.import_module("gdlab._api")
        code = main()
    except KeyboardInterrupt:  # Ctrl-C outside a command's own handling (starting up, ending)
        _error("interrupted")
        code = 130
    if code == 130:  # interrupted, its records closed: leave without tearing down XLA's threads, which a
        sys.stdout.flush()  # Ctrl-C in the middle of compiling could leave to crash the exit (signal 11)
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
