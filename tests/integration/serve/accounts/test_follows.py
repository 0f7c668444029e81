"""Follows on SQLite and PostgreSQL: idempotent follow and unfollow, the lists, the
`user.followed` event, and the refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, select

from cluster import db
from cluster.db.models import OutboxEvent, User, new_id, utcnow
from cluster.errors import Forbidden, InvalidInput
from serve.accounts.follows import Follows


@pytest.fixture
def follows(engine: Engine) -> Iterator[Follows]:
    yield Follows(sessions=db.session_factory(engine))
    with engine.begin() as conn:
        conn.execute(delete(User))


def user(follows: Follows, handle: str, *, suspended: bool = False) -> str:
    with follows.sessions.begin() as session:
        row = User(
            email=f"{handle}@example.com",
            handle=f"{handle}{new_id()[:6]}",
            suspended_at=utcnow() if suspended else None,
        )
        session.add(row)
        session.flush()
        return row.id


def events(follows: Follows, creator: str) -> list[tuple[str, dict[str, object]]]:
    with follows.sessions() as session:
        rows = session.execute(
            select(OutboxEvent.topic, OutboxEvent.payload)
            .where(OutboxEvent.aggregate_id == creator)
            .order_by(OutboxEvent.id)
        )
        return [(topic, dict(payload)) for topic, payload in rows]


def test_follow_is_idempotent_listed_both_ways_and_emits_one_event(follows: Follows) -> None:
    creator, ana, bo = user(follows, "creator"), user(follows, "ana"), user(follows, "bo")
    assert follows.follow(follower_id=ana, creator_id=creator) is True
    assert follows.follow(follower_id=ana, creator_id=creator) is False
    assert follows.follow(follower_id=bo, creator_id=creator) is True
    assert [u.id for u in follows.followers(creator_id=creator)] == [bo, ana]  # newest first
    assert [u.id for u in follows.following(follower_id=ana)] == [creator]
    assert sorted(follows.follower_ids(creator)) == sorted([ana, bo])
    assert events(follows, creator) == [
        ("user.followed", {"follower_id": ana}),
        ("user.followed", {"follower_id": bo}),
    ]


def test_unfollow_ends_a_follow_once(follows: Follows) -> None:
    creator, ana = user(follows, "creator"), user(follows, "ana")
    follows.follow(follower_id=ana, creator_id=creator)
    assert follows.unfollow(follower_id=ana, creator_id=creator) is True
    assert follows.unfollow(follower_id=ana, creator_id=creator) is False
    assert follows.followers(creator_id=creator) == []
    assert not follows.is_following(follower_id=ana, creator_id=creator)
    assert [topic for topic, _ in events(follows, creator)] == ["user.followed", "user.unfollowed"]


def test_refusals_say_what_to_do(follows: Follows) -> None:
    ana, gone = user(follows, "ana"), user(follows, "gone", suspended=True)
    with pytest.raises(InvalidInput, match="cannot follow yourself"):
        follows.follow(follower_id=ana, creator_id=ana)
    with pytest.raises(InvalidInput, match="no such user"):
        follows.follow(follower_id=ana, creator_id="nobody0000000000")
    with pytest.raises(Forbidden, match="suspended"):
        follows.follow(follower_id=ana, creator_id=gone)
    with pytest.raises(InvalidInput, match="between 1 and 100"):
        follows.followers(creator_id=ana, first=0)
