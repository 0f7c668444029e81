"""Trending searches on the embedded KV (with SQLite) and on Redis (with PostgreSQL)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from actors.search_index import SearchIndex
from cluster.kv import KV, RedisKV
from serve.search.service import Search
from serve.search.trending import HOUR, Trending
from tests.support.clock import FakeClock
from tests.support.search import Dispatch, add_user, add_video, clean_database, settings_for
from tests.support.servers import free_port


def _trending(kv: KV, clock: FakeClock, **kwargs: object) -> Trending:
    return Trending(
        kv=kv,
        clock=clock,
        namespace=f"test-{secrets.token_hex(4)}",
        **kwargs,  # type: ignore[arg-type]
    )


def _searches(trending: Trending, text: str, users: int, *, first: int = 0) -> None:
    for n in range(first, first + users):
        trending.record(text, f"user{n}")


def test_a_term_trends_once_enough_distinct_users_search_it(kv: KV, clock: FakeClock) -> None:
    trending = _trending(kv, clock, min_users=3)
    _searches(trending, "sourdough", 2)
    for _ in range(50):  # one user, over and over: counted once this hour
        trending.record("kombucha", "user0")
    assert trending.fold() == []
    _searches(trending, "sourdough", 1, first=2)
    assert [term.text for term in trending.fold()] == ["sourdough"]
    assert trending.top() == ["sourdough"]


def test_recent_searches_outrank_older_ones_and_a_day_forgets(kv: KV, clock: FakeClock) -> None:
    trending = _trending(kv, clock, min_users=1)
    _searches(trending, "eclipse", 10)
    clock.advance(12 * HOUR)
    _searches(trending, "marathon", 6, first=100)
    assert [term.text for term in trending.fold()] == ["marathon", "eclipse"]
    clock.advance(13 * HOUR)
    assert [term.text for term in trending.fold()] == ["marathon"]


def test_blocked_words_never_trend(kv: KV, clock: FakeClock) -> None:
    trending = _trending(kv, clock, min_users=1, blocklist=["Spoiler"])
    _searches(trending, "finale spoiler", 5)
    _searches(trending, "finale", 2)
    assert trending.top() == []
    assert [term.text for term in trending.fold()] == ["finale"]


def test_anonymous_searches_are_not_counted(kv: KV, clock: FakeClock) -> None:
    trending = _trending(kv, clock, min_users=1)
    trending.record("anything", None)
    assert trending.fold() == []


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    with clean_database(engine) as sessions:
        yield sessions


def test_redis_down_search_answers_and_trending_keeps_its_last_list(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path, clock: FakeClock, kv: KV
) -> None:
    up = _trending(kv, clock, min_users=1)
    _searches(up, "telescope", 2)
    up.fold()
    assert up.top() == ["telescope"]

    # The same trending object, its KV now a Redis that does not answer.
    down = RedisKV(f"redis://127.0.0.1:{free_port()}/0")
    up.kv = down
    assert up.top() == ["telescope"]

    add_user(sessions, "owner00000000000", "owner")
    video = add_video(sessions, owner="owner00000000000", title="Telescope buying guide")
    settings = settings_for(engine, tmp_path)
    Dispatch(sessions, SearchIndex(settings))  # built at start, with the video
    search = Search.for_settings(settings, sessions=sessions, on_search=up.record)
    hits = search.search("telescope", viewer_id="owner00000000000").hits
    assert [hit.video_id for hit in hits] == [video]
    down.close()
