"""Queries, mutations and the subscription of the video library.

Resolvers authenticate, turn GraphQL input into the service's types and call the
`videos` service; who may see or change what is decided there, not here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncGenerator

import strawberry
from starlette.concurrency import run_in_threadpool

from actors.jobs_client import JobsClient, JobView
from cluster.db.models import VideoStatus as VideoStatusEnum
from cluster.db.models import Visibility as VisibilityEnum
from cluster.errors import InvalidInput
from serve.gateway.video_types import (
    ChapterInput,
    Comment,
    CommentConnection,
    Ctx,
    TranscodeProgress,
    UpdateVideoInput,
    Video,
    VideoConnection,
    VideoFilter,
)
from serve.library.errors import NotFound
from serve.library.pagination import Page
from serve.library.views import CommentView, VideoChanges, VideoView
from serve.library.views import VideoFilter as FilterView

FINAL_STATES = frozenset({"done", "failed", "cancelled"})
WATCH_TIMEOUT_S = 25.0
# How often a subscription looks for the job of an upload that is still being finished.
PENDING_POLL_S = 1.0


def _image(encoded: str | None) -> bytes | None:
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("imageBase64", "is not base64: encode the image file") from None


async def _video_or_none(info: Ctx, video_id: str) -> Video | None:
    view: VideoView | None = await run_in_threadpool(
        info.context.library.video, video_id=video_id, viewer_id=info.context.viewer_id
    )
    return Video.of(view) if view is not None else None


@strawberry.type
class VideoQueries:
    @strawberry.field(description="A video you may see (private ones: their owner only).")
    async def video(self, info: Ctx, id: strawberry.ID) -> Video | None:
        info.context.refuse_bad_token()
        return await _video_or_none(info, str(id))

    @strawberry.field(
        description="The library: public, ready videos; with creatorId set to yourself, "
        "all of yours."
    )
    async def videos(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: VideoFilter | None = None,
    ) -> VideoConnection:
        context = info.context
        context.refuse_bad_token()
        wanted = filter or VideoFilter()
        page: Page[VideoView] = await run_in_threadpool(
            context.library.list_videos,
            viewer_id=context.viewer_id,
            first=first,
            after=after,
            filter=FilterView(
                creator_id=str(wanted.creator_id) if wanted.creator_id else None,
                category=wanted.category,
                tag=wanted.tag,
                status=VideoStatusEnum(wanted.status) if wanted.status else None,
                sort=wanted.sort.value,
            ),
        )
        return VideoConnection.of(page)

    @strawberry.field(description="A video's comments, newest first.")
    async def comments(
        self, info: Ctx, video_id: strawberry.ID, first: int = 20, after: str | None = None
    ) -> CommentConnection:
        context = info.context
        context.refuse_bad_token()
        page: Page[CommentView] = await run_in_threadpool(
            context.comments.page,
            video_id=str(video_id),
            viewer_id=context.viewer_id,
            first=first,
            after=after,
        )
        return CommentConnection.of(page)


@strawberry.type
class VideoMutations:
    @strawberry.mutation(description="Change your video's metadata.")
    async def update_video(self, info: Ctx, id: strawberry.ID, input: UpdateVideoInput) -> Video:
        context = info.context
        viewer = context.require_viewer()
        changes = VideoChanges(
            title=input.title,
            description=input.description,
            tags=tuple(input.tags) if input.tags is not None else None,
            category=input.category,
            visibility=VisibilityEnum(input.visibility) if input.visibility else None,
        )
        view: VideoView = await run_in_threadpool(
            context.library.update_video, video_id=str(id), actor_id=viewer.id, changes=changes
        )
        return Video.of(view)

    @strawberry.mutation(description="Delete your video: its jobs stop, its files and comments go.")
    async def delete_video(self, info: Ctx, id: strawberry.ID) -> bool:
        context = info.context
        viewer = context.require_viewer()
        await run_in_threadpool(context.library.delete_video, video_id=str(id), actor_id=viewer.id)
        return True

    @strawberry.mutation(description="Like a video; liking twice counts once.")
    async def like_video(self, info: Ctx, id: strawberry.ID) -> Video:
        context = info.context
        viewer = context.require_viewer()
        view: VideoView = await run_in_threadpool(
            context.library.like, video_id=str(id), user_id=viewer.id
        )
        return Video.of(view)

    @strawberry.mutation(description="Take your like back.")
    async def unlike_video(self, info: Ctx, id: strawberry.ID) -> Video:
        context = info.context
        viewer = context.require_viewer()
        view: VideoView = await run_in_threadpool(
            context.library.unlike, video_id=str(id), user_id=viewer.id
        )
        return Video.of(view)

    @strawberry.mutation(description="Comment on a video, or reply with parentId.")
    async def add_comment(
        self,
        info: Ctx,
        video_id: strawberry.ID,
        body: str,
        parent_id: strawberry.ID | None = None,
        timestamp_seconds: float | None = None,
    ) -> Comment:
        context = info.context
        viewer = context.require_viewer()
        view: CommentView = await run_in_threadpool(
            context.comments.add_comment,
            video_id=str(video_id),
            author_id=viewer.id,
            body=body,
            parent_id=str(parent_id) if parent_id else None,
            timestamp_s=timestamp_seconds,
        )
        return Comment.of(view)

    @strawberry.mutation(description="Edit your comment.")
    async def edit_comment(self, info: Ctx, id: strawberry.ID, body: str) -> Comment:
        context = info.context
        viewer = context.require_viewer()
        view: CommentView = await run_in_threadpool(
            context.comments.edit_comment, comment_id=str(id), author_id=viewer.id, body=body
        )
        return Comment.of(view)

    @strawberry.mutation(description="Delete your comment, or one on your video.")
    async def delete_comment(self, info: Ctx, id: strawberry.ID) -> Comment:
        context = info.context
        viewer = context.require_viewer()
        view: CommentView = await run_in_threadpool(
            context.comments.delete_comment, comment_id=str(id), actor_id=viewer.id
        )
        return Comment.of(view)

    @strawberry.mutation(description="Replace your video's chapters; an empty list removes them.")
    async def set_chapters(
        self, info: Ctx, video_id: strawberry.ID, chapters: list[ChapterInput]
    ) -> Video:
        context = info.context
        viewer = context.require_viewer()
        view: VideoView = await run_in_threadpool(
            context.library.set_chapters,
            video_id=str(video_id),
            actor_id=viewer.id,
            chapters=[c.view() for c in chapters],
        )
        return Video.of(view)

    @strawberry.mutation(
        description="Set the poster: the frame at atSeconds, or an image (imageBase64)."
    )
    async def set_thumbnail(
        self,
        info: Ctx,
        video_id: strawberry.ID,
        at_seconds: float | None = None,
        image_base64: str | None = None,
    ) -> Video:
        context = info.context
        viewer = context.require_viewer()
        view: VideoView = await run_in_threadpool(
            context.library.set_thumbnail,
            video_id=str(video_id),
            actor_id=viewer.id,
            at_s=at_seconds,
            image=_image(image_base64),
        )
        return Video.of(view)


def _progress(view: JobView) -> TranscodeProgress:
    return TranscodeProgress(
        video_id=strawberry.ID(view.video_id),
        state=view.state,
        stage=view.stage,
        percent=view.percent,
        playable=view.playable,
        error=view.error,
        notes=list(view.notes),
    )


async def _job_or_status(jobs: JobsClient, video: VideoView) -> JobView:
    """The video's newest job; without one, what the video's own status says."""
    view = await jobs.latest(video.id)
    if view is not None:
        return view
    # No job yet (the upload is being finished) or never one here (a failed probe).
    state = {"ready": "done", "failed": "failed"}.get(video.status.value, "queued")
    return JobView(
        id="",
        video_id=video.id,
        state=state,
        stage=state,
        percent=100.0 if state == "done" else 0.0,
        playable=state == "done",
        error=video.failure_reason,
        notes=(),
        version=0,
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Your video's transcode, from now until it is done, failed or cancelled. "
        "Over a websocket, send the token as `Authorization` in connection_init's payload."
    )
    async def transcode_progress(
        self, info: Ctx, video_id: strawberry.ID
    ) -> AsyncGenerator[TranscodeProgress, None]:
        context = info.context
        params = context.connection_params
        if context.viewer is None and isinstance(params, dict):
            await context.authenticate(params.get("Authorization") or params.get("authorization"))
        viewer = context.require_viewer()
        video: VideoView | None = await run_in_threadpool(
            context.library.video, video_id=str(video_id), viewer_id=viewer.id
        )
        if video is None or video.owner_id != viewer.id:
            raise NotFound(f"no video {str(video_id)!r} of yours: check the id")
        jobs = context.jobs
        if jobs is None:
            raise InvalidInput("videoId", "progress needs the job service, which is not running")
        view = await _job_or_status(jobs, video)
        yield _progress(view)
        # The upload is handed to the job actor a moment after its last byte arrives, so
        # a frontend that subscribes right after its upload often comes before the job:
        # look again until there is one to watch, or the video is settled without one.
        while not view.id and view.state not in FINAL_STATES:
            await asyncio.sleep(PENDING_POLL_S)
            video = await run_in_threadpool(
                context.library.video, video_id=str(video_id), viewer_id=viewer.id
            )
            if video is None:
                return  # deleted meanwhile: nothing more will happen to it
            found = await _job_or_status(jobs, video)
            shown, view = _progress(view), found
            if _progress(found) != shown:  # the job's first view may say "queued" again
                yield _progress(found)
        while view.state not in FINAL_STATES:
            newer = await jobs.watch(view.id, after_version=view.version, timeout=WATCH_TIMEOUT_S)
            if newer is None or newer.version == view.version:
                continue  # a quiet stretch: ask again
            view = newer
            yield _progress(view)
