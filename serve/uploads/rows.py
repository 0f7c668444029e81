"""The rules every request applies to an upload's row: whose it is, whether it is still
alive (an expired one loses its bytes the moment anyone looks), when it expires."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cluster.config import Settings
from cluster.db.models import Upload, UploadStatus
from cluster.errors import StorageError
from serve.uploads.errors import UploadGone, UploadNotFound
from serve.uploads.views import aware, target_of
from serve.uploads.writers import Backend

log = logging.getLogger(__name__)


class UploadRows:
    def __init__(self, *, settings: Settings, backend: Backend, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.backend = backend
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def expiry(self) -> datetime:
        return self.now() + timedelta(seconds=self.settings.upload_expiry_s)

    def owned(self, session: Any, upload_id: str, owner_id: str) -> Upload:
        row = session.get(Upload, upload_id)
        # Another user's upload is reported exactly like a missing one.
        if row is None or row.owner_id != owner_id:
            raise UploadNotFound()
        return row

    def refuse_dead(self, session: Any, row: Upload) -> None:
        if row.status == UploadStatus.ACTIVE and aware(row.expires_at) is not None:
            expires = aware(row.expires_at)
            assert expires is not None
            if expires <= self.now():
                self.discard(row)
                row.status = UploadStatus.EXPIRED
                session.commit()
        if row.status == UploadStatus.EXPIRED:
            raise UploadGone("this upload expired and its bytes were deleted: upload again")
        if row.status == UploadStatus.FAILED:
            raise UploadGone(f"this upload failed ({row.failure_reason}): upload again")

    def discard(self, row: Upload) -> None:
        try:
            self.backend.discard(target_of(row))
        except StorageError as exc:  # the sweep retries what is left
            log.warning("could not delete the bytes of upload %s: %s", row.id, exc)
