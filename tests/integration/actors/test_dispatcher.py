"""The dispatcher actor on a real Ray cluster: it feeds a subscriber actor, a commit
wakes it, and killed mid-delivery it loses nothing (its restart resumes from the
cursors)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from actors.dispatcher import DispatcherWaker, start
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import new_id
from cluster.events import emit, wake_on_commit
from tests.support.subscribers import SlowRecorder
from tests.support.waiting import eventually

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    # Polls a minute apart: only a wake-up on commit (or a restart) can deliver in time.
    settings = load_settings(
        data_dir=tmp_path,
        ray_namespace=f"dispatch-{new_id()}",
        events_poll_s=60,
        events_batch_size=10,
    )
    db.migrate(db.make_engine(settings.resolved_database_url))
    yield settings
    for name in ("dispatcher", "recorder"):
        with contextlib.suppress(ValueError):
            ray.kill(ray.get_actor(name, namespace=settings.ray_namespace), no_restart=True)


def _recorder(settings: Settings, delay_s: float) -> Any:
    return (
        ray.remote(SlowRecorder)
        .options(name="recorder", namespace=settings.ray_namespace, lifetime="detached")
        .remote(delay_s)
    )


def test_a_commit_reaches_the_subscriber_and_a_killed_dispatcher_loses_nothing(
    settings: Settings,
) -> None:
    recorder = _recorder(settings, delay_s=0.3)
    dispatcher = start(settings, {"recorder": "recorder"})
    assert dispatcher.head() == 0  # up, and sequenced nothing yet
    sessions = db.session_factory(db.make_engine(settings.resolved_database_url))
    wake_on_commit(sessions, DispatcherWaker(settings))
    with sessions.begin() as session:
        events = [emit(session, "video.ready", f"v{n}", owner_id="o") for n in range(60)]
    ids = [event.id for event in events]

    def received() -> list[int]:
        got: list[int] = ray.get(recorder.received.remote())
        return got

    # Six batches of ten, 0.3 s each: kill the dispatcher while they are in flight.
    eventually(lambda: 0 < len(received()) < len(ids), what="a first batch, not all")
    ray.kill(dispatcher.actor, no_restart=False)
    # Ray restarts it; it resumes from the cursor and hands over what was not acked.
    eventually(lambda: set(received()) == set(ids), timeout=60, what="every event")
    got = received()
    assert sorted(set(got)) == ids
    first_seen = list(dict.fromkeys(got))
    assert first_seen == ids, "in order, a batch in flight handed over again at most"
    eventually(lambda: dispatcher.cursors().get("recorder") == len(ids), timeout=30)
