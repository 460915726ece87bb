"""The README's Python examples, read as the program a user would paste: every name they use is defined
by them or by Python, and every ``gd.`` call names a function that exists with the arguments it takes.

(Running them would train for minutes; what drifts is a renamed function, a dropped keyword, or a name
the text forgot to define, and each of those is caught here without training.)

Every ``gdlab COMMAND --option`` that README.md and docs/distributed.md show names an option the command takes.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import gdlab as gd
from gdlab import cli
from gdlab.cli import app_commands

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples() -> ast.Module:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 4, "the README's Python examples were not found"
    return ast.parse("\n".join(blocks))


def _defined(tree: ast.Module) -> set[str]:
    """Names the examples bind: assignments, imports, loop targets, lambda and function parameters."""
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Lambda | ast.FunctionDef):
            names |= {a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]}
    return names


def _gd_object(node: ast.expr) -> tuple[str, Any] | None:
    """The gdlab object a ``gd.a.b`` chain names (and the chain as text), or None for any other call."""
    chain = []
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        node = node.value
    if not (isinstance(node, ast.Name) and node.id == "gd") or not chain:
        return None
    obj: Any = gd
    for name in reversed(chain):
        obj = getattr(obj, name)  # AttributeError: the README names what gdlab does not have
    return "gd." + ".".join(reversed(chain)), obj


def _undefined(tree: ast.Module) -> set[str]:
    """Names the examples read that neither they nor Python define."""
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return used - _defined(tree) - set(dir(builtins))


def test_every_name_the_examples_use_is_defined_by_them() -> None:
    assert _undefined(_examples()) == set()


def test_every_gd_call_in_the_examples_exists_and_takes_its_arguments() -> None:
    calls = [n for n in ast.walk(_examples()) if isinstance(n, ast.Call)]
    checked = 0
    for call in calls:
        found = _gd_object(call.func)
        if found is None:
            continue
        text, obj = found
        assert callable(obj), text
        positional = [None] * len(call.args)
        keywords = {k.arg: None for k in call.keywords if k.arg is not None}
        try:
            inspect.signature(obj).bind(*positional, **keywords)
        except TypeError as err:
            pytest.fail(f"README: {text}({', '.join(keywords)}) does not fit its signature: {err}")
        checked += 1
    assert checked >= 20  # the examples call gdlab throughout: a parse that found none proves nothing


def test_the_check_fails_on_what_it_looks_for() -> None:
    """A misnamed keyword, a missing function and an undefined name are each caught."""
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        inspect.signature(gd.fit).bind(None, None, None, epoch=3)
    tree = ast.parse("gd.schedules.cosin(0.1, 10)")
    with pytest.raises(AttributeError, match="cosin"):
        _gd_object(tree.body[0].value.func)  # type: ignore[attr-defined]
    assert _undefined(ast.parse("import gdlab as gd\nresult = gd.fit(model, data, rule)")) == {"model", "data", "rule"}


DOCS = [README, README.parent / "docs" / "distributed.md"]


def _command_lines(text: str) -> list[str]:
    """Every ``gdlab COMMAND ...`` the text shows in code (fenced blocks and inline spans), comments cut."""
    code = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL) + re.findall(r"`([^`\n]+)`", text)
    lines = [line.split(" #")[0] for block in code for line in block.splitlines()]
    commands = "|".join(app_commands())  # "gdlab as gd" and "gdlab lab: the web app" are not commands
    return [m for line in lines for m in re.findall(rf"\bgdlab (?:{commands})(?![\w:-]).*", line)]


def _unknown_options(line: str) -> list[str]:
    """The --options in one ``gdlab ...`` line that its command does not take (or the command, if none)."""
    command = cli._command(line.split()[1:])  # the command the CLI reports errors against
    if hasattr(command, "commands"):  # a group: the line names no command of it
        return [line]
    taken = {"--help", *(opt for param in command.params for opt in [*param.opts, *param.secondary_opts])}
    return [opt for opt in re.findall(r"(?<![\w-])--[a-z][a-z-]*", line) if opt not in taken]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_gdlab_command_the_docs_show_takes_its_options(doc: Path) -> None:
    lines = _command_lines(doc.read_text())
    assert len(lines) >= 5, f"{doc.name}: no gdlab commands found"
    assert {line: bad for line in lines if (bad := _unknown_options(line))} == {}


def test_the_command_check_fails_on_a_wrong_option_or_command() -> None:
    text = "run `gdlab fit --epochs 3` or\n```bash\ngdlab runs list  # --nope\n```\n`gdlab lab: a page`"
    assert _command_lines(text) == ["gdlab runs list ", "gdlab fit --epochs 3"]
    assert _unknown_options("gdlab fit --epoch 3 --epochs 3") == ["--epoch"]
    assert _unknown_options("gdlab runs lists --json") == ["gdlab runs lists --json"]
    assert _unknown_options("gdlab runs list --sweeps --json") == []


@pytest.mark.parametrize("args", [["compare", "--dataset", "linreg", "--model", "linear", "--out"],
                                  ["find-lr", "--dataset", "linreg", "--model", "linear", "--plot"]],
                         ids=["compare-out", "find-lr-plot"])
def test_an_output_file_that_cannot_be_written_exits_as_the_readme_says(
        tmp_path, capsys, monkeypatch, restore_jax_cache, args) -> None:
    """The README said a file gdlab cannot write exits 1 (a failure of the machine); an output path is checked
    before anything trains and is bad input (exit 2), as the README now says."""
    assert "an output file that cannot be written, `--out`, `--csv`, `--json-out` or `--plot`, is bad input" in (
        " ".join(README.read_text().split()))
    monkeypatch.chdir(tmp_path)
    code = cli.main([*args, str(tmp_path / "missing" / "x.png"), "--no-record", "--no-progress"])
    _, err = capsys.readouterr()
    assert (code, err.count("\n")) == (2, 1) and err.startswith(f"error: {args[-1]} must be a file")


def _json_help_keys() -> dict[str, set[str]]:
    """The keys (snake_case words) that each command's --json help names, by command line."""
    found: dict[str, set[str]] = {}
    for line in (f"gdlab {name}" for name in app_commands()):
        command = cli._command(line.split()[1:])
        for param in getattr(command, "params", []):
            if "--json" in param.opts and param.help:
                found[line] = set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", param.help))
    return found



