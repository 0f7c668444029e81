"""What an owner's tier allows: the server's and the tier's maximum size, the storage
quota and the upload minutes of the month."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from cluster.config import Settings
from cluster.db.models import Upload, UploadStatus, Video
from serve.uploads.errors import LimitExceeded
from serve.uploads.views import Owner, size_text


class Quotas:
    def __init__(self, *, settings: Settings, sessions: Any, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock

    def check(self, *, owner: Owner, length: int, exclude: tuple[str, ...] = ()) -> None:
        """Refuse an upload of `length` bytes that passes a limit (`LimitExceeded`)."""
        limits = owner.limits
        server_max = self.settings.upload_max_bytes
        if length > server_max:
            raise LimitExceeded(
                f"the file is larger than this server accepts ({size_text(server_max)}, "
                "Tus-Max-Size): split or compress it",
                limit="max_size",
            )
        if length > limits.max_upload_bytes:
            raise LimitExceeded(
                f"the file is larger than your tier's maximum upload size "
                f"({size_text(limits.max_upload_bytes)}): compress it or upgrade your plan",
                limit="max_upload_bytes",
            )
        query = select(func.coalesce(func.sum(Upload.length), 0)).where(
            Upload.owner_id == owner.id,
            Upload.status.in_([UploadStatus.ACTIVE, UploadStatus.COMPLETE]),
        )
        if exclude:
            query = query.where(Upload.id.not_in(exclude))
        with self.sessions() as session:
            used = session.scalar(query)
        if int(used or 0) + length > limits.storage_quota_bytes:
            raise LimitExceeded(
                "this upload would pass your storage quota "
                f"({size_text(limits.storage_quota_bytes)}, {size_text(int(used or 0))} used): "
                "delete videos or upgrade your plan",
                limit="storage_quota_bytes",
            )
        self.check_minutes(owner)

    def minutes_used(self, owner_id: str, *, excluding: str | None = None) -> float:
        now = datetime.fromtimestamp(self.clock(), UTC)
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        query = select(func.coalesce(func.sum(Video.duration), 0.0)).where(
            Video.owner_id == owner_id, Video.created_at >= month
        )
        if excluding is not None:
            query = query.where(Video.id != excluding)
        with self.sessions() as session:
            seconds = session.scalar(query)
        return float(seconds or 0.0) / 60

    def check_minutes(self, owner: Owner) -> None:
        allowed = owner.limits.upload_minutes_per_month
        # At creation the duration is not known yet: once every minute is used, nothing
        # fits, and the client should hear so before it sends the file, not after. The
        # job checks the probed duration against what is left (`actors/jobs.py`).
        if self.minutes_used(owner.id) >= allowed:
            raise LimitExceeded(
                f"you have used your tier's {allowed} upload minutes this month: "
                "wait for next month or upgrade your plan",
                limit="upload_minutes_per_month",
            )
