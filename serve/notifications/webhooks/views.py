"""What callers see of webhooks and their deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cluster.db.models import Webhook, WebhookAttempt, WebhookDelivery


def aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@dataclass(frozen=True)
class WebhookView:
    id: str
    url: str
    events: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    secret: str | None = None  # only right after creation or a rotation

    @classmethod
    def of(cls, row: Webhook, *, secret: str | None = None) -> WebhookView:
        return cls(
            id=row.id,
            url=row.url,
            events=tuple(row.events or ()),
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            created_at=aware(row.created_at) or row.created_at,
            secret=secret,
        )


@dataclass(frozen=True)
class AttemptView:
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def of(cls, row: WebhookAttempt) -> AttemptView:
        return cls(
            at=aware(row.at) or row.at,
            status_code=row.status_code,
            error=row.error,
            duration_ms=row.duration_ms,
        )


@dataclass(frozen=True)
class DeliveryView:
    id: str
    webhook_id: str
    event_id: int
    event_type: str
    status: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    log: tuple[AttemptView, ...] = ()

    @classmethod
    def of(cls, row: WebhookDelivery, log: list[WebhookAttempt] | None = None) -> DeliveryView:
        return cls(
            id=row.id,
            webhook_id=row.webhook_id,
            event_id=row.event_id,
            event_type=row.event_type,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=aware(row.next_attempt_at),
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            created_at=aware(row.created_at) or row.created_at,
            log=tuple(AttemptView.of(a) for a in log or ()),
        )
