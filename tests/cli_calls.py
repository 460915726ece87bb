"""The gdlab command line called in-process, for the CLI tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gdlab.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """main(args) -> (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def json_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """The one strict JSON object, on one line, that a command prints with --json (exit code 0)."""
    code, out, err = run_cli(capsys, *args, "--json")
    assert code == 0, err
    assert len(out.splitlines()) == 1  # one JSON object on one line
    return strict_json(out)


def strict_json(text: str) -> Any:
    """text read as strict JSON: NaN or Infinity in it fail the test."""
    return json.loads(text, parse_constant=_not_json)


def _not_json(constant: str) -> Any:
    """Python's json reads NaN and Infinity; JSON.parse and jq refuse them: so must the tests."""
    raise AssertionError(f"--json wrote {constant}, which is not JSON (a non-finite number is written as text)")
