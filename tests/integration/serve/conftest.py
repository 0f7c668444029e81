"""Accounts on real backends (SQLite + the embedded KV, PostgreSQL + Redis), the object
stores uploads are tested on (a local folder, a bucket on moto's S3 server), and the
published videos that the HLS and watch-page tests play."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete

from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import User
from cluster.kv import KV, EmbeddedKV, RedisKV
from cluster.messaging import OutboxSender
from cluster.storage import LocalStore, S3Store
from serve.accounts.attempts import RateLimits
from serve.accounts.service import Accounts
from tests.support.accounts import MakeUsers
from tests.support.clock import FakeClock
from tests.support.stream import make_ladder, publish_videos


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kv(
    engine: Engine, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[KV]:
    # Paired with the database: SQLite runs with the embedded store, PostgreSQL with Redis.
    store: KV
    if engine.dialect.name == "sqlite":
        store = EmbeddedKV(tmp_path / "kv.sqlite3", clock=clock)
    else:
        store = RedisKV(request.getfixturevalue("redis_url"))
    yield store
    store.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Fresh secrets per test: every KV key is derived from them, so tests sharing one
    # Redis never see each other's counters.
    return load_settings(
        data_dir=tmp_path,
        signing_secret=secrets.token_urlsafe(32),
        jwt_secret=secrets.token_urlsafe(32),
    )


@pytest.fixture
def make_users(engine: Engine, kv: KV, settings: Settings, clock: FakeClock) -> Iterator[MakeUsers]:
    def make(limits: RateLimits | None = None) -> Accounts:
        return Accounts(
            settings=settings,
            sessions=db.session_factory(engine),
            kv=kv,
            store=LocalStore(settings.objects_dir),
            sender=OutboxSender(settings.outbox_dir),
            clock=clock,
            limits=limits,
        )

    yield make
    # The database lives for the module; each test starts with no accounts.
    with engine.begin() as conn:
        conn.execute(delete(User))


@pytest.fixture
def users(make_users: MakeUsers) -> Accounts:
    return make_users()


@pytest.fixture(scope="module")
def s3_bucket(s3_server: str) -> str:
    bucket = f"uploads-{secrets.token_hex(4)}"
    S3Store(
        bucket=bucket,
        endpoint_url=s3_server,
        access_key_id="testing",
        secret_access_key="testing",
        create_bucket=True,
    )
    return bucket


@pytest.fixture(params=["local", "s3"])
def store_overrides(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Settings for the store under test: the local folder, or a bucket on moto's server."""
    if request.param == "local":
        return {}
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return {
        "s3_bucket": request.getfixturevalue("s3_bucket"),
        "s3_endpoint_url": request.getfixturevalue("s3_server"),
        "s3_access_key_id": "testing",
        "s3_secret_access_key": "testing",
    }


@pytest.fixture(scope="module")
def ladder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-rung HLS ladder with audio, a poster and a storyboard (tests.support.stream)."""
    return make_ladder(tmp_path_factory.mktemp("ladder"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, ladder_dir: Path) -> Path:
    """The stream tests' data dir: videos in the database, their files in a local store."""
    return publish_videos(tmp_path_factory.mktemp("stream-data"), ladder_dir)
