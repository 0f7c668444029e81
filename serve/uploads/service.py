"""Resumable uploads (tus 1.0): state in the database, bytes in the object store.

`Uploads` is a plain class built once per process by `serve.platform.Platform`.

How bytes travel, and why memory stays flat: the tus routes (`serve/uploads/routes.py`)
run in the upload edge on each node (`serve/uploads/edge.py`, a plain uvicorn server)
and in the gateway replica, and call `Uploads.write` (`patches.py`) in that process,
which pulls the request body chunk by chunk and hands each few MiB to a writer thread
that appends to the local file or to an on-disk S3 part spool. We hold at most two
flushes (`FLUSH_BYTES`: one being written, one arriving) plus, on S3, the part being
sent. On the edge, uvicorn reads the socket only as fast as we take the body. In the
gateway we cannot bound Serve's own receive queue: Ray Serve 2.60 drains the body into
an unbounded asyncio queue there as fast as the client sends it, so up to one PATCH body
can wait in the replica while we write. Any server can take any request, because an
upload's whole state is its database row and its stored bytes.

A completed upload becomes a video (`complete`: status `processing`) and is handed to
the job actor, whose pipeline probes it once and refuses it there if it is not a video
(`actors/jobs.py`); no request waits for a probe. `expiry.sweep` (run by the scheduler
actor) reclaims expired uploads and completes any whose hand-over was lost.

    service.py  creation, reads, termination, one-time URLs, concatenation, completion
    patches.py  the byte path          rows.py    whose, alive, expiry
    locks.py    one writer per upload  quotas.py  tier limits
    views.py    plain data out         writers.py local files and S3 multipart
    routes.py   tus over HTTP          edge.py    the upload edge server
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from actors.jobs_client import JobsClient
from cluster.config import Settings
from cluster.db.models import (
    Upload,
    UploadStatus,
    User,
    Video,
    VideoStatus,
    Visibility,
    new_id,
)
from cluster.errors import Forbidden
from cluster.events import emit
from cluster.kv import KV
from cluster.security import constant_time_equal, derive_key, keyed_hash
from cluster.storage import ObjectStore
from serve.uploads.errors import (
    MalformedRequest,
    UploadGone,
    UploadNotFound,
    UploadRefused,
)
from serve.uploads.locks import UploadLocks
from serve.uploads.patches import Patches
from serve.uploads.quotas import Quotas
from serve.uploads.rows import UploadRows
from serve.uploads.tus import Concat
from serve.uploads.views import Owner, UploadView, target_of, view_of
from serve.uploads.writers import Backend, open_backend

log = logging.getLogger(__name__)

FLUSH_BYTES = 4 * 1024 * 1024
URL_TOKEN_TTL_S = 7 * 24 * 3600
GIB = 1024**3


class Uploads:
    """tus upload logic over a database, an object store and a KV store (locks)."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: Any,
        store: ObjectStore,
        kv: KV,
        jobs: JobsClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.store = store
        self.kv = kv
        self.jobs = jobs
        self.clock = clock
        self.backend: Backend = open_backend(
            store, part_bytes=settings.upload_part_bytes, spool_dir=settings.upload_buffer_dir
        )
        self._token_key = derive_key(settings.signing_secret.get_secret_value(), "upload-url")
        self.rows = UploadRows(settings=settings, backend=self.backend, clock=clock)
        self.locks = UploadLocks(kv, ttl_s=settings.upload_lock_ttl_s)
        self.quotas = Quotas(settings=settings, sessions=sessions, clock=clock)
        self.patches = Patches(
            settings=settings,
            sessions=sessions,
            backend=self.backend,
            rows=self.rows,
            locks=self.locks,
            quotas=self.quotas,
        )
        # Append one PATCH body (`Patches.write`): the byte path, in a module of its own.
        self.write = self.patches.write

    # --- creation ------------------------------------------------------------------

    def create(
        self,
        *,
        owner: Owner,
        length: int | None,
        metadata: dict[str, str],
        concat: Concat | None = None,
        with_video: bool = False,
    ) -> UploadView:
        """Create an upload (POST /files/, or createUpload with `with_video`).

        `length` None means deferred. A final concatenation is joined here and comes
        back complete.
        """
        limits = owner.limits
        if metadata.get("visibility") == "private" and not limits.private_videos:
            raise UploadRefused(
                "private videos are not part of your tier: choose public or unlisted, "
                "or upgrade your plan"
            )
        if concat is not None and concat.kind == "final":
            return self._concatenate(owner=owner, parts=concat.parts, metadata=metadata)
        if length is not None:
            self.quotas.check(owner=owner, length=length)
        else:
            self.quotas.check_minutes(owner)
        upload_id = new_id()
        key = f"raw/{upload_id}"
        multipart = self.backend.begin(upload_id, key)
        with self.sessions.begin() as session:
            video_id = None
            if with_video:
                video = Video(
                    owner_id=owner.id,
                    title=metadata.get("title") or metadata.get("filename", ""),
                    description=metadata.get("description", ""),
                    visibility=Visibility(metadata.get("visibility", "public")),
                    status=VideoStatus.UPLOADING,
                )
                session.add(video)
                session.flush()
                video_id = video.id
                emit(session, "video.created", video_id, owner_id=owner.id)
            row = Upload(
                id=upload_id,
                owner_id=owner.id,
                video_id=video_id,
                length=length,
                offset=0,
                meta=metadata,
                status=UploadStatus.ACTIVE,
                is_partial=concat is not None and concat.kind == "partial",
                storage_key=key,
                multipart_id=multipart,
                expires_at=self.rows.expiry(),
            )
            session.add(row)
            session.flush()
            return view_of(row)

    def owner(self, owner_id: str) -> Owner:
        """The owner behind an upload URL, with their tier's limits as of now."""
        with self.sessions() as session:
            user = session.get(User, owner_id)
            if user is None:
                raise UploadNotFound()
            if user.suspended_at is not None:
                raise Forbidden("this account is suspended: contact an administrator")
            return Owner(id=user.id, limits=self.settings.tiers[user.tier.value])

    # --- reading and ending --------------------------------------------------------

    def head(self, *, upload_id: str, owner_id: str) -> UploadView:
        with self.sessions() as session:
            row = self.rows.owned(session, upload_id, owner_id)
            self.rows.refuse_dead(session, row)
            return view_of(row)

    def view(self, upload_id: str) -> UploadView | None:
        with self.sessions() as session:
            row = session.get(Upload, upload_id)
            return None if row is None else view_of(row)

    def terminate(self, *, upload_id: str, owner_id: str) -> None:
        """Delete an upload and its bytes (tus termination)."""
        token = self.locks.acquire(upload_id)
        try:
            with self.sessions.begin() as session:
                row = self.rows.owned(session, upload_id, owner_id)
                self.rows.discard(row)
                if row.video_id is not None:
                    video = session.get(Video, row.video_id)
                    if video is not None and video.status == VideoStatus.UPLOADING:
                        session.delete(video)
                session.delete(row)
        finally:
            self.locks.release(upload_id, token)

    # --- one-time upload URLs ------------------------------------------------------

    def url_token(self, upload_id: str) -> str:
        """A token that lets whoever holds the upload's URL write to it, and nothing else."""
        expires = int(self.clock()) + URL_TOKEN_TTL_S
        return f"{expires}.{keyed_hash(self._token_key, upload_id, str(expires))}"

    def owner_for_token(self, upload_id: str, token: str) -> str:
        refused = UploadNotFound("this upload URL is not valid: ask for a new one")
        expires, _, mac = token.partition(".")
        if not expires.isdigit() or len(expires) > 12:
            raise refused
        if not constant_time_equal(mac, keyed_hash(self._token_key, upload_id, expires)):
            raise refused
        if int(expires) <= self.clock():
            raise UploadGone("this upload URL has expired: ask for a new one")
        view = self.view(upload_id)
        if view is None:
            raise refused
        return view.owner_id

    # --- concatenation ---------------------------------------------------------------

    def _concatenate(
        self, *, owner: Owner, parts: tuple[str, ...], metadata: dict[str, str]
    ) -> UploadView:
        with self.sessions() as session:
            rows = []
            for part_id in parts:
                part = self.rows.owned(session, part_id, owner.id)
                self.rows.refuse_dead(session, part)
                if not part.is_partial:
                    raise MalformedRequest(f"upload {part_id} was not created as a partial upload")
                if part.length is None or part.offset != part.length:
                    raise MalformedRequest(
                        f"partial upload {part_id} is not complete: finish it first"
                    )
                rows.append(part)
        length = sum(int(p.length or 0) for p in rows)
        self.quotas.check(owner=owner, length=length, exclude=parts)
        upload_id = new_id()
        key = f"raw/{upload_id}"
        multipart = self.backend.begin(upload_id, key)
        with self.sessions.begin() as session:
            row = Upload(
                id=upload_id,
                owner_id=owner.id,
                length=length,
                offset=0,
                meta=metadata,
                status=UploadStatus.ACTIVE,
                parts=list(parts),
                storage_key=key,
                multipart_id=multipart,
                expires_at=self.rows.expiry(),
            )
            session.add(row)
        writer = self.backend.open(target_of(row))
        try:
            for part in rows:
                for block in self.store.iter_bytes(part.storage_key, chunk_size=FLUSH_BYTES):
                    writer.write(block)
            writer.commit(final=True)
        except BaseException:
            writer.abort()
            raise
        with self.sessions.begin() as session:
            final = session.get(Upload, upload_id)
            final.offset, final.status = length, UploadStatus.COMPLETE
            # The partials' bytes now live in the final object.
            for part in rows:
                self.rows.discard(part)
                stale = session.get(Upload, part.id)
                if stale is not None:
                    session.delete(stale)
            session.flush()
            return view_of(final)

    # --- completion --------------------------------------------------------------------

    def complete(self, upload_id: str) -> UploadView | None:
        """Make a complete upload a video (status `processing`) and hand it to the job
        actor, which probes it and transcodes it, or refuses it with the reason.
        Idempotent: the sweep calls it again for any upload whose hand-over was lost."""
        with self.sessions.begin() as session:
            row = session.get(Upload, upload_id)
            if row is None or row.status != UploadStatus.COMPLETE or row.is_partial:
                return None if row is None else view_of(row)
            user = session.get(User, row.owner_id)
            limits = self.settings.tiers[user.tier.value if user is not None else "free"]
            video = session.get(Video, row.video_id) if row.video_id else None
            if video is None:
                meta = dict(row.meta or {})
                video = Video(
                    owner_id=row.owner_id,
                    title=meta.get("title") or meta.get("filename", ""),
                    description=meta.get("description", ""),
                    visibility=Visibility(meta.get("visibility", "public")),
                )
                session.add(video)
                session.flush()
                emit(session, "video.created", video.id, owner_id=row.owner_id)
                row.video_id = video.id
            elif video.status not in (VideoStatus.UPLOADING, VideoStatus.PROCESSING):
                return view_of(row)  # finished already: ready, or refused
            video.status = VideoStatus.PROCESSING
            video.source_key = row.storage_key
            handover = {
                "upload_id": row.id,
                "video_id": video.id,
                "owner_id": row.owner_id,
                "source_key": row.storage_key,
            }
        if self.jobs is None:
            log.warning("no job actor: video %s waits in 'processing'", handover["video_id"])
            return self.view(upload_id)
        minutes_left = limits.upload_minutes_per_month - self.quotas.minutes_used(
            handover["owner_id"], excluding=handover["video_id"]
        )
        self.jobs.submit_upload(
            **handover,
            params={"max_height": limits.max_output_height, "minutes_left": minutes_left},
        )
        return self.view(upload_id)
