"""The search index's one writer: a detached actor fed by the dispatcher.

Whoosh allows one writer per index (a second raises `LockError`), so every change goes
through this actor, subscribed to the dispatcher as `search_index`. It is state-based:
an event only names the video that changed, and the actor reads that video's current
row (and captions) from the database. So a late or duplicated `video.updated` can never
resurrect a deleted video (its row is gone: the document is deleted again), and
replaying any batch is harmless. Each document also keeps the outbox id of the newest
event applied (`version`); an older event for it is skipped without a read.

Commits are micro-batched: events that arrive within `VIDRAY_SEARCH_COMMIT_WINDOW_S`
(0.25 s) share one commit, and `handle` returns only once its events are committed, so
the dispatcher never moves past an event the index could lose. Hot commits never merge
segments; merging happens when the actor is idle. Whoosh writes a generation's table
of contents last and renames it into place, and its lock is an OS file lock, so a
writer killed mid-commit leaves the previous generation readable and the lock free.
A missing or unreadable index is rebuilt from the database when the actor starts.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker
from whoosh import index, writing
from whoosh.query import Term

from actors.search_documents import SCHEMA, all_video_ids, load_documents
from actors.singleton import start_singleton
from cluster import db
from cluster.config import Settings
from cluster.db.models import OutboxEvent
from cluster.events import Event

log = logging.getLogger(__name__)

ACTOR_NAME = "search_index"
INDEX_NAME = "videos"
# The events that can change what a video's document holds.
TOPICS = frozenset(
    {
        "video.created",
        "video.updated",
        "video.ready",
        "video.deleted",
        "video.liked",
        "video.unliked",
        "captions.added",
        "captions.removed",
    }
)
# Bumped whenever fields or analysis change: an index of another version is rebuilt
# at start (whoosh's schemas do not compare their analyzers).
SCHEMA_VERSION = "4"
# Idle merges once a few hot commits have left small segments behind.
MERGE_AFTER_SEGMENTS = 6


def index_dir(settings: Settings) -> Path:
    """Where the index lives: a folder in the data dir (a volume on the actor's node)."""
    return settings.data_dir / "search"


@dataclass(frozen=True)
class Drift:
    """How the index and the database disagree (`vidray search check`)."""

    indexed: int
    in_database: int
    missing: list[str] = field(default_factory=list)  # in the database, not indexed
    extra: list[str] = field(default_factory=list)  # indexed, gone from the database
    stale: list[str] = field(default_factory=list)  # indexed with other fields

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.stale)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused: a rebuild holds every posting in memory as
    tuples until its commit, and each full collection walks them all again, which
    made a rebuild slower per document the larger the library (a quarter of its
    time at 10,000 videos). The posting tuples hold no cycles; whatever cycles the
    rebuild leaves are collected when it ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class IndexWriter:
    """The writer's logic, without Ray: open (or rebuild), apply, merge, rebuild, check."""

    def __init__(self, *, path: Path, sessions: sessionmaker[Any]) -> None:
        self.path = path
        self.sessions = sessions
        self._lock = threading.Lock()  # one whoosh writer at a time, in this process
        self.index = self._open()

    def _open(self) -> index.Index:
        """The index at `path`, or a new one rebuilt from the database if it is missing
        or does not open (a corrupt table of contents, a segment gone)."""
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            existing = index.open_dir(str(self.path), indexname=INDEX_NAME)
            with existing.searcher() as searcher:
                searcher.doc_count()
            written = self._version_file.read_text() if self._version_file.exists() else None
            if written != SCHEMA_VERSION:
                raise index.IndexError("the index was written with another schema")
            return existing
        except index.EmptyIndexError:
            log.info("no search index at %s: building one from the database", self.path)
        except Exception as exc:  # any unreadable index is rebuilt, never served
            log.warning("search index at %s is unreadable (%s): rebuilding", self.path, exc)
            shutil.rmtree(self.path, ignore_errors=True)
            self.path.mkdir(parents=True, exist_ok=True)
        created = index.create_in(str(self.path), SCHEMA, indexname=INDEX_NAME)
        self.index = created
        self.rebuild()
        self._version_file.write_text(SCHEMA_VERSION)
        return created

    @property
    def _version_file(self) -> Path:
        return self.path / "schema-version"

    def _versions(self, ids: set[str]) -> dict[str, int]:
        with self.index.searcher() as searcher:
            versions: dict[str, int] = {}
            for video_id in ids:
                stored = searcher.document(id=video_id)
                if stored is not None:
                    versions[video_id] = int(stored["version"])
            return versions

    def apply(self, events: list[Event]) -> int:
        """Bring the documents of the videos these events name up to date, in one
        commit; returns how many documents were written or deleted."""
        newest: dict[str, int] = {}
        for event in events:
            if event.type in TOPICS:
                newest[event.aggregate_id] = max(event.id, newest.get(event.aggregate_id, 0))
        if not newest:
            return 0
        with self._lock:
            known = self._versions(set(newest))
            due = {v: version for v, version in newest.items() if version > known.get(v, -1)}
            if not due:
                return 0
            with self.sessions() as session:
                documents = load_documents(session, due)
            writer = self.index.writer(timeout=10.0)
            try:
                for video_id, version in due.items():
                    document = documents.get(video_id)
                    if document is None:
                        writer.delete_by_term("id", video_id)
                    else:
                        writer.update_document(**document.fields(version=version))
            except BaseException:
                writer.cancel()
                raise
            writer.commit(mergetype=writing.NO_MERGE)  # merging waits for an idle moment
            return len(due)

    def segments(self) -> int:
        return len(self.index._segments())

    def merge(self) -> bool:
        """Merge small segments (off the hot path); False when there was nothing to do."""
        with self._lock:
            if self.segments() < MERGE_AFTER_SEGMENTS:
                return False
            self.index.writer(timeout=10.0).commit(mergetype=writing.MERGE_SMALL)
            return True

    def rebuild(self, *, page: int = 1000) -> int:
        """Every video from the database, committed as one new generation that replaces
        the old (readers see the old index until then); returns the document count."""
        with self._lock, _no_cycle_collection():
            with self.sessions() as session:
                # Events after this one are replayed by the dispatcher with larger ids.
                version = int(session.scalar(select(func.max(OutboxEvent.id))) or 0)
            writer = self.index.writer(timeout=10.0, limitmb=256)
            count, after = 0, ""
            try:
                while True:
                    with self.sessions() as session:
                        ids = all_video_ids(session, after=after, limit=page)
                        documents = load_documents(session, ids)
                    if not ids:
                        break
                    for video_id in ids:
                        document = documents.get(video_id)
                        if document is not None:
                            writer.add_document(**document.fields(version=version))
                            count += 1
                    after = ids[-1]
            except BaseException:
                writer.cancel()
                raise
            writer.commit(mergetype=writing.CLEAR)
            return count

    def check(self, *, sample: int | None = None) -> Drift:
        """Compare every indexed document with its row (title, tags, visibility, status,
        caption languages)."""
        with self.index.searcher() as searcher:
            stored = {doc["id"]: doc for doc in searcher.all_stored_fields()}
        missing: list[str] = []
        stale: list[str] = []
        seen: set[str] = set()
        after = ""
        while True:
            with self.sessions() as session:
                ids = all_video_ids(session, after=after, limit=1000)
                documents = load_documents(session, ids)
            if not ids:
                break
            for video_id, document in documents.items():
                seen.add(video_id)
                indexed = stored.get(video_id)
                if indexed is None:
                    missing.append(video_id)
                    continue
                fields = document.fields(version=0)
                if any(indexed.get(name) != fields[name] for name in _CHECKED):
                    stale.append(video_id)
            after = ids[-1]
        extra = sorted(set(stored) - seen)
        return Drift(
            indexed=len(stored),
            in_database=len(seen),
            missing=sorted(missing),
            extra=extra,
            stale=sorted(stale),
        )

    def document_version(self, video_id: str) -> int | None:
        with self.index.searcher() as searcher:
            found = searcher.search(Term("id", video_id), limit=1)
            return int(found[0]["version"]) if found else None

    def close(self) -> None:
        self.index.close()


