"""Domain events, written to the outbox in the same transaction as the change.

`actors/dispatcher.py` reads pending rows in id order and hands them, as `Event`s, to
every subscriber (the notifier, the search index, the analytics counters), so an event is
published if and only if its change was committed.

A subscriber is an actor with `async def handle(self, events: list[Event]) -> None`. It
gets events in id order, at least once: it must be idempotent on `Event.id`. Raising
means "retry this batch later" (the dispatcher backs off for that subscriber alone).

Payloads (`Event.data`) carry ids and the few fields a subscriber needs when the row may
be gone (a deleted video's owner); subscribers read the rest from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, sessionmaker

from cluster.db.models import OutboxEvent

log = logging.getLogger(__name__)

Topic = Literal[
    "video.created",  # owner_id
    "video.updated",  # fields: list of changed field names (incl. "visibility")
    "video.deleted",  # owner_id, keys
    "video.ready",  # owner_id: transcoded and playable
    "video.failed",  # owner_id, reason: why the transcode failed
    "video.liked",
    "video.unliked",
    "captions.added",  # language
    "captions.removed",  # language
    "comment.added",  # comment_id, author_id, parent_id (a reply) or None
    "comment.edited",
    "comment.deleted",
    "upload.failed",  # owner_id, reason: not_a_video | over_quota | expired, detail
    "user.followed",  # follower_id (aggregate: the creator)
    "user.unfollowed",  # follower_id
    "webhook.disabled",  # owner_id, url, reason: gone (410) | failing (5 days)
    "transcode.done",
    "transcode.failed",
]


def emit(session: Session, topic: Topic, aggregate_id: str, **payload: Any) -> OutboxEvent:
    """Add an event to `session`; it commits (or rolls back) with the caller's change."""
    event = OutboxEvent(topic=topic, aggregate_id=aggregate_id, payload=payload)
    session.add(event)
    session.info[_EMITTED] = True
    return event


@dataclass(frozen=True)
class Event:
    """One committed outbox row, as subscribers and webhooks see it."""

    id: int  # the outbox row id: increasing in commit order
    type: str  # a `Topic`
    aggregate_id: str  # the video, comment, upload or user it is about
    timestamp: datetime  # UTC, when the change committed
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: OutboxEvent) -> Event:
        created = row.created_at
        if created.tzinfo is None:  # SQLite hands back naive UTC
            created = created.replace(tzinfo=UTC)
        return cls(
            id=row.id,
            type=row.topic,
            aggregate_id=row.aggregate_id,
            timestamp=created,
            data=dict(row.payload or {}),
        )

    def envelope(self) -> dict[str, Any]:
        """The `{type, timestamp, data}` shape webhooks deliver (Standard Webhooks)."""
        return {
            "type": self.type,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "data": {"id": self.aggregate_id, **self.data},
        }


class Subscriber(Protocol):
    """What the dispatcher calls, in id order, at least once per event."""

    async def handle(self, events: list[Event]) -> None: ...


_EMITTED = "vidray.events.emitted"


def wake_on_commit(sessions: sessionmaker[Session], wake: Callable[[], None]) -> None:
    """Call `wake()` after each commit of a session from `sessions` that emitted an event:
    the dispatcher hears of it at once instead of at its next poll. `wake` must not block
    (a fire-and-forget actor call) and must not raise for long: a failure is logged."""

    @sa_event.listens_for(sessions, "after_commit")
    def _committed(session: Session) -> None:
        if session.info.pop(_EMITTED, False):
            try:
                wake()
            except Exception as exc:  # polling delivers it anyway, a little later
                log.debug("could not wake the dispatcher: %s", exc)

    @sa_event.listens_for(sessions, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop(_EMITTED, None)
