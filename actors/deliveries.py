"""The ledger of emails and SMS to send: one `deliveries` row each, and its retries.

A row is `pending` until its `next_at`, `sending` while one attempt runs, then `sent`,
`suppressed` (the address refused mail for good before) or `dead` (refused for good
now, or still failing when the retry window closed: `last_error` says why). A failure
that may pass (an SMTP 4xx, no connection) goes back to `pending` with a later
`next_at`, doubling from `notify_retry_base_s` up to `MAX_BACKOFF_S`, until
`notify_retry_window_s` after the row was made. A 5xx adds the address to
`suppressions`: nothing is sent to it again.

Every time comes from the clock the ledger was built with (a fake one in tests).

Delivery is at least once: a row left `sending` by an actor that died is sent again
after the restart (`recover`). Only a death between the server's 250 and our commit
sends twice, and then with the same `Message-ID`, which mail clients fold into one.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cluster import metrics
from cluster.config import Settings
from cluster.db.models import Delivery, Suppression
from cluster.errors import DeliveryError
from cluster.messaging import Email, Message
from cluster.security import Clock

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 2 * 3600.0
BATCH = 200


class Sender(Protocol):
    """Both channels: `cluster.messaging.ChannelRouter`."""

    def send(self, message: Message) -> None: ...

    def send_email(self, email: Email) -> None: ...


def aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def is_suppressed(session: Session, address: str) -> bool:
    return session.get(Suppression, address.lower()) is not None


def suppress(session: Session, *, address: str, reason: str) -> None:
    """Add `address` to the suppression list (the caller commits)."""
    if not is_suppressed(session, address):
        session.add(Suppression(address=address.lower(), reason=reason))


@dataclass(frozen=True)
class Attempt:
    """What one send needs, read before the attempt so no session stays open over SMTP."""

    id: int
    channel: str
    address: str
    message: dict[str, Any]


class Deliveries:
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
        self.sender = sender
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def backoff(self, attempts: int) -> timedelta:
        seconds = self.settings.notify_retry_base_s * 2 ** max(0, attempts - 1)
        return timedelta(seconds=min(seconds, MAX_BACKOFF_S))

    def recover(self) -> int:
        """Put back what a dead actor left half done: it is due again now."""
        with self.sessions.begin() as session:
            result = session.execute(
                update(Delivery)
                .where(Delivery.state == "sending")
                .values(state="pending", next_at=self.now())
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def due(self, limit: int = BATCH) -> list[int]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Delivery.id)
                    .where(Delivery.state == "pending", Delivery.next_at <= self.now())
                    .order_by(Delivery.next_at, Delivery.id)
                    .limit(limit)
                )
            )

    def run_due(self) -> Counter[str]:
        """Attempt everything due now, once each; how many ended in each state."""
        outcome: Counter[str] = Counter()
        while True:
            due = self.due()
            for delivery_id in due:
                outcome[self.attempt(delivery_id)] += 1
            # A full batch may hide more behind it; a failure is due later, not now,
            # so this ends.
            if len(due) < BATCH:
                return outcome

    def _claim(self, delivery_id: int) -> Attempt | str:
        with self.sessions.begin() as session:
            row = session.get(Delivery, delivery_id)
            if row is None:
                return "gone"
            if row.state != "pending" or aware(row.next_at) > self.now():
                return row.state
            if row.channel == "email" and is_suppressed(session, row.address):
                row.state = "suppressed"
                row.last_error = "the address is on the suppression list (it refused mail before)"
                return row.state
            row.state = "sending"
            row.attempts += 1
            return Attempt(row.id, row.channel, row.address, dict(row.message))

    def attempt(self, delivery_id: int) -> str:
        """One try at one delivery, if it is due; the state it ends in."""
        claimed = self._claim(delivery_id)
        if isinstance(claimed, str):
            return claimed
        try:
            self._send(claimed)
        except DeliveryError as exc:
            state = self._failed(claimed, exc)
            # "pending" again: a retry is due later.
            metrics.notification_delivered(channel=claimed.channel, result=state)
            return state
        with self.sessions.begin() as session:
            row = session.get(Delivery, delivery_id)
            assert row is not None
            row.state, row.sent_at, row.last_error = "sent", self.now(), None
        metrics.notification_delivered(channel=claimed.channel, result="sent")
        return "sent"

    def _send(self, attempt: Attempt) -> None:
        message = attempt.message
        if attempt.channel == "sms":
            self.sender.send(Message("sms", attempt.address, "", message["body"]))
            return
        self.sender.send_email(
            Email(
                to=attempt.address,
                subject=message["subject"],
                text=message["text"],
                html=message.get("html"),
                to_name=message.get("to_name", ""),
                message_id=message.get("message_id"),
                headers=tuple((k, v) for k, v in message.get("headers", [])),
            )
        )

    def _failed(self, attempt: Attempt, exc: DeliveryError) -> str:
        now = self.now()
        with self.sessions.begin() as session:
            row = session.get(Delivery, attempt.id)
            assert row is not None
            row.last_error = str(exc)
            if exc.permanent:
                row.state, row.dead_at = "dead", now
                if exc.code is not None and attempt.channel == "email":
                    suppress(session, address=attempt.address, reason=f"SMTP {exc.code}: {exc}")
                log.warning("delivery %s refused for good: %s", attempt.id, exc)
                return row.state
            window_ends = aware(row.created_at) + timedelta(
                seconds=self.settings.notify_retry_window_s
            )
            if now >= window_ends:
                row.state, row.dead_at = "dead", now
                row.last_error = (
                    f"still failing after {row.attempts} attempts over "
                    f"{self.settings.notify_retry_window_s / 3600:g} h; last error: {exc}"
                )
                return row.state
            # The last try lands on the window's end, not past it.
            row.state, row.next_at = "pending", min(now + self.backoff(row.attempts), window_ends)
            return row.state
