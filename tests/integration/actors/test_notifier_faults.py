"""The notifier actor killed mid-delivery while the dispatcher runs (the platform's
wiring, on a real Ray cluster and aiosmtpd): every event's email arrives, none twice."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from sqlalchemy import select

from actors.dispatcher import DispatcherWaker, start
from actors.notifier import NotifierClient
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import Delivery, Notification, new_id
from cluster.events import emit, wake_on_commit
from tests.support.notifications import add_user, add_video
from tests.support.smtp import SmtpInbox, smtp_server
from tests.support.waiting import eventually

pytestmark = pytest.mark.usefixtures("ray_cluster")
OWNERS = 6


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    with smtp_server() as inbox:
        yield inbox


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpInbox) -> Iterator[Settings]:
    settings = load_settings(
        data_dir=tmp_path,
        ray_namespace=f"notify-fault-{new_id()}",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        notify_retry_base_s=0.2,
    )
    db.migrate(db.make_engine(settings.resolved_database_url))
    yield settings
    smtp.gate.set()
    for name in ("dispatcher", "notifier"):
        with contextlib.suppress(ValueError):
            ray.kill(ray.get_actor(name, namespace=settings.ray_namespace), no_restart=True)


def test_the_notifier_killed_mid_send_with_the_dispatcher_running_sends_each_once(
    settings: Settings, smtp: SmtpInbox
) -> None:
    engine = db.make_engine(settings.resolved_database_url)
    sessions = db.session_factory(engine)
    owners = [add_user(sessions, f"owner{n}") for n in range(OWNERS)]
    videos = [add_video(sessions, owner, f"clip {n}") for n, owner in enumerate(owners)]
    notifier = NotifierClient.start(settings)
    start(settings, {"notifier": "notifier"}).head()
    wake_on_commit(sessions, DispatcherWaker(settings))

    smtp.gate.clear()  # the first message waits in DATA, unanswered
    with sessions.begin() as session:
        for owner, video in zip(owners, videos, strict=True):
            emit(session, "video.ready", video, owner_id=owner)
    eventually(lambda: smtp.held >= 1, timeout=60, what="a message in flight")
    ray.kill(notifier.actor, no_restart=False)  # mid-send; Ray restarts it
    # Only once its connection is gone: a gate opened first would accept the message.
    eventually(lambda: smtp.abandoned >= 1, timeout=60, what="the killed sender hanging up")
    smtp.gate.set()

    def sent() -> list[str]:
        with sessions() as session:
            return list(session.scalars(select(Delivery.state)))

    eventually(
        lambda: sent() == ["sent"] * OWNERS, timeout=120, interval=0.2, what="every email sent"
    )
    assert [len(smtp.mails_to(f"owner{n}@example.com")) for n in range(OWNERS)] == [1] * OWNERS
    assert smtp.count() == OWNERS
    with sessions() as session:
        assert len(session.scalars(select(Notification.id)).all()) == OWNERS
    engine.dispose()
