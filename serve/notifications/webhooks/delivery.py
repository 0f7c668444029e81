"""Webhook deliveries: events in, signed HTTP POSTs out, retried on a schedule.

The webhook actor (`actors/webhooks.py`) runs this: `enqueue` writes one delivery row
per (event, matching endpoint), idempotent on that pair, so an event handed over twice
by the dispatcher makes one message; `start_due` claims the deliveries that are due and
sends each in a task of its own. A claim leases its rows past the timeout, so the next
pass never sends them twice; at most `PER_ENDPOINT` messages of one endpoint are in
flight at a time, so an endpoint that answers slowly (up to `webhooks_timeout_s` each)
holds its own messages back, never the others'.

Each attempt resolves and checks the host again (`guard.check_url`) and connects to the
checked address only. Redirects are not followed (the Location could be anywhere: an
attempt that gets one failed). 2xx delivers; 410 disables the endpoint; 429 waits its
Retry-After; anything else retries on `schedule.next_delay`. An endpoint that has been
failing for `webhooks_disable_after_s` is disabled, and `webhook.disabled` tells its
owner (the notifier's business).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cluster import db
from cluster.config import Settings
from cluster.db.models import Webhook, WebhookAttempt, WebhookDelivery
from cluster.errors import InvalidInput
from cluster.events import Event, emit, wake_on_commit
from cluster.security import Clock
from serve.notifications.webhooks import schedule, signing
from serve.notifications.webhooks.guard import Resolve, check_url, system_resolve
from serve.notifications.webhooks.registry import audience, body_of
from serve.notifications.webhooks.views import aware

log = logging.getLogger(__name__)

PER_ENDPOINT = 4
BATCH = 200
USER_AGENT = "vidray-webhooks/1"


@dataclass(frozen=True)
class Claimed:
    """One message to send now, with what signing it needs."""

    id: str
    webhook_id: str
    url: str
    body: str
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    retry_after: float | None = None
    duration_ms: int = 0

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookDeliveries:
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        clock: Clock = time.time,
        resolve: Resolve = system_resolve,
        concurrency: int = 64,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.resolve = resolve
        self._slots = asyncio.Semaphore(concurrency)
        self._busy: Counter[str] = Counter()  # webhook id -> messages in flight
        self._client: httpx.AsyncClient | None = None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- events in ----------------------------------------------------------------------

    def enqueue(self, events: list[Event]) -> int:
        """A pending delivery per (event, enabled endpoint of a user it concerns, that
        subscribed to its type); none twice. Returns how many were added."""
        wanted = {event.id: audience(event) for event in events}
        owners = set().union(*wanted.values()) if wanted else set()
        if not owners:
            return 0
        now = self.now()
        with self.sessions.begin() as session:
            hooks = session.scalars(
                select(Webhook).where(Webhook.owner_id.in_(owners), Webhook.enabled.is_(True))
            ).all()
            rows = {
                f"msg_{event.id}_{hook.id}": (event, hook)
                for event in events
                for hook in hooks
                if hook.owner_id in wanted[event.id] and _subscribed(hook, event)
            }
            if not rows:
                return 0
            seen = set(
                session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.id.in_(rows)))
            )
            new = [
                WebhookDelivery(
                    id=msg_id,
                    webhook_id=hook.id,
                    event_id=event.id,
                    event_type=event.type,
                    body=body_of(event),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                )
                for msg_id, (event, hook) in rows.items()
                if msg_id not in seen
            ]
            session.add_all(new)
        return len(new)

    # -- messages out -------------------------------------------------------------------

    def claim(self, busy: Mapping[str, int] | None = None) -> list[Claimed]:
        """Lease the due deliveries of enabled endpoints: per endpoint, at most
        `PER_ENDPOINT` in flight, counting the `busy` ones (webhook id -> in flight)."""
        busy = busy or {}
        now = self.now()
        lease = now + timedelta(seconds=self.settings.webhooks_timeout_s + 30)
        with self.sessions.begin() as session:
            rows = session.execute(
                select(WebhookDelivery, Webhook)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                    Webhook.enabled.is_(True),
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(BATCH)
            ).all()
            per_hook: Counter[str] = Counter(busy)
            claimed = []
            for delivery, hook in rows:
                per_hook[hook.id] += 1
                if per_hook[hook.id] > PER_ENDPOINT:
                    continue
                delivery.next_attempt_at = lease
                secrets = [hook.secret]
                until = aware(hook.previous_secret_until)
                if hook.previous_secret and until is not None and until > now:
                    secrets.append(hook.previous_secret)
                claimed.append(
                    Claimed(
                        id=delivery.id,
                        webhook_id=hook.id,
                        url=hook.url,
                        body=delivery.body,
                        secrets=tuple(secrets),
                    )
                )
        return claimed

    async def start_due(self) -> list[asyncio.Task[Outcome]]:
        """Claim what is due and send each message in its own task (not awaited)."""
        claimed = await asyncio.to_thread(self.claim, dict(self._busy))
        self._busy.update(message.webhook_id for message in claimed)
        return [asyncio.create_task(self._attempt(message)) for message in claimed]

    async def deliver_due(self) -> list[Outcome]:
        """Claim what is due, send it, and wait for every answer (tests, the CLI)."""
        return list(await asyncio.gather(*await self.start_due()))

    async def _attempt(self, message: Claimed) -> Outcome:
        try:
            async with self._slots:
                started = time.monotonic()
                now = self.clock()
                outcome = await self._send(message, now)
                outcome = Outcome(
                    outcome.status_code,
                    outcome.error,
                    outcome.retry_after,
                    int((time.monotonic() - started) * 1000),
                )
            await asyncio.to_thread(self.record, message, outcome)
            return outcome
        finally:
            self._busy[message.webhook_id] -= 1

    async def _send(self, message: Claimed, now: float) -> Outcome:
        try:
            target = await asyncio.to_thread(
                check_url,
                message.url,
                allow_http=self.settings.mode != "prod",
                allow_loopback=self.settings.webhooks_allow_loopback,
                resolve=self.resolve,
            )
        except InvalidInput as exc:
            return Outcome(None, f"refused before connecting: {exc}")
        headers = {
            **signing.headers(
                secrets=list(message.secrets), msg_id=message.id, timestamp=now, body=message.body
            ),
            "content-type": "application/json",
            "host": target.host_header,
            "user-agent": USER_AGENT,
        }
        try:
            response = await self._http().post(
                target.connect_url,
                content=message.body.encode(),
                headers=headers,
                extensions={"sni_hostname": target.host},
            )
        except httpx.TimeoutException:
            timeout = self.settings.webhooks_timeout_s
            return Outcome(None, f"no answer within {timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome(None, f"could not connect: {exc.__class__.__name__}: {exc}")
        error = None
        if response.is_redirect:
            location = response.headers.get("location", "")
            error = f"redirects are not followed ({response.status_code} to {location!r})"
        elif not response.is_success:
            error = f"answered {response.status_code}"
        retry_after = None
        if response.status_code == 429:
            retry_after = schedule.parse_retry_after(response.headers.get("retry-after"), now=now)
        return Outcome(response.status_code, error, retry_after)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.settings.webhooks_timeout_s,
                follow_redirects=False,
                trust_env=False,  # a proxy would resolve the host again, past the guard
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def record(self, message: Claimed, outcome: Outcome) -> None:
        """Log the attempt; deliver, schedule the next one, or give up; disable an
        endpoint that answered 410 or has failed for too long."""
        now = self.now()
        with self.sessions.begin() as session:
            delivery = session.get(WebhookDelivery, message.id)
            hook = session.get(Webhook, message.webhook_id)
            if delivery is None or hook is None:  # deleted meanwhile
                return
            session.add(
                WebhookAttempt(
                    delivery_id=delivery.id,
                    at=now,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                )
            )
            delivery.attempts += 1
            delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
            if outcome.delivered:
                delivery.status, delivery.delivered_at = "delivered", now
                delivery.next_attempt_at = None
                hook.failing_since = None
                return
            if outcome.status_code == 410:
                delivery.status, delivery.next_attempt_at = "failed", None
                self._disable(session, hook, "gone", "the endpoint answered 410 Gone")
                return
            delay = schedule.next_delay(delivery.attempts, retry_after=outcome.retry_after)
            if delay is None:
                delivery.status, delivery.next_attempt_at = "failed", None
            else:
                delivery.next_attempt_at = now + timedelta(seconds=delay)
            failing_since = aware(hook.failing_since) or now
            hook.failing_since = failing_since
            failing_for = (now - failing_since).total_seconds()
            if failing_for >= self.settings.webhooks_disable_after_s:
                detail = f"every delivery failed for {failing_for / 86400:.0f} days"
                self._disable(session, hook, "failing", detail)

    def _disable(self, session: Session, hook: Webhook, reason: str, detail: str) -> None:
        hook.enabled, hook.disabled_reason = False, detail
        emit(
            session,
            "webhook.disabled",
            hook.id,
            owner_id=hook.owner_id,
            url=hook.url,
            reason=reason,
            detail=detail,
        )


def _subscribed(hook: Webhook, event: Event) -> bool:
    return not hook.events or event.type in hook.events


def build_deliveries(settings: Settings) -> WebhookDeliveries:
    """The webhook actor's deliveries, from the settings (passed to `actors.webhooks.
    start` by `serve/app.py`: the actor itself imports nothing from `serve/`)."""
    from actors.dispatcher_client import DispatcherWaker

    sessions = db.session_factory(db.make_engine(settings.resolved_database_url))
    wake_on_commit(sessions, DispatcherWaker(settings))  # webhook.disabled events
    return WebhookDeliveries(settings=settings, sessions=sessions)
