"""GraphQL side of uploads: the `createUpload` mutation and the `upload(id)` query.

`createUpload` gives a browser a one-time upload URL (tus: HEAD, then PATCH) and the
new video's id, so it never needs to hold a long-lived token.
"""

from __future__ import annotations

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info

from cluster.db.models import Visibility as VisibilityEnum
from cluster.errors import InvalidInput
from serve.gateway.context import GatewayContext
from serve.gateway.video_types import Video, Visibility
from serve.library.views import VideoView
from serve.uploads.tus import sanitise_metadata
from serve.uploads.views import Owner, UploadView

Ctx = Info[GatewayContext, None]


@strawberry.type(description="The part of a video an uploader sees while it uploads.")
class UploadedVideo:
    id: strawberry.ID


@strawberry.type
class Upload:
    id: strawberry.ID
    # Byte counts are Floats: GraphQL's Int stops at 2^31.
    offset: float
    length: float | None
    status: str = strawberry.field(description="active, complete, failed or expired.")
    failure_reason: str | None
    video: UploadedVideo | None

    @classmethod
    def of(cls, view: UploadView) -> Upload:
        return cls(
            id=strawberry.ID(view.id),
            offset=float(view.offset),
            length=None if view.length is None else float(view.length),
            status=view.status,
            failure_reason=view.failure_reason,
            video=UploadedVideo(id=strawberry.ID(view.video_id)) if view.video_id else None,
        )


@strawberry.input
class CreateUploadInput:
    size: float | None = strawberry.field(
        default=None, description="File size in bytes; leave out to declare it while uploading."
    )
    filename: str | None = None
    title: str | None = None
    description: str | None = None
    visibility: Visibility = VisibilityEnum.PUBLIC  # type: ignore[valid-type]


@strawberry.type
class CreateUploadPayload:
    upload_url: str = strawberry.field(
        description="tus upload URL with its own one-time token: HEAD it, then PATCH bytes."
    )
    upload: Upload
    video: Video


async def create_upload(context: GatewayContext, data: CreateUploadInput) -> CreateUploadPayload:
    viewer = context.require_viewer()
    files = context.files
    size: int | None = None
    if data.size is not None:
        if data.size < 0 or data.size != int(data.size) or data.size >= 2**63:
            raise InvalidInput("size", "must be a whole number of bytes")
        size = int(data.size)
    raw = {
        "filename": data.filename,
        "title": data.title,
        "description": data.description,
        "visibility": VisibilityEnum(data.visibility).value,
    }
    metadata = sanitise_metadata({k: v for k, v in raw.items() if v is not None})
    view = await run_in_threadpool(
        files.uploads.create,
        owner=Owner(id=viewer.id, limits=viewer.limits),
        length=size,
        metadata=metadata,
        with_video=True,
    )
    token = files.uploads.url_token(view.id)
    request = context.request
    url = f"/files/{view.id}?token={token}"  # a bare context (tests) has no request
    if request is not None:
        url = files.url(request, view.id, token)
    assert view.video_id is not None
    video: VideoView | None = await run_in_threadpool(
        context.library.video, video_id=view.video_id, viewer_id=viewer.id
    )
    assert video is not None  # just created, and the viewer owns it
    return CreateUploadPayload(
        upload_url=url,
        upload=Upload.of(view),
        video=Video.of(video),
    )


async def upload(context: GatewayContext, upload_id: str) -> Upload | None:
    viewer = context.require_viewer()
    view = await run_in_threadpool(context.files.uploads.view, upload_id)
    # Another user's upload reads as absent.
    if view is None or view.owner_id != viewer.id:
        return None
    return Upload.of(view)


@strawberry.type
class UploadQueries:
    @strawberry.field(description="One of your uploads: progress, status, its video.")
    async def upload(self, info: Ctx, id: strawberry.ID) -> Upload | None:
        return await upload(info.context, str(id))


@strawberry.type
class UploadMutations:
    @strawberry.mutation(description="Start an upload: a one-time tus URL and the new video.")
    async def create_upload(self, info: Ctx, input: CreateUploadInput) -> CreateUploadPayload:
        return await create_upload(info.context, input)
