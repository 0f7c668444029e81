"""The search index's writer, fed the outbox's real events as the dispatcher would
(`handle` called directly), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from whoosh import index

from actors.search_index import INDEX_NAME, SearchIndex, index_dir
from cluster.config import Settings
from cluster.db.models import Visibility
from cluster.events import Event
from serve.search.service import Search
from tests.support.search import (
    Dispatch,
    add_user,
    add_video,
    change,
    clean_database,
    pending_events,
    settings_for,
)


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    with clean_database(engine) as sessions:
        add_user(sessions, "owner00000000000", "owner")
        yield sessions


@pytest.fixture
def settings(engine: Engine, tmp_path: Path) -> Settings:
    return settings_for(engine, tmp_path)


def _ids(search: Search, text: str, viewer: str | None = None) -> list[str]:
    return [hit.video_id for hit in search.search(text, viewer_id=viewer).hits]


def test_created_updated_deleted_videos_follow_their_events(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    actor = SearchIndex(settings)
    dispatch = Dispatch(sessions, actor)
    search = Search.for_settings(settings, sessions=sessions)
    video = add_video(sessions, owner="owner00000000000", title="Sourdough bread at home")
    dispatch()
    assert _ids(search, "sourdough") == [video]

    change(sessions, video, "video.updated", title="Rye bread at home")
    dispatch()
    assert _ids(search, "sourdough") == []
    assert _ids(search, "rye") == [video]

    change(sessions, video, "video.deleted")
    dispatch()
    assert _ids(search, "rye") == []
    assert actor.writer.check().ok


def test_a_late_or_duplicated_event_never_resurrects_a_deleted_video(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    actor = SearchIndex(settings)
    search = Search.for_settings(settings, sessions=sessions)
    video = add_video(sessions, owner="owner00000000000", title="Kayak rolling drills")
    change(sessions, video, "video.updated", title="Kayak rolling drills, part two")
    created, updated = pending_events(sessions)
    change(sessions, video, "video.deleted")
    deleted = pending_events(sessions, after=updated.id)[0]

    asyncio.run(actor.handle([created, deleted]))
    # The update arrives late, then everything again (at least once).
    asyncio.run(actor.handle([updated]))
    asyncio.run(actor.handle([created, updated, deleted, deleted]))
    assert _ids(search, "kayak") == []
    assert actor.writer.document_version(video) is None


def test_an_older_event_is_skipped_by_version(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    actor = SearchIndex(settings)
    video = add_video(sessions, owner="owner00000000000", title="Violin scales")
    change(sessions, video, "video.updated", description="slow practice")
    created, updated = pending_events(sessions)
    assert actor.writer.apply([updated]) == 1
    assert actor.writer.apply([created]) == 0  # older: nothing to write
    assert actor.writer.apply([updated]) == 0  # the same: nothing to write
    assert actor.writer.document_version(video) == updated.id


def test_visibility_changes_reach_the_index(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    actor = SearchIndex(settings)
    dispatch = Dispatch(sessions, actor)
    search = Search.for_settings(settings, sessions=sessions)
    video = add_video(sessions, owner="owner00000000000", title="Garden planning")
    dispatch()
    change(sessions, video, "video.updated", visibility=Visibility.PRIVATE)
    dispatch()
    assert _ids(search, "garden") == []
    assert _ids(search, "garden", viewer="owner00000000000") == [video]


def test_many_handle_calls_share_commits_and_all_land(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    actor = SearchIndex(settings)
    search = Search.for_settings(settings, sessions=sessions)
    ids = [
        add_video(sessions, owner="owner00000000000", title=f"Origami crane {n}") for n in range(12)
    ]
    events = pending_events(sessions)

    async def feed() -> None:
        await asyncio.gather(*(actor.handle([event]) for event in events))

    asyncio.run(feed())
    assert sorted(_ids(search, "origami")) == sorted(ids)
    # Twelve calls inside one window: far fewer generations than calls.
    assert actor.writer.index.latest_generation() < 12


def test_a_missing_or_corrupt_index_is_rebuilt_at_start(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    video = add_video(sessions, owner="owner00000000000", title="Bonsai pruning")
    SearchIndex(settings).writer.close()  # no index yet: built from the database
    search = Search.for_settings(settings, sessions=sessions)
    assert _ids(search, "bonsai") == [video]

    folder = index_dir(settings)
    for toc in folder.glob(f"_{INDEX_NAME}_*.toc"):
        toc.write_bytes(b"not a table of contents")
    actor = SearchIndex(settings)
    assert actor.writer.check().ok
    assert _ids(Search.for_settings(settings, sessions=sessions), "bonsai") == [video]


def _write_forever(path: str, ready: multiprocessing.synchronize.Event) -> None:
    from whoosh import index as whoosh_index

    from actors.search_documents import VideoDocument

    ix = whoosh_index.open_dir(path, indexname=INDEX_NAME)
    writer = ix.writer()
    for n in range(2000):
        document = VideoDocument(
            id=f"ghost{n:011d}",
            title="ghost",
            description="",
            tags=(),
            category="",
            creator="owner00000000000",
            creator_handle="owner",
            visibility="public",
            status="ready",
            duration=1.0,
            published=datetime.now(UTC),
            views=0,
            likes=0,
            poster=None,
            languages=(),
            cues=(),
        )
        writer.add_document(**document.fields(version=1))
    ready.set()
    signal.pause()  # killed here, mid-commit: the segment is half written, no new TOC


def test_a_writer_killed_mid_commit_leaves_the_last_generation_and_frees_the_lock(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    actor = SearchIndex(settings)
    dispatch = Dispatch(sessions, actor)
    kept = add_video(sessions, owner="owner00000000000", title="Pottery wheel basics")
    dispatch()
    generation = actor.writer.index.latest_generation()

    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    writer = context.Process(target=_write_forever, args=(str(index_dir(settings)), ready))
    writer.start()
    try:
        assert ready.wait(timeout=120)
        os.kill(writer.pid or 0, signal.SIGKILL)
    finally:
        writer.join(timeout=30)

    assert index.open_dir(str(index_dir(settings)), indexname=INDEX_NAME).latest_generation() == (
        generation
    )
    search = Search.for_settings(settings, sessions=sessions)
    assert _ids(search, "ghost") == []
    # The lock is free: the actor commits again, and nothing was lost.
    later = add_video(sessions, owner="owner00000000000", title="Pottery glazing")
    dispatch()
    assert sorted(_ids(search, "pottery")) == sorted([kept, later])


def test_check_reports_drift(sessions: sessionmaker[Session], settings: Settings) -> None:
    actor = SearchIndex(settings)
    dispatch = Dispatch(sessions, actor)
    video = add_video(sessions, owner="owner00000000000", title="Chess openings")
    dispatch()
    # Changed without its event (as if the dispatcher were behind): stale.
    with sessions.begin() as session:
        from cluster.db.models import Video

        row = session.get(Video, video)
        assert row is not None
        row.title = "Chess endgames"
    unseen = add_video(sessions, owner="owner00000000000", title="Go openings")
    drift = actor.writer.check()
    assert drift.stale == [video]
    assert drift.missing == [unseen]
    assert actor.writer.rebuild() == 2
    assert actor.writer.check().ok


def test_events_of_other_topics_are_ignored(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    actor = SearchIndex(settings)
    stray = Event(
        id=10**9,
        type="user.followed",
        aggregate_id="owner00000000000",
        timestamp=datetime.now(UTC),
        data={"follower_id": "x"},
    )
    asyncio.run(actor.handle([stray]))
    assert actor.writer.apply([stray]) == 0
