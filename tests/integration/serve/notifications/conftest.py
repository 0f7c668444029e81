"""Webhooks on SQLite and PostgreSQL, delivering to a real receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import OutboxEvent, User, new_id
from serve.notifications.webhooks.delivery import WebhookDeliveries
from serve.notifications.webhooks.registry import Webhooks
from tests.support.clock import OffsetClock
from tests.support.webhooks import Receiver, webhook_receiver


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The receiver listens on loopback: allowed here, as a private deployment may. A 3 s
    # timeout: long enough for a loaded machine's loopback, short enough for /slow.
    return load_settings(data_dir=tmp_path, webhooks_allow_loopback=True, webhooks_timeout_s=3)


@pytest.fixture
def clock() -> OffsetClock:
    # Real time (the verifier checks timestamps against it), which a test can jump.
    return OffsetClock()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as receiver:
        receiver.slow_s = 60  # past any timeout: /slow hangs until released
        yield receiver


@pytest.fixture
def webhooks(engine: Engine, settings: Settings, clock: OffsetClock) -> Iterator[Webhooks]:
    yield Webhooks(settings=settings, sessions=db.session_factory(engine), clock=clock)
    with engine.begin() as conn:
        conn.execute(delete(User))
        conn.execute(delete(OutboxEvent))


@pytest.fixture
async def deliveries(
    engine: Engine, settings: Settings, clock: OffsetClock
) -> Iterator[WebhookDeliveries]:
    work = WebhookDeliveries(settings=settings, sessions=db.session_factory(engine), clock=clock)
    yield work
    await work.close()


@pytest.fixture
def owner(webhooks: Webhooks) -> str:
    with webhooks.sessions.begin() as session:
        user = User(email=f"{new_id()}@example.com", handle=f"u{new_id()}")
        session.add(user)
        session.flush()
        return user.id
