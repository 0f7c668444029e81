"""One `Platform` per process: the connections every service of that process shares.

A gateway replica, the stream replicas, each upload edge, a CLI command and a test each
build one from the settings, and get every service from it:

    platform = Platform(settings, jobs=JobsClient.connect(settings))
    video = platform.library.video(video_id=..., viewer_id=...)

It holds one database engine, one object store, one KV client, one message sender, one
clock and the URL signer, and the typed clients of the actors. Services are plain
classes built on first use from these parts, so a process that only streams never
builds the account service. Their methods block (database, store, bcrypt): async
callers run them in a worker thread (`starlette.concurrency.run_in_threadpool`).
"""

from __future__ import annotations

import time
from functools import cached_property

from sqlalchemy import Engine

from actors.jobs_client import JobsClient
from cluster import db
from cluster.config import Settings
from cluster.kv import KV, open_kv
from cluster.messaging import MessageSender, open_sender
from cluster.security import Clock
from cluster.storage import ObjectStore, open_store
from cluster.url_signing import UrlSigner
from serve.accounts.service import Accounts
from serve.library.captions import Captions
from serve.library.comments import Comments
from serve.library.videos import Library
from serve.search.service import Search
from serve.search.trending import Trending
from serve.stream.service import Stream
from serve.uploads.service import Uploads


class Platform:
    """The shared parts of one process, and the services built on them."""

    def __init__(
        self,
        settings: Settings,
        *,
        jobs: JobsClient | None = None,
        clock: Clock = time.time,
        engine: Engine | None = None,
        store: ObjectStore | None = None,
        kv: KV | None = None,
        sender: MessageSender | None = None,
    ) -> None:
        """`jobs`: the job actor's client; None where no Ray cluster runs (unit tests,
        benchmarks of the request path), and then completed uploads wait in
        'processing'. `engine`, `store`, `kv`, `sender`: given by tests that share one
        (or watch its queries); by default, opened from the settings."""
        self.settings = settings
        self.clock = clock
        self.engine = (
            engine if engine is not None else db.make_engine(settings.resolved_database_url)
        )
        self.sessions = db.session_factory(self.engine)
        self.store = store if store is not None else open_store(settings)
        self.kv = kv if kv is not None else open_kv(settings)
        self.sender = sender if sender is not None else open_sender(settings)
        self.url_signer = UrlSigner.from_settings(settings, clock=clock)
        self.jobs = jobs

    @cached_property
    def accounts(self) -> Accounts:
        return Accounts(
            settings=self.settings,
            sessions=self.sessions,
            kv=self.kv,
            store=self.store,
            sender=self.sender,
            clock=self.clock,
        )

    @cached_property
    def library(self) -> Library:
        return Library(
            settings=self.settings, sessions=self.sessions, store=self.store, jobs=self.jobs
        )

    @cached_property
    def comments(self) -> Comments:
        return Comments(sessions=self.sessions)

    @cached_property
    def uploads(self) -> Uploads:
        return Uploads(
            settings=self.settings,
            sessions=self.sessions,
            store=self.store,
            kv=self.kv,
            jobs=self.jobs,
            clock=self.clock,
        )

    @cached_property
    def stream(self) -> Stream:
        return Stream(
            settings=self.settings,
            store=self.store,
            sessions=self.sessions,
            signer=self.url_signer,
            kv=self.kv,
            clock=self.clock,
        )

    @cached_property
    def captions(self) -> Captions:
        return Captions(sessions=self.sessions, store=self.store)

    @cached_property
    def trending(self) -> Trending:
        return Trending.for_settings(self.settings, kv=self.kv, clock=self.clock)

    @cached_property
    def search(self) -> Search:
        return Search.for_settings(
            self.settings, sessions=self.sessions, on_search=self.trending.record
        )

    def close(self) -> None:
        """Return the database connections (tests and shutdown)."""
        self.engine.dispose()
