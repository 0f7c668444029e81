"""The PATCH path: one request body appended at an offset, durably, and only then the
offset moved. See `serve/uploads/service.py` for why memory stays flat.

Every blocking step (owner, lock and row; batches of the body; commit and unlock) runs
in one shared I/O pool, in as few thread hops as possible: each hop is paid on every
PATCH.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import update

from cluster.config import Settings
from cluster.db.models import Upload, UploadStatus
from cluster.errors import StorageError
from cluster.events import emit
from serve.uploads.errors import LimitExceeded, MalformedRequest, OffsetConflict, UploadRefused
from serve.uploads.locks import UploadLocks
from serve.uploads.quotas import Quotas
from serve.uploads.rows import UploadRows
from serve.uploads.tus import Checksum
from serve.uploads.views import Owner, UploadView, size_text, target_of, view_of
from serve.uploads.writers import Backend, Writer

log = logging.getLogger(__name__)

FLUSH_BYTES = 4 * 1024 * 1024


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


class Patches:
    """Appends PATCH bodies to uploads."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: Any,
        backend: Backend,
        rows: UploadRows,
        locks: UploadLocks,
        quotas: Quotas,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.backend = backend
        self.rows = rows
        self.locks = locks
        self.quotas = quotas
        self._trim_heap = _heap_trimmer()
        # Every blocking step of a PATCH (lock and row, batches of the body, commit)
        # runs here; threads start when first needed.
        self._io = ThreadPoolExecutor(max_workers=32, thread_name_prefix="upload-io")

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
            row = self.rows.owned(session, upload_id, owner.id)
            # tus: a PATCH to a final upload is 403, whatever became of it since.
            if row.parts:
                raise UploadRefused("a final concatenated upload cannot be written to")
            self.rows.refuse_dead(session, row)
            if length is not None and row.length is None:
                if length < row.offset:
                    raise MalformedRequest(
                        f"Upload-Length {length} is below the {row.offset} bytes already stored"
                    )
                try:
                    self.quotas.check(owner=owner, length=length, exclude=(row.id,))
                except LimitExceeded as exc:
                    self._record_refusal(row, str(exc))
                    raise
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

    def _record_refusal(self, row: Upload, detail: str) -> None:
        """`upload.failed` for an upload whose declared length passes a quota: in a
        transaction of its own, as the caller's rolls back with the refusal."""
        with self.sessions.begin() as session:
            emit(
                session,
                "upload.failed",
                row.id,
                owner_id=row.owner_id,
                video_id=row.video_id,
                reason="over_quota",
                detail=detail,
            )

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
                f"the upload passes the maximum size ({size_text(cap)}): nothing more was stored",
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
        token = self.locks.acquire(upload_id)
        try:
            row = self._prepare(
                upload_id=upload_id,
                owner=owner,
                offset=offset,
                content_length=content_length,
                length=length,
            )
            return owner, row, token, self.backend.open(target_of(row))
        except BaseException:
            self.locks.release(upload_id, token)
            raise

    def _close_writer(self, upload_id: str, token: str) -> None:
        self.locks.release(upload_id, token)
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
                    await loop.run_in_executor(self._io, self.locks.refresh, row.id, token)
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
        values: dict[str, Any] = {"offset": end, "expires_at": self.rows.expiry(), "length": length}
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
            return view_of(moved)
