"""What the CLI prints when a command fails: one line of text and an exit code, never a traceback."""

from __future__ import annotations

import sqlite3
from typing import Any

import typer


def failure(err: BaseException, db: str | None = None) -> tuple[str, int] | None:
    """The one-line message and exit code of an OS, SQLite or out-of-memory error; None for any other.

    A damaged --db is bad input (exit code 2); a full disk (naming db, the command's --db: None when it has
    none), a locked file or running out of memory are the machine's failures (exit code 1, as README says).
    """
    from gdlab.store.schema import disk_full

    if isinstance(err, OSError):
        return str(err), 1
    if disk_full(err) and db is not None:
        return (f"--db {db!r} could not be written: database or disk is full (SQLite). Free some space on its disk, "
                "or give another --db."), 1
    if isinstance(err, sqlite3.DatabaseError) and _damaged(err):
        return f"--db is damaged: {err} (SQLite). Restore it from a copy, or give another --db.", 2
    if isinstance(err, sqlite3.Error):  # a locked file; a full disk where no --db is known
        return f"database: {err}", 1
    if _out_of_memory(err):
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"out of memory: {text} (a smaller model, batch size or data set needs less)", 1
    return None


def _damaged(err: sqlite3.DatabaseError) -> bool:
    """SQLite's words for a file whose pages are not a database any more."""
    return any(words in str(err) for words in ("malformed", "not a database", "file is encrypted"))


def _out_of_memory(err: BaseException) -> bool:
    """MemoryError, or XLA's RESOURCE_EXHAUSTED / 'Out of memory allocating N bytes' (a JaxRuntimeError)."""
    if not isinstance(err, MemoryError | RuntimeError):
        return False
    return isinstance(err, MemoryError) or "RESOURCE_EXHAUSTED" in str(err) or "Out of memory" in str(err)


def usage_message(err: typer.TyperException, args: list[str], commands: list[str]) -> str:
    """click's usage error as one line naming the option as typed, with the value given and, for an
    unknown command, the group's commands (commands: the app's own, when the group is not known)."""
    if type(err).__name__ == "NoSuchOption":
        return unknown_option(err)
    message = " ".join(err.format_message().split())
    param: Any = getattr(err, "param", None)
    opts = getattr(param, "opts", None)
    if type(err).__name__ == "BadParameter":
        number = number_message(param, args)
        if number is not None:
            return number
    hint = getattr(err, "param_hint", None) or opts
    if getattr(param, "param_type_name", "") == "argument":  # named as the usage line shows it (RUN_ID)
        hint = None
        message = message.replace(f"'{param.name}'", f"'{param.metavar or param.name.upper()}'")
    if hint and not isinstance(hint, str):
        hint = " / ".join(hint)
    if hint and hint not in message:
        message = f"{hint}: {message}"
    given = given_value(args, opts or [])
    if type(err).__name__ == "BadParameter" and given is not None:
        message = f"{message.rstrip('.')}; got {given!r}."
    if "No such command" in message:
        message += f" (commands: {', '.join(_group_commands(err, commands))})"
    return message


def unknown_option(err: typer.TyperException) -> str:
    """'No such option: --lr (did you mean --learning-rate?)': click's close matches without --help, which it
    offered alone for any short name ('Possible options: --help'), and an option whose words' initials are the
    name typed (--lr: --learning-rate); else where the options are listed."""
    typed = str(getattr(err, "option_name", ""))
    ctx: Any = getattr(err, "ctx", None)
    options = [name for param in getattr(getattr(ctx, "command", None), "params", [])
               for name in [*param.opts, *param.secondary_opts] if name.startswith("--")]
    initials = [name for name in options if _initials(name) == typed.lstrip("-") and len(typed.lstrip("-")) > 1]
    close = [name for name in getattr(err, "possibilities", None) or [] if name != "--help"]
    meant = list(dict.fromkeys(initials + close))[:3]
    if meant:
        listed = meant[0] if len(meant) == 1 else ", ".join(meant[:-1]) + " or " + meant[-1]
        return f"No such option: {typed} (did you mean {listed}?)"
    where = f"{ctx.command_path} --help" if ctx is not None else "--help"
    return f"No such option: {typed} ({where} lists the options)"


def _initials(option: str) -> str:
    """'--learning-rate' -> 'lr'."""
    return "".join(word[0] for word in option.lstrip("-").split("-") if word)


def number_message(param: Any, args: list[str]) -> str | None:
    """'--epochs must be an integer in [1, inf]; got '2.5'.' for a number option given what is not one of its
    type or range (the range the option declares, as the library's checks word it); None for any other option.

    typer's own words ('Input should be a valid integer, unable to parse string as an integer') named no range.
    """
    kind, low, high = _number_type(param)
    names = [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
    given = given_value(args, names)
    if kind is None or given is None:
        return None
    typed = [name for arg in args for name in names if arg == name or arg.startswith(f"{name}=")]
    allowed = "an integer" if kind is int else "a float"
    if low is not None or high is not None:
        allowed += f" in [{'-inf' if low is None else low}, {'inf' if high is None else high}]"
    try:
        shown = repr(kind(given))
    except ValueError:
        shown = repr(given)
    return f"{typed[-1]} must be {allowed}; got {shown}."


def _number_type(param: Any) -> tuple[type | None, Any, Any]:
    """(int or float, min, max) of an option that takes a number (None, None, None for any other): from
    click's type (older typer) or typer's own (its runtime annotation and declared min and max)."""
    click_type = getattr(param, "type", None)
    if click_type is not None:
        kind = {"integer": int, "integer range": int, "float": float, "float range": float}.get(
            getattr(click_type, "name", ""))
        return kind, getattr(click_type, "min", None), getattr(click_type, "max", None)
    runtime = getattr(param, "get_runtime_param", None)
    if runtime is None or getattr(param, "nargs", 1) != 1 or getattr(param, "multiple", False):
        return None, None, None
    found = runtime()
    kind = found.annotation if found.annotation in (int, float) else None
    return kind, getattr(found.parameter_info, "min", None), getattr(found.parameter_info, "max", None)


def _group_commands(err: typer.TyperException, commands: list[str]) -> list[str]:
    """The commands of the group the unknown name was given to (gdlab, or gdlab runs)."""
    ctx: Any = getattr(err, "ctx", None)
    if ctx is None or not hasattr(ctx.command, "list_commands"):
        return sorted(commands)
    return sorted(ctx.command.list_commands(ctx))


def given_value(args: list[str], opts: list[str]) -> str | None:
    """The last value given on the command line for an option (--name value or --name=value)."""
    value = None
    for i, arg in enumerate(args):
        name, eq, inline = arg.partition("=")
        if name in opts:
            value = inline if eq else (args[i + 1] if i + 1 < len(args) else None)
    return value
