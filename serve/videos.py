"""The video library: metadata, visibility, likes, comments, chapters and thumbnails.

`Videos` is a plain class (tests build it without Ray); `serve/app.py` makes it the
`videos` deployment and hands it a job canceller. The gateway calls it through a handle
with the viewer's id; every read and write decides access here, in one place:

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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from cluster import db
from cluster.config import Settings
from cluster.db.models import (
    Comment,
    Like,
    Tier,
    Upload,
    User,
    Video,
    VideoStatus,
    VideoTag,
    Visibility,
    new_id,
    utcnow,
)
from cluster.errors import Forbidden, InvalidInput, StorageError
from cluster.events import emit
from cluster.storage import ObjectStore, open_store
from pipelines.media import MediaError, frame_jpeg, probe
from serve.avatars import make_thumbnail
from serve.chapters import Chapter, check_chapters, parse_chapters
from serve.errors import NotFound
from serve.pagination import Page, page_size, past_cursor
from serve.users import clean_text

log = logging.getLogger(__name__)

Sort = Literal["recent", "popular"]

MAX_PAGE = 100
MAX_TAGS = 20
MAX_CHAPTERS = 100
MAX_COMMENT_CHARS = 5000
# "00:00 Intro" or "1:02:03 - Q&A": a time at the start of a description line.
_CHAPTER_LINE = re.compile(r"^\s*(?:(\d{1,2}):)?(\d{1,2}):(\d{2})\s*[-\u2013:]?\s+(\S.*)$")


class JobCanceller(Protocol):
    def cancel_video(self, video_id: str) -> int: ...


@dataclass(frozen=True, slots=True)
class RenditionView:
    name: str
    width: int
    height: int
    bandwidth: int
    codecs: str


@dataclass(frozen=True, slots=True)
class VideoView:
    id: str
    owner_id: str
    title: str
    description: str
    tags: tuple[str, ...]
    category: str | None
    visibility: Visibility
    status: VideoStatus
    failure_reason: str | None
    duration: float | None
    width: int | None
    height: int | None
    renditions: tuple[RenditionView, ...]
    poster_key: str | None
    storyboard_key: str | None
    chapters: tuple[Chapter, ...]
    like_count: int
    comment_count: int
    view_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CommentView:
    id: str
    video_id: str
    author: PublicUser | None  # None once deleted
    parent_id: str | None
    body: str  # "" once deleted: the thread keeps its shape, the words are gone
    timestamp_s: float | None
    reply_count: int
    deleted: bool
    edited_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PublicUser:
    """What anyone may see of an account: no email, no phone."""

    id: str
    handle: str
    display_name: str
    avatar_key: str | None


@dataclass(frozen=True, slots=True)
class VideoFilter:
    creator_id: str | None = None
    category: str | None = None
    tag: str | None = None
    status: VideoStatus | None = None
    sort: Sort = "recent"


@dataclass(frozen=True, slots=True)
class VideoChanges:
    """Fields to change; None leaves a field as it is."""

    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] | None = None
    category: str | None = None
    visibility: Visibility | None = None


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


def _chapters_of(video: Video) -> tuple[Chapter, ...]:
    return tuple(Chapter(start_s=c["start_s"], title=c["title"]) for c in video.chapters or ())


def _video_view(video: Video) -> VideoView:
    return VideoView(
        id=video.id,
        owner_id=video.owner_id,
        title=video.title,
        description=video.description,
        tags=tuple(video.tags or ()),
        category=video.category,
        visibility=video.visibility,
        status=video.status,
        failure_reason=video.failure_reason,
        duration=video.duration,
        width=video.width,
        height=video.height,
        renditions=tuple(
            RenditionView(
                name=r.name, width=r.width, height=r.height, bandwidth=r.bandwidth, codecs=r.codecs
            )
            for r in video.renditions
        ),
        poster_key=video.poster_key,
        storyboard_key=video.storyboard_key,
        chapters=_chapters_of(video),
        like_count=video.like_count,
        comment_count=video.comment_count,
        view_count=video.view_count,
        created_at=video.created_at,
        updated_at=video.updated_at,
    )


def _comment_view(comment: Comment, replies: int) -> CommentView:
    deleted = comment.deleted_at is not None
    return CommentView(
        id=comment.id,
        video_id=comment.video_id,
        author=None if deleted else _public(comment.author),
        parent_id=comment.parent_id,
        body="" if deleted else comment.body,
        timestamp_s=comment.timestamp_s,
        reply_count=replies,
        deleted=deleted,
        edited_at=comment.edited_at,
        created_at=comment.created_at,
    )


def _public(user: User) -> PublicUser:
    return PublicUser(
        id=user.id, handle=user.handle, display_name=user.display_name, avatar_key=user.avatar_key
    )


def _visible(video: Video | None, viewer_id: str | None) -> bool:
    if video is None:
        return False
    return video.visibility != Visibility.PRIVATE or video.owner_id == viewer_id


def _not_found(what: str, ident: str) -> NotFound:
    return NotFound(f"no {what} {ident!r} is visible to you: check the id, or sign in")


class Videos:
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        jobs: JobCanceller | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.store = store
        self.jobs = jobs

    @classmethod
    def from_settings(cls, settings: Settings, *, jobs: JobCanceller | None = None) -> Videos:
        engine = db.make_engine(settings.resolved_database_url)
        return cls(
            settings=settings,
            sessions=db.session_factory(engine),
            store=open_store(settings),
            jobs=jobs,
        )

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
            found = {v.id: _video_view(v) for v in rows if _visible(v, viewer_id)}
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
            return Page.of(rows, first=first, keys=keys, view=_video_view)

    def comments(
        self,
        *,
        video_id: str,
        viewer_id: str | None,
        first: int = 20,
        after: str | None = None,
        parent_id: str | None = None,
    ) -> Page[CommentView]:
        """Top-level comments newest first, or the replies to `parent_id` oldest first."""
        first = page_size(first)
        with self.sessions() as session:
            if not _visible(session.get(Video, video_id), viewer_id):
                raise _not_found("video", video_id)
            keys = [Comment.created_at, Comment.id]
            # Authors come with their comments (one more query, no hop to a loader).
            query = (select(Comment).options(selectinload(Comment.author))).where(
                Comment.video_id == video_id,
                Comment.parent_id == parent_id
                if parent_id is not None
                else Comment.parent_id.is_(None),
            )
            newest_first = parent_id is None
            query = past_cursor(query, keys, after, descending=newest_first)
            query = query.order_by(*(k.desc() if newest_first else k.asc() for k in keys))
            rows = session.scalars(query.limit(first + 1)).all()
            replies = dict(
                session.execute(
                    select(Comment.parent_id, func.count())
                    .where(
                        Comment.parent_id.in_([c.id for c in rows[:first]]),
                        Comment.deleted_at.is_(None),
                    )
                    .group_by(Comment.parent_id)
                ).all()
            )
            return Page.of(
                rows, first=first, keys=keys, view=lambda c: _comment_view(c, replies.get(c.id, 0))
            )

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
                if not video.chapters or _chapters_of(video) == derived:
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
            return _video_view(video)

    def set_chapters(
        self, *, video_id: str, actor_id: str, chapters: Sequence[Chapter]
    ) -> VideoView:
        """Replace the chapters (an empty list removes them)."""
        with self.sessions.begin() as session:
            video = self._owned(session, video_id, actor_id)
            video.chapters = _chapters_json(check_chapters(chapters, duration=video.duration))
            session.flush()
            emit(session, "video.updated", video.id, fields=["chapters"])
            return _video_view(video)

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
            view = _video_view(video)
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

    # -- likes and comments -----------------------------------------------------------

    def like(self, *, video_id: str, user_id: str) -> VideoView:
        """Like a video; liking it again changes nothing."""
        try:
            with self.sessions.begin() as session:
                self._seen(session, video_id, user_id)
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
            self._seen(session, video_id, user_id)
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

    def add_comment(
        self,
        *,
        video_id: str,
        author_id: str,
        body: str,
        parent_id: str | None = None,
        timestamp_s: float | None = None,
    ) -> CommentView:
        text = self._body(body)
        with self.sessions.begin() as session:
            video = self._seen(session, video_id, author_id)
            if parent_id is not None:
                parent = session.get(Comment, parent_id)
                if parent is None or parent.video_id != video_id or parent.deleted_at:
                    raise InvalidInput("parentId", "is not a comment on this video: reply to one")
            if timestamp_s is not None and (
                timestamp_s < 0 or (video.duration is not None and timestamp_s > video.duration)
            ):
                raise InvalidInput("timestampSeconds", "must fall inside the video")
            comment = Comment(
                video_id=video_id,
                author_id=author_id,
                parent_id=parent_id,
                body=text,
                timestamp_s=timestamp_s,
            )
            session.add(comment)
            session.execute(
                update(Video)
                .where(Video.id == video_id)
                .values(comment_count=Video.comment_count + 1)
            )
            session.flush()
            emit(session, "comment.added", video_id, comment_id=comment.id, author_id=author_id)
            return _comment_view(comment, 0)

    def edit_comment(self, *, comment_id: str, author_id: str, body: str) -> CommentView:
        text = self._body(body)
        with self.sessions.begin() as session:
            comment = self._comment(session, comment_id, author_id)
            if comment.author_id != author_id:
                raise Forbidden("only its author can edit a comment")
            comment.body, comment.edited_at = text, utcnow()
            session.flush()
            emit(session, "comment.edited", comment.video_id, comment_id=comment.id)
            return _comment_view(comment, self._replies(session, comment.id))

    def delete_comment(self, *, comment_id: str, actor_id: str) -> CommentView:
        """Its author, or the video's owner, removes a comment; replies stay in place."""
        with self.sessions.begin() as session:
            comment = self._comment(session, comment_id, actor_id)
            video = session.get(Video, comment.video_id)
            assert video is not None  # comments go with their video
            if actor_id not in (comment.author_id, video.owner_id):
                raise Forbidden("only its author or the video's owner can delete a comment")
            comment.deleted_at = utcnow()
            session.execute(
                update(Video)
                .where(Video.id == video.id)
                .values(comment_count=Video.comment_count - 1)
            )
            session.flush()
            emit(session, "comment.deleted", video.id, comment_id=comment.id, by=actor_id)
            return _comment_view(comment, self._replies(session, comment.id))

    # -- helpers ----------------------------------------------------------------------

    def _seen(self, session: Session, video_id: str, viewer_id: str | None) -> Video:
        video = session.get(Video, video_id)
        if video is None or not _visible(video, viewer_id):
            raise _not_found("video", video_id)
        return video

    def _owned(self, session: Session, video_id: str, actor_id: str) -> Video:
        video = self._seen(session, video_id, actor_id)
        if video.owner_id != actor_id:
            raise Forbidden("only the video's owner can change it")
        return video

    def _comment(self, session: Session, comment_id: str, viewer_id: str) -> Comment:
        comment = session.get(Comment, comment_id)
        if comment is None or comment.deleted_at is not None:
            raise _not_found("comment", comment_id)
        self._seen(session, comment.video_id, viewer_id)
        return comment

    def _replies(self, session: Session, comment_id: str) -> int:
        return (
            session.scalar(
                select(func.count()).where(
                    Comment.parent_id == comment_id, Comment.deleted_at.is_(None)
                )
            )
            or 0
        )

    def _fresh(self, video_id: str, viewer_id: str) -> VideoView:
        view = self.video(video_id=video_id, viewer_id=viewer_id)
        if view is None:  # deleted between the write and this read
            raise _not_found("video", video_id)
        return view

    def _require_private_allowed(self, session: Session, user_id: str) -> None:
        tier = session.scalar(select(User.tier).where(User.id == user_id)) or Tier.FREE
        if not self.settings.tiers[tier.value].private_videos:
            raise InvalidInput(
                "visibility",
                "private videos are not part of your tier: choose unlisted, or upgrade",
            )

    @staticmethod
    def _body(body: str) -> str:
        text = clean_text("body", body, limit=MAX_COMMENT_CHARS, lines=True)
        if not text:
            raise InvalidInput("body", "cannot be empty: write something")
        return text

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
