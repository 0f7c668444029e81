"""GraphQL types of the video library: videos, comments, creators, pages and playback.

Fields that need another service's data (a video's owner, a comment's author, whether
the viewer likes a video) load through the request's DataLoaders, so a page of twenty
videos costs one query for their owners, not twenty.
"""

from __future__ import annotations

import enum
import functools
from datetime import datetime
from typing import Annotated, Any

import strawberry
from starlette.concurrency import run_in_threadpool

from cluster.db.models import VideoStatus as VideoStatusEnum
from cluster.db.models import Visibility as VisibilityEnum
from cluster.errors import UrlRefused
from serve.gateway.context import GatewayContext
from serve.gateway.stats import (
    Granularity,
    RetentionCurve,
    Stats,
    video_live_viewers,
    video_retention,
    video_stats,
)
from serve.library.chapters import Chapter as ChapterView
from serve.library.pagination import Page
from serve.library.views import CommentView, PublicUser, VideoView
from serve.stream.errors import VideoUnavailable

VideoStatus = strawberry.enum(VideoStatusEnum, name="VideoStatus")
Visibility = strawberry.enum(VisibilityEnum, name="Visibility")
Ctx = strawberry.Info[GatewayContext, None]


@strawberry.enum(description="How the library is ordered.")
class VideoSort(enum.Enum):
    RECENT = "recent"
    POPULAR = "popular"


