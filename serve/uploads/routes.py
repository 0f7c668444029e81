"""tus 1.0.0 at /files/: the HTTP edge of `serve/uploads/service.py`.

These routes run in the upload edge (`serve/uploads/edge.py`) and in the gateway
replica, and stream each PATCH body straight into `Uploads.write` in that process.
`Files.url` says where an upload's requests go: the upload edge, wherever it was
created. A completed upload is handed to the job actor in the background
(`Uploads.complete`); the client's PATCH does not wait for that. `STATUS` is this
edge's one mapping from vidray's errors to HTTP statuses.

Credentials: `Authorization: Bearer <access token>`, or the `token` query parameter of
an upload URL made by the `createUpload` mutation (good for that one upload only).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, HTTPConnection

from cluster.errors import Forbidden, InvalidInput, Unauthenticated, VidrayError
from serve.accounts.service import Accounts
from serve.uploads.errors import (
    ChecksumMismatch,
    LimitExceeded,
    MalformedRequest,
    OffsetConflict,
    UnsupportedChecksum,
    UploadError,
    UploadGone,
    UploadLocked,
    UploadNotFound,
    UploadRefused,
)
from serve.uploads.metering import metered
from serve.uploads.service import Uploads
from serve.uploads.tus import (
    CHECKSUM_ALGORITHMS,
    EXPOSED_HEADERS,
    EXTENSIONS,
    OFFSET_CONTENT_TYPE,
    TUS_VERSION,
    check_version,
    is_upload_id,
    parse_checksum,
    parse_concat,
    parse_defer_length,
    parse_metadata,
    parse_uint,
)
from serve.uploads.views import Owner, UploadView

log = logging.getLogger(__name__)


class VersionRefused(MalformedRequest):
    """Tus-Resumable is missing or names another version."""


# Most specific first: the first matching class decides.
STATUS: dict[type[VidrayError], int] = {
    VersionRefused: 412,
    MalformedRequest: 400,
    UnsupportedChecksum: 400,
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    UploadRefused: 403,
    UploadNotFound: 404,
    OffsetConflict: 409,
    UploadGone: 410,
    LimitExceeded: 413,
    UploadLocked: 423,
    ChecksumMismatch: 460,
}


class Files:
    """What the /files/ routes need: the upload and account services of this process."""

    def __init__(
        self,
        *,
        uploads: Uploads,
        accounts: Accounts,
        upload_base: Callable[[HTTPConnection], str] | None = None,
    ) -> None:
        """`upload_base`: where clients send an upload's requests (the upload edge), from
        the request that created it; without one, this server."""
        self.uploads = uploads
        self.accounts = accounts
        self.upload_base = upload_base or _own_base
        self.pending: set[asyncio.Task[Any]] = set()

    def url(self, request: HTTPConnection, upload_id: str, token: str | None = None) -> str:
        """An upload's URL, with the one-time token of an upload link if given."""
        base = self.upload_base(request)
        return f"{base}/files/{upload_id}" + (f"?token={token}" if token else "")

    def owner_of(self, request: Request, upload_id: str | None = None) -> Callable[[], Owner]:
        """Who sends `request`, as a blocking call for a worker thread, so that a PATCH
        resolves its owner and opens its upload in one hop. Raises at once when the
        request carries no credentials at all."""
        token = request.query_params.get("token")
        if token is not None and upload_id is not None:
            uploads = self.uploads
            return lambda: uploads.owner(uploads.owner_for_token(upload_id, token))
        header = request.headers.get("authorization")
        scheme, _, access = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not access.strip():
            raise Unauthenticated(
                "send 'Authorization: Bearer <access token>' (sign in with verifyOtp or "
                "login), or use the upload URL from the createUpload mutation"
            )
        accounts = self.accounts

        def signed_in() -> Owner:
            user = accounts.authenticate(access.strip())
            return Owner(id=user.id, limits=user.limits)

        return signed_in

    async def owner(self, request: Request, upload_id: str | None = None) -> Owner:
        return await run_in_threadpool(self.owner_of(request, upload_id))

    def finish_later(self, upload_id: str) -> None:
        """Hand a completed upload to the job actor in the background; a lost hand-over
        is redone by the sweep."""

        async def run() -> None:
            try:
                await run_in_threadpool(self.uploads.complete, upload_id)
            except Exception:
                log.exception("completing upload %s failed; the sweep will retry", upload_id)

        task = asyncio.get_running_loop().create_task(run())
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def settle(self) -> None:
        """Wait for background finishes (tests, shutdown)."""
        while self.pending:
            await asyncio.gather(*list(self.pending), return_exceptions=True)


