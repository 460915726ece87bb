"""A library message in the command line's words: a parameter the command takes as an option is named as typed.

The library names its parameters in snake_case (``learning_rate must be ...``); the CLI user typed
``--learning-rate``, and sees the command's arguments as the usage line shows them (``RUN_ID``). Only whole
words that are parameters of the command running are renamed, only where they stand as a parameter's
name, and never inside a quoted value or a line of Python.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

ALIASES = {"batch_size": "batch_sizes", "learning_rate": "learning_rates"}
"""The library's name -> the command's option where they differ: gd.sweep's batch_size and learning_rate
are compare's --batch-sizes and --learning-rates. (gd.datasets.from_file's target and path are renamed
target_column and dataset by the commands' load_data.)"""
ID_NAMES = ("run_id", "run_ids", "sweep_id")
"""The store's names for an id: the argument of a command that takes one (RUN_ID, RUN_IDS, ID_OR_FILE)."""

_QUOTED = re.compile(r"(?<!\w)'[^'\n]*'(?!\w)|\"[^\"\n]*\"")
_CALL = re.compile(r"[\w.]+\([^()\n]*\)")
"""Python shown in a message (gd.store.resume_sweep(sweep_id, store, ...)): its names are the library's."""
_NAME = re.compile(r"(?<![\w.:$/-])[a-z][a-z0-9]*(?:_[a-z0-9]+)*(?![\w:/-]|\.\w)")
"""A lowercase word or snake_case name; not part of a dotted name, a path, an --option or a stop rule."""
_AS_NAME = re.compile(r"=|\s+(?:must|needs|applies|cannot)\b|\s+['\"]")
"""What follows a plain word that stands as a parameter's name: =value, 'must', 'needs', 'applies', 'cannot', a
quoted value (got dataset 'x')."""


def as_options(message: str, params: Sequence[Any], args: Sequence[str]) -> str:
    """message with each option of params named as args typed it (else its first long name).

    params are the command's click parameters (name, opts, secondary_opts, param_type_name, metavar);
    an argument is named as the usage line shows it (its metavar, else its name in capitals). A
    snake_case name is renamed wherever it stands outside quotes; a plain word (epochs, schedule) only
    as a name: before =, must, needs, applies, cannot or a quoted value, or after 'than', 'at most' or 'at least'. A name two options
    could mean is renamed only when just one of them was typed.
    """
    table = _options(params)
    kept = [m.span() for pattern in (_QUOTED, _CALL) for m in pattern.finditer(message)]

    def swap(match: re.Match[str]) -> str:
        name = match.group()
        inside = any(start <= match.start() < end for start, end in kept)
        if inside or name not in table or not ("_" in name or _stands_as_name(message, match)):
            return name
        meant = table[name] if len(table[name]) == 1 else [p for p in table[name] if _typed(p, args)]
        if len(meant) != 1:
            return name
        if meant[0].param_type_name == "argument":
            return str(getattr(meant[0], "metavar", None) or meant[0].name.upper())
        return _typed(meant[0], args) or _long_name(meant[0])

    return _NAME.sub(swap, message)


def _options(params: Sequence[Any]) -> dict[str, list[Any]]:
    """Name in a message -> the parameters it could mean (its own, an alias's, the one argument for an id)."""
    options = [p for p in params if getattr(p, "param_type_name", "") == "option" and p.name]
    arguments = [p for p in params if getattr(p, "param_type_name", "") == "argument" and p.name]
    table: dict[str, list[Any]] = {}
    for param in [*options, *arguments]:
        table.setdefault(param.name, []).append(param)
    for library, own in ALIASES.items():
        table.setdefault(library, []).extend(p for p in options if p.name == own)
    if len(arguments) == 1:
        for library in ID_NAMES:
            if library != arguments[0].name:
                table.setdefault(library, []).append(arguments[0])
    return table


def _stands_as_name(text: str, match: re.Match[str]) -> bool:
    return bool(_AS_NAME.match(text, match.end())) or text[:match.start()].endswith(("than ", "at most ", "at least "))


def _typed(param: Any, args: Sequence[str]) -> str | None:
    """The last of param's option strings given in args (--name value, --name=value), if any."""
    names = [*param.opts, *getattr(param, "secondary_opts", [])]
    typed = [name for arg in args for name in names if arg == name or arg.startswith(f"{name}=")]
    return typed[-1] if typed else None


def _long_name(param: Any) -> str:
    return next((opt for opt in param.opts if opt.startswith("--")), param.opts[0])
