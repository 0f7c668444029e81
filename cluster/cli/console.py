"""Where the `vidray` commands write: results on stdout, progress and errors on stderr.

vidray's own errors become one line and exit status 2, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from cluster.config import Settings, load_settings
from cluster.errors import VidrayError

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn

console = Console()
err_console = Console(stderr=True)


def say(message: str) -> None:
    """A benchmark's progress line, dimmed; its text is never read as rich markup."""
    err_console.print(f"[dim]{escape(message)}[/]", highlight=False)


def fail(exc: VidrayError) -> NoReturn:
    # Escaped: messages quote URLs such as https://host[:port][/path], not markup.
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def clear_errors() -> Iterator[None]:
    """Turn vidray's own errors into one line and exit status 2, never a traceback."""
    try:
        yield
    except VidrayError as exc:
        fail(exc)


def read_settings() -> Settings:
    """The settings from the environment, or one error line naming the variable to fix."""
    with clear_errors():
        return load_settings()


@contextmanager
def progress_bar(*columns: ProgressColumn | str, transient: bool = False) -> Iterator[Progress]:
    """A progress bar on stderr that is cleared, not left above the error, when the work
    fails: the error line a caller prints next then stands alone."""
    from rich.progress import Progress

    bar = Progress(*columns, console=err_console, transient=transient)
    with bar:
        try:
            yield bar
        except BaseException:
            bar.live.transient = True  # read when the bar stops, as this block exits
            raise
