"""``gdlab runs``: the recorded runs and sweeps listed, shown, compared, exported and deleted."""

from __future__ import annotations

import sys

import typer

from gdlab.commands.cli_options import db_option, word
from gdlab.commands.json_output import json_text

runs_app = typer.Typer(
    name="runs",
    help="The recorded runs: list, show, compare, export, delete.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@runs_app.command("list")
def runs_list(
    status: str | None = typer.Option(None, help="Only runs (or sweeps) with this status (e.g. interrupted).",
                                      callback=word("status")),
    dataset: str | None = typer.Option(
        None, help="Only runs (or sweeps) on this data set: a name, in any case, or a data file's name as "
                   "typed, with or without its folder and .csv/.npz (my or my.csv for data/my.csv).",
        callback=word("dataset")),
    since: str | None = typer.Option(
        None, help="Only runs (or sweeps) created at or after this date or time (ISO 8601)."),
    sweeps: bool = typer.Option(
        False, "--sweeps", help="List the sweeps (gdlab compare, gd.sweep) instead, one line per sweep."
    ),
    db: str = db_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as one JSON list."),
) -> None:
    """List the recorded runs (gdlab fit, find-lr) and the sweeps, newest first."""
    from gdlab.commands.runs import run_list, sweep_list

    if sweeps:
        rows = sweep_list(db, status=status, dataset=dataset, since=since, as_json=as_json)
    else:
        rows = run_list(db, status=status, dataset=dataset, since=since, as_json=as_json)
    if as_json:
        typer.echo(json_text(rows))


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="The run or sweep (its id, or the start of it)."),
    db: str = db_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the record as one JSON object."),
) -> None:
    """Show a run (config, status, reason, final metrics, a text chart of the loss), a sweep or a find-lr."""
    from gdlab.commands.runs import run_show

    shown = run_show(db, run_id, as_json=as_json)
    if as_json:
        typer.echo(json_text(shown))


@runs_app.command("compare")
def runs_compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more runs."),  # noqa: B008 -- typer's idiom
    db: str = db_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as one JSON object."),
) -> None:
    """Compare runs side by side: status, final metrics and the settings that differ."""
    from gdlab.commands.runs import run_compare

    compared = run_compare(db, run_ids, as_json=as_json)
    if as_json:
        typer.echo(json_text(compared))


@runs_app.command("export")
def runs_export(
    run_id: str = typer.Argument(..., help="The run to export."),
    format: str | None = typer.Option(
        None, "--format", help="csv (one row per epoch) or json (record and metrics). [default: csv]",
        show_default=False, callback=word("format"),
    ),
    as_json: bool = typer.Option(False, "--json", help="The same as --format json."),
    db: str = db_option(),
) -> None:
    """Export a run's per-epoch metrics to standard output (a sweep: one row per config; find-lr: per step)."""
    from gdlab.commands.runs import run_export

    if as_json and format not in (None, "json"):
        raise ValueError(f"format must be 'json' (or left out) with --json; got {format!r}.")
    fmt = "json" if as_json else format or "csv"
    typer.echo(run_export(db, run_id, fmt), nl=fmt == "json")


@runs_app.command("delete")
def runs_delete(
    run_id: str = typer.Argument(..., help="The run (or sweep, with its member runs) to delete."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    db: str = db_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as one JSON object."),
) -> None:
    """Delete a run with its metrics and checkpoints (asks first unless --yes)."""
    from gdlab.commands.runs import run_delete

    done = run_delete(db, run_id, yes=yes, confirm=_ask)
    if as_json:
        typer.echo(json_text(done))
    elif done["deleted"]:
        typer.echo(f"deleted {done['kind']} {done['deleted']}")
    else:
        typer.echo(f"kept {done['kind']} {done['kept']}", err=True)
    if not done["deleted"]:
        raise typer.Exit(1)


def _ask(question: str) -> bool:
    """Ask on stderr, read the answer from stdin: y or yes is yes, anything else no."""
    typer.echo(f"{question} [y/N]: ", err=True, nl=False)
    return sys.stdin.readline().strip().lower() in ("y", "yes")
