"""The commands' help in click's plain layout, wrapped at spaces only.

click wraps help text with Python's TextWrapper, which also breaks after a hyphen: at 80 columns
"--process-id" came out as "--process-" and "id" on the next line, "[default: no-nesterov]" as "no-"
and "nesterov]". Here each hyphen is written as a private-use character (one character wide, as
the hyphen, and no break point) while the text is wrapped, and turned back into "-" when the help is
read out.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer
from typer.core import TyperCommand, TyperGroup

HELD_HYPHEN = "\ue000"  # a private-use character: no help text holds one
_Context = TyperCommand.context_class  # typer's own copy of click's Context (typer vendors click)
_Formatter = _Context.formatter_class


class HelpFormatter(_Formatter):  # type: ignore[misc,valid-type]
    """click's HelpFormatter that never breaks a line after a hyphen."""

    def write_text(self, text: str) -> None:
        super().write_text(text.replace("-", HELD_HYPHEN))

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(term, text.replace("-", HELD_HYPHEN)) for term, text in rows], col_max, col_spacing)

    def getvalue(self) -> str:
        return super().getvalue().replace(HELD_HYPHEN, "-")


class HelpContext(_Context):  # type: ignore[misc,valid-type]
    formatter_class = HelpFormatter


class HelpCommand(TyperCommand):
    context_class = HelpContext


class HelpGroup(TyperGroup):
    context_class = HelpContext


def wrap_at_spaces(app: typer.Typer) -> None:
    """Every command of app (and of its sub-apps) writes its help with HelpFormatter; call it once all are added."""
    app.info.cls = HelpGroup
    for command in app.registered_commands:
        command.cls = HelpCommand
    for group in app.registered_groups:
        group.cls = HelpGroup
        if group.typer_instance is not None:
            wrap_at_spaces(group.typer_instance)
