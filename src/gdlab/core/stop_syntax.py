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
from typing import Any, NamedTuple

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


class _Rule(NamedTuple):
    """A term of the syntax: its factory, and per argument (NAME as the syntax writes it, its parser, the
    factory's name for it in its messages); how many are required; an example."""

    factory: Callable[..., StopRule]
    args: tuple[tuple[str, Callable[[str], Any], str], ...]
    required: int
    example: str


_RULES = {
    "plateau": _Rule(stopping.plateau, (("TOL", float, "tol"), ("PATIENCE", int, "patience")), 0, "plateau:1e-4:5"),
    "early": _Rule(stopping.early_stopping, (("METRIC", str, "metric"), ("PATIENCE", int, "patience"),
                                             ("MIN_DELTA", float, "min_delta")), 0, "early:test_loss:10"),
    "target": _Rule(stopping.target, (("METRIC", str, "metric"), ("VALUE", float, "value")), 2, "target:test_loss:0.5"),
    "time": _Rule(stopping.time_budget, (("SECONDS", float, "seconds"),), 1, "time:60"),
    "steps": _Rule(stopping.max_steps, (("N", int, "max_steps"),), 1, "steps:500"),
    "epochs": _Rule(stopping.max_epochs, (("N", int, "max_epochs"),), 1, "epochs:20"),
    "diverged": _Rule(stopping.diverged, (("FACTOR", float, "factor"),), 0, "diverged:100"),
}
"""name -> its rule, for the terms written name[:ARG[:ARG...]]."""
_GRAD = _Rule(stopping.grad_norm, (("TOL", float, "tol"),), 1, "grad<1e-4")
"""grad<TOL."""


def _term(term: str, text: str, start: int) -> StopRule:
    column = start + len(term) - len(term.lstrip()) + 1
    body = term.strip()

    def fail(why: str, at: int = 0) -> ValueError:
        where = column + at
        return ValueError(f"stop {text!r} does not parse at column {where} ({body[at:]!r}): {why}.")

    if not body:
        return _raise(fail("an empty term; write a rule between the operators"))
    where = f"stop {text!r}: " if body == text.strip() else f"stop {text!r}, in {body!r}: "
    match = re.fullmatch(r"grad\s*<\s*(\S+)", body)
    if match:
        return _build(_GRAD, "grad<TOL", [match.group(1)], [match.start(1)], fail, where)
    name, *args = body.split(":")
    if name not in _RULES:
        known = ", ".join(["grad<TOL", *_RULES])
        return _raise(fail(f"unknown rule {name!r}; rules are {known}"))
    rule = _RULES[name]
    if not rule.required <= len(args) <= len(rule.args):
        return _raise(fail(f"{name} takes {_arity(rule)}, e.g. {rule.example}; got {len(args)}"))
    starts = [len(name) + 1 + sum(len(a) + 1 for a in args[:i]) for i in range(len(args))]
    return _build(rule, ":".join([name, *(arg for arg, _, _ in rule.args)]), args, starts, fail, where)


def _arity(rule: _Rule) -> str:
    """'exactly 2 arguments (METRIC and VALUE)', 'at most 2 arguments (TOL and PATIENCE)', '1 to 2 ...'."""
    names = [arg for arg, _, _ in rule.args]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    most = len(names)
    count = (f"exactly {most}" if rule.required == most else f"at most {most}" if rule.required == 0 else
             f"{rule.required} to {most}")
    return f"{count} argument{'' if most == 1 else 's'} ({listed})"


def _build(
    rule: _Rule, form: str, args: list[str], starts: list[int], fail: Callable[..., ValueError], where: str
) -> StopRule:
    """The rule from its arguments as typed; a value the factory refuses is named as the syntax names it
    (FACTOR in diverged:FACTOR), not by the factory's parameter: the CLI's --factor is another option."""
    values = []
    for raw, at, (_, parser, _) in zip(args, starts, rule.args):
        try:
            values.append(parser(raw))
        except ValueError:
            kind = {float: "a number", int: "an integer", str: "a name"}[parser]  # type: ignore[index]
            raise fail(f"{raw!r} is not {kind}", at) from None
    try:
        return rule.factory(*values)
    except (TypeError, ValueError) as err:
        message = str(err)
        for arg, _, library in rule.args:
            if message.startswith(f"{library} "):
                message = f"{arg} in {form} {message.removeprefix(library).lstrip()}"
                break
        raise ValueError(f"{where}{message}") from None


def _raise(err: ValueError) -> StopRule:
    raise err
