"""Small helpers for the reports' sentences: counts with their noun, lists joined with 'and'."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 epoch', '3 epochs' ('2 stretches' with plural='stretches')."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c' ('' for none)."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
