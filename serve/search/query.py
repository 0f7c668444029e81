"""A user's search text, turned into a whoosh query without ever parsing it as one.

Whoosh's query language (`field:value`, `*`, `~2`, `[a TO b]`, AND/OR/NOT) is never
used: the text is split into words by the same analyzer the index uses, and the query
is built from those words as objects, so `title:x*` is just the words "title" and "x".

Each word must match (in any field); per field, its weight: title 4, tags 3,
description 2, transcript 1. Typo tolerance follows Meilisearch: a word under 5
characters must match exactly, from 5 characters one typo is allowed, from 9 two
(the first letter must be right: it keeps fuzzy lookups fast). The last word also
matches as a prefix of a title or tag word (search as you type).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from whoosh.automata import lev
from whoosh.codec.base import Automata
from whoosh.query import And, FuzzyTerm, NullQuery, Or, Prefix, Query, Term

from actors.search_documents import PLAIN, STEMMED, WEIGHTS, clean_text
from cluster.errors import InvalidInput

MAX_CHARS = 256
MAX_WORDS = 10
# A one-letter prefix expands to most of the vocabulary: prefixes start at 2.
MIN_PREFIX = 2


def typos_allowed(word: str) -> int:
    """0 under 5 characters, 1 from 5, 2 from 9 (Meilisearch's defaults)."""
    return 0 if len(word) < 5 else 1 if len(word) < 9 else 2


def normalise(text: str) -> str:
    """The text as trending counts it: cleaned, words lowercased and folded, one space."""
    return " ".join(token.text for token in PLAIN(clean_text(text)))


@dataclass(frozen=True)
class Word:
    typed: str  # lowercased, accents folded, as typed
    stem: str | None  # None: a stop word


@dataclass(frozen=True)
class UserQuery:
    text: str
    words: tuple[Word, ...]


def parse(text: str) -> UserQuery:
    """The words of `text`, or `InvalidInput` past the limits."""
    if len(text) > MAX_CHARS:
        raise InvalidInput(
            "query", f"is {len(text)} characters long: search with at most {MAX_CHARS}"
        )
    cleaned = clean_text(text)
    typed = [token.text for token in PLAIN(cleaned)]
    if len(typed) > MAX_WORDS:
        raise InvalidInput("query", f"has {len(typed)} words: search with at most {MAX_WORDS}")
    words = []
    for word in typed:
        stems = [token.text for token in STEMMED(word)]
        words.append(Word(typed=word, stem=stems[0] if stems else None))
    return UserQuery(text=cleaned, words=tuple(words))


@lru_cache(maxsize=4096)
def _typo_automaton(word: str, typos: int, prefix: int) -> Any:
    """The automaton of the words within `typos` edits of `word`: whoosh builds it anew
    for every field of every segment of every query, which cost more than the lookup."""
    return lev.levenshtein_automaton(word, typos, prefix).to_dfa()


class TypoTerm(FuzzyTerm):
    """A `FuzzyTerm` whose automaton is built once per word and kept."""

    def _btexts(self, ixreader: Any) -> Iterator[str]:
        fieldobj = ixreader.schema[self.fieldname]
        cursor = ixreader.cursor(fieldobj.spelling_fieldname(self.fieldname))
        automaton = _typo_automaton(self.text, self.maxdist, self.prefixlength)
        return Automata.find_matches(automaton, cursor)


def _word_query(word: Word, *, last: bool, fuzzy: bool) -> Query | None:
    alternatives: list[Query] = []
    if word.stem is not None:
        typos = typos_allowed(word.typed) if fuzzy else 0
        for field, weight in WEIGHTS.items():
            if typos:
                alternatives.append(
                    TypoTerm(field, word.stem, boost=weight, maxdist=typos, prefixlength=1)
                )
            else:
                alternatives.append(Term(field, word.stem, boost=weight))
    if last and len(word.typed) >= MIN_PREFIX:
        # Below an exact word's weight: "run" ranks "run" above "runway".
        alternatives.append(Prefix("exact", word.typed, boost=1.5))
    if not alternatives:
        return None
    return Or(alternatives)


def build(query: UserQuery, *, fuzzy: bool = True, prefix: bool = True) -> Query:
    """Every meaningful word must match. Stop words count only as a typed prefix (the
    last word), or when the whole query is stop words ("the who")."""
    parts: list[Query] = []
    for position, word in enumerate(query.words):
        last = prefix and position == len(query.words) - 1
        built = _word_query(word, last=last, fuzzy=fuzzy)
        if built is not None:
            parts.append(built)
    if not parts and query.words:
        # Only stop words: match them as typed in titles and tags.
        parts = [Term("exact", word.typed) for word in query.words]
    if not parts:
        return NullQuery
    return parts[0] if len(parts) == 1 else And(parts)
