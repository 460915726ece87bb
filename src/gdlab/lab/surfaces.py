"""The 2-D surfaces of the lab: f(x, y) with a default view and start.

Every surface is ``f(x, y, shape)``, where ``shape`` = (condition, angle) only
matters to the quadratic and is a traced array, so one compiled program serves
every slider position.

    quadratic   f = (L*u^2 + mu*v^2)/2, (u, v) = (x, y) rotated by -angle; L = 1, mu = 1/condition
    rosenbrock  f = (1 - x)^2 + 100*(y - x^2)^2
    himmelblau  f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2
    beale       f = (1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2
    saddle      f = (x^2 - y^2)/2
    formula     the user's formula in x and y (``gdlab.lab.formula``)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp

from gdlab.core.types import Array
from gdlab.lab import formula as formulas

SurfaceFn = Callable[[Array, Array, Array], Array]


class Surface(NamedTuple):
    """A named surface: its function, a view (xmin, xmax, ymin, ymax), a start and a sensible learning rate."""

    name: str
    fn: SurfaceFn
    view: tuple[float, float, float, float]
    start: tuple[float, float]
    learning_rate: float
    text: str


def _quadratic(x: Array, y: Array, shape: Array) -> Array:
    condition, angle = shape[0], shape[1]
    c, s = jnp.cos(angle), jnp.sin(angle)
    u, v = c * x + s * y, -s * x + c * y
    return 0.5 * (u * u + v * v / condition)


def _rosenbrock(x: Array, y: Array, shape: Array) -> Array:
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _himmelblau(x: Array, y: Array, shape: Array) -> Array:
    return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2


def _beale(x: Array, y: Array, shape: Array) -> Array:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _saddle(x: Array, y: Array, shape: Array) -> Array:
    return 0.5 * (x * x - y * y)


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface("quadratic", _quadratic, (-3, 3, -3, 3), (-2.5, 2.0), 0.5, "(L*u^2 + mu*v^2)/2"),
        Surface("rosenbrock", _rosenbrock, (-2, 2, -1, 3), (-1.5, 2.0), 0.001, "(1-x)^2 + 100*(y-x^2)^2"),
        Surface("himmelblau", _himmelblau, (-5, 5, -5, 5), (0.0, 0.0), 0.01, "(x^2+y-11)^2 + (x+y^2-7)^2"),
        Surface("beale", _beale, (-4.5, 4.5, -4.5, 4.5), (1.0, 1.5), 0.01,
                "(1.5-x+xy)^2 + (2.25-x+xy^2)^2 + (2.625-x+xy^3)^2"),
        Surface("saddle", _saddle, (-2, 2, -2, 2), (-1.5, 0.01), 0.1, "(x^2 - y^2)/2"),
    )
}
NAMES = (*SURFACES, "formula")
FORMULA_VIEW = (-3.0, 3.0, -3.0, 3.0)


def surface(name: str, formula: str | None = None) -> Surface:
    """The surface called name; "formula" parses and compiles the formula text (ValueError if it is bad)."""
    if name in SURFACES:
        return SURFACES[name]
    if name != "formula":
        raise ValueError(f"surface must be one of {list(NAMES)}; got {name!r}.")
    if formula is None:
        raise ValueError("formula must be given when surface is 'formula'.")
    key = formulas.render(formulas.parse(formula))
    return _formula_surface(key)


@functools.lru_cache(maxsize=64)
def _formula_surface(key: str) -> Surface:
    """One Surface per canonical formula (so its compiled programs are reused); at most 64 kept."""
    value = formulas.compile_formula(formulas.parse(key))

    def fn(x: Array, y: Array, shape: Array) -> Array:
        return value(x, y)

    return Surface("formula", fn, FORMULA_VIEW, (-2.0, 2.0), 0.05, key)
