"""The formula parser: random expression trees rendered to text parse back to the same tree and
evaluate as a NumPy reference does; any other text is a clear ValueError; nothing else ever runs."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import hypothesis.strategies as st
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings

from gdlab.lab import formula
from gdlab.lab.formula import Bin, Call, Neg, Num, Var, compile_formula, parse, render

NUMPY = {"sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
         "abs": np.abs, "tanh": np.tanh, "sinh": np.sinh, "cosh": np.cosh, "atan": np.arctan}
OPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power}
# binding strength in the grammar: + - < * / < unary minus < ^ < atoms
STRENGTH = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4}
X = np.linspace(-2.0, 2.0, 7, dtype=np.float32)
Y = np.linspace(1.5, -1.0, 7, dtype=np.float32)

numbers = st.one_of(st.integers(0, 20).map(float), st.floats(0.0, 10.0).map(lambda v: round(v, 3)),
                    st.sampled_from([1e-3, 2.5e-2, 1e2]))
leaves = st.one_of(numbers.map(Num), st.sampled_from(["x", "y"]).map(Var))
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(Bin, st.sampled_from(list(OPS)), inner, inner),
        st.builds(Neg, inner),
        st.builds(Call, st.sampled_from(list(NUMPY)), inner),
    ),
    max_leaves=8,
)


def _strength(node: formula.Node) -> int:
    if isinstance(node, Bin):
        return STRENGTH[node.op]
    return STRENGTH["neg"] if isinstance(node, Neg) else 5


def _text(node: formula.Node, draw: st.DrawFn) -> str:
    """node as a person might type it: as few parentheses as the grammar needs, sometimes more."""
    space = draw(st.sampled_from(["", " "]))

    def wrap(child: formula.Node, needed: bool) -> str:
        text = _text(child, draw)
        return f"({text})" if needed or draw(st.integers(0, 9)) == 0 else text

    if isinstance(node, Num):
        return repr(node.value) if draw(st.booleans()) else f"{node.value:g}" if f"{node.value:g}" != "inf" else "1"
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Neg):
        return "-" + wrap(node.arg, _strength(node.arg) < STRENGTH["neg"])
    if isinstance(node, Call):
        return f"{node.func}({_text(node.arg, draw)})"
    op = node.op
    if op == "^":
        left = wrap(node.left, _strength(node.left) <= STRENGTH["^"])
        right = wrap(node.right, _strength(node.right) < STRENGTH["neg"])
        return left + space + draw(st.sampled_from(["^", "**"])) + space + right
    left = wrap(node.left, _strength(node.left) < STRENGTH[op])
    right = wrap(node.right, _strength(node.right) <= STRENGTH[op])
    return left + space + op + space + right


@st.composite
def typed(draw: st.DrawFn) -> tuple[formula.Node, str]:
    tree = draw(trees)
    return tree, _text(tree, draw)


def _same_tree(a: formula.Node, b: formula.Node) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, Num):
        assert isinstance(b, Num)
        return math.isclose(a.value, b.value, rel_tol=1e-6, abs_tol=1e-12)  # 'g' keeps 6 digits
    return all(_same_tree(u, v) if isinstance(u, tuple) else u == v for u, v in zip(a, b))


def _reference(node: formula.Node, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The tree evaluated with NumPy in float32 (JAX's default precision), every node's subnormal
    values flushed to zero as XLA's CPU does (0.001^13 is 0 there, so (0.001^13)^0.001 is 0, not 0.91)."""
    return _flush(_evaluate(node, x, y))


def _evaluate(node: formula.Node, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if isinstance(node, Num):
        return np.full_like(x, node.value)
    if isinstance(node, Var):
        return x if node.name == "x" else y
    if isinstance(node, Neg):
        return -_reference(node.arg, x, y)
    if isinstance(node, Call):
        return NUMPY[node.func](_reference(node.arg, x, y))
    return OPS[node.op](_reference(node.left, x, y), _reference(node.right, x, y))


def _flush(values: np.ndarray) -> np.ndarray:
    """float32 subnormals as 0 (float64, the "exact" evaluation, is left alone)."""
    if values.dtype != np.float32:
        return values
    return np.where(np.abs(values) < np.finfo(np.float32).tiny, np.float32(0.0), values).astype(np.float32)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed())
