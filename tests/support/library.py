"""Users and videos for the library's tests, written straight into the database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cluster.db.models import OutboxEvent, Video, VideoStatus, Visibility, utcnow
from serve.library.videos import Library

OWNER, PRO, OTHER = "owner00000000000", "pro0000000000000", "other00000000000"


def add_video(
    library: Library,
    *,
    owner: str = OWNER,
    visibility: Visibility = Visibility.PUBLIC,
    status: VideoStatus = VideoStatus.READY,
    age_s: float = 0.0,
    **fields: object,
) -> str:
    with library.sessions.begin() as session:
        video = Video(
            owner_id=owner,
            title=fields.pop("title", "a video"),
            visibility=visibility,
            status=status,
            created_at=utcnow() - timedelta(seconds=age_s),
            **fields,
        )
        session.add(video)
        session.flush()
        return video.id


def topics(library: Library, video_id: str) -> list[str]:
    with library.sessions() as session:
        return list(
            session.scalars(
                select(OutboxEvent.topic)
                .where(OutboxEvent.aggregate_id == video_id)
                .order_by(OutboxEvent.id)
            )
        )
