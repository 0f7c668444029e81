"""A completed upload waiting for its transcode, as `Uploads.complete` leaves it: what
the job actor's `submit_upload` takes."""

from __future__ import annotations

import time
from pathlib import Path

from cluster import db
from cluster.config import Settings
from cluster.db.models import Upload, UploadStatus, User, Video, VideoStatus
from cluster.storage import LocalStore


def completed_upload(settings: Settings, source: Path | bytes) -> dict[str, str]:
    """A user, a completed upload of `source` and its video; the hand-over's arguments."""
    sessions = db.session_factory(db.make_engine(settings.resolved_database_url))
    with sessions.begin() as session:
        user = User(email=f"{time.monotonic_ns()}@example.com", handle=f"u{time.monotonic_ns()}")
        session.add(user)
        session.flush()
        video = Video(owner_id=user.id, title="clip", status=VideoStatus.PROCESSING)
        session.add(video)
        session.flush()
        upload = Upload(
            owner_id=user.id,
            video_id=video.id,
            length=0,
            status=UploadStatus.COMPLETE,
            storage_key=f"raw/{video.id}",
        )
        session.add(upload)
        session.flush()
        handover = {
            "upload_id": upload.id,
            "video_id": video.id,
            "owner_id": user.id,
            "source_key": upload.storage_key,
        }
    store = LocalStore(settings.objects_dir)
    if isinstance(source, bytes):
        store.put_bytes(handover["source_key"], source)
    else:
        store.put_file(handover["source_key"], source)
    return handover
