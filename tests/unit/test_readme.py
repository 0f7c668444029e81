"""The README's settings and commands tables against the code they describe.

An operator reads the README, not `cluster/config.py` or `--help`: a setting or an
option missing there is one they never learn of, and a stale row one they set in vain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from cluster.cli import app
from cluster.config import NOT_SETTINGS, setting_variables

README = Path(__file__).resolve().parents[2] / "README.md"
# A whole variable name; `VIDRAY_S3_*` is a pattern, not a name.
VARIABLE = re.compile(r"\b(?:VIDRAY_[A-Z0-9_]++(?!\*)|RAY_ADDRESS\b)")
OPTION = re.compile(r"--[a-z0-9][a-z0-9-]*")
WORD = re.compile(r"[a-z][a-z0-9-]*")
SEPARATOR = re.compile(r":?-{3,}:?")


def _cells(line: str) -> list[str]:
    """The cells of a table row; a `|` inside backticks or escaped is the cell's text."""
    cells: list[str] = []
    cell: list[str] = []
    in_code = False
    previous = ""
    for char in line.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code and previous != "\\":
            cells.append("".join(cell).strip())
            cell = []
        else:
            cell.append(char)
        previous = char
    cells.append("".join(cell).strip())
    return cells


def _tables(text: str) -> list[list[list[str]]]:
    """Every table: a run of lines starting with `|`, separator rows left out."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("|"):
            cells = _cells(line)
            if not all(SEPARATOR.fullmatch(cell) for cell in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _rows(header: str) -> list[list[str]]:
    """The body of the one table whose first header cell is `header`."""
    found = [t for t in _tables(README.read_text()) if t[0][0].lower() == header]
    assert len(found) == 1, f"README.md needs one table headed '| {header} |', has {len(found)}"
    return found[0][1:]


# -- settings ----------------------------------------------------------------------


def _documented_settings() -> set[str]:
    return {name for row in _rows("variable") for name in VARIABLE.findall(" ".join(row))}


def test_the_table_parser_reads_cells_and_skips_separators() -> None:
    text = "x\n| a | b |\n| --- | :---: |\n| `x | y` | \\| z |\n\n| c |\n"
    assert _tables(text) == [[["a", "b"], ["`x | y`", "\\| z"]], [["c"]]]


def test_every_setting_is_in_the_settings_table() -> None:
    missing = sorted(setting_variables().keys() - _documented_settings())
    assert not missing, f"add to README.md, 'Configuration for production': {missing}"


def test_the_settings_table_names_only_real_settings() -> None:
    stale = sorted(_documented_settings() - setting_variables().keys())
    assert not stale, f"no such settings, but README.md's table has them: {stale}"


def test_the_readme_names_only_variables_vidray_reads() -> None:
    named = set(VARIABLE.findall(README.read_text()))
    stale = sorted(named - setting_variables().keys() - NOT_SETTINGS)
    assert not stale, f"README.md names variables vidray does not read: {stale}"


# -- commands ----------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """One row of the commands table: `vidray bench upload [--size-mb 1024] ...`."""

    path: tuple[str, ...]
    options: frozenset[str]
    words: frozenset[str]


def _usage(cell: str) -> Usage | None:
    tokens = cell.replace("`", " ").split()
    if not tokens or tokens[0] != "vidray":
        return None
    path: list[str] = []
    for token in tokens[1:]:
        if not WORD.fullmatch(token):
            break
        path.append(token)
    return Usage(
        path=tuple(path),
        options=frozenset(OPTION.findall(cell)),
        words=frozenset(re.findall(r"[A-Za-z][A-Za-z0-9_-]*", cell)),
    )


def _documented_commands() -> dict[tuple[str, ...], Usage]:
    usages = [_usage(row[0]) for row in _rows("command")]
    return {u.path: u for u in usages if u is not None}


def _commands() -> dict[tuple[str, ...], Any]:
    """Every command and command group of `vidray`, by path; groups have `commands`."""
    found: dict[tuple[str, ...], Any] = {}

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found[path] = command
        for name, sub in getattr(command, "commands", {}).items():
            if not getattr(sub, "hidden", False):
                walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    del found[()]
    return found


def _is_group(command: Any) -> bool:
    return hasattr(command, "commands")


def test_the_command_tree_is_walked() -> None:
    commands = _commands()
    assert ("bench",) in commands and _is_group(commands[("bench",)])
    assert ("bench", "upload") in commands and ("up",) in commands


def test_every_command_is_in_the_commands_table() -> None:
    documented = _documented_commands()
    missing = [
        " ".join(path)
        for path, command in _commands().items()
        if not _is_group(command) and path not in documented
    ]
    # A group is documented by its commands' rows.
    missing += [
        " ".join(path)
        for path, command in _commands().items()
        if _is_group(command) and not any(p[: len(path)] == path for p in documented)
    ]
    assert not missing, f"add to README.md's commands table: vidray {missing}"


def test_the_commands_table_names_only_real_commands() -> None:
    commands = _commands()
    stale = [
        " ".join(path)
        for path in _documented_commands()
        if path not in commands or _is_group(commands[path])
    ]
    assert not stale, f"README.md's commands table has rows for no command: {stale}"


def _leaves() -> list[Any]:
    return [
        pytest.param(path, c, id=" ".join(path))
        for path, c in _commands().items()
        if not _is_group(c)
    ]


@pytest.mark.parametrize(("path", "command"), _leaves())
def test_every_option_and_argument_is_in_its_row(path: tuple[str, ...], command: Any) -> None:
    usage = _documented_commands().get(path)
    if usage is None:
        pytest.skip("the command's row is missing: test_every_command_is_in_the_commands_table")
    missing = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "option":
            # A flag pair (`--s3/--no-s3`) is documented by either spelling.
            if not usage.options & {*param.opts, *param.secondary_opts}:
                missing.append("/".join([*param.opts, *param.secondary_opts]))
        elif param.name.upper() not in usage.words:
            missing.append(param.name.upper())
    assert not missing, f"vidray {' '.join(path)}: document {missing} in README.md"


@pytest.mark.parametrize(("path", "command"), _leaves())
def test_every_documented_option_is_real(path: tuple[str, ...], command: Any) -> None:
    usage = _documented_commands().get(path)
    if usage is None:
        pytest.skip("the command's row is missing: test_every_command_is_in_the_commands_table")
    real = {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}
    stale = sorted(usage.options - real)
    assert not stale, f"vidray {' '.join(path)} has no options {stale}, but README.md lists them"
