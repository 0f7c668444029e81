"""The video library: metadata, visibility, likes, comments, chapters and thumbnails.

`Library` and `Comments` (`comments.py`) are plain classes built once per process by
`serve.platform.Platform`; the gateway calls them in-process with the viewer's id.
Every read and write decides access here, through `views.seen` and `views.visible`:

- a private video is visible to its owner only; to anyone else it reads as absent
  (`NotFound`), so an id never reveals that a private video exists;
- an unlisted video is visible to anyone holding its id, but never listed;
- comments and likes follow their video's visibility; only owners edit videos;
  a comment is edited by its author and removed by its author or the video's owner.

Every change writes its domain event to the outbox in the same transaction.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from actors.jobs_client import JobsClient
from cluster.config import Settings
from cluster.db.models import (
    Like,
    Tier,
    Upload,
    User,
    Video,
    VideoStatus,
    VideoTag,
    Visibility,
    new_id,
)
from cluster.errors import Forbidden, InvalidInput, StorageError
from cluster.events import emit
from cluster.storage import ObjectStore
from pipelines.media import MediaError, frame_jpeg, probe
from pipelines.media.images import make_thumbnail
from serve.library.chapters import Chapter, check_chapters, parse_chapters
from serve.library.pagination import Page, page_size, past_cursor
from serve.library.views import (
    PublicUser,
    VideoChanges,
    VideoFilter,
    VideoView,
    chapters_of,
    not_found,
    seen,
    video_view,
    visible,
)
from serve.text import clean_text

log = logging.getLogger(__name__)

Sort = Literal["recent", "popular"]

MAX_PAGE = 100
MAX_TAGS = 20
MAX_CHAPTERS = 100
# "00:00 Intro" or "1:02:03 - Q&A": a time at the start of a description line.
_CHAPTER_LINE = re.compile(r"^\s*(?:(\d{1,2}):)?(\d{1,2}):(\d{2})\s*[-\u2013:]?\s+(\S.*)$")


def _tags(values: Iterable[str]) -> tuple[str, ...]:
    tags: list[str] = []
    for raw in values:
        tag = clean_text("tags", raw, limit=32).lower().lstrip("#")
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidInput("tags", f"at most {MAX_TAGS} tags: keep the ones people search for")
    return tuple(tags)


def _chapters_json(chapters: Iterable[Chapter]) -> list[dict[str, Any]]:
    return [{"start_s": c.start_s, "title": c.title} for c in chapters]


class Library:
    """Videos: reads, the owner's edits, likes, chapters and thumbnails."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        jobs: JobsClient | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.store = store
        self.jobs = jobs

    # -- reads ------------------------------------------------------------------------

    def video(self, *, video_id: str, viewer_id: str | None) -> VideoView | None:
        """The video, or None when there is none the viewer may see."""
        return self.videos_by_id([video_id], viewer_id=viewer_id)[0]

    def videos_by_id(self, ids: Sequence[str], *, viewer_id: str | None) -> list[VideoView | None]:
        """One query for many ids (the gateway's DataLoader), in the order asked."""
        with self.sessions() as session:
            rows = session.scalars(
                select(Video).where(Video.id.in_(set(ids))).options(selectinload(Video.renditions))
            ).all()
            found = {v.id: video_view(v) for v in rows if visible(v, viewer_id)}
        return [found.get(i) for i in ids]

    def users_by_id(self, ids: Sequence[str]) -> list[PublicUser | None]:
        """Public profiles of owners and comment authors, in the order asked."""
        with self.sessions() as session:
            rows = session.execute(
                select(User.id, User.handle, User.display_name, User.avatar_key).where(
                    User.id.in_(set(ids))
                )
            ).all()
        found = {r.id: PublicUser(r.id, r.handle, r.display_name, r.avatar_key) for r in rows}
        return [found.get(i) for i in ids]

    def liked(self, ids: Sequence[str], *, viewer_id: str) -> list[bool]:
        """Whether the viewer likes each video, in the order asked."""
        with self.sessions() as session:
            liked = set(
                session.scalars(
                    select(Like.video_id).where(
                        Like.user_id == viewer_id, Like.video_id.in_(set(ids))
                    )
                ).all()
            )
        return [i in liked for i in ids]

    def list_videos(
        self,
        *,
        viewer_id: str | None,
        first: int = 20,
        after: str | None = None,
        filter: VideoFilter | None = None,
    ) -> Page[VideoView]:
        """A page of the library. Strangers see public, ready videos; a creator listing
        their own videos sees all of them, whatever their visibility or status."""
        wanted = filter or VideoFilter()
        first = page_size(first)
        query = select(Video).options(selectinload(Video.renditions))
        own = wanted.creator_id is not None and wanted.creator_id == viewer_id
        if not own:
            query = query.where(
                Video.visibility == Visibility.PUBLIC, Video.status == VideoStatus.READY
            )
        if wanted.creator_id is not None:
            query = query.where(Video.owner_id == wanted.creator_id)
        if wanted.status is not None:
            query = query.where(Video.status == wanted.status)
        if wanted.category is not None:
            query = query.where(Video.category == wanted.category.strip().lower())
        if wanted.tag is not None:
            tag = wanted.tag.strip().lower().lstrip("#")
            query = query.where(Video.id.in_(select(VideoTag.video_id).where(VideoTag.tag == tag)))
        keys = (
            [Video.like_count, Video.created_at, Video.id]
            if wanted.sort == "popular"
            else [Video.created_at, Video.id]
        )
        query = past_cursor(query, keys, after, descending=True).order_by(*(k.desc() for k in keys))
        with self.sessions() as session:
            rows = session.scalars(query.limit(first + 1)).all()
            return Page.of(rows, first=first, keys=keys, view=video_view)

    # -- owner's edits ----------------------------------------------------------------

    def update_video(self, *, video_id: str, actor_id: str, changes: VideoChanges) -> VideoView:
        """Change metadata. A description with `00:00 Title` lines sets the chapters,
        unless the owner set chapters of their own with `set_chapters`."""
        with self.sessions.begin() as session:
            video = self._owned(session, video_id, actor_id)
            changed: list[str] = []
            if changes.title is not None:
                title = clean_text("title", changes.title, limit=200)
                if not title:
                    raise InvalidInput("title", "cannot be empty: give the video a title")
                video.title = title
                changed.append("title")
            if changes.description is not None:
                derived = parse_chapters(video.description)
                video.description = clean_text(
                    "description", changes.description, limit=5000, lines=True
                )
                if not video.chapters or chapters_of(video) == derived:
                    video.chapters = _chapters_json(parse_chapters(video.description))
                changed.append("description")
            if changes.tags is not None:
                tags = _tags(changes.tags)
                video.tags = list(tags)
                video.tag_rows = [VideoTag(video_id=video.id, tag=t) for t in tags]
                changed.append("tags")
            if changes.category is not None:
                category = clean_text("category", changes.category, limit=40).lower()
                video.category = category or None
                changed.append("category")
            if changes.visibility is not None:
                if changes.visibility == Visibility.PRIVATE:
                    self._require_private_allowed(session, actor_id)
                video.visibility = changes.visibility
                changed.append("visibility")
            session.flush()
            if changed:
                emit(session, "video.updated", video.id, fields=changed)
            return video_view(video)

    def set_chapters(
        self, *, video_id: str, actor_id: str, chapters: Sequence[Chapter]
    ) -> VideoView:
        """Replace the chapters (an empty list removes them)."""
        with self.sessions.begin() as session:
            video = self._owned(session, video_id, actor_id)
            video.chapters = _chapters_json(check_chapters(chapters, duration=video.duration))
            session.flush()
            emit(session, "video.updated", video.id, fields=["chapters"])
            return video_view(video)

    def set_thumbnail(
        self,
        *,
        video_id: str,
        actor_id: str,
        at_s: float | None = None,
        image: bytes | None = None,
    ) -> VideoView:
        """Make the poster the frame at `at_s` seconds, or an uploaded image.

        The poster gets a new key each time: the old one is cached as immutable by
        players and CDNs, so a changed picture must have a new name.
        """
        if (at_s is None) == (image is None):
            raise InvalidInput("atSeconds", "give either atSeconds or imageBase64, not both")
        with self.sessions() as session:
            video = self._owned(session, video_id, actor_id)
            source_key, duration, old_key = video.source_key, video.duration, video.poster_key
        if image is not None:
            jpeg = make_thumbnail(image)
        else:
            assert at_s is not None
            if at_s < 0 or (duration is not None and at_s >= duration):
                raise InvalidInput("atSeconds", f"pick a time between 0 and {duration} s")
            jpeg = self._frame(source_key, at_s)
        key = f"img/{video_id}/poster-{new_id()[:8]}.jpg"
        self.store.put_bytes(key, jpeg)
        with self.sessions.begin() as session:
            video = self._owned(session, video_id, actor_id)
            video.poster_key = key
            session.flush()
            emit(session, "video.updated", video.id, fields=["poster"])
            view = video_view(video)
        if old_key and old_key != key and old_key != f"img/{video_id}/poster.jpg":
            self._delete_quietly([old_key])
        return view

    def poster_key(self, video_id: str) -> str | None:
        with self.sessions() as session:
            return session.scalar(select(Video.poster_key).where(Video.id == video_id))

    def delete_video(self, *, video_id: str, actor_id: str) -> None:
        """Cancel the video's jobs, delete its row (comments, likes, renditions with it)
        and every object it owns: the HLS tree, images and the uploaded source."""
        with self.sessions.begin() as session:
            video = self._owned(session, video_id, actor_id)
            sources = set(
                session.scalars(select(Upload.storage_key).where(Upload.video_id == video_id))
            )
            if video.source_key:
                sources.add(video.source_key)
        if self.jobs is not None:
            self.jobs.cancel_video(video_id)
        with self.sessions.begin() as session:
            session.execute(delete(Video).where(Video.id == video_id))
            emit(session, "video.deleted", video_id, owner_id=actor_id, keys=sorted(sources))
        for prefix in (f"hls/{video_id}/", f"img/{video_id}/"):
            try:
                self.store.delete_prefix(prefix)
            except StorageError as exc:  # the row is gone; the outbox event names the rest
                log.warning("video %s: %s not deleted yet: %s", video_id, prefix, exc)
        self._delete_quietly(sorted(sources))

    # -- likes -----------------------------------------------------------------------

    def like(self, *, video_id: str, user_id: str) -> VideoView:
        """Like a video; liking it again changes nothing."""
        try:
            with self.sessions.begin() as session:
                seen(session, video_id, user_id)
                if session.get(Like, (user_id, video_id)) is None:
                    session.add(Like(user_id=user_id, video_id=video_id))
                    session.flush()
                    session.execute(
                        update(Video)
                        .where(Video.id == video_id)
                        .values(like_count=Video.like_count + 1)
                    )
                    emit(session, "video.liked", video_id, user_id=user_id)
        except IntegrityError:
            pass  # the same user's concurrent like won the race: still liked once
        return self._fresh(video_id, user_id)

    def unlike(self, *, video_id: str, user_id: str) -> VideoView:
        """Take a like back; without one, nothing changes."""
        with self.sessions.begin() as session:
            seen(session, video_id, user_id)
            removed = cast(
                CursorResult[Any],
                session.execute(
                    delete(Like).where(Like.user_id == user_id, Like.video_id == video_id)
                ),
            ).rowcount
            if removed:
                session.execute(
                    update(Video)
                    .where(Video.id == video_id)
                    .values(like_count=Video.like_count - 1)
                )
                emit(session, "video.unliked", video_id, user_id=user_id)
        return self._fresh(video_id, user_id)

    # -- helpers ----------------------------------------------------------------------

    def _owned(self, session: Session, video_id: str, actor_id: str) -> Video:
        video = seen(session, video_id, actor_id)
        if video.owner_id != actor_id:
            raise Forbidden("only the video's owner can change it")
        return video

    def _fresh(self, video_id: str, viewer_id: str) -> VideoView:
        view = self.video(video_id=video_id, viewer_id=viewer_id)
        if view is None:  # deleted between the write and this read
            raise not_found("video", video_id)
        return view

    def _require_private_allowed(self, session: Session, user_id: str) -> None:
        tier = session.scalar(select(User.tier).where(User.id == user_id)) or Tier.FREE
        if not self.settings.tiers[tier.value].private_videos:
            raise InvalidInput(
                "visibility",
                "private videos are not part of your tier: choose unlisted, or upgrade",
            )

    def _frame(self, source_key: str | None, at_s: float) -> bytes:
        if source_key is None or not self.store.exists(source_key):
            raise InvalidInput(
                "atSeconds", "the original upload is gone: upload an image with imageBase64"
            )
        work = Path(tempfile.mkdtemp(prefix="vidray-thumb-"))
        try:
            local = self.store.local_path(source_key) or self.store.download(
                source_key, work / "source"
            )
            out = work / "frame.jpg"
            try:
                frame_jpeg(local, probe(local), at_s, out)
            except MediaError as exc:
                raise InvalidInput("atSeconds", f"no frame there: {exc}") from None
            return make_thumbnail(out.read_bytes())
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _delete_quietly(self, keys: Sequence[str]) -> None:
        for key in keys:
            try:
                self.store.delete(key)
            except StorageError as exc:
                log.warning("could not delete %s: %s", key, exc)
