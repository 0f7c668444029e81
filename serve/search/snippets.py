"""Highlighted snippets that are safe to put in a page as they are.

Every character of stored text goes through `html.escape`, and the only markup added is
`<mark>`: a title of `<script>` comes back as `&lt;script&gt;`, with or without a match.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from whoosh import highlight

from actors.search_documents import STEMMED


class EscapedMarks(highlight.Formatter):
    """`<mark>` around matched words; everything else escaped."""

    between = " … "

    def _text(self, text: str) -> str:
        return html.escape(text, quote=True)

    def format_token(self, text: str, token: Any, replace: bool = False) -> str:
        return "<mark>" + html.escape(highlight.get_text(text, token, replace)) + "</mark>"


_FORMATTER = EscapedMarks()
_WHOLE = highlight.WholeFragmenter(charlimit=None)
_CONTEXT = highlight.ContextFragmenter(maxchars=160, surround=50, charlimit=None)


def marked(text: str, terms: Iterable[str], *, whole: bool) -> str | None:
    """`text` escaped with its matched `terms` (analysed forms) marked; None when none
    of them occurs in it."""
    words = frozenset(terms)
    if not words or not text:
        return None
    fragmenter = _WHOLE if whole else _CONTEXT
    found = highlight.highlight(text, words, STEMMED, fragmenter, _FORMATTER, top=2)
    return found or None


def escaped(text: str) -> str:
    return html.escape(text, quote=True)


def first_cue(cues: Sequence[Sequence[Any]], terms: Iterable[str]) -> tuple[float, str] | None:
    """The earliest cue that holds one of the matched transcript `terms`."""
    words = frozenset(terms)
    if not words:
        return None
    for start, text in cues:
        if any(token.text in words for token in STEMMED(str(text))):
            return float(start), str(text)
    return None
