"""Webhook registration: what a user registers, rotates, replays and reads back.

`Webhooks` is the service the gateway and the CLI call. Deliveries themselves are made
by the webhook actor (`actors/webhooks.py`, with `serve/notifications/webhooks/
delivery.py`); this side only writes the rows it will pick up.
"""

from __future__ import annotations

import json
import secrets as random_secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cluster.config import Settings
from cluster.db.models import OutboxEvent, Webhook, WebhookAttempt, WebhookDelivery
from cluster.errors import InvalidInput
from cluster.events import Event
from cluster.security import Clock
from serve.notifications.webhooks.errors import WebhookNotFound
from serve.notifications.webhooks.guard import Resolve, check_url, system_resolve
from serve.notifications.webhooks.signing import new_secret
from serve.notifications.webhooks.views import DeliveryView, WebhookView

# What a webhook may subscribe to: the events that name the user they concern.
TOPICS = (
    "video.ready",
    "video.failed",
    "video.created",
    "video.deleted",
    "upload.failed",
    "comment.added",
    "user.followed",
    "webhook.disabled",
)
MAX_WEBHOOKS = 20
MAX_PAGE = 100


def audience(event: Event) -> set[str]:
    """The users an event concerns: whose webhooks may receive it."""
    users = {event.data[key] for key in ("owner_id", "parent_author_id") if event.data.get(key)}
    if event.type.startswith("user."):
        users.add(event.aggregate_id)
    return {str(user) for user in users}


def body_of(event: Event) -> str:
    """The exact bytes a receiver gets (and the signature covers)."""
    return json.dumps(event.envelope(), separators=(",", ":"), sort_keys=True)


class Webhooks:
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        clock: Clock,
        resolve: Resolve = system_resolve,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.resolve = resolve

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def check(self, url: str) -> None:
        """Refuse a URL that may not be called (`InvalidInput`, field "url")."""
        check_url(
            url,
            allow_http=self.settings.mode != "prod",
            allow_loopback=self.settings.webhooks_allow_loopback,
            resolve=self.resolve,
        )

    def create(self, *, owner_id: str, url: str, events: Sequence[str]) -> WebhookView:
        """Register an endpoint; the answer carries its secret, shown this once."""
        self.check(url)
        unknown = sorted(set(events) - set(TOPICS))
        if unknown:
            raise InvalidInput("events", f"unknown {unknown}: choose from {', '.join(TOPICS)}")
        with self.sessions.begin() as session:
            mine = select(Webhook.id).where(Webhook.owner_id == owner_id)
            count = len(session.scalars(mine).all())
            if count >= MAX_WEBHOOKS:
                raise InvalidInput("url", f"you have {count} webhooks: delete one first")
            row = Webhook(
                owner_id=owner_id, url=url.strip(), events=sorted(set(events)), secret=new_secret()
            )
            session.add(row)
            session.flush()
            return WebhookView.of(row, secret=row.secret)

    def endpoints(self, *, owner_id: str) -> list[WebhookView]:
        with self.sessions() as session:
            rows = session.scalars(
                select(Webhook).where(Webhook.owner_id == owner_id).order_by(Webhook.created_at)
            )
            return [WebhookView.of(row) for row in rows]

    def delete(self, *, owner_id: str, webhook_id: str) -> None:
        with self.sessions.begin() as session:
            session.delete(self._owned(session, owner_id, webhook_id))

    def rotate(self, *, owner_id: str, webhook_id: str) -> WebhookView:
        """A new secret; the old one also signs for `webhooks_rotation_grace_s`, so a
        receiver can switch over without refusing a message."""
        with self.sessions.begin() as session:
            row = self._owned(session, owner_id, webhook_id)
            row.previous_secret, row.secret = row.secret, new_secret()
            row.previous_secret_until = self.now() + timedelta(
                seconds=self.settings.webhooks_rotation_grace_s
            )
            return WebhookView.of(row, secret=row.secret)

    def enable(self, *, owner_id: str, webhook_id: str) -> WebhookView:
        """Turn a disabled endpoint on again (after the owner fixed it)."""
        with self.sessions.begin() as session:
            row = self._owned(session, owner_id, webhook_id)
            self.check(row.url)
            row.enabled, row.disabled_reason, row.failing_since = True, None, None
            return WebhookView.of(row)

    def replay(self, *, owner_id: str, webhook_id: str, event_id: int) -> DeliveryView:
        """Send an event this endpoint was sent before again, as a new message."""
        with self.sessions.begin() as session:
            row = self._owned(session, owner_id, webhook_id)
            sent = session.scalar(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.webhook_id == row.id, WebhookDelivery.event_id == event_id
                )
            )
            outbox = session.get(OutboxEvent, event_id)
            if sent is None or outbox is None:
                raise WebhookNotFound(f"event {event_id} was never sent to this webhook")
            delivery = WebhookDelivery(
                id=f"msg_replay_{random_secrets.token_hex(8)}",
                webhook_id=row.id,
                event_id=event_id,
                event_type=outbox.topic,
                body=body_of(Event.from_row(outbox)),
                status="pending",
                attempts=0,
                next_attempt_at=self.now(),
            )
            session.add(delivery)
            session.flush()
            return DeliveryView.of(delivery)

    def deliveries(
        self,
        *,
        owner_id: str | None,
        webhook_id: str | None = None,
        status: str | None = None,
        first: int = 20,
    ) -> list[DeliveryView]:
        """The delivery log, newest first, each with its attempts. `owner_id` None: every
        owner's (the operator's `vidray webhooks deliveries`)."""
        if not 1 <= first <= MAX_PAGE:
            raise InvalidInput("first", f"must be between 1 and {MAX_PAGE}")
        query = select(WebhookDelivery).join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        if owner_id is not None:
            query = query.where(Webhook.owner_id == owner_id)
        if webhook_id is not None:
            query = query.where(WebhookDelivery.webhook_id == webhook_id)
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id).limit(first)
        with self.sessions() as session:
            rows = session.scalars(query).all()
            attempts = session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id.in_([row.id for row in rows]))
                .order_by(WebhookAttempt.id)
            ).all()
            log: dict[str, list[WebhookAttempt]] = {}
            for attempt in attempts:
                log.setdefault(attempt.delivery_id, []).append(attempt)
            return [DeliveryView.of(row, log.get(row.id, [])) for row in rows]

    @staticmethod
    def _owned(session: Session, owner_id: str, webhook_id: str) -> Webhook:
        row = session.get(Webhook, webhook_id)
        if row is None or row.owner_id != owner_id:
            raise WebhookNotFound(f"no webhook {webhook_id} of yours: list them with `webhooks`")
        return row
