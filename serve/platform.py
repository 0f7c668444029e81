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
from typing import TYPE_CHECKING, cast

from sqlalchemy import Engine

from actors.dispatcher_client import DispatcherWaker
from actors.jobs_client import JobsClient
from cluster import db
from cluster.config import Settings
from cluster.events import wake_on_commit
from cluster.kv import KV, open_kv
from cluster.messaging import MessageSender, open_sender
from cluster.security import Clock
from cluster.storage import ObjectStore, open_store
from cluster.url_signing import UrlSigner
from pipelines.event_files import EventFiles
from serve.accounts.follows import Follows
from serve.accounts.service import Accounts
from serve.analytics.collector import Collector, EventSink
from serve.analytics.queries import Analytics
from serve.analytics.usage import Usage
from serve.library.captions import Captions
from serve.library.comments import Comments
from serve.library.videos import Library
from serve.notifications.campaigns import Campaigns
from serve.notifications.inbox import Inbox
from serve.notifications.webhooks.registry import Webhooks
from serve.search.service import Search
from serve.search.trending import Trending
from serve.stream.service import Stream
from serve.uploads.service import Uploads

if TYPE_CHECKING:
    from actors.deliveries import Sender
    from actors.notifier import NotifierClient


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
        notifier: NotifierClient | None = None,
        sink: EventSink | None = None,
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
        wake_on_commit(self.sessions, DispatcherWaker(settings))
        self.store = store if store is not None else open_store(settings)
        self.kv = kv if kv is not None else open_kv(settings)
        self.sender = sender if sender is not None else open_sender(settings)
        self.url_signer = UrlSigner.from_settings(settings, clock=clock)
        self.jobs = jobs
        # The notifier actor's client, for campaigns; None where no Ray cluster runs.
        self.notifier = notifier
        # The analytics sink's client: None where no Ray cluster runs (then /collect and
        # liveViewers are unavailable, and stats read what the Parquet already holds).
        self.sink = sink

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
    def follows(self) -> Follows:
        return Follows(sessions=self.sessions)

    @cached_property
    def webhooks(self) -> Webhooks:
        return Webhooks(settings=self.settings, sessions=self.sessions, clock=self.clock)

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
    def inbox(self) -> Inbox:
        return Inbox(settings=self.settings, sessions=self.sessions, clock=self.clock)

    @cached_property
    def campaigns(self) -> Campaigns:
        return Campaigns(
            settings=self.settings,
            sessions=self.sessions,
            # open_sender's router, and the outbox tests pass, send multipart email too.
            sender=cast("Sender", self.sender),
            clock=self.clock,
            notifier=self.notifier,
        )

    @cached_property
    def collector(self) -> Collector:
        if self.sink is None:
            raise RuntimeError("the collector needs the analytics sink: start it first")
        return Collector(
            settings=self.settings,
            sessions=self.sessions,
            kv=self.kv,
            sink=self.sink,
            clock=self.clock,
        )

    @cached_property
    def analytics(self) -> Analytics:
        return Analytics(
            sessions=self.sessions,
            files=EventFiles.from_settings(self.settings),
            sink=self.sink,
            clock=self.clock,
        )

    @cached_property
    def usage(self) -> Usage:
        return Usage(sessions=self.sessions, store=self.store, analytics=self.analytics)

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
