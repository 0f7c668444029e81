"""The notifier: a dispatcher subscriber (register it as `notifier`) that decides who
is told about each event and on which channels, and delivers.

`Notifier` is the logic, a plain class tests build with a fake clock; `NotifierActor`
runs it as the detached named actor `notifier`, with a loop that sends what is due
(retries included) and runs campaigns; `NotifierClient` is how the rest of vidray
calls it.

`handle` only records, in one transaction per event: an inbox row per recipient who
wants it in-app, and a `deliveries` row per email or SMS. The unique constraints on
(event, user) and (event, user, channel) make it idempotent: an event handed over
again, by a retrying dispatcher or after a restart, adds nothing and sends nothing.
Sending happens after, so one slow SMTP server never holds the dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from actors.campaign_rows import Progress, progress
from actors.campaign_sends import CampaignSender
from actors.deliveries import Deliveries, Sender
from actors.recipients import Target, targets_for
from actors.singleton import start_singleton
from cluster import db
from cluster.config import Settings
from cluster.db.models import Campaign, Delivery, Notification, User
from cluster.events import Event
from cluster.messaging import open_sender, sender_domain
from cluster.notifications.kinds import preferences_of
from cluster.notifications.letters import Letter, Letters
from cluster.notifications.unsubscribe import unsubscribe_url
from cluster.security import Clock

log = logging.getLogger(__name__)

ACTOR_NAME = "notifier"
SUBSCRIBER_NAME = "notifier"


class Notifier:
    """Records notifications for events and sends what is due."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        sender: Sender,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.letters = Letters(settings)
        self.deliveries = Deliveries(
            settings=settings, sessions=sessions, sender=sender, clock=clock
        )
        self.domain = sender_domain(settings.smtp_from)

    def handle(self, events: list[Event]) -> int:
        """Record what each event means for whom; how many rows were new."""
        return sum(self._record(event) for event in events)

    def deliver_due(self) -> Counter[str]:
        return self.deliveries.run_due()

    def _record(self, event: Event) -> int:
        with self.sessions() as session:
            targets = targets_for(session, event)
            if not targets:
                return 0
            rows = self._rows(session, event, targets)
            session.add_all(rows)
            try:
                session.commit()
            except IntegrityError:
                # Another incarnation recorded this event between our read and our
                # commit: its rows stand, and ours would repeat them.
                session.rollback()
                return 0
            return len(rows)

    def _rows(self, session: Session, event: Event, targets: list[Target]) -> list[Any]:
        done_inbox = set(
            session.scalars(select(Notification.user_id).where(Notification.event_id == event.id))
        )
        done_sends = {
            (user_id, channel)
            for user_id, channel in session.execute(
                select(Delivery.user_id, Delivery.channel).where(Delivery.event_id == event.id)
            )
        }
        users = {
            user.id: user
            for user in session.scalars(
                select(User).where(User.id.in_([t.user_id for t in targets]))
            )
        }
        by_kind: dict[str, list[str]] = defaultdict(list)
        for target in targets:
            by_kind[target.kind].append(target.user_id)
        prefs = {kind: preferences_of(session, ids, kind) for kind, ids in by_kind.items()}
        rows: list[Any] = []
        for target in targets:
            user = users.get(target.user_id)
            if user is None or user.suspended_at is not None:
                continue
            pref = prefs[target.kind][user.id]
            letter = self.letters.notification(
                target.kind,
                context=target.context,
                recipient_id=user.id,
                recipient_name=user.display_name or user.handle,
            )
            if pref.in_app and user.id not in done_inbox:
                rows.append(self._inbox_row(event, target, letter))
            if pref.email and user.email and (user.id, "email") not in done_sends:
                rows.append(self._email_row(event, target, letter, user))
            if pref.sms and user.phone and (user.id, "sms") not in done_sends:
                rows.append(
                    Delivery(
                        event_id=event.id,
                        user_id=user.id,
                        channel="sms",
                        kind=target.kind,
                        address=user.phone,
                        message={"body": f"{letter.headline} {letter.link}"},
                        next_at=self.deliveries.now(),
                        created_at=self.deliveries.now(),
                    )
                )
        return rows

    def _inbox_row(self, event: Event, target: Target, letter: Letter) -> Notification:
        return Notification(
            user_id=target.user_id,
            event_id=event.id,
            kind=target.kind,
            title=letter.headline,
            body=letter.body,
            link=letter.link,
            data={k: v for k, v in target.context.items() if isinstance(v, str | int)},
            created_at=self.deliveries.now(),
        )

    def _email_row(self, event: Event, target: Target, letter: Letter, user: User) -> Delivery:
        assert user.email is not None
        unsubscribe = unsubscribe_url(self.settings, user_id=user.id, kind=target.kind)
        return Delivery(
            event_id=event.id,
            user_id=user.id,
            channel="email",
            kind=target.kind,
            address=user.email,
            message={
                "subject": letter.subject,
                "text": letter.text,
                "html": letter.html,
                # A display name is the user's own text: one line of it, never a header.
                "to_name": " ".join(user.display_name.split()),
                # Fixed by the idempotency key: a resent copy carries the same id.
                "message_id": f"<n{event.id}.{user.id}@{self.domain}>",
                "headers": [["List-Unsubscribe", f"<{unsubscribe}>"]],
            },
            next_at=self.deliveries.now(),
            created_at=self.deliveries.now(),
        )


