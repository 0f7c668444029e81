"""Usage metering (the seed's usage-based billing): per account and month, the minutes
its videos were watched, the minutes of video it had transcoded, and the bytes its
videos hold in the object store now."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cluster.db.models import Job, JobState, User, Video
from cluster.storage import ObjectStore
from serve.analytics.queries import Analytics, month_range


@dataclass(frozen=True)
class UsageRow:
    user_id: str
    handle: str
    month: str
    minutes_watched: float
    minutes_transcoded: float
    bytes_stored: int


class Usage:
    def __init__(
        self, *, sessions: sessionmaker[Session], store: ObjectStore, analytics: Analytics
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.analytics = analytics

    def report(self, *, month: str, user_id: str | None = None) -> list[UsageRow]:
        """One row per account (or just `user_id`'s), for the month `YYYY-MM`."""
        start, end = month_range(month)
        with self.sessions() as session:
            wanted = select(User.id, User.handle).order_by(User.handle)
            if user_id is not None:
                wanted = wanted.where(User.id == user_id)
            users = session.execute(wanted).all()
            transcoded = dict(
                session.execute(
                    select(Job.owner_id, func.coalesce(func.sum(Video.duration), 0.0))
                    .join(Video, Video.id == Job.video_id)
                    .where(
                        Job.state == JobState.DONE, Job.finished_at >= start, Job.finished_at < end
                    )
                    .group_by(Job.owner_id)
                ).all()
            )
            videos = session.execute(select(Video.owner_id, Video.id, Video.source_key)).all()
        watched = self.analytics.watch_by_owner(start=start, end=end)
        stored: dict[str, int] = {}
        for owner_id, video_id, source_key in videos:
            if user_id is not None and owner_id != user_id:
                continue
            stored[owner_id] = stored.get(owner_id, 0) + self._bytes(video_id, source_key)
        return [
            UsageRow(
                user_id=uid,
                handle=handle,
                month=month,
                minutes_watched=round(watched.get(uid, 0) / 60_000, 2),
                minutes_transcoded=round(float(transcoded.get(uid) or 0.0) / 60, 2),
                bytes_stored=stored.get(uid, 0),
            )
            for uid, handle in users
        ]

    def _bytes(self, video_id: str, source_key: str | None) -> int:
        total = sum(
            info.size
            for prefix in (f"hls/{video_id}/", f"img/{video_id}/")
            for info in self.store.list(prefix)
        )
        if source_key and self.store.exists(source_key):
            total += self.store.stat(source_key).size
        return total