_CHECKED = ("title", "description", "tag", "visibility", "status", "language", "creator")


class SearchIndex:
    """The actor: gathers `handle` calls for a commit window, then commits them once."""

    def __init__(self, settings: Settings, *, path: Path | None = None) -> None:
        self.settings = settings
        self.engine = db.make_engine(settings.resolved_database_url)
        self.writer = IndexWriter(
            path=path or index_dir(settings), sessions=db.session_factory(self.engine)
        )
        self._pending: list[Event] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def handle(self, events: list[Event]) -> None:
        """The dispatcher's call: returns once these events are searchable; raises (and
        the dispatcher retries the batch) when the commit failed."""
        relevant = [event for event in events if event.type in TOPICS]
        if not relevant:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.extend(relevant)
        self._waiters.append(done)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._pending:
            await self._commit_pending()
            # Idle: a good moment to merge what the hot commits left.
            await asyncio.to_thread(self.writer.merge)

    async def _commit_pending(self) -> None:
        while self._pending:
            await asyncio.sleep(self.settings.search_commit_window_s)
            events, waiters = self._pending, self._waiters
            self._pending, self._waiters = [], []
            try:
                await asyncio.to_thread(self.writer.apply, events)
            except Exception as exc:
                log.warning("search index commit failed, the dispatcher retries: %s", exc)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def rebuild(self) -> int:
        return await asyncio.to_thread(self.writer.rebuild)

    async def check(self) -> Drift:
        return await asyncio.to_thread(self.writer.check)

    async def ping(self) -> bool:
        return True


class SearchIndexClient:
    """Typed calls to the index actor (the CLI's rebuild and check)."""

    def __init__(self, actor: Any) -> None:  # Any: a Ray actor handle
        self.actor = actor

    @classmethod
    def connect(cls, settings: Settings) -> SearchIndexClient | None:
        import ray

        try:
            return cls(ray.get_actor(ACTOR_NAME, namespace=settings.ray_namespace))
        except ValueError:
            return None

    def handle(self, events: list[Event]) -> None:
        import ray

        ray.get(self.actor.handle.remote(events))

    def rebuild(self) -> int:
        import ray

        return int(ray.get(self.actor.rebuild.remote()))

    def check(self) -> Drift:
        import ray

        drift: Drift = ray.get(self.actor.check.remote())
        return drift


def start(settings: Settings) -> SearchIndexClient:
    """The index actor (created if it was not running); subscribe it to the dispatcher
    as `search_index`. Not waited for: a missing index is rebuilt in the actor's
    constructor, and calls queue behind it meanwhile, so `vidray up` never waits on a
    rebuild."""
    actor = start_singleton(
        SearchIndex, settings, settings=settings, name=ACTOR_NAME, max_concurrency=16
    )
    return SearchIndexClient(actor)
