"""Resumable uploads (tus 1.0): state in the database, bytes in the object store.

`Uploads` is a plain class built once per process by `serve.platform.Platform`.

How bytes travel, and why memory stays flat: the tus routes (`serve/uploads/routes.py`)
run in the upload edge on each node (`serve/uploads/edge.py`, a plain uvicorn server) and
in the gateway replica, and call `Uploads.write` in that process, which pulls the request
body chunk by chunk and hands each few MiB to a writer thread that appends to the local
file or to an on-disk S3 part spool. We hold at most two flushes (`FLUSH_BYTES`: one
being written, one arriving) plus, on S3, the part being sent. On the edge, uvicorn reads
the socket only as fast as we take the body. In the gateway we cannot bound Serve's own
receive queue: Ray Serve 2.60 drains the body into an unbounded asyncio queue there as
fast as the client sends it, so up to one PATCH body can wait in the replica while we
write. Any server can take any request, because an upload's whole state is its
database row and its stored bytes.

A completed upload becomes a video (`complete`: status `processing`) and is handed to
the job actor, whose pipeline probes it once and refuses it there if it is not a video
(`actors/jobs.py`); no request waits for a probe. `sweep` (run by the scheduler actor)
reclaims expired uploads and completes any whose hand-over was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from actors.jobs import JobsClient
from cluster.config import Settings, TierLimits
from cluster.db.models import (
    Job,
    Upload,
    UploadStatus,
    User,
    Video,
    VideoStatus,
    Visibility,
    new_id,
)
from cluster.errors import Forbidden, StorageError
from cluster.events import emit
from cluster.kv import KV
from cluster.security import constant_time_equal, derive_key, keyed_hash
from cluster.storage import ObjectStore
from serve.uploads.errors import (
    LimitExceeded,
    MalformedRequest,
    OffsetConflict,
    UploadGone,
    UploadLocked,
    UploadNotFound,
    UploadRefused,
)
from serve.uploads.tus import Checksum, Concat
from serve.uploads.writers import Backend, Target, Writer, open_backend

log = logging.getLogger(__name__)

FLUSH_BYTES = 4 * 1024 * 1024
URL_TOKEN_TTL_S = 7 * 24 * 3600
GIB = 1024**3


@dataclass(frozen=True, slots=True)
class Owner:
    """Who is uploading, with the limits of their tier."""

    id: str
    limits: TierLimits


@dataclass(frozen=True, slots=True)
class UploadView:
    """What a client may learn of an upload (plain data: it crosses Ray)."""

    id: str
    owner_id: str
    length: int | None
    offset: int
    status: str
    is_partial: bool
    is_final: bool
    meta: dict[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None
    video_id: str | None = None
    failure_reason: str | None = None

    @property
    def complete(self) -> bool:
        return self.length is not None and self.offset == self.length


def _view(row: Upload) -> UploadView:
    return UploadView(
        id=row.id,
        owner_id=row.owner_id,
        length=row.length,
        offset=row.offset,
        status=UploadStatus(row.status).value,
        is_partial=row.is_partial,
        is_final=bool(row.parts),
        meta=dict(row.meta or {}),
        expires_at=_aware(row.expires_at),
        video_id=row.video_id,
        failure_reason=row.failure_reason,
    )


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _target(row: Upload) -> Target:
    return Target(
        upload_id=row.id,
        key=row.storage_key,
        offset=row.offset,
        length=row.length,
        multipart=row.multipart_id,
    )


def _size(n: int) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / 1024**2:.0f} MiB"


def _heap_trimmer() -> Callable[[], object]:
    """glibc's `malloc_trim(0)`: hands the heap's free pages back to the OS.

    A request body reaches the replica as many bytes objects (the ASGI messages Serve's
    proxy forwards). glibc serves them from its heaps, whose free pages it keeps, so a
    replica's RSS would stay at the high-water mark of its largest body. Elsewhere (musl,
    macOS) this does nothing.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    return lambda: trim(0)


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
        self._trim_heap = _heap_trimmer()
        # Every blocking step of a PATCH (lock and row, batches of the body, commit)
        # runs here; threads start when first needed.
        self._io = ThreadPoolExecutor(max_workers=32, thread_name_prefix="upload-io")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _expiry(self) -> datetime:
        return self._now() + timedelta(seconds=self.settings.upload_expiry_s)

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
            self._check_limits(owner=owner, length=length)
        else:
            self._check_minutes(owner)
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
                expires_at=self._expiry(),
            )
            session.add(row)
            session.flush()
            return _view(row)

    def _check_limits(self, *, owner: Owner, length: int, exclude: tuple[str, ...] = ()) -> None:
        limits = owner.limits
        server_max = self.settings.upload_max_bytes
        if length > server_max:
            raise LimitExceeded(
                f"the file is larger than this server accepts ({_size(server_max)}, "
                "Tus-Max-Size): split or compress it",
                limit="max_size",
            )
        if length > limits.max_upload_bytes:
            raise LimitExceeded(
                f"the file is larger than your tier's maximum upload size "
                f"({_size(limits.max_upload_bytes)}): compress it or upgrade your plan",
                limit="max_upload_bytes",
            )
        query = select(func.coalesce(func.sum(Upload.length), 0)).where(
            Upload.owner_id == owner.id,
            Upload.status.in_([UploadStatus.ACTIVE, UploadStatus.COMPLETE]),
        )
        if exclude:
            query = query.where(Upload.id.not_in(exclude))
        with self.sessions() as session:
            used = session.scalar(query)
        if int(used or 0) + length > limits.storage_quota_bytes:
            raise LimitExceeded(
                f"this upload would pass your storage quota ({_size(limits.storage_quota_bytes)}"
                f", {_size(int(used or 0))} used): delete videos or upgrade your plan",
                limit="storage_quota_bytes",
            )
        self._check_minutes(owner)

    def _minutes_used(self, owner_id: str, *, excluding: str | None = None) -> float:
        now = self._now()
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        query = select(func.coalesce(func.sum(Video.duration), 0.0)).where(
            Video.owner_id == owner_id, Video.created_at >= month
        )
        if excluding is not None:
            query = query.where(Video.id != excluding)
        with self.sessions() as session:
            seconds = session.scalar(query)
        return float(seconds or 0.0) / 60

    def _check_minutes(self, owner: Owner) -> None:
        allowed = owner.limits.upload_minutes_per_month
        # At creation the duration is not known yet: once every minute is used, nothing
        # fits, and the client should hear so before it sends the file, not after. The
        # job checks the probed duration against what is left (`actors/jobs.py`).
        if self._minutes_used(owner.id) >= allowed:
            raise LimitExceeded(
                f"you have used your tier's {allowed} upload minutes this month: "
                "wait for next month or upgrade your plan",
                limit="upload_minutes_per_month",
            )

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

    def _owned(self, session: Any, upload_id: str, owner_id: str) -> Upload:
        row = session.get(Upload, upload_id)
        # Another user's upload is reported exactly like a missing one.
        if row is None or row.owner_id != owner_id:
            raise UploadNotFound()
        return row

    def _refuse_dead(self, session: Any, row: Upload) -> None:
        if row.status == UploadStatus.ACTIVE and _aware(row.expires_at) is not None:
            expires = _aware(row.expires_at)
            assert expires is not None
            if expires <= self._now():
                self._discard(row)
                row.status = UploadStatus.EXPIRED
                session.commit()
        if row.status == UploadStatus.EXPIRED:
            raise UploadGone("this upload expired and its bytes were deleted: upload again")
        if row.status == UploadStatus.FAILED:
            raise UploadGone(f"this upload failed ({row.failure_reason}): upload again")

    def head(self, *, upload_id: str, owner_id: str) -> UploadView:
        with self.sessions() as session:
            row = self._owned(session, upload_id, owner_id)
            self._refuse_dead(session, row)
            return _view(row)

    def view(self, upload_id: str) -> UploadView | None:
        with self.sessions() as session:
            row = session.get(Upload, upload_id)
            return None if row is None else _view(row)

    def terminate(self, *, upload_id: str, owner_id: str) -> None:
        """Delete an upload and its bytes (tus termination)."""
        token = self._lock(upload_id)
        try:
            with self.sessions.begin() as session:
                row = self._owned(session, upload_id, owner_id)
                self._discard(row)
                if row.video_id is not None:
                    video = session.get(Video, row.video_id)
                    if video is not None and video.status == VideoStatus.UPLOADING:
                        session.delete(video)
                session.delete(row)
        finally:
            self._unlock(upload_id, token)

    def _discard(self, row: Upload) -> None:
        try:
            self.backend.discard(_target(row))
        except StorageError as exc:  # the sweep retries what is left
            log.warning("could not delete the bytes of upload %s: %s", row.id, exc)

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

    # --- locking ---------------------------------------------------------------------

    def _lock(self, upload_id: str) -> str:
        token = secrets.token_hex(8)
        ttl = self.settings.upload_lock_ttl_s
        if not self.kv.set(f"upload:lock:{upload_id}", token, ttl=ttl, only_new=True):
            raise UploadLocked(
                "another request is writing this upload: wait for it to finish "
                "(or a few seconds for a dropped one to lapse), then HEAD and resume"
            )
        return token

    def _refresh(self, upload_id: str, token: str) -> None:
        key = f"upload:lock:{upload_id}"
        if self.kv.get(key) == token.encode():
            self.kv.set(key, token, ttl=self.settings.upload_lock_ttl_s)

    def _unlock(self, upload_id: str, token: str) -> None:
        key = f"upload:lock:{upload_id}"
        if self.kv.get(key) == token.encode():
            self.kv.delete(key)

    # --- writing ---------------------------------------------------------------------

    def _prepare(
        self,
        *,
        upload_id: str,
        owner: Owner,
        offset: int,
        content_length: int | None,
        length: int | None,
    ) -> Upload:
        with self.sessions.begin() as session:
            row = self._owned(session, upload_id, owner.id)
            # tus: a PATCH to a final upload is 403, whatever became of it since.
            if row.parts:
                raise UploadRefused("a final concatenated upload cannot be written to")
            self._refuse_dead(session, row)
            if length is not None and row.length is None:
                if length < row.offset:
                    raise MalformedRequest(
                        f"Upload-Length {length} is below the {row.offset} bytes already stored"
                    )
                self._check_limits(owner=owner, length=length, exclude=(row.id,))
                row.length = length
            elif length is not None and length != row.length:
                raise MalformedRequest("Upload-Length is fixed once set: send the same value")
            if offset != row.offset:
                raise OffsetConflict(
                    f"Upload-Offset {offset} is not where the upload stands ({row.offset}): "
                    "send HEAD and resume from its Upload-Offset"
                )
            if content_length is not None:
                self._refuse_excess(row, owner, offset + content_length)
            session.expunge(row)
            return row

    def _refuse_excess(self, row: Upload, owner: Owner, end: int) -> None:
        if row.length is not None and end > row.length:
            raise LimitExceeded(
                f"the body runs past Upload-Length ({row.length} bytes): nothing was stored; "
                "send only the remaining bytes",
                limit="upload_length",
            )
        cap = min(self.settings.upload_max_bytes, owner.limits.max_upload_bytes)
        if end > cap:
            raise LimitExceeded(
                f"the upload passes the maximum size ({_size(cap)}): nothing more was stored",
                limit="max_upload_bytes",
            )

    async def write(
        self,
        *,
        upload_id: str,
        owner: Owner | Callable[[], Owner],
        offset: int,
        body: AsyncIterator[bytes],
        content_length: int | None = None,
        checksum: Checksum | None = None,
        length: int | None = None,
    ) -> UploadView:
        """Append one PATCH body at `offset`; returns the upload after the commit.

        `owner` may be a blocking call that says who asks (`Files.owner_of`): it runs in
        the same worker-thread hop that locks the upload and reads its row.

        A connection cut mid-body keeps (durably) what arrived, unless a checksum was
        promised, which only the whole body can satisfy; then the error is re-raised.
        """
        loop = asyncio.get_running_loop()
        asker, row, token, writer = await loop.run_in_executor(
            self._io,
            functools.partial(
                self._open_writer,
                upload_id=upload_id,
                owner=owner,
                offset=offset,
                content_length=content_length,
                length=length,
            ),
        )
        try:
            received, cut = await self._pump(
                row=row, owner=asker, token=token, writer=writer, body=body, checksum=checksum
            )
        except BaseException:
            await loop.run_in_executor(self._io, self._close_writer, upload_id, token)
            raise
        view = await loop.run_in_executor(
            self._io, self._record_and_close, row, writer, row.offset + received, token
        )
        if cut is not None:
            raise cut
        return view

    def _open_writer(
        self,
        *,
        upload_id: str,
        owner: Owner | Callable[[], Owner],
        offset: int,
        content_length: int | None,
        length: int | None,
    ) -> tuple[Owner, Upload, str, Writer]:
        # Owner, lock, row and writer in one thread hop: every hop is paid on every PATCH.
        if not isinstance(owner, Owner):
            owner = owner()
        token = self._lock(upload_id)
        try:
            row = self._prepare(
                upload_id=upload_id,
                owner=owner,
                offset=offset,
                content_length=content_length,
                length=length,
            )
            return owner, row, token, self.backend.open(_target(row))
        except BaseException:
            self._unlock(upload_id, token)
            raise

    def _close_writer(self, upload_id: str, token: str) -> None:
        self._unlock(upload_id, token)
        # The body's chunks are freed by now, but glibc keeps the pages that held them:
        # without this, the replica's RSS stays at the high-water mark of its largest PATCH.
        self._trim_heap()

    async def _pump(
        self,
        *,
        row: Upload,
        owner: Owner,
        token: str,
        writer: Writer,
        body: AsyncIterator[bytes],
        checksum: Checksum | None,
    ) -> tuple[int, BaseException | None]:
        """Write the body; (bytes received, the error that cut it short, if any)."""
        loop = asyncio.get_running_loop()
        hasher = checksum.hasher() if checksum else None
        received = 0
        # Chunks are handed to a writer thread as they came, a few MiB at a time, never
        # copied into one buffer; and one batch is written while the next one arrives, so
        # the body is read at the pace of the slower of network and disk, not of both in
        # turn. At most one batch is in flight, so batches land in order. Serve's proxy
        # pushes the body into a replica with no back-pressure: whatever we are slow to
        # take waits in its queue, in our memory (the upload edge has back-pressure).
        batch: list[bytes] = []
        batched = 0
        writing: asyncio.Future[None] | None = None
        refresh_at = time.monotonic() + self.settings.upload_lock_ttl_s / 3
        cut: BaseException | None = None

        def absorb(chunks: list[bytes]) -> None:
            for data in chunks:
                if hasher is not None:
                    hasher.update(data)
                writer.write(data)

        async def hand_over(chunks: list[bytes]) -> None:
            nonlocal writing
            if writing is not None:
                await writing
            writing = loop.run_in_executor(self._io, absorb, chunks)

        try:
            iterator = body.__aiter__()
            while True:
                try:
                    chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:  # the client went away mid-body
                    cut = exc
                    break
                if not chunk:
                    continue
                # Checked before a byte of this chunk is kept: the excess is never stored.
                self._refuse_excess(row, owner, row.offset + received + len(chunk))
                received += len(chunk)
                batch.append(chunk)
                batched += len(chunk)
                if batched >= FLUSH_BYTES:
                    await hand_over(batch)
                    batch, batched = [], 0
                if time.monotonic() > refresh_at:
                    await loop.run_in_executor(self._io, self._refresh, row.id, token)
                    refresh_at = time.monotonic() + self.settings.upload_lock_ttl_s / 3
            if batch:
                await hand_over(batch)
            if writing is not None:
                await writing
            if checksum is not None and hasher is not None:
                if cut is not None:
                    raise cut
                checksum.verify(hasher.digest())
        except BaseException:
            if writing is not None:  # the writer is not closed under a running write
                with contextlib.suppress(BaseException):
                    await asyncio.shield(writing)
            await loop.run_in_executor(self._io, writer.abort)
            raise
        return received, cut

    def _record_and_close(self, row: Upload, writer: Writer, end: int, token: str) -> UploadView:
        try:
            return self._record(row=row, writer=writer, end=end)
        finally:
            self._close_writer(row.id, token)

    def _record(self, *, row: Upload, writer: Writer, end: int) -> UploadView:
        """Make the bytes durable, and only then move the offset (one thread hop for both)."""
        final = row.length is not None and end == row.length
        try:
            writer.commit(final=final)
        except BaseException:
            writer.abort()
            raise
        view = self._advance(row=row, end=end, final=final, length=row.length)
        try:
            writer.recorded()
        except StorageError as exc:  # a stale tail is only garbage; expiry removes it
            log.warning("upload %s: could not drop a stale tail: %s", row.id, exc)
        return view

    def _advance(self, *, row: Upload, end: int, final: bool, length: int | None) -> UploadView:
        values: dict[str, Any] = {"offset": end, "expires_at": self._expiry(), "length": length}
        if final:
            values["status"] = UploadStatus.COMPLETE
        with self.sessions.begin() as session:
            # Compare-and-set: a writer whose lock lapsed cannot move the offset. One
            # statement, which also hands back the row as written.
            moved = session.execute(
                update(Upload)
                .where(
                    Upload.id == row.id,
                    Upload.offset == row.offset,
                    Upload.status == UploadStatus.ACTIVE,
                )
                .values(**values)
                .returning(Upload)
            ).scalar_one_or_none()
            if moved is None:
                raise OffsetConflict("the upload moved while this request ran: HEAD and resume")
            return _view(moved)

    # --- concatenation ---------------------------------------------------------------

    def _concatenate(
        self, *, owner: Owner, parts: tuple[str, ...], metadata: dict[str, str]
    ) -> UploadView:
        with self.sessions() as session:
            rows = []
            for part_id in parts:
                part = self._owned(session, part_id, owner.id)
                self._refuse_dead(session, part)
                if not part.is_partial:
                    raise MalformedRequest(f"upload {part_id} was not created as a partial upload")
                if part.length is None or part.offset != part.length:
                    raise MalformedRequest(
                        f"partial upload {part_id} is not complete: finish it first"
                    )
                rows.append(part)
        length = sum(int(p.length or 0) for p in rows)
        self._check_limits(owner=owner, length=length, exclude=parts)
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
                expires_at=self._expiry(),
            )
            session.add(row)
        writer = self.backend.open(_target(row))
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
                self._discard(part)
                stale = session.get(Upload, part.id)
                if stale is not None:
                    session.delete(stale)
            session.flush()
            return _view(final)

    # --- completion --------------------------------------------------------------------

    def complete(self, upload_id: str) -> UploadView | None:
        """Make a complete upload a video (status `processing`) and hand it to the job
        actor, which probes it and transcodes it, or refuses it with the reason.
        Idempotent: the sweep calls it again for any upload whose hand-over was lost."""
        with self.sessions.begin() as session:
            row = session.get(Upload, upload_id)
            if row is None or row.status != UploadStatus.COMPLETE or row.is_partial:
                return None if row is None else _view(row)
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
                return _view(row)  # finished already: ready, or refused
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
        minutes_left = limits.upload_minutes_per_month - self._minutes_used(
            handover["owner_id"], excluding=handover["video_id"]
        )
        self.jobs.submit_upload(
            **handover,
            params={"max_height": limits.max_output_height, "minutes_left": minutes_left},
        )
        return self.view(upload_id)

    # --- the sweep ---------------------------------------------------------------------

    def sweep(self) -> int:
        """Reclaim expired uploads (and partials never joined); finish stranded ones."""
        now = self._now()
        reclaimed = 0
        with self.sessions() as session:
            expired = session.scalars(
                select(Upload).where(
                    Upload.expires_at <= now,
                    (Upload.status == UploadStatus.ACTIVE)
                    | ((Upload.status == UploadStatus.COMPLETE) & Upload.is_partial),
                )
            ).all()
            # Complete but never handed over: no video yet, or one with no job.
            stranded = session.scalars(
                select(Upload.id)
                .outerjoin(Video, Video.id == Upload.video_id)
                .where(
                    Upload.status == UploadStatus.COMPLETE,
                    Upload.is_partial.is_(False),
                    Upload.updated_at <= now - timedelta(minutes=5),
                    (Upload.video_id.is_(None))
                    | (Video.status == VideoStatus.UPLOADING)
                    | (
                        (Video.status == VideoStatus.PROCESSING)
                        & ~select(Job.id).where(Job.video_id == Video.id).exists()
                    ),
                )
            ).all()
        for row in expired:
            try:
                token = self._lock(row.id)
            except UploadLocked:
                continue  # being written right now: not expired after all
            try:
                self.backend.discard(_target(row))
                with self.sessions.begin() as session:
                    session.execute(
                        update(Upload)
                        .where(Upload.id == row.id)
                        .values(status=UploadStatus.EXPIRED)
                    )
                reclaimed += 1
            except StorageError as exc:
                log.warning("sweep: upload %s not reclaimed yet: %s", row.id, exc)
            finally:
                self._unlock(row.id, token)
        for upload_id in stranded:
            self.complete(upload_id)
        return reclaimed
