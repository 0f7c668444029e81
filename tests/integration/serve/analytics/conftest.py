"""The collector on real databases and KV stores (SQLite + embedded, PostgreSQL + Redis),
in front of a sink writing Parquet to a folder, served by uvicorn on loopback."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, delete

from actors.analytics_sink import AnalyticsSink, LocalSink
from cluster import db
from cluster.config import Settings
from cluster.db.models import OutboxEvent, Role, User, Video
from cluster.kv import KV
from cluster.storage import LocalStore
from serve.analytics.app import CollectorApp
from serve.analytics.collector import Collector
from serve.library.videos import Library
from tests.support.analytics import Beacons
from tests.support.clock import FakeClock
from tests.support.library import OTHER, OWNER, add_video
from tests.support.servers import free_port, serving

ADMIN = "admin00000000000"


@pytest.fixture
def library(engine: Engine, settings: Settings) -> Iterator[Library]:
    with db.session_factory(engine).begin() as session:
        session.add_all(
            [
                User(id=OWNER, email="owner@example.com", handle="owner"),
                User(id=OTHER, email="other@example.com", handle="other"),
                User(id=ADMIN, email="admin@example.com", handle="admin", role=Role.ADMIN),
            ]
        )
    yield Library(
        settings=settings,
        sessions=db.session_factory(engine),
        store=LocalStore(settings.objects_dir),
    )
    with engine.begin() as conn:
        conn.execute(delete(OutboxEvent))
        conn.execute(delete(Video))
        conn.execute(delete(User))


@pytest.fixture
def analytics_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"analytics_trust_country_header": True, "analytics_ip_batches_per_minute": 30}
    )


@pytest.fixture
def beacons(
    analytics_settings: Settings, library: Library, kv: KV, clock: FakeClock
) -> Iterator[Beacons]:
    # A minute of its own: Redis outlives the test, and rate limits count per minute.
    clock.advance(60 * secrets.randbelow(10**6))
    sink = AnalyticsSink(analytics_settings, clock=clock, background=False)
    collector = Collector(
        settings=analytics_settings,
        sessions=library.sessions,
        kv=kv,
        sink=LocalSink(sink),
        clock=clock,
    )
    port = free_port()
    app = CollectorApp(collector, trusted_proxies=frozenset())
    with serving(app, port), httpx.Client(timeout=10) as client:
        yield Beacons(
            url=f"http://127.0.0.1:{port}/collect",
            sink=sink,
            library=library,
            video_id=add_video(library, duration=60.0),
            client=client,
        )
    sink.stop()
