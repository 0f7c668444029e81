"""`vidray ... --help` as an operator reads it, and what an error leaves on the screen."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cluster.cli import app
from tests.conftest import free_port

COMMANDS = [
    [],
    ["version"],
    ["migrate"],
    ["admin"],
    ["assets"],
    ["nginx-config"],
    ["up"],
    ["transcode"],
    ["upload"],
    ["login"],
    ["logout"],
    ["bench"],
    ["bench", "transcode"],
    ["bench", "upload"],
    ["bench", "stream"],
    ["bench", "graphql"],
    ["bench", "notify"],
    ["webhooks"],
    ["webhooks", "deliveries"],
    ["bench", "scale"],
    ["jobs"],
    ["jobs", "list"],
    ["jobs", "retry"],
    ["jobs", "cancel"],
]


def _help(command: list[str], *, width: int = 100) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.output


def _name(command: list[str]) -> str:
    return " ".join(["vidray", *command])


@pytest.mark.parametrize("command", COMMANDS, ids=_name)
def test_flags_show_no_value_type(command: list[str]) -> None:
    text = _help(command)
    assert "--help" in text
    assert "<bool>" not in text


@pytest.mark.parametrize("command", COMMANDS, ids=_name)
def test_the_usage_line_names_arguments_without_braces(command: list[str]) -> None:
    usage = next(line for line in _help(command).splitlines() if "Usage:" in line)
    assert f"Usage: {_name(command)} [OPTIONS]" in usage
    assert not re.search(r"[{}]", usage), usage


def test_required_and_optional_arguments_read_as_placeholders() -> None:
    assert "Usage: vidray upload [OPTIONS] FILE" in _help(["upload"])
    assert "Usage: vidray migrate [OPTIONS] [REVISION]" in _help(["migrate"])


def test_a_flag_reads_as_a_bare_switch() -> None:
    line = next(line for line in _help(["upload"]).splitlines() if "--private" in line)
    assert re.search(r"--private\s+Only you can watch it\.", line), line


@pytest.mark.parametrize(
    "command",
    [c for c in COMMANDS if c not in ([], ["bench"], ["webhooks"], ["jobs"])],
    ids=_name,
)
def test_help_paragraphs_break_at_the_terminal_edge_not_mid_sentence(command: list[str]) -> None:
    # Wide enough for every paragraph: each must then read on one line, whole.
    text = _help(command, width=400)
    doc = inspect.getdoc(app_command(command).callback)
    assert doc
    for paragraph in doc.split("\n\n"):
        assert " ".join(paragraph.split()) in text, paragraph


def test_the_command_list_shows_each_summary_on_one_line() -> None:
    text = _help([], width=400)
    assert re.search(
        r"nginx-config\s+nginx in front of vidray: segments from the store folder checked "
        r"with secure_link, everything else proxied to Ray Serve\.",
        text,
    ), text


def test_the_upload_benchmark_states_its_default_size_once() -> None:
    text = _help(["bench", "upload"], width=400)
    line = next(line for line in text.splitlines() if "--size-mb" in line)
    assert line.count("1024") == 1, line
    assert "[default: 1024]" in line
    assert "GiB" not in line


def test_a_failed_upload_leaves_the_error_not_the_progress_bar(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 4096)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: the connection fails
    result = CliRunner().invoke(
        app,
        ["upload", str(video), "--token", "t", "--server", closed],
        env={"VIDRAY_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "100"},
    )
    assert result.exit_code == 1, result.output
    assert "error: lost the connection" in result.stderr
    # The bar's last frame (bytes sent, of the file's size) is cleared, not printed.
    assert "4.0 KiB" not in result.stderr, result.stderr
    assert "━" not in result.stderr, result.stderr


def test_upload_without_a_token_or_a_sign_in_says_to_run_vidray_login(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 4096)
    result = CliRunner().invoke(
        app,
        ["upload", str(video)],
        env={
            "VIDRAY_DATA_DIR": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "VIDRAY_TOKEN": None,
            "COLUMNS": "200",
        },
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: not signed in: run `vidray login "), result.stderr
    assert "Traceback" not in result.output


def app_command(command: list[str]) -> Any:
    """The click command `vidray COMMAND...` runs, for its docstring."""
    import typer.main

    group: Any = typer.main.get_command(app)
    for name in command:
        group = group.commands[name]
    return group
