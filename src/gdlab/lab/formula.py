"""A whitelist parser for formulas in x and y, compiled to a JAX function.

Grammar (recursive descent, our own tokenizer; nothing is ever evaluated as Python):

    expr  := term (("+" | "-") term)*
    term  := unary (("*" | "/") unary)*
    unary := ("-" | "+") unary | power
    power := atom ("^" unary)?            right-associative; -x^2 is -(x^2)
    atom  := NUMBER | "x" | "y" | "pi" | "e" | FUNC "(" expr ")" | "(" expr ")"

``**`` is read as ``^``. The text is at most ``MAX_LENGTH`` characters and the tree
at most ``MAX_DEPTH`` levels deep; anything else is a ``ValueError`` that says
where the formula stops making sense.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp

from gdlab.core.types import Array

MAX_LENGTH = 200
MAX_DEPTH = 24
FUNCTIONS: dict[str, Callable[[Array], Array]] = {
    "sin": jnp.sin,
    "cos": jnp.cos,
    "tan": jnp.tan,
    "exp": jnp.exp,
    "log": jnp.log,
    "sqrt": jnp.sqrt,
    "abs": jnp.abs,
    "tanh": jnp.tanh,
    "sinh": jnp.sinh,
    "cosh": jnp.cosh,
    "atan": jnp.arctan,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
VARIABLES = ("x", "y")
BINARY: dict[str, Callable[[Array, Array], Array]] = {
    "+": jnp.add,
    "-": jnp.subtract,
    "*": jnp.multiply,
    "/": jnp.divide,
    "^": jnp.power,
}
_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([a-z]+)|(\*\*|[-+*/^()]))")


class Num(NamedTuple):
    value: float


class Var(NamedTuple):
    name: str


class Neg(NamedTuple):
    arg: Node


class Bin(NamedTuple):
    op: str
    left: Node
    right: Node


class Call(NamedTuple):
    func: str
    arg: Node


Node = Num | Var | Neg | Bin | Call


class _Token(NamedTuple):
    kind: str  # "num", "name", "op", "end"
    text: str
    at: int


def tokenize(text: str) -> list[_Token]:
    """The tokens of text (numbers, lowercase names, operators); ValueError at the first other character."""
    tokens, at = [], 0
    stripped = text.rstrip()
    while at < len(stripped):
        match = _TOKEN.match(stripped, at)
        if match is None:
            bad = stripped[at:].lstrip()[:1]
            where = len(stripped) - len(stripped[at:].lstrip())
            raise ValueError(f"formula: unexpected character {bad!r} at position {where}.")
        number, name, op = match.groups()
        start = match.start(match.lastindex or 0)
        if number is not None:
            tokens.append(_Token("num", number, start))
        elif name is not None:
            tokens.append(_Token("name", name, start))
        else:
            tokens.append(_Token("op", "^" if op == "**" else op, start))
        at = match.end()
    tokens.append(_Token("end", "", len(stripped)))
    return tokens


class _Parser:
    """Recursive descent over the token list; depth counts nested unary, power, call and parentheses."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens, self.i = tokens, 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise ValueError(f"formula: expected {text!r} at position {token.at}; got {_shown(token)}.")

    def expr(self, depth: int) -> Node:
        _check_depth(depth, self.peek())
        node = self.term(depth)
        while self.peek().text in ("+", "-"):
            op = self.take().text
            node = Bin(op, node, self.term(depth))
        return node

    def term(self, depth: int) -> Node:
        node = self.unary(depth)
        while self.peek().text in ("*", "/"):
            op = self.take().text
            node = Bin(op, node, self.unary(depth))
        return node

    def unary(self, depth: int) -> Node:
        _check_depth(depth, self.peek())
        if self.peek().kind == "op" and self.peek().text in ("-", "+"):
            sign = self.take().text
            arg = self.unary(depth + 1)
            return Neg(arg) if sign == "-" else arg
        return self.power(depth)

    def power(self, depth: int) -> Node:
        base = self.atom(depth)
        if self.peek().text == "^":
            self.take()
            return Bin("^", base, self.unary(depth + 1))
        return base

    def atom(self, depth: int) -> Node:
        token = self.take()
        if token.kind == "num":
            return Num(_number(token))
        if token.kind == "name":
            return self.name(token, depth)
        if token.text == "(":
            node = self.expr(depth + 1)
            self.expect(")")
            return node
        raise ValueError(f"formula: expected a number, x, y, a function or '(' at position {token.at}; "
                         f"got {_shown(token)}.")

    def name(self, token: _Token, depth: int) -> Node:
        if token.text in VARIABLES:
            return Var(token.text)
        if token.text in CONSTANTS:
            return Num(CONSTANTS[token.text])
        if token.text in FUNCTIONS:
            self.expect("(")
            arg = self.expr(depth + 1)
            self.expect(")")
            return Call(token.text, arg)
        allowed = ", ".join([*VARIABLES, *CONSTANTS, *FUNCTIONS])
        raise ValueError(f"formula: unknown name {token.text!r} at position {token.at}; allowed: {allowed}.")


