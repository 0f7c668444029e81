"""Webhook deliveries end to end, minus the actor: an event becomes a signed POST that
the `standardwebhooks` verifier accepts, and every way an endpoint can misbehave (slow,
500, 410, 429, a redirect, failing for days) is answered as the spec and our promises
say. The clock is real time plus an offset the tests jump."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import WebhookVerificationError

from cluster.db.models import OutboxEvent, Webhook, WebhookDelivery
from cluster.events import Event
from serve.notifications.webhooks import schedule
from serve.notifications.webhooks.delivery import PER_ENDPOINT, WebhookDeliveries
from serve.notifications.webhooks.registry import Webhooks
from tests.support.clock import OffsetClock
from tests.support.webhooks import Receiver

EVENT_ID = iter(range(10_000_000, 20_000_000))


def event(owner: str, type_: str = "video.ready", **data: object) -> Event:
    return Event(
        id=next(EVENT_ID),
        type=type_,
        aggregate_id="video0000000000x",
        timestamp=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        data={"owner_id": owner, **data},
    )


def register(webhooks: Webhooks, receiver: Receiver, owner: str, path: str) -> str:
    hook = webhooks.create(owner_id=owner, url=receiver.url(path), events=[])
    assert hook.secret is not None and hook.secret.startswith("whsec_")
    receiver.secrets.append(hook.secret)
    return hook.id


def delivery(webhooks: Webhooks, hook_id: str) -> WebhookDelivery:
    with webhooks.sessions() as session:
        return session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook_id)
        ).one()


def hook_row(webhooks: Webhooks, hook_id: str) -> Webhook:
    with webhooks.sessions() as session:
        row = session.get(Webhook, hook_id)
        assert row is not None
        return row


async def test_a_delivery_is_signed_so_the_standard_verifier_accepts_it(
    webhooks: Webhooks, deliveries: WebhookDeliveries, receiver: Receiver, owner: str
) -> None:
    hook = register(webhooks, receiver, owner, "/ok")
    ready = event(owner, title="<b>Cats</b>")
    assert deliveries.enqueue([ready]) == 1
    assert deliveries.enqueue([ready]) == 0, "the same event twice is one message"
    [outcome] = await deliveries.deliver_due()
    assert outcome.delivered
    [got] = receiver.to("/ok")
    assert got.verified_by == [0], got.refusal
    assert got.headers["webhook-id"] == f"msg_{ready.id}_{hook}"
    assert json.loads(got.body) == {
        "type": "video.ready",
        "timestamp": "2026-11-30T08:00:00Z",
        "data": {"id": "video0000000000x", "owner_id": owner, "title": "<b>Cats</b>"},
    }
    assert delivery(webhooks, hook).status == "delivered"


async def test_the_verifier_refuses_tampered_stale_and_unsigned_messages(
    webhooks: Webhooks, deliveries: WebhookDeliveries, receiver: Receiver, owner: str
) -> None:
    register(webhooks, receiver, owner, "/ok")
    deliveries.enqueue([event(owner)])
    await deliveries.deliver_due()
    [got] = receiver.to("/ok")
    tampered = got.body.replace(b"video.ready", b"video.faile")
    assert receiver.verify(tampered, got.headers) == ([], "No matching signature found")
    moved = {**got.headers, "webhook-timestamp": str(int(got.headers["webhook-timestamp"]) - 60)}
    assert receiver.verify(got.body, moved) == ([], "No matching signature found")
    # Signed ten minutes ago, honestly: the verifier's tolerance is five.
    deliveries.clock = lambda: time.time() - 600
    deliveries.enqueue([event(owner)])
    await deliveries.deliver_due()
    assert receiver.to("/ok")[-1].refusal == "Message timestamp too old"
    unsigned = {k: v for k, v in got.headers.items() if k != "webhook-signature"}
    assert receiver.verify(got.body, unsigned) == ([], "Missing required headers")


async def test_during_a_rotation_both_secrets_sign(
    webhooks: Webhooks,
    deliveries: WebhookDeliveries,
    receiver: Receiver,
    owner: str,
    clock: OffsetClock,
) -> None:
    hook = register(webhooks, receiver, owner, "/ok")
    rotated = webhooks.rotate(owner_id=owner, webhook_id=hook)
    assert rotated.secret is not None
    receiver.secrets.append(rotated.secret)
    deliveries.enqueue([event(owner)])
    await deliveries.deliver_due()
    assert receiver.to("/ok")[-1].verified_by == [0, 1], "old and new secret both verify"
    assert len(receiver.to("/ok")[-1].headers["webhook-signature"].split(" ")) == 2
    clock.offset += webhooks.settings.webhooks_rotation_grace_s + 1  # the grace is over
    deliveries.enqueue([event(owner)])
    await deliveries.deliver_due()
    assert receiver.to("/ok")[-1].headers["webhook-signature"].count("v1,") == 1


async def test_a_500_is_retried_on_the_schedule_and_logged(
    webhooks: Webhooks,
    deliveries: WebhookDeliveries,
    receiver: Receiver,
    owner: str,
    clock: OffsetClock,
) -> None:
    hook = register(webhooks, receiver, owner, "/fail")
    deliveries.enqueue([event(owner)])
    [first] = await deliveries.deliver_due()
    assert first.status_code == 500 and first.error == "answered 500"
    assert await deliveries.deliver_due() == [], "not due before its delay"
    row = delivery(webhooks, hook)
    wait = (row.next_attempt_at.replace(tzinfo=UTC) - deliveries.now()).total_seconds()
    assert 3 <= wait <= 6, "the first retry comes about 5 s later"
    for _ in range(schedule.ATTEMPTS - 1):
        clock.offset += 11 * 3600  # past any delay of the schedule
        assert len(await deliveries.deliver_due()) == 1
    row = delivery(webhooks, hook)
    assert (row.status, row.attempts) == ("failed", schedule.ATTEMPTS)
    clock.offset += 11 * 3600
    assert await deliveries.deliver_due() == [], "given up after the last attempt"
    [logged] = webhooks.deliveries(owner_id=owner, webhook_id=hook)
    assert [a.status_code for a in logged.log] == [500] * schedule.ATTEMPTS
    assert len(receiver.to("/fail")) == schedule.ATTEMPTS


async def test_a_slow_endpoint_times_out_without_holding_back_another(
    webhooks: Webhooks, deliveries: WebhookDeliveries, receiver: Receiver, owner: str
) -> None:
    slow = register(webhooks, receiver, owner, "/slow")
    fast = register(webhooks, receiver, owner, "/ok")
    deliveries.enqueue([event(owner)])
    tasks = await deliveries.start_due()
    assert len(tasks) == 2
    finished, hanging = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    assert [task.result().delivered for task in finished] == [True]
    assert len(hanging) == 1, "the quick endpoint answered while the slow one still hung"
    [timed_out] = [await task for task in hanging]
    assert timed_out.error == "no answer within 3 s"
    assert delivery(webhooks, fast).status == "delivered"
    assert delivery(webhooks, slow).status == "pending"


async def test_410_disables_the_endpoint_and_tells_its_owner(
    webhooks: Webhooks, deliveries: WebhookDeliveries, receiver: Receiver, owner: str
) -> None:
    hook = register(webhooks, receiver, owner, "/gone")
    deliveries.enqueue([event(owner)])
    await deliveries.deliver_due()
    row = hook_row(webhooks, hook)
    assert not row.enabled and row.disabled_reason == "the endpoint answered 410 Gone"
    assert delivery(webhooks, hook).status == "failed"
    assert deliveries.enqueue([event(owner)]) == 0, "a disabled endpoint gets nothing new"
    with webhooks.sessions() as session:
        told = session.scalars(
            select(OutboxEvent.payload).where(
                OutboxEvent.aggregate_id == hook, OutboxEvent.topic == "webhook.disabled"
            )
        ).all()
    assert [(p["owner_id"], p["reason"]) for p in told] == [(owner, "gone")]


async def test_429_waits_its_retry_after(
    webhooks: Webhooks, deliveries: WebhookDeliveries, receiver: Receiver, owner: str
) -> None:
    hook = register(webhooks, receiver, owner, "/busy")
    deliveries.enqueue([event(owner)])
    [outcome] = await deliveries.deliver_due()
    assert (outcome.status_code, outcome.retry_after) == (429, 120)
    row = delivery(webhooks, hook)
    wait = (row.next_attempt_at.replace(tzinfo=UTC) - deliveries.now()).total_seconds()
    assert 100 <= wait <= 121


async def test_a_redirect_is_not_followed(
    webhooks: Webhooks, deliveries: WebhookDeliveries, receiver: Receiver, owner: str
) -> None:
    hook = register(webhooks, receiver, owner, "/redirect")
    deliveries.enqueue([event(owner)])
    [outcome] = await deliveries.deliver_due()
    assert outcome.error == "redirects are not followed (302 to '/ok')"
    assert receiver.to("/ok") == []
    assert delivery(webhooks, hook).status == "pending"


async def test_an_endpoint_failing_for_five_days_is_disabled(
    webhooks: Webhooks,
    deliveries: WebhookDeliveries,
    receiver: Receiver,
    owner: str,
    clock: OffsetClock,
) -> None:
    hook = register(webhooks, receiver, owner, "/fail")
    for _ in range(7):  # one new event a day, each failing
        deliveries.enqueue([event(owner)])
        await deliveries.deliver_due()
        clock.offset += 24 * 3600
        if not hook_row(webhooks, hook).enabled:
            break
    row = hook_row(webhooks, hook)
    assert not row.enabled
    assert row.disabled_reason == "every delivery failed for 5 days"


async def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    webhooks: Webhooks, deliveries: WebhookDeliveries, receiver: Receiver, owner: str
) -> None:
    hook = webhooks.create(owner_id=owner, url=receiver.url("/ok", host="localhost"), events=[])
    assert hook.secret is not None
    receiver.secrets.append(hook.secret)
    deliveries.enqueue([event(owner)])
    await deliveries.deliver_due()
    [got] = receiver.to("/ok")
    assert got.headers["host"] == f"localhost:{receiver.port}"
    assert got.verified_by == [0]


async def test_only_subscribed_types_of_the_owners_own_events_are_sent(
    webhooks: Webhooks, deliveries: WebhookDeliveries, receiver: Receiver, owner: str
) -> None:
    hook = webhooks.create(owner_id=owner, url=receiver.url("/ok"), events=["upload.failed"])
    assert deliveries.enqueue([event(owner)]) == 0, "not subscribed to video.ready"
    assert deliveries.enqueue([event("someone0000else0", "upload.failed")]) == 0
    assert deliveries.enqueue([event(owner, "upload.failed", reason="over_quota")]) == 1
    assert delivery(webhooks, hook.id).event_type == "upload.failed"


async def test_the_readme_verification_snippet_accepts_ours_and_refuses_a_forgery(
    webhooks: Webhooks, deliveries: WebhookDeliveries, receiver: Receiver, owner: str
) -> None:
    readme = (Path(__file__).resolve().parents[4] / "README.md").read_text()
    section = readme[readme.index("\n## Events and webhooks\n") :]
    [snippet] = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # noqa: S102 - the README's own code, run as a reader would
    register(webhooks, receiver, owner, "/ok")
    deliveries.enqueue([event(owner)])
    await deliveries.deliver_due()
    [got] = receiver.to("/ok")
    secret = receiver.secrets[0]
    assert namespace["receive"](got.body, got.headers, secret)["type"] == "video.ready"
    forged = got.body.replace(b"video.ready", b"video.faile")
    with pytest.raises(WebhookVerificationError):
        namespace["receive"](forged, got.headers, secret)


async def test_an_endpoint_never_has_more_than_a_few_messages_in_flight(
    webhooks: Webhooks, deliveries: WebhookDeliveries, receiver: Receiver, owner: str
) -> None:
    register(webhooks, receiver, owner, "/slow")
    deliveries.enqueue([event(owner) for _ in range(PER_ENDPOINT + 2)])
    first = await deliveries.start_due()
    assert len(first) == PER_ENDPOINT
    assert await deliveries.start_due() == [], "the rest wait for one of them to finish"
    receiver.release.set()  # the endpoint answers at once from now on
    assert all(outcome.delivered for outcome in await asyncio.gather(*first))
    rest = await deliveries.deliver_due()
    assert [outcome.delivered for outcome in rest] == [True, True]
