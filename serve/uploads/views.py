"""What a client may learn of an upload, and who is uploading: plain data that crosses
Ray and feeds the tus headers and GraphQL types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from cluster.db.models import Upload, UploadStatus
from cluster.tiers import TierLimits
from serve.uploads.writers import Target

GIB = 1024**3


@dataclass(frozen=True, slots=True)
class Owner:
    """Who is uploading, with the limits of their tier."""

    id: str
    limits: TierLimits


@dataclass(frozen=True, slots=True)
class UploadView:
    """What a client may learn of an upload (plain data: it crosses Ray)."""

    id: str
    owner_id: str
    length: int | None
    offset: int
    status: str
    is_partial: bool
    is_final: bool
    meta: dict[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None
    video_id: str | None = None
    failure_reason: str | None = None

    @property
    def complete(self) -> bool:
        return self.length is not None and self.offset == self.length


def view_of(row: Upload) -> UploadView:
    return UploadView(
        id=row.id,
        owner_id=row.owner_id,
        length=row.length,
        offset=row.offset,
        status=UploadStatus(row.status).value,
        is_partial=row.is_partial,
        is_final=bool(row.parts),
        meta=dict(row.meta or {}),
        expires_at=aware(row.expires_at),
        video_id=row.video_id,
        failure_reason=row.failure_reason,
    )


def aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def target_of(row: Upload) -> Target:
    return Target(
        upload_id=row.id,
        key=row.storage_key,
        offset=row.offset,
        length=row.length,
        multipart=row.multipart_id,
    )


def size_text(n: int) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / 1024**2:.0f} MiB"
