"""How `vidray --help` reads, for every command.

Typer's rich help shows a `<bool>` type beside each flag, though a flag takes no value;
puts a required argument in braces on the usage line (`{file}`); and keeps the line
breaks of a docstring paragraph, so a sentence breaks where the source line did rather
than at the terminal's edge. These classes show flags bare, arguments the way the usage
line names the command (`COMMAND`, `FILE`, `[REVISION]`), and reflow paragraphs.
"""

from __future__ import annotations

import inspect
from typing import Any

# Typer's own click: the types its commands' methods are declared with.
from typer import _click
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def reflow(text: str | None) -> str | None:
    """Join the lines of each paragraph, so the terminal, not the source, wraps them.

    >>> reflow("one\\ntwo.\\n\\nthree")
    'one two.\\n\\nthree'
    """
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def _bare_flags(params: list[_click.Parameter]) -> list[_click.Parameter]:
    for param in params:
        # An empty metavar is what rich help prints in the type column; a flag has no value.
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


def _usage_name(param: TyperArgument) -> str:
    name = param.display_name_raw.upper()
    if not param.required:
        name = f"[{name}]"
    return name if param.nargs == 1 else f"{name}..."


class Command(TyperCommand):
    """A `vidray` command whose help follows the rules in this module's docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["help"] = reflow(kwargs.get("help"))
        super().__init__(*args, **kwargs)

    def get_params(self, ctx: _click.Context) -> list[_click.Parameter]:
        return _bare_flags(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: _click.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(_usage_name(param))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class Group(TyperGroup):
    """A `vidray` command group (`vidray`, `vidray bench`), its flags shown bare."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["help"] = reflow(kwargs.get("help"))
        super().__init__(*args, **kwargs)

    def get_params(self, ctx: _click.Context) -> list[_click.Parameter]:
        return _bare_flags(super().get_params(ctx))