@example((Bin("^", Bin("^", Num(0.001), Num(13.0)), Num(0.001)), "((0.001)^(13))^(0.001)"))  # a subnormal inside
def test_typed_trees_parse_back_to_the_same_tree_and_value(case: tuple[formula.Node, str]) -> None:
    tree, text = case
    if len(text) > formula.MAX_LENGTH:
        with pytest.raises(ValueError, match="at most 200 characters"):
            parse(text)
        return
    parsed = parse(text)
    assert _same_tree(parsed, tree), (text, render(parsed), render(tree))
    got = np.asarray(compile_formula(parsed)(jnp.asarray(X), jnp.asarray(Y)))
    with np.errstate(all="ignore"):
        expected = _reference(parsed, X, Y)
        exact = _reference(parsed, X.astype(np.float64), Y.astype(np.float64))
    assert got.shape == X.shape
    # Where float32 itself cannot evaluate the tree faithfully (sin(sinh(11)): an ulp of sinh(11) in
    # float32 moves the sine by 0.01), two float32 evaluations need not agree: compare elsewhere.
    conditioned = np.isclose(expected, exact, rtol=2e-4, atol=2e-4)
    both = np.isfinite(got) & np.isfinite(expected) & (np.abs(expected) < 1e4) & conditioned
    np.testing.assert_allclose(got[both], expected[both], rtol=2e-3, atol=2e-3)


ALPHABET = "xy0123456789.+-*/^() eEpisncotaqrlbhg_[]{}'\";:,=<>!@#$%&|~`\\"


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(ALPHABET, max_size=40), st.text(max_size=40)))
def test_any_text_either_parses_to_a_function_or_is_a_value_error(text: str) -> None:
    try:
        tree = parse(text)
    except ValueError as err:
        assert str(err).startswith("formula")
        return
    value = compile_formula(tree)(jnp.asarray(X), jnp.asarray(Y))
    assert value.shape == X.shape


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unexpected character '_' at position 0"),
        ("().__class__", "unexpected character '.' at position 2"),
        ("()", "expected a number, x, y, a function or '(' at position 1; got ')'"),
        ("x.real", "unexpected character '.' at position 1"),
        ("os", "unknown name 'os'"),
        ("exec(x)", "unknown name 'exec'"),
        ("2x", "write * to multiply"),
        ("sin x", "expected '(' at position 4"),
        ("(x", "expected ')' at position 2; got the end"),
        ("x +", "at position 3; got the end"),
        ("1e999", "out of range"),
        ("(" * 30 + "x" + ")" * 30, "nested more than 24 levels"),
        ("-" * 30 + "x", "nested more than 24 levels"),
        ("   ", "must not be empty"),
    ],
)
def test_error_messages_say_where(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="formula") as err:
        parse(text)
    assert message in str(err.value)


def test_precedence_and_associativity() -> None:
    assert render(parse("-x^2")) == "(-(x^2.0))"
    assert render(parse("2^3^2")) == "(2.0^(3.0^2.0))"
    assert render(parse("x^-y")) == "(x^(-y))"
    assert render(parse("8/4/2")) == "((8.0/4.0)/2.0)"
    assert render(parse("1-2-3")) == "((1.0-2.0)-3.0)"
    assert render(parse("x**2 + pi*e")) == f"((x^2.0)+({math.pi!r}*{math.e!r}))"
    assert float(compile_formula(parse("2^3^2"))(jnp.float32(0), jnp.float32(0))) == 512.0


def test_the_parser_never_calls_eval_exec_or_import() -> None:
    source = Path(formula.__file__).read_text()
    names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    attrs = {n.attr for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Attribute)}
    banned = {"eval", "exec", "compile", "__import__", "getattr", "globals", "locals", "vars", "importlib",
              "__class__", "__globals__", "__builtins__", "__subclasses__"}
    assert not names & banned
    assert not (attrs - {"compile"}) & banned  # re.compile, for the token pattern, is the one compile
    assert source.count(".compile(") == 1 and "re.compile(" in source
    assert "ast" not in {a.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import) for a in n.names}