def _tus_headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def _error(exc: VidrayError) -> Response:
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), None)
    if status is None:
        # Storage or database trouble: the details name settings, not something to fix.
        log.error("upload request failed: %s", exc)
        status, message = 503, "storage is unavailable right now: retry in a minute (HEAD first)"
    else:
        message = str(exc)
    headers = _tus_headers()
    if status == 412:
        headers["Tus-Version"] = TUS_VERSION
    return Response(message + "\n", status_code=status, headers=headers, media_type="text/plain")


def _upload_headers(view: UploadView, request: Request) -> dict[str, str]:
    headers = _tus_headers(**{"Upload-Offset": str(view.offset)})
    if view.length is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(view.length)
    if view.expires_at is not None and view.status == "active":
        headers["Upload-Expires"] = format_datetime(view.expires_at, usegmt=True)
    if view.meta:
        headers["Upload-Metadata"] = ",".join(
            f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in view.meta.items()
        )
    if view.is_partial:
        headers["Upload-Concat"] = "partial"
    return headers


def _own_base(request: HTTPConnection) -> str:
    return str(request.base_url).rstrip("/")


def allow_browsers(app: FastAPI, origins: list[str]) -> None:
    """CORS for tus-js-client and the GraphQL pages: browsers upload from other origins
    (and from the gateway's origin to the upload edge's port), and read the tus headers."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "PATCH", "HEAD", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=list(EXPOSED_HEADERS),
        max_age=600,
    )


def create_router(files: Files, *, max_size: int) -> APIRouter:
    router = APIRouter()
    uploads = files.uploads

    def options() -> Response:
        return Response(
            status_code=204,
            headers=_tus_headers(
                **{
                    "Tus-Version": TUS_VERSION,
                    "Tus-Extension": ",".join(EXTENSIONS),
                    "Tus-Max-Size": str(max_size),
                    "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
                }
            ),
        )

    @router.options("/files/")
    @router.options("/files/{upload_id}")
    async def tus_options() -> Response:
        return options()

    @router.post("/files/")
    async def create(request: Request) -> Response:
        try:
            _check_version(request)
            h = request.headers
            concat = parse_concat(h.get("upload-concat"))
            length = parse_uint("Upload-Length", h.get("upload-length"))
            deferred = parse_defer_length(h.get("upload-defer-length"))
            final = concat is not None and concat.kind == "final"
            if not final and (length is None) == (not deferred):
                raise MalformedRequest("send either Upload-Length or 'Upload-Defer-Length: 1'")
            if final and (length is not None or deferred):
                raise MalformedRequest("a final upload's length is the sum of its parts: omit it")
            metadata = parse_metadata(h.get("upload-metadata"))
            checksum = parse_checksum(h.get("upload-checksum"))
            with_body = h.get("content-type", "").startswith(OFFSET_CONTENT_TYPE)
            content_length = parse_uint("Content-Length", h.get("content-length"))
            if with_body and length is not None and (content_length or 0) > length:
                raise LimitExceeded("the body is longer than Upload-Length: nothing was stored")
            owner = await files.owner(request)
            view = await run_in_threadpool(
                uploads.create, owner=owner, length=length, metadata=metadata, concat=concat
            )
        except VidrayError as exc:
            return _error(exc)
        if with_body and not final:
            try:
                view = await uploads.write(
                    upload_id=view.id,
                    owner=owner,
                    offset=0,
                    body=request.stream(),
                    content_length=content_length,
                    checksum=checksum,
                )
            except (UploadError, ClientDisconnect) as exc:
                # The upload exists either way: answer with it; HEAD shows what was kept.
                log.info("creation-with-upload body refused for %s: %s", view.id, exc)
                view = await run_in_threadpool(uploads.head, upload_id=view.id, owner_id=owner.id)
        if view.complete and not view.is_partial:
            files.finish_later(view.id)
        headers = _upload_headers(view, request)
        headers["Location"] = files.url(request, view.id)
        return Response(status_code=201, headers=headers)

    @router.head("/files/{upload_id}")
    async def head(request: Request, upload_id: str) -> Response:
        try:
            _check(request, upload_id)
            owner = await files.owner(request, upload_id)
            view = await run_in_threadpool(uploads.head, upload_id=upload_id, owner_id=owner.id)
        except VidrayError as exc:
            response = _error(exc)
            return Response(status_code=response.status_code, headers=dict(response.headers))
        return Response(status_code=200, headers=_upload_headers(view, request))

    @metered
    async def patch(request: Request, upload_id: str) -> Response:
        h = request.headers
        try:
            _check(request, upload_id)
            if not h.get("content-type", "").startswith(OFFSET_CONTENT_TYPE):
                return Response(
                    f"send Content-Type: {OFFSET_CONTENT_TYPE}\n",
                    status_code=415,
                    headers=_tus_headers(),
                )
            offset = parse_uint("Upload-Offset", h.get("upload-offset"), required=True)
            assert offset is not None
            content_length = parse_uint("Content-Length", h.get("content-length"))
            length = parse_uint("Upload-Length", h.get("upload-length"))
            checksum = parse_checksum(h.get("upload-checksum"))
            view = await uploads.write(
                upload_id=upload_id,
                owner=files.owner_of(request, upload_id),
                offset=offset,
                body=request.stream(),
                content_length=content_length,
                checksum=checksum,
                length=length,
            )
        except VidrayError as exc:
            return _error(exc)
        except ClientDisconnect:
            # Nobody is listening; what arrived is stored and HEAD reports it.
            return Response(status_code=400, headers=_tus_headers())
        if view.complete and not view.is_partial:
            files.finish_later(view.id)
        headers = _tus_headers(**{"Upload-Offset": str(view.offset)})
        if view.expires_at is not None and view.status == "active":
            headers["Upload-Expires"] = format_datetime(view.expires_at, usegmt=True)
        return Response(status_code=204, headers=headers)

    async def delete(request: Request, upload_id: str) -> Response:
        try:
            _check(request, upload_id)
            owner = await files.owner(request, upload_id)
            await run_in_threadpool(uploads.terminate, upload_id=upload_id, owner_id=owner.id)
        except VidrayError as exc:
            return _error(exc)
        return Response(status_code=204, headers=_tus_headers())

    router.add_api_route("/files/{upload_id}", patch, methods=["PATCH"])
    router.add_api_route("/files/{upload_id}", delete, methods=["DELETE"])

    @router.post("/files/{upload_id}")
    async def override(request: Request, upload_id: str) -> Response:
        # tus: clients behind proxies that only pass GET/POST send the real method here.
        method = request.headers.get("x-http-method-override", "").upper()
        if method == "PATCH":
            return await patch(request, upload_id)
        if method == "DELETE":
            return await delete(request, upload_id)
        return Response(
            "POST to /files/ creates an upload; use PATCH, HEAD or DELETE here\n",
            status_code=405,
            headers=_tus_headers(Allow="OPTIONS, HEAD, PATCH, DELETE"),
        )

    return router


def _check_version(request: Request) -> None:
    try:
        check_version(request.headers.get("tus-resumable"))
    except MalformedRequest as exc:
        raise VersionRefused(str(exc)) from None


def _check(request: Request, upload_id: str) -> None:
    _check_version(request)
    if not is_upload_id(upload_id):
        raise UploadNotFound()