@strawberry.type(description="Where a connection's page ends, for the next request's `after`.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None

    @classmethod
    def of(cls, page: Page[Any]) -> PageInfo:
        return cls(
            has_next_page=page.has_next, end_cursor=page.cursors[-1] if page.cursors else None
        )


@strawberry.type(description="What anyone may see of an account.")
class Creator:
    id: strawberry.ID
    handle: str
    display_name: str
    avatar_key: str | None

    @classmethod
    def of(cls, user: PublicUser) -> Creator:
        return cls(
            id=strawberry.ID(user.id),
            handle=user.handle,
            display_name=user.display_name,
            avatar_key=user.avatar_key,
        )


@strawberry.type
class Chapter:
    start_seconds: float
    title: str


@strawberry.input
class ChapterInput:
    start_seconds: float
    title: str

    def view(self) -> ChapterView:
        return ChapterView(start_s=self.start_seconds, title=self.title)


@strawberry.type
class Rendition:
    name: str
    width: int
    height: int
    bandwidth: int
    codecs: str


@strawberry.type(description="Signed URLs that play the video; they expire at `expiresAt`.")
class Playback:
    hls_url: str
    poster_url: str | None
    storyboard_vtt_url: str | None
    expires_at: int = strawberry.field(description="Unix time.")


async def _creator(context: GatewayContext, user_id: str | None) -> Creator | None:
    if user_id is None:
        return None
    user = await context.loaders.users.load(user_id)
    return Creator.of(user) if user is not None else None


@strawberry.type
class Comment:
    id: strawberry.ID
    video_id: strawberry.ID
    parent_id: strawberry.ID | None
    body: str = strawberry.field(description="Empty once the comment is deleted.")
    timestamp_seconds: float | None = strawberry.field(description="A moment in the video.")
    reply_count: int
    deleted: bool
    edited_at: datetime | None
    created_at: datetime
    author_view: strawberry.Private[PublicUser | None]

    @classmethod
    def of(cls, view: CommentView) -> Comment:
        return cls(
            id=strawberry.ID(view.id),
            video_id=strawberry.ID(view.video_id),
            parent_id=strawberry.ID(view.parent_id) if view.parent_id else None,
            body=view.body,
            timestamp_seconds=view.timestamp_s,
            reply_count=view.reply_count,
            deleted=view.deleted,
            edited_at=view.edited_at,
            created_at=view.created_at,
            author_view=view.author,
        )

    @strawberry.field(description="Null once the comment is deleted.")
    def author(self) -> Creator | None:
        return Creator.of(self.author_view) if self.author_view is not None else None

    @strawberry.field(description="Replies, oldest first.")
    async def replies(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> CommentConnection:
        context = info.context
        page: Page[CommentView] = await run_in_threadpool(
            context.comments.page,
            video_id=str(self.video_id),
            viewer_id=context.viewer_id,
            first=first,
            after=after,
            parent_id=str(self.id),
        )
        return CommentConnection.of(page)


@strawberry.type
class CommentEdge:
    cursor: str
    node: Comment


@strawberry.type
class CommentConnection:
    edges: list[CommentEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[CommentView]) -> CommentConnection:
        return cls(
            edges=[CommentEdge(cursor=c, node=Comment.of(v)) for v, c in page.with_cursors()],
            page_info=PageInfo.of(page),
        )


@strawberry.type
class Video:
    id: strawberry.ID
    title: str
    description: str
    tags: list[str]
    category: str | None
    visibility: Visibility  # type: ignore[valid-type]
    status: VideoStatus  # type: ignore[valid-type]
    failure_reason: str | None
    duration: float | None = strawberry.field(description="Seconds.")
    width: int | None
    height: int | None
    renditions: list[Rendition]
    chapters: list[Chapter]
    like_count: int
    comment_count: int
    view_count: int
    created_at: datetime
    updated_at: datetime
    view: strawberry.Private[VideoView]

    @classmethod
    def of(cls, view: VideoView) -> Video:
        return cls(
            id=strawberry.ID(view.id),
            title=view.title,
            description=view.description,
            tags=list(view.tags),
            category=view.category,
            visibility=view.visibility,
            status=view.status,
            failure_reason=view.failure_reason,
            duration=view.duration,
            width=view.width,
            height=view.height,
            renditions=[
                Rendition(
                    name=r.name,
                    width=r.width,
                    height=r.height,
                    bandwidth=r.bandwidth,
                    codecs=r.codecs,
                )
                for r in view.renditions
            ],
            chapters=[Chapter(start_seconds=c.start_s, title=c.title) for c in view.chapters],
            like_count=view.like_count,
            comment_count=view.comment_count,
            view_count=view.view_count,
            created_at=view.created_at,
            updated_at=view.updated_at,
            view=view,
        )

    @strawberry.field
    async def owner(self, info: Ctx) -> Creator | None:
        return await _creator(info.context, self.view.owner_id)

    @strawberry.field(description="Whether the signed-in viewer likes it; false when signed out.")
    async def viewer_has_liked(self, info: Ctx) -> bool:
        context = info.context
        if context.viewer_id is None:
            return False
        return await context.loaders.liked.load(str(self.id))

    @strawberry.field(
        description="Signed, expiring URLs; null until the first rendition is playable."
    )
    async def playback(self, info: Ctx) -> Playback | None:
        context = info.context
        grant = functools.partial(
            context.stream.grant, self.view, viewer_id=context.viewer_id, ip=context.ip
        )
        try:
            # Signing is a hash; only a store across the network makes it wait.
            granted = await run_in_threadpool(grant) if context.stream.blocking else grant()
        except (UrlRefused, VideoUnavailable):
            return None
        return Playback(
            hls_url=granted.master_url,
            poster_url=granted.poster_url,
            storyboard_vtt_url=granted.storyboard_url,
            expires_at=granted.expires_at,
        )

    # The owner's (or an admin's) figures. Nullable, so that a refusal (UNAUTHENTICATED,
    # FORBIDDEN) is an error on that field alone and the rest of the video still reads.
    @strawberry.field(description="Its stats, for its owner or an admin.")
    async def stats(
        self,
        info: Ctx,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        granularity: Granularity = Granularity.DAY,
    ) -> Stats | None:
        return await video_stats(info, self.view.id, start=from_, end=to, granularity=granularity)

    @strawberry.field(
        description="Retention over 100 points and chapter drop-off, for its owner or an admin."
    )
    async def retention(
        self,
        info: Ctx,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> RetentionCurve | None:
        return await video_retention(info, self.view.id, start=from_, end=to)

    @strawberry.field(
        description="Views heard from in the last 30 seconds, for its owner or an admin."
    )
    async def live_viewers(self, info: Ctx) -> int | None:
        return await video_live_viewers(info, self.view.id)


@strawberry.type
class VideoEdge:
    cursor: str
    node: Video


@strawberry.type
class VideoConnection:
    edges: list[VideoEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[VideoView]) -> VideoConnection:
        return cls(
            edges=[VideoEdge(cursor=c, node=Video.of(v)) for v, c in page.with_cursors()],
            page_info=PageInfo.of(page),
        )


@strawberry.input
class VideoFilter:
    creator_id: strawberry.ID | None = None
    category: str | None = None
    tag: str | None = None
    status: VideoStatus | None = None  # type: ignore[valid-type]
    sort: VideoSort = VideoSort.RECENT


@strawberry.input(description="Fields to change; leave one out to keep it.")
class UpdateVideoInput:
    title: str | None = None
    description: str | None = strawberry.field(
        default=None, description="`00:00 Title` lines set the chapters."
    )
    tags: list[str] | None = None
    category: str | None = None
    visibility: Visibility | None = None  # type: ignore[valid-type]


@strawberry.type(description="A transcode's progress, as its owner follows it.")
class TranscodeProgress:
    video_id: strawberry.ID
    state: str = strawberry.field(description="queued, running, done, failed or cancelled.")
    stage: str
    percent: float
    playable: bool = strawberry.field(description="The lowest rendition plays already.")
    error: str | None
    notes: list[str]
