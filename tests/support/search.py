"""Videos written straight into the database for the search tests, with their outbox
events, and a stand-in for the dispatcher that hands those events to the index."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from actors.search_index import SearchIndex
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import Caption, OutboxEvent, User, Video, VideoStatus, Visibility, utcnow
from cluster.events import Event, Topic, emit


def settings_for(engine: Engine, data_dir: Path) -> Settings:
    return load_settings(
        data_dir=data_dir,
        database_url=engine.url.render_as_string(hide_password=False),
        search_commit_window_s=0.05,
    )


def add_user(sessions: sessionmaker[Session], user_id: str, handle: str) -> str:
    with sessions.begin() as session:
        session.add(User(id=user_id, email=f"{handle}@example.com", handle=handle))
    return user_id


def add_video(
    sessions: sessionmaker[Session],
    *,
    owner: str,
    title: str,
    description: str = "",
    tags: tuple[str, ...] = (),
    category: str | None = None,
    duration: float = 60.0,
    visibility: Visibility = Visibility.PUBLIC,
    status: VideoStatus = VideoStatus.READY,
    views: int = 0,
    likes: int = 0,
    published: datetime | None = None,
    captions: dict[str, list[list[Any]]] | None = None,
) -> str:
    """A video and its `video.created` event (and `captions.added`, per language)."""
    with sessions.begin() as session:
        video = Video(
            owner_id=owner,
            title=title,
            description=description,
            tags=list(tags),
            category=category,
            duration=duration,
            visibility=visibility,
            status=status,
            view_count=views,
            like_count=likes,
            created_at=published or utcnow(),
        )
        session.add(video)
        session.flush()
        emit(session, "video.created", video.id, owner_id=owner)
        for language, cues in (captions or {}).items():
            session.add(Caption(video_id=video.id, language=language, storage_key="x", cues=cues))
            emit(session, "captions.added", video.id, language=language)
        return video.id


def change(sessions: sessionmaker[Session], video_id: str, topic: Topic, **fields: Any) -> None:
    """Change a video's row (or delete it) with its event, in one transaction."""
    with sessions.begin() as session:
        video = session.get(Video, video_id)
        assert video is not None
        if topic == "video.deleted":
            session.delete(video)
        for name, value in fields.items():
            setattr(video, name, value)
        emit(session, topic, video_id, fields=sorted(fields))


def pending_events(sessions: sessionmaker[Session], *, after: int = 0) -> list[Event]:
    with sessions() as session:
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.id > after).order_by(OutboxEvent.id)
        )
        return [Event.from_row(row) for row in rows]


class Dispatch:
    """What the dispatcher does for one subscriber: new outbox rows, in id order."""

    def __init__(self, sessions: sessionmaker[Session], actor: SearchIndex) -> None:
        self.sessions = sessions
        self.actor = actor
        self.cursor = max((e.id for e in pending_events(sessions)), default=0)

    def __call__(self) -> list[Event]:
        return asyncio.run(self.run())

    async def run(self) -> list[Event]:
        """The same, from a test that already runs an event loop."""
        events = pending_events(self.sessions, after=self.cursor)
        if events:
            await self.actor.handle(events)
            self.cursor = events[-1].id
        return events


def days_ago(days: float) -> datetime:
    return utcnow() - timedelta(days=days)


@contextmanager
def clean_database(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """The module's database, emptied of videos, users and events after the test."""
    sessions = db.session_factory(engine)
    try:
        yield sessions
    finally:
        with engine.begin() as conn:
            conn.execute(delete(Caption))
            conn.execute(delete(Video))
            conn.execute(delete(User))
            conn.execute(delete(OutboxEvent))