def parse(text: str) -> Node:
    """The syntax tree of a formula in x and y (see the module docstring for the grammar)."""
    if not isinstance(text, str):
        raise TypeError(f"formula must be a string; got {type(text).__name__}.")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"formula must be at most {MAX_LENGTH} characters; got {len(text)}.")
    if not text.strip():
        raise ValueError("formula must not be empty; write an expression in x and y such as x^2 + 3*y^2.")
    parser = _Parser(tokenize(text))
    node = parser.expr(0)
    end = parser.peek()
    if end.kind != "end":
        hint = " (write * to multiply, as in 2*x)" if end.kind == "name" or end.text == "(" else ""
        raise ValueError(f"formula: unexpected {_shown(end)} at position {end.at}{hint}.")
    return node


def compile_formula(node: Node) -> Callable[[Array, Array], Array]:
    """The function (x, y) -> value of a parsed formula, built from jax.numpy operations only.

    x and y broadcast against each other; the value has their common shape.
    """
    body = _compile(node)

    def value(x: Array, y: Array) -> Array:
        shape = jnp.broadcast_shapes(jnp.shape(x), jnp.shape(y))
        return jnp.broadcast_to(body(x, y), shape)

    return value


def _compile(node: Node) -> Callable[[Array, Array], Array]:
    if isinstance(node, Num):
        number = node.value
        return lambda x, y: jnp.asarray(number, jnp.result_type(x, y, float))
    if isinstance(node, Var):
        return (lambda x, y: x) if node.name == "x" else (lambda x, y: y)
    if isinstance(node, Neg):
        arg = _compile(node.arg)
        return lambda x, y: -arg(x, y)
    if isinstance(node, Call):
        func, inner = FUNCTIONS[node.func], _compile(node.arg)
        return lambda x, y: func(inner(x, y))
    op, left, right = BINARY[node.op], _compile(node.left), _compile(node.right)
    return lambda x, y: op(left(x, y), right(x, y))


def render(node: Node) -> str:
    """A canonical text of the tree, fully parenthesised (the cache key of a compiled formula)."""
    if isinstance(node, Num):
        return repr(node.value)
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Neg):
        return f"(-{render(node.arg)})"
    if isinstance(node, Call):
        return f"{node.func}({render(node.arg)})"
    return f"({render(node.left)}{node.op}{render(node.right)})"


def _number(token: _Token) -> float:
    value = float(token.text)
    if not math.isfinite(value) or abs(value) > 1e12:
        raise ValueError(f"formula: number {token.text} at position {token.at} is out of range (|n| <= 1e12).")
    return value


def _check_depth(depth: int, token: _Token) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"formula: nested more than {MAX_DEPTH} levels deep at position {token.at}.")


def _shown(token: _Token) -> str:
    return "the end" if token.kind == "end" else repr(token.text)
