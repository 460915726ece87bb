"""The options several CLI commands share: --db, --dataset, --model and friends, with their help panels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

DB_HELP = "The gdlab database (SQLite) of run records."
TARGET_COLUMN_HELP = "The target of a .csv file (a column; default: the last) or .npz file (an array; default: y)."
SEED_MAX = 2**32 - 1
"""The largest seed (NumPy's and gd.fit's); an option's declared range, which its error message shows."""
MAX_STEPS = 2**31 - 1
"""The most updates a schedule counts (core.checks.MAX_STEPS): --decay-steps and the other step counts."""
MAX_SEEDS = 2**16
"""The most seeds per config of gd.sweep (engine.sweep_grid.MAX_SEEDS; not imported: help loads no JAX)."""
TASK_HELP = ("Task of a .csv/.npz file: classification or regression (default: whole-number targets are class "
             "labels).")


def db_option() -> Any:
    """--db PATH, from $GDLAB_DB when not given, else ./gdlab.db (the same option on every command)."""
    return typer.Option("gdlab.db", "--db", envvar="GDLAB_DB", help=DB_HELP)


def word(option: str) -> Callable[[Any], Any]:
    """A callback reading a name in any case: --model MLP is --model mlp (commands/words.py)."""
    def fold(value: Any) -> Any:
        from gdlab.commands import words

        return words.fold(option, value)

    return fold


def stop_words(texts: list[str]) -> list[str]:
    """The --stop callback: each rule read in any case when it parses so (commands/words.py)."""
    from gdlab.commands import words

    return words.fold_stop(texts)


def dataset_option() -> Any:
    """--dataset: a named data set or a .csv/.npz path."""
    return typer.Option("mnist1d", help="Data set: a name (mnist1d, linreg) or a .csv/.npz path.",
                        callback=word("dataset"))


def model_option() -> Any:
    """--model: linear, logistic or mlp."""
    return typer.Option("mlp", help="Model: linear, logistic or mlp.", callback=word("model"))


def hidden_option() -> Any:
    """--hidden: an MLP's hidden layer sizes."""
    return typer.Option("100,100", help="MLP hidden layer sizes, comma-separated.")


def activation_option() -> Any:
    """--activation of an MLP."""
    return typer.Option("relu", help="MLP activation: relu, tanh, sigmoid or gelu.", callback=word("activation"))


def target_column_option() -> Any:
    """--target-column of a data file."""
    return typer.Option(None, "--target-column", help=TARGET_COLUMN_HELP, show_default=False)


def task_option() -> Any:
    """--task of a data file: classification or regression."""
    return typer.Option(None, "--task", help=TASK_HELP, show_default=False, callback=word("task"))
