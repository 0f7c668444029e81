"""Rows the notification tests start from: users, videos, comments, and events about
them (built by hand, as the dispatcher would hand them over), and a clean slate."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, text
from sqlalchemy.orm import Session, sessionmaker

from cluster.db.models import (
    Base,
    Campaign,
    Comment,
    Delivery,
    Notification,
    NotificationPreference,
    Suppression,
    User,
    Video,
    Visibility,
)
from cluster.events import Event

_ids = itertools.count(1)


def event(type: str, aggregate_id: str, **data: Any) -> Event:
    """An event with a fresh id, as the dispatcher hands it to a subscriber."""
    return Event(
        id=next(_ids) + 1_000_000,
        type=type,
        aggregate_id=aggregate_id,
        timestamp=datetime.now(UTC),
        data=data,
    )


def add_user(sessions: sessionmaker[Session], handle: str, **fields: Any) -> str:
    fields.setdefault("email", f"{handle}@example.com")
    with sessions.begin() as session:
        user = User(handle=handle, **fields)
        session.add(user)
        session.flush()
        return user.id


def add_video(
    sessions: sessionmaker[Session],
    owner_id: str,
    title: str,
    visibility: Visibility = Visibility.PUBLIC,
) -> str:
    with sessions.begin() as session:
        video = Video(owner_id=owner_id, title=title, visibility=visibility)
        session.add(video)
        session.flush()
        return video.id


def add_comment(
    sessions: sessionmaker[Session],
    *,
    video_id: str,
    author_id: str,
    body: str,
    parent_id: str | None = None,
) -> str:
    with sessions.begin() as session:
        comment = Comment(video_id=video_id, author_id=author_id, body=body, parent_id=parent_id)
        session.add(comment)
        session.flush()
        return comment.id


FOLLOWS_DDL = (
    "CREATE TABLE IF NOT EXISTS follows ("
    "follower_id VARCHAR(16) NOT NULL, creator_id VARCHAR(16) NOT NULL, "
    "created_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (follower_id, creator_id))"
)


def follow(engine: Engine, *, follower_id: str, creator_id: str) -> None:
    """A follow, in the `follows` table the accounts service keeps (created here if the
    schema has none yet)."""
    with engine.begin() as conn:
        conn.execute(text(FOLLOWS_DDL))
        conn.execute(
            text("INSERT INTO follows (follower_id, creator_id, created_at) VALUES (:f, :c, :t)"),
            {"f": follower_id, "c": creator_id, "t": datetime.now(UTC)},
        )


def clear(engine: Engine) -> None:
    """Every row the notification tests make; the schema stays."""
    with engine.begin() as conn:
        for model in (Delivery, Notification, NotificationPreference, Suppression, Campaign):
            conn.execute(delete(model))
        if _has_follows(conn):
            # A table `follow` made (no model for it yet) goes, so the schema matches
            # the models again for the next test module on this database.
            owned = "follows" in Base.metadata.tables
            conn.execute(text("DELETE FROM follows" if owned else "DROP TABLE follows"))
        conn.execute(delete(User))


def _has_follows(conn: Any) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(conn).has_table("follows"))
