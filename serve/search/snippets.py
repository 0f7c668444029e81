"""Highlighted snippets that are safe to put in a page as they are.

Every character of stored text goes through `html.escape`, and the only markup added is
`<mark>`: a title of `<script>` comes back as `&lt;script&gt;`, with or without a match.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from whoosh import highlight

from actors.search_documents import PLAIN, STEMMED
from serve.search.query import MIN_PREFIX, UserQuery, typos_allowed


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


def first_cue(
    cues: Sequence[Sequence[Any]], query: UserQuery
) -> tuple[float, str, set[str]] | None:
    """The earliest cue that matches the query: its start, text and matching terms."""
    for start, text in cues:
        terms = matching_terms(str(text), query)
        if terms:
            return float(start), str(text), terms
    return None


def _within(a: str, b: str, limit: int) -> bool:
    """Levenshtein distance of a and b at most `limit` (whoosh's fuzzy rule)."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


@lru_cache(maxsize=65536)
def _stem(plain: str) -> str | None:
    """A word's stem (None: a stop word); the same few thousand words recur in every
    page of hits, and running the analyzer chain per word was most of a query's time."""
    for token in STEMMED(plain):
        return str(token.text)
    return None


def matching_terms(text: str, query: UserQuery) -> set[str]:
    """The analysed terms of `text` that a query word matches as the index did: the same
    stem, a stem within the word's typo budget (first letter kept), or, for the last
    word, a word it begins."""
    found: set[str] = set()
    words = [
        (word.stem, typos_allowed(word.typed)) for word in query.words if word.stem is not None
    ]
    last = query.words[-1] if query.words else None
    prefix = last.typed if last is not None and len(last.typed) >= MIN_PREFIX else None
    decided: dict[str, bool] = {}  # stem: a query word matches it
    for token in PLAIN(text):
        plain = token.text
        stem = _stem(plain)
        if stem is None:
            continue
        matches = decided.get(stem)
        if matches is None:
            matches = decided[stem] = any(
                stem == wanted
                or (typos and stem[:1] == wanted[:1] and _within(stem, wanted, typos))
                for wanted, typos in words
            )
        if matches or (prefix is not None and plain.startswith(prefix)):
            found.add(stem)
    return found
