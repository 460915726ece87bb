"""Imports flow shells -> engine -> core, never back (STYLE.md section 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gdlab"

# what each layer may import from gdlab (by module prefix)
ALLOWED = {
    "core": ("gdlab.core",),
    "engine": ("gdlab.core", "gdlab.engine"),
    "datasets": ("gdlab.core", "gdlab.datasets"),
    # the lab is a shell: it uses the library's layers and the store, never the CLI
    "lab": ("gdlab.core", "gdlab.engine", "gdlab.datasets", "gdlab.store", "gdlab.report", "gdlab.lab"),
}
MAY_IMPORT_LAB = ("cli", "lab")
"""Only the CLI (gdlab lab) and the lab itself import gdlab.lab."""
PROGRAM = "__main__"
"""``python -m gdlab``: the gdlab program itself, as the console script, the one module that imports the CLI."""
THIRD_PARTY_IN_CORE = {"jax", "numpy"}


def _layer(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


FILES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_wrong_way_import(path: Path) -> None:
    layer = _layer(path)
    for name in _imports(path):
        if not name.startswith("gdlab"):
            continue
        assert layer == PROGRAM or not name.startswith("gdlab.cli"), f"{path}: nothing imports {name}"
        if name.startswith("gdlab.lab"):
            assert layer in MAY_IMPORT_LAB, f"{path}: only the CLI imports {name}"
        if layer in ALLOWED:
            assert name.startswith(ALLOWED[layer]), f"{path} ({layer}) must not import {name}"


@pytest.mark.parametrize("path", sorted((SRC / "core").rglob("*.py")), ids=lambda p: p.name)
def test_core_imports_only_jax_numpy_and_the_standard_library(path: Path) -> None:
    import sys

    for name in _imports(path):
        top = name.split(".")[0]
        assert top in THIRD_PARTY_IN_CORE or top == "gdlab" or top in sys.stdlib_module_names, (
            f"{path.name} imports {name}"
        )


def test_the_checker_sees_a_wrong_way_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from gdlab.engine.fit import fit\nimport gdlab.cli\n")
    assert _imports(bad) == ["gdlab.engine.fit", "gdlab.cli"]


def test_the_library_never_imports_torch() -> None:
    for path in FILES:
        assert not any(n.split(".")[0] == "torch" for n in _imports(path)), path


def test_the_names_loaded_on_first_use_are_the_public_names() -> None:
    """gdlab/__init__.py exports what gdlab/_api.py imports on first use, besides its version and report."""
    import gdlab
    from gdlab import _api

    assert sorted(gdlab.__all__) == sorted([*_api.__all__, "__version__", "report"])
    assert all(getattr(gdlab, name) is getattr(_api, name) for name in _api.__all__)
