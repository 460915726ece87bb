"""The data loader's messages in the command line's words: what to type, not a library-only parameter.

``gd.datasets.from_file`` names its own parameters (``test_fraction=0``, ``n_classes``, ``task="regression"``);
a command loads a file with none of them but ``--task``, and always infers the number of classes from the
largest label. Each library phrase is replaced by what the command's user can do.
"""

from __future__ import annotations

import re

_REWORDED = (
    # the default split of a small file: the commands take no --test-fraction
    (re.compile(r"^test_fraction (\S+) of (\d+) (samples?) rounds"), r"the test split, \1 of the \2 \3, rounds"),
    (re.compile(r"; test_fraction=0 asks for none\)"), ")"),
    (re.compile(r"\btask=\"regression\""), "--task regression"),
    # no --n-classes: the command's classes are the largest label + 1 (at least 2)
    (re.compile(r"\b0 \.\. n_classes - 1\b"), "0, 1, 2, ..."),
    (re.compile(r", or n_classes if it is labels\)"), ", or renumber the labels 0, 1, 2, ... if they are labels)"),
    (re.compile(r"\(n_classes=(\d+)\)"), r"(\1 classes: the largest label + 1, at least 2)"),
)


def in_cli_words(message: str) -> str:
    """A message of gd.datasets.from_file with its library-only parameters replaced by the command's means."""
    for pattern, replacement in _REWORDED:
        message = pattern.sub(replacement, message)
    return message