class NotifierActor:
    """The `notifier` actor: `Notifier` on this cluster's database and senders, with a
    loop that sends what is due every `notify_poll_s`, or at once after `handle`."""

    # Async (Ray runs it on the actor's event loop) so that the send loop starts with the
    # actor: after Ray restarts a crashed notifier, nobody calls it until the next event
    # or the scheduler's minute, and what it recovered would wait that long.
    async def __init__(self, settings: Settings) -> None:  # type: ignore[misc]
        engine = db.make_engine(settings.resolved_database_url)
        self.settings = settings
        self.notifier = Notifier(
            settings=settings,
            sessions=db.session_factory(engine),
            sender=open_sender(settings),
            clock=time.time,
        )
        self.campaigns = CampaignSender(
            settings=settings,
            sessions=self.notifier.sessions,
            sender=self.notifier.deliveries.sender,
            clock=time.time,
        )
        # Whatever a previous incarnation left `sending` died with it: due again now.
        self.notifier.deliveries.recover()
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Task[Progress | None]] = {}
        self._stop = threading.Event()
        self._ensure_loop()

    def _ensure_loop(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
            self._loop_task = asyncio.get_running_loop().create_task(self._run())
        return self._wake

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.notify_poll_s)
            self._wake.clear()
            try:
                await asyncio.to_thread(self.notifier.deliver_due)
                for campaign_id in await asyncio.to_thread(self._campaigns_due):
                    self._send_campaign(campaign_id)
            except Exception:  # the loop outlives a database hiccup
                log.exception("sending due notifications failed; trying again later")

    def _campaigns_due(self) -> list[str]:
        """Campaigns to run now: scheduled ones whose time came, and those a previous
        incarnation was sending (they resume where they stopped)."""
        now = self.campaigns.now()
        with self.notifier.sessions() as session:
            return list(
                session.scalars(
                    select(Campaign.id).where(
                        (Campaign.state == "sending")
                        | ((Campaign.state == "scheduled") & (Campaign.scheduled_at <= now))
                    )
                )
            )

    def _send_campaign(self, campaign_id: str) -> None:
        task = self._running.get(campaign_id)
        if task is None or task.done():
            self._running[campaign_id] = asyncio.get_running_loop().create_task(
                asyncio.to_thread(self.campaigns.run, campaign_id, stop=self._stop)
            )

    async def start(self) -> bool:
        self._ensure_loop()
        return True

    async def handle(self, events: list[Event]) -> None:
        """The dispatcher's call: record (durably) before returning, send after."""
        wake = self._ensure_loop()
        await asyncio.to_thread(self.notifier.handle, events)
        wake.set()

    async def deliver_due(self) -> dict[str, int]:
        """Send what is due now (the scheduler's periodic call, and tests)."""
        self._ensure_loop()
        return dict(await asyncio.to_thread(self.notifier.deliver_due))

    async def send_campaign(self, campaign_id: str) -> None:
        """Start (or resume) sending a campaign; returns at once."""
        self._ensure_loop()
        self._send_campaign(campaign_id)

    async def campaign_progress(self, campaign_id: str) -> Progress | None:
        def read() -> Progress | None:
            with self.notifier.sessions() as session:
                return progress(session, campaign_id)

        return await asyncio.to_thread(read)


class NotifierClient:
    """Typed calls to the notifier actor."""

    def __init__(self, actor: Any) -> None:  # Any: a Ray actor handle
        self.actor = actor

    @classmethod
    def start(cls, settings: Settings) -> NotifierClient:
        """The running notifier (started if missing), its send loop running."""
        import ray

        actor = start_singleton(
            NotifierActor, settings, settings=settings, name=ACTOR_NAME, max_concurrency=16
        )
        ray.get(actor.start.remote())
        return cls(actor)

    @classmethod
    def connect(cls, settings: Settings) -> NotifierClient | None:
        import ray

        try:
            return cls(ray.get_actor(ACTOR_NAME, namespace=settings.ray_namespace))
        except ValueError:
            return None

    def handle(self, events: list[Event]) -> None:
        import ray

        ray.get(self.actor.handle.remote(events))

    def deliver_due(self) -> dict[str, int]:
        import ray

        outcome: dict[str, int] = ray.get(self.actor.deliver_due.remote())
        return outcome

    def send_campaign(self, campaign_id: str) -> None:
        import ray

        ray.get(self.actor.send_campaign.remote(campaign_id))

    def campaign_progress(self, campaign_id: str) -> Progress | None:
        import ray

        found: Progress | None = ray.get(self.actor.campaign_progress.remote(campaign_id))
        return found


def deliver_due(settings: Settings) -> dict[str, int]:
    """Periodic work for `actors/scheduler.py`: nudge the notifier's retries."""
    client = NotifierClient.connect(settings)
    return client.deliver_due() if client is not None else {}
