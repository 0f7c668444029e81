"""Search text into whoosh queries: limits, typo budgets, and no query language."""

from __future__ import annotations

import pytest
from whoosh.query import FuzzyTerm, NullQuery, Prefix, Term

from cluster.errors import InvalidInput
from serve.search.query import MAX_CHARS, TypoTerm, build, normalise, parse, typos_allowed


@pytest.mark.parametrize(
    ("word", "typos"), [("cat", 0), ("four", 0), ("fives", 1), ("eighteen", 1), ("ninesssss", 2)]
)
def test_typos_by_length(word: str, typos: int) -> None:
    assert typos_allowed(word) == typos


def test_words_are_folded_stemmed_and_stop_words_kept_apart() -> None:
    query = parse("The Running  Crème")
    assert [w.typed for w in query.words] == ["the", "running", "creme"]
    assert [w.stem for w in query.words] == [None, "run", "creme"]


def test_only_the_last_word_is_a_prefix_and_short_words_are_exact() -> None:
    built = build(parse("cats photograhpy"))
    leaves = list(built.leaves())
    assert {type(q) for q in leaves} == {Term, TypoTerm, Prefix}
    assert [q.text for q in leaves if isinstance(q, Prefix)] == ["photograhpy"]
    cat_terms = [q for q in leaves if q.text == "cat"]
    assert cat_terms and all(type(q) is Term for q in cat_terms)
    assert {q.maxdist for q in leaves if isinstance(q, FuzzyTerm)} == {2}


@pytest.mark.parametrize("text", ["title:x*", "a~9 [1 TO 2]", "NOT (x OR y)", "*"])
def test_query_syntax_becomes_plain_words(text: str) -> None:
    for leaf in build(parse(text)).leaves():
        if leaf is NullQuery:  # "*" holds no word at all
            continue
        assert leaf.fieldname in {"title", "tags", "description", "transcript", "exact"}
        assert not any(ch in leaf.text for ch in ":*~[]()")


def test_limits() -> None:
    parse("x" * MAX_CHARS)
    with pytest.raises(InvalidInput, match="at most 256"):
        parse("x" * (MAX_CHARS + 1))
    with pytest.raises(InvalidInput, match="11 words: search with at most 10"):
        parse(" ".join("w" for _ in range(11)))


def test_normalise_is_what_trending_counts() -> None:
    assert normalise("  Crème\x00 BRÛLÉE!! ") == "creme brulee"
