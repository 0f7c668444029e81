"""`start_actors`, as `vidray up` runs it: the dispatcher and its subscribers come up
beside the job actor, and an event committed through a `Platform` reaches a webhook and
every other subscriber."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from actors.subscribers import REGISTRY
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import new_id
from serve.app import start_actors
from serve.platform import Platform
from tests.support.accounts import sign_in
from tests.support.waiting import eventually
from tests.support.webhooks import Receiver, webhook_receiver

pytestmark = pytest.mark.usefixtures("ray_cluster")
ACTORS = (
    "jobs",
    "scheduler",
    "dispatcher",
    "webhooks",
    "notifier",
    "search_index",
    "analytics_sink",
)


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    settings = load_settings(
        data_dir=tmp_path, ray_namespace=f"app-{new_id()}", webhooks_allow_loopback=True
    )
    db.migrate(db.make_engine(settings.resolved_database_url))
    yield settings
    for name in ACTORS:
        with contextlib.suppress(ValueError):
            ray.kill(ray.get_actor(name, namespace=settings.ray_namespace), no_restart=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as receiver:
        yield receiver


def test_start_actors_wires_the_dispatcher_to_the_webhooks(
    settings: Settings, receiver: Receiver
) -> None:
    actors = start_actors(settings)
    assert actors.dispatcher.head() == 0
    for name in ACTORS:
        ray.get_actor(name, namespace=settings.ray_namespace)  # each one is up
    platform = Platform(settings)
    try:
        token = sign_in(platform.accounts, settings, "creator@example.com")
        creator = platform.accounts.authenticate(token)
        fan = sign_in(platform.accounts, settings, "fan@example.com")
        hook = platform.webhooks.create(
            owner_id=creator.id, url=receiver.url("/ok"), events=["user.followed"]
        )
        assert hook.secret is not None
        receiver.secrets.append(hook.secret)
        platform.follows.follow(
            follower_id=platform.accounts.authenticate(fan).id, creator_id=creator.id
        )
        [got] = eventually(lambda: receiver.to("/ok"), timeout=60, what="user.followed")
        assert got.verified_by == [0]
        assert b'"type":"user.followed"' in got.body
        # Every subscriber catches up to the event: its cursor is saved once it handled it.
        head = actors.dispatcher.head()
        caught_up = dict.fromkeys(REGISTRY, head)
        eventually(
            lambda: actors.dispatcher.cursors() == caught_up,
            timeout=60,
            what=f"every subscriber's cursor at {head}",
        )
    finally:
        platform.close()
