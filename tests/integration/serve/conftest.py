"""Accounts on real backends (SQLite + the embedded KV, PostgreSQL + Redis), and the
object stores uploads are tested on (a local folder, a bucket on moto's S3 server)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete

from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import Base, User
from cluster.kv import KV, EmbeddedKV, RedisKV
from cluster.messaging import OutboxSender
from cluster.storage import LocalStore, S3Store
from serve.accounts.service import Accounts, RateLimits


class FakeClock:
    """Wall-clock time that a test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def latest_code(outbox: Path, to: str) -> str:
    """The code in the newest message for `to` in the outbox folder."""
    for path in sorted(outbox.glob("*.json"), reverse=True):
        message = json.loads(path.read_text())
        if message["to"] == to.lower():
            found = re.search(r"\b(\d{6})\b", message["body"])
            assert found, message
            return found.group(1)
    raise AssertionError(f"no message to {to} in {outbox}")


def sign_in(users: Accounts, settings: Settings, email: str) -> str:
    """An access token for `email`, signed up with the code from the dev outbox."""
    users.request_otp(email=email)
    return users.verify_otp(email=email, code=latest_code(settings.outbox_dir, email)).access_token


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'vidray.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = db.make_engine(url)
    db.migrate(engine)
    yield engine
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()


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


MakeUsers = Callable[..., Accounts]


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
