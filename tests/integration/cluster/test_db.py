"""One database suite, run against SQLite and the PostgreSQL on this machine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cluster import db
from cluster.db.models import (
    Base,
    Comment,
    Like,
    OutboxEvent,
    Rendition,
    User,
    Video,
    VideoStatus,
    Visibility,
)
from cluster.errors import ServiceUnavailable

TABLES = {"users", "videos", "renditions", "uploads", "jobs", "comments", "likes", "outbox"}


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with db.session_factory(engine)() as session:
        yield session
        session.rollback()


def test_migrations_create_every_table_at_head(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert db.current_revision(engine) == db.head_revision()
    db.migrate(engine)  # a second run is a no-op
    assert db.current_revision(engine) == db.head_revision()


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models changed without a migration: {diff}"


def _user(session: Session, handle: str) -> User:
    user = User(email=f"{handle}@example.com", handle=handle)
    session.add(user)
    session.flush()
    return user


def test_video_life_cycle_and_cascades(session: Session) -> None:
    owner = _user(session, "owner1")
    fan = _user(session, "fan1")
    video = Video(owner_id=owner.id, title="Cats", visibility=Visibility.UNLISTED)
    session.add(video)
    session.flush()
    assert video.status is VideoStatus.UPLOADING
    session.add_all(
        [
            Rendition(
                video_id=video.id,
                name="720p",
                width=1280,
                height=720,
                bandwidth=3_000_000,
                average_bandwidth=2_500_000,
                codecs="avc1.64001f,mp4a.40.2",
                playlist_key=f"hls/{video.id}/720p/index.m3u8",
            ),
            Like(user_id=fan.id, video_id=video.id),
            OutboxEvent(topic="video.created", aggregate_id=video.id, payload={"id": video.id}),
        ]
    )
    parent = Comment(video_id=video.id, author_id=fan.id, body="first!")
    session.add(parent)
    session.flush()
    session.add(Comment(video_id=video.id, author_id=owner.id, parent_id=parent.id, body="hi"))
    session.commit()

    stored = session.get(Video, video.id)
    assert stored is not None
    assert stored.visibility is Visibility.UNLISTED
    assert [r.name for r in stored.renditions] == ["720p"]

    session.delete(stored)
    session.commit()
    assert session.scalars(select(Comment).where(Comment.video_id == video.id)).all() == []
    assert session.scalars(select(Like).where(Like.video_id == video.id)).all() == []
    assert session.scalars(select(Rendition).where(Rendition.video_id == video.id)).all() == []
    event = session.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_id == video.id)).one()
    assert event.topic == "video.created"


def test_handles_are_unique(session: Session) -> None:
    _user(session, "taken")
    session.add(User(email="other@example.com", handle="taken"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_a_user_needs_an_email_or_a_phone(session: Session) -> None:
    session.add(User(handle="ghost"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_unreachable_database_names_the_variable(tmp_path: Path) -> None:
    engine = db.make_engine("postgresql://nobody@127.0.0.1:9/none")
    with pytest.raises(ServiceUnavailable) as caught:
        db.migrate(engine)
    assert caught.value.variable == "VIDRAY_DATABASE_URL"
