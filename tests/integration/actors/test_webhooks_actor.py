"""The webhook actor on a real Ray cluster, fed by the dispatcher: a committed event
reaches a registered endpoint, signed so that the `standardwebhooks` verifier accepts
it; an endpoint that hangs does not hold back another."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from actors import webhooks as webhook_actor
from actors.dispatcher import start as start_dispatcher
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import User, new_id
from cluster.events import emit
from serve.notifications.webhooks.delivery import build_deliveries
from serve.notifications.webhooks.registry import Webhooks
from tests.support.waiting import eventually
from tests.support.webhooks import Receiver, webhook_receiver

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    settings = load_settings(
        data_dir=tmp_path,
        ray_namespace=f"webhooks-{new_id()}",
        webhooks_allow_loopback=True,
        webhooks_timeout_s=20,
        events_poll_s=0.2,
    )
    db.migrate(db.make_engine(settings.resolved_database_url))
    yield settings
    for name in ("dispatcher", "webhooks"):
        with contextlib.suppress(ValueError):
            ray.kill(ray.get_actor(name, namespace=settings.ray_namespace), no_restart=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as receiver:
        receiver.slow_s = 60  # hangs until the test ends
        yield receiver


def test_an_event_reaches_the_endpoint_signed_past_a_hanging_one(
    settings: Settings, receiver: Receiver
) -> None:
    sessions = db.session_factory(db.make_engine(settings.resolved_database_url))
    with sessions.begin() as session:
        owner = User(email="creator@example.com", handle="creator")
        session.add(owner)
        session.flush()
        owner_id = owner.id
    registry = Webhooks(settings=settings, sessions=sessions, clock=time.time)
    for path in ("/slow", "/ok"):
        hook = registry.create(owner_id=owner_id, url=receiver.url(path), events=["video.ready"])
        assert hook.secret is not None
        receiver.secrets.append(hook.secret)
    webhook_actor.start(settings, build_deliveries)
    start_dispatcher(settings, {"webhooks": "webhooks"})
    with sessions.begin() as session:
        emit(session, "video.ready", "video0000000001", owner_id=owner_id, title="Cats")
    got = eventually(lambda: receiver.to("/ok"), timeout=60, what="the delivery to /ok")
    # Called too, and still hanging (for 60 s, past the 20 s timeout): /ok did not wait.
    eventually(lambda: receiver.to("/slow"), what="the call to the hanging endpoint")
    assert not receiver.release.is_set()
    assert got[0].verified_by == [1], got[0].refusal
    assert json.loads(got[0].body)["type"] == "video.ready"
