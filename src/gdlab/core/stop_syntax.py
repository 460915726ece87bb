"""A small text syntax for stopping rules (the CLI's ``--stop``).

    grad<1e-4                    grad_norm(1e-4)
    plateau[:TOL[:PATIENCE]]     plateau(tol, patience)
    early[:METRIC[:PATIENCE[:MIN_DELTA]]]   early_stopping(...)
    target:METRIC:VALUE          target(metric, value)
    time:SECONDS | steps:N | epochs:N | diverged[:FACTOR]

Terms combine with ``&`` (all) and ``|`` (any); ``&`` binds tighter.
Example: ``grad<1e-4 | plateau:1e-4:5 & epochs:20``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gdlab.core import stopping
from gdlab.core.stopping import StopRule

_TERM = re.compile(r"\s*([^|&]+?)\s*(?=[|&]|$)")


def parse(text: str) -> StopRule:
    """The stopping rule a ``--stop`` string describes; ValueError saying where it does not parse."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"stop must be a rule such as 'grad<1e-4' or 'plateau:1e-4:5'; got {text!r}.")
    any_terms: list[StopRule] = []
    for group, offset in _split(text, "|", 0):
        all_terms = [_term(term, text, start) for term, start in _split(group, "&", offset)]
        any_terms.append(all_terms[0] if len(all_terms) == 1 else stopping.all_of(*all_terms))
    return any_terms[0] if len(any_terms) == 1 else stopping.any_of(*any_terms)


def _split(text: str, sep: str, offset: int) -> list[tuple[str, int]]:
    parts, start = [], 0
    for piece in text.split(sep):
        parts.append((piece, offset + start))
        start += len(piece) + 1
    return parts


_RULES: dict[str, tuple[Callable[..., StopRule], tuple[Callable[[str], Any], ...], int]] = {
    "plateau": (stopping.plateau, (float, int), 0),
    "early": (stopping.early_stopping, (str, int, float), 0),
    "target": (stopping.target, (str, float), 2),
    "time": (stopping.time_budget, (float,), 1),
    "steps": (stopping.max_steps, (int,), 1),
    "epochs": (stopping.max_epochs, (int,), 1),
    "diverged": (stopping.diverged, (float,), 0),
}
"""name -> (factory, argument parsers in order, how many arguments are required)."""


def _term(term: str, text: str, start: int) -> StopRule:
    column = start + len(term) - len(term.lstrip()) + 1
    body = term.strip()

    def fail(why: str, at: int = 0) -> ValueError:
        where = column + at
        return ValueError(f"stop {text!r} does not parse at column {where} ({body[at:]!r}): {why}.")

    if not body:
        return _raise(fail("an empty term; write a rule between the operators"))
    match = re.fullmatch(r"grad\s*<\s*(\S+)", body)
    if match:
        return _build(stopping.grad_norm, [match.group(1)], [match.start(1)], (float,), fail)
    name, *args = body.split(":")
    if name not in _RULES:
        known = ", ".join(["grad<TOL", *_RULES])
        return _raise(fail(f"unknown rule {name!r}; rules are {known}"))
    factory, parsers, required = _RULES[name]
    if not required <= len(args) <= len(parsers):
        return _raise(fail(f"{name} takes {required} to {len(parsers)} arguments; got {len(args)}"))
    starts = [len(name) + 1 + sum(len(a) + 1 for a in args[:i]) for i in range(len(args))]
    return _build(factory, args, starts, parsers, fail)


def _build(
    factory: Callable[..., StopRule], args: list[str], starts: list[int],
    parsers: tuple[Callable[[str], Any], ...], fail: Callable[..., ValueError],
) -> StopRule:
    values = []
    for raw, at, parser in zip(args, starts, parsers):
        try:
            values.append(parser(raw))
        except ValueError:
            kind = {float: "a number", int: "an integer", str: "a name"}[parser]  # type: ignore[index]
            raise fail(f"{raw!r} is not {kind}", at) from None
    try:
        return factory(*values)
    except (TypeError, ValueError) as err:
        raise fail(str(err).rstrip(".")) from None


def _raise(err: ValueError) -> StopRule:
    raise err
