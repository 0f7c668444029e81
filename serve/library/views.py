"""What the library hands out: plain data (it crosses Ray and feeds GraphQL types),
and the one visibility rule every read goes through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from cluster.db.models import Comment, User, Video, VideoStatus, Visibility
from serve.library.chapters import Chapter
from serve.library.errors import NotFound

Sort = Literal["recent", "popular"]


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


def chapters_of(video: Video) -> tuple[Chapter, ...]:
    return tuple(Chapter(start_s=c["start_s"], title=c["title"]) for c in video.chapters or ())


def video_view(video: Video) -> VideoView:
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
        chapters=chapters_of(video),
        like_count=video.like_count,
        comment_count=video.comment_count,
        view_count=video.view_count,
        created_at=video.created_at,
        updated_at=video.updated_at,
    )


def comment_view(comment: Comment, replies: int) -> CommentView:
    deleted = comment.deleted_at is not None
    return CommentView(
        id=comment.id,
        video_id=comment.video_id,
        author=None if deleted else public_user(comment.author),
        parent_id=comment.parent_id,
        body="" if deleted else comment.body,
        timestamp_s=comment.timestamp_s,
        reply_count=replies,
        deleted=deleted,
        edited_at=comment.edited_at,
        created_at=comment.created_at,
    )


def public_user(user: User) -> PublicUser:
    return PublicUser(
        id=user.id, handle=user.handle, display_name=user.display_name, avatar_key=user.avatar_key
    )


def visible(video: Video | None, viewer_id: str | None) -> bool:
    if video is None:
        return False
    return video.visibility != Visibility.PRIVATE or video.owner_id == viewer_id


def not_found(what: str, ident: str) -> NotFound:
    return NotFound(f"no {what} {ident!r} is visible to you: check the id, or sign in")


def seen(session: Session, video_id: str, viewer_id: str | None) -> Video:
    """The video, if the viewer may see it; else `NotFound`, as for a missing one."""
    video = session.get(Video, video_id)
    if video is None or not visible(video, viewer_id):
        raise not_found("video", video_id)
    return video
