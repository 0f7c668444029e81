"""Domain events, written to the outbox in the same transaction as the change.

`actors/dispatcher.py` (later) reads pending rows and hands them to subscribers, so an
event is published if and only if its change was committed.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.orm import Session

from cluster.db.models import OutboxEvent

Topic = Literal[
    "video.created",
    "video.updated",
    "video.deleted",
    "video.liked",
    "video.unliked",
    "comment.added",
    "comment.edited",
    "comment.deleted",
    "transcode.done",
    "transcode.failed",
]


def emit(session: Session, topic: Topic, aggregate_id: str, **payload: Any) -> OutboxEvent:
    """Add an event to `session`; it commits (or rolls back) with the caller's change."""
    event = OutboxEvent(topic=topic, aggregate_id=aggregate_id, payload=payload)
    session.add(event)
    return event