def _described(text: str, line: str) -> str:
    """The README's sentences about one command: from each sentence that starts with it in backticks up to the
    next sentence that starts with another gdlab command."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    sentences = [s for p in paragraphs for s in re.split(r"(?<=\.)\s+(?=[`A-Z(])", p)]
    kept, inside = [], False
    for sentence in sentences:
        if sentence.startswith("`gdlab "):
            inside = sentence.startswith((f"`{line}`", f"`{line} "))
        if inside:
            kept.append(sentence)
    return " ".join(kept)


def test_every_json_key_a_command_help_names_is_in_the_readme() -> None:
    """gdlab report --help named sweep_id (a member run's sweep) among its --json keys; the README's sentences on
    gdlab report did not (sweep_id in gdlab resume's sentence next to them hid it from a whole-file search)."""
    text = README.read_text()
    keys = _json_help_keys()
    assert "first_by_epoch" in keys["gdlab report"]  # the help names keys: the check reads them
    missing = {line: {k for k in names if f"`{k}`" not in _described(text, line)} for line, names in keys.items()}
    assert {line: names for line, names in missing.items() if names} == {}
    assert "`sweep_id`" not in _described("`gdlab report` gives `out`. `gdlab resume` gives `sweep_id`.", "gdlab report")


def test_the_stability_warning_the_readme_quotes_is_the_one_its_call_gives() -> None:
    """The README quoted 'learning_rate 0.5 exceeds the stability limit 2/L = 0.31' with no set-up that gave it (the
    MNIST-1D MLP's limit is about 4): it now names the call, and this runs it."""
    text = " ".join(README.read_text().split())
    found = re.search(r"on `linreg`, `(gd\.fit\([^`]*\))` warns `([^`]*?) \.\.\.`", text)
    assert found is not None, "the README's stability example was not found"
    data = gd.datasets.load("linreg")
    with pytest.warns(gd.StabilityWarning) as caught:
        eval(found.group(1), {"gd": gd, "data": data})
    assert str(caught[0].message).startswith(found.group(2)), (str(caught[0].message), found.group(2))
