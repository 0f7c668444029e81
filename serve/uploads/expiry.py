"""Expired uploads lose their bytes; complete ones whose hand-over was lost are handed
over again. The scheduler actor runs `sweep` as a Ray task (`serve/uploads/sweep.py`)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update

from cluster.db.models import Job, Upload, UploadStatus, Video, VideoStatus
from cluster.errors import StorageError
from cluster.events import emit
from serve.uploads.errors import UploadLocked
from serve.uploads.service import Uploads
from serve.uploads.views import target_of

log = logging.getLogger(__name__)


def sweep(uploads: Uploads) -> int:
    """Reclaim expired uploads (and partials never joined); finish stranded ones."""
    now = uploads.rows.now()
    reclaimed = 0
    with uploads.sessions() as session:
        expired = session.scalars(
            select(Upload).where(
                Upload.expires_at <= now,
                (Upload.status == UploadStatus.ACTIVE)
                | ((Upload.status == UploadStatus.COMPLETE) & Upload.is_partial),
            )
        ).all()
        # Complete but never handed over: no video yet, or one with no job.
        stranded = session.scalars(
            select(Upload.id)
            .outerjoin(Video, Video.id == Upload.video_id)
            .where(
                Upload.status == UploadStatus.COMPLETE,
                Upload.is_partial.is_(False),
                Upload.updated_at <= now - timedelta(minutes=5),
                (Upload.video_id.is_(None))
                | (Video.status == VideoStatus.UPLOADING)
                | (
                    (Video.status == VideoStatus.PROCESSING)
                    & ~select(Job.id).where(Job.video_id == Video.id).exists()
                ),
            )
        ).all()
    for row in expired:
        try:
            token = uploads.locks.acquire(row.id)
        except UploadLocked:
            continue  # being written right now: not expired after all
        try:
            uploads.backend.discard(target_of(row))
            with uploads.sessions.begin() as session:
                session.execute(
                    update(Upload).where(Upload.id == row.id).values(status=UploadStatus.EXPIRED)
                )
                if not row.is_partial:  # a partial is a piece: its final upload speaks
                    emit(
                        session,
                        "upload.failed",
                        row.id,
                        owner_id=row.owner_id,
                        video_id=row.video_id,
                        reason="expired",
                        detail="the upload was not finished in time; its bytes were deleted",
                    )
            reclaimed += 1
        except StorageError as exc:
            log.warning("sweep: upload %s not reclaimed yet: %s", row.id, exc)
        finally:
            uploads.locks.release(row.id, token)
    for upload_id in stranded:
        uploads.complete(upload_id)
    return reclaimed
