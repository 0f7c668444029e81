"""Registering webhooks: refusals at registration, owners kept apart, the delivery log,
and replay."""

from __future__ import annotations

import secrets

import pytest

from cluster.config import load_settings
from cluster.db.models import OutboxEvent, Webhook
from cluster.errors import InvalidInput
from cluster.events import Event
from serve.notifications.webhooks.delivery import WebhookDeliveries
from serve.notifications.webhooks.errors import WebhookNotFound
from serve.notifications.webhooks.registry import Webhooks
from tests.support.webhooks import Receiver


def test_forbidden_urls_and_unknown_events_are_refused_at_registration(
    webhooks: Webhooks, owner: str
) -> None:
    with pytest.raises(InvalidInput, match="link-local"):
        webhooks.create(owner_id=owner, url="https://169.254.169.254/x", events=[])
    with pytest.raises(InvalidInput, match=r"unknown \['video.exploded'\]"):
        webhooks.create(owner_id=owner, url="http://127.0.0.1/x", events=["video.exploded"])
    strict = Webhooks(
        settings=load_settings(
            mode="prod",
            data_dir=webhooks.settings.data_dir,
            signing_secret=secrets.token_urlsafe(32),
            jwt_secret=secrets.token_urlsafe(32),
        ),
        sessions=webhooks.sessions,
        clock=webhooks.clock,
    )
    with pytest.raises(InvalidInput, match="must use https"):
        strict.create(owner_id=owner, url="http://93.184.215.14/x", events=[])
    with pytest.raises(InvalidInput, match="loopback"):
        strict.create(owner_id=owner, url="https://127.0.0.1/x", events=[])
    assert webhooks.endpoints(owner_id=owner) == []


def test_owners_see_and_change_only_their_own(
    webhooks: Webhooks, receiver: Receiver, owner: str
) -> None:
    hook = webhooks.create(owner_id=owner, url=receiver.url("/ok"), events=["video.ready"])
    [listed] = webhooks.endpoints(owner_id=owner)
    assert (listed.id, listed.events, listed.secret) == (hook.id, ("video.ready",), None)
    assert webhooks.endpoints(owner_id="stranger00000000") == []
    with pytest.raises(WebhookNotFound):
        webhooks.rotate(owner_id="stranger00000000", webhook_id=hook.id)
    with pytest.raises(WebhookNotFound):
        webhooks.delete(owner_id="stranger00000000", webhook_id=hook.id)
    webhooks.delete(owner_id=owner, webhook_id=hook.id)
    assert webhooks.endpoints(owner_id=owner) == []


async def test_replay_sends_a_delivered_event_again_as_a_new_message(
    webhooks: Webhooks, deliveries: WebhookDeliveries, receiver: Receiver, owner: str
) -> None:
    hook = webhooks.create(owner_id=owner, url=receiver.url("/ok"), events=[])
    assert hook.secret is not None
    receiver.secrets.append(hook.secret)
    with webhooks.sessions.begin() as session:
        row = OutboxEvent(topic="video.ready", aggregate_id="v1", payload={"owner_id": owner})
        session.add(row)
        session.flush()
        event_id = row.id
    with webhooks.sessions() as session:
        stored = session.get(OutboxEvent, event_id)
        assert stored is not None
        deliveries.enqueue([Event.from_row(stored)])
    await deliveries.deliver_due()
    with pytest.raises(WebhookNotFound, match="never sent"):
        webhooks.replay(owner_id=owner, webhook_id=hook.id, event_id=event_id + 1000)
    replay = webhooks.replay(owner_id=owner, webhook_id=hook.id, event_id=event_id)
    await deliveries.deliver_due()
    first, again = receiver.to("/ok")
    assert first.body == again.body and again.verified_by == [0]
    assert again.headers["webhook-id"] == replay.id != first.headers["webhook-id"]
    log = webhooks.deliveries(owner_id=owner, webhook_id=hook.id)
    assert {d.id for d in log} == {replay.id, first.headers["webhook-id"]}
    assert all(d.status == "delivered" and d.log[0].status_code == 204 for d in log)
    assert webhooks.deliveries(owner_id="stranger00000000") == []


def test_a_disabled_endpoint_is_enabled_again_by_its_owner(
    webhooks: Webhooks, receiver: Receiver, owner: str
) -> None:
    hook = webhooks.create(owner_id=owner, url=receiver.url("/ok"), events=[])
    with webhooks.sessions.begin() as session:
        row = session.get(Webhook, hook.id)
        assert row is not None
        row.enabled, row.disabled_reason = False, "the endpoint answered 410 Gone"
    [listed] = webhooks.endpoints(owner_id=owner)
    assert (listed.enabled, listed.disabled_reason) == (False, "the endpoint answered 410 Gone")
    with pytest.raises(WebhookNotFound):
        webhooks.enable(owner_id="stranger00000000", webhook_id=hook.id)
    enabled = webhooks.enable(owner_id=owner, webhook_id=hook.id)
    assert (enabled.enabled, enabled.disabled_reason) == (True, None)
