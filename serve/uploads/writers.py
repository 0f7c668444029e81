"""Where an upload's bytes go while it is in flight: a local file, or an S3 multipart.

A `Writer` receives one request's bytes after the acknowledged offset. `commit()` makes
them durable and only then may the caller record the new offset in the database; a
writer that is aborted (or whose process dies) leaves the acknowledged bytes untouched.
The database offset is the truth, the store may hold more:

- local: the file is appended in place and fsynced before commit returns. A request
  that dies leaves extra bytes past the offset; the next writer truncates them.
- S3: bytes are assembled on local disk into parts of `part_bytes` (>= 5 MiB). With
  `n = offset // part_bytes` and `t = offset % part_bytes`, parts 1..n hold the first
  `n * part_bytes` bytes and the object `uploads/{id}/tail-{n}` holds the next `t`
  (a tail is named by the part count it follows, so a crash between sending part n+1
  and recording it never pairs part n+1 with an old tail). Part numbers past n may hold
  bytes of a request that never committed; they are simply sent again. Completion lists
  the parts, refuses gaps or short parts, and only then joins them, so a "complete"
  object is never short, gapped or empty by accident.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from cluster.errors import StorageError
from cluster.storage import LocalStore, ObjectStore, Part, S3Store


@dataclass(frozen=True, slots=True)
class Target:
    """One upload as its writer sees it."""

    upload_id: str
    key: str
    offset: int  # acknowledged bytes
    length: int | None
    multipart: str | None  # "<part bytes>/<S3 upload id>" on S3


class Writer(Protocol):
    def write(self, data: bytes | bytearray) -> None: ...
    def commit(self, *, final: bool) -> None: ...
    def recorded(self) -> None: ...
    def abort(self) -> None: ...


class Backend(Protocol):
    def begin(self, upload_id: str, key: str) -> str | None: ...
    def open(self, target: Target) -> Writer: ...
    def discard(self, target: Target) -> None: ...


# A local writer starts the disk on what it has every this many bytes, while the next
# ones arrive, so the fsync that acknowledges a PATCH waits for the last few MiB only.
WRITEBACK_BYTES = 4 * 1024 * 1024
SYNC_FILE_RANGE_WRITE = 2


def _writeback_starter() -> Callable[[int, int, int], object]:
    """Linux's `sync_file_range(fd, offset, n, SYNC_FILE_RANGE_WRITE)`: queue those dirty
    pages for writing and return at once; it makes nothing durable (fsync does), and
    does nothing elsewhere."""
    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return lambda fd, offset, n: None
    call.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    return lambda fd, offset, n: call(fd, offset, n, SYNC_FILE_RANGE_WRITE)


_start_writeback = _writeback_starter()


class LocalWriter:
    def __init__(self, store: LocalStore, target: Target) -> None:
        self.fh: IO[bytes] = store.open_append(target.key, offset=target.offset)
        self.synced = self.written = target.offset

    def write(self, data: bytes | bytearray) -> None:
        self.fh.write(data)
        self.written += len(data)
        if self.written - self.synced >= WRITEBACK_BYTES:
            self.fh.flush()
            _start_writeback(self.fh.fileno(), self.synced, self.written - self.synced)
            self.synced = self.written

    def commit(self, *, final: bool) -> None:
        # fsync before the offset is recorded: an acknowledged byte survives power loss.
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()

    def recorded(self) -> None:
        pass

    def abort(self) -> None:
        # The bytes past the acknowledged offset are dropped by the next writer's truncate.
        with contextlib.suppress(OSError):
            self.fh.close()


class LocalBackend:
    def __init__(self, store: LocalStore) -> None:
        self.store = store

    def begin(self, upload_id: str, key: str) -> str | None:
        self.store.open_append(key, offset=0).close()
        return None

    def open(self, target: Target) -> Writer:
        return LocalWriter(self.store, target)

    def discard(self, target: Target) -> None:
        self.store.delete(target.key)


def _tail_key(upload_id: str, parts: int) -> str:
    return f"uploads/{upload_id}/tail-{parts}"


def split_multipart(value: str | None) -> tuple[int, str]:
    if not value or "/" not in value:
        raise StorageError("this upload has no multipart upload on S3: start a new upload")
    size, _, upload_id = value.partition("/")
    return int(size), upload_id


class S3Writer:
    """Parts are cut from a spool file on local disk; one part is in flight to S3 while
    the next one fills, so the network and the request body overlap."""

    def __init__(self, backend: S3Backend, target: Target) -> None:
        self.store, self.target = backend.store, target
        self.part_bytes, self.s3_id = split_multipart(target.multipart)
        self.spool_dir = backend.spool_dir
        self.start_parts = target.offset // self.part_bytes
        self.parts = self.start_parts  # parts sent (or being sent) so far
        self.sent: list[Part] = []
        self.pending: Future[Part] | None = None
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-part")
        self.spool, self.spool_path = self._new_spool()
        self.filled = 0
        tail = target.offset % self.part_bytes
        if tail:
            tail_key = _tail_key(target.upload_id, self.parts)
            for block in self.store.iter_bytes(tail_key, end=tail):
                self._spool_write(block)
            if self.filled != tail:
                raise StorageError(
                    f"the stored tail of upload {target.upload_id} is short: "
                    "terminate the upload and start it again"
                )

    def _new_spool(self) -> tuple[IO[bytes], Path]:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.spool_dir, prefix=f"{self.target.upload_id}-")
        return os.fdopen(fd, "w+b"), Path(name)

    def _spool_write(self, data: bytes | bytearray | memoryview) -> None:
        self.spool.write(data)
        self.filled += len(data)

    def write(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        while view:
            room = self.part_bytes - self.filled
            self._spool_write(view[:room])
            view = view[room:]
            if self.filled == self.part_bytes:
                self._send_spool()

    def _send_spool(self) -> None:
        self.spool.close()
        self._wait_pending()
        self.parts += 1
        path, number = self.spool_path, self.parts
        self.pending = self.pool.submit(self._send, number, path)
        self.spool, self.spool_path = self._new_spool()
        self.filled = 0

    def _send(self, number: int, path: Path) -> Part:
        try:
            return self.store.upload_part(
                self.target.key, upload_id=self.s3_id, number=number, path=path
            )
        finally:
            path.unlink(missing_ok=True)

    def _wait_pending(self) -> None:
        if self.pending is not None:
            self.sent.append(self.pending.result())
            self.pending = None

    def commit(self, *, final: bool) -> None:
        try:
            self.spool.flush()
            self._wait_pending()
            if final:
                self._complete()
            elif self.filled:
                self.store.put_file(_tail_key(self.target.upload_id, self.parts), self.spool_path)
        finally:
            self._close()

    def recorded(self) -> None:
        """The new offset is in the database: the tail it replaced is no longer needed.
        (Deleted only now: until then the recorded offset still points at it.)"""
        if self.parts != self.start_parts:
            self.store.delete(_tail_key(self.target.upload_id, self.start_parts))

    def _complete(self) -> None:
        length = self.target.length
        if length == 0:
            # S3 cannot join zero parts; an empty upload is an empty object (probe refuses it).
            self.store.abort_multipart(self.target.key, upload_id=self.s3_id)
            self.store.put_bytes(self.target.key, b"")
            return
        if self.filled:
            self.spool.close()
            self.parts += 1
            self.sent.append(self._send(self.parts, self.spool_path))
        listed = {p.number: p for p in self.store.list_parts(self.target.key, upload_id=self.s3_id)}
        listed.update({p.number: p for p in self.sent})  # what this request sent is newest
        parts = [listed.get(n) for n in range(1, self.parts + 1)]
        sizes_ok = all(
            p is not None and (p.size == self.part_bytes or p.number == self.parts) for p in parts
        )
        total = sum(p.size for p in parts if p is not None)
        if not sizes_ok or total != length:
            raise StorageError(
                f"upload {self.target.upload_id} has missing or short parts on S3 "
                f"({total} of {length} bytes): terminate it and upload again"
            )
        self.store.complete_multipart(
            self.target.key, upload_id=self.s3_id, parts=[p for p in parts if p is not None]
        )
        self.store.delete_prefix(f"uploads/{self.target.upload_id}/")

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._wait_pending()
        self._close()

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            self.spool.close()
        self.spool_path.unlink(missing_ok=True)
        self.pool.shutdown(wait=True)


class S3Backend:
    def __init__(self, store: S3Store, *, part_bytes: int, spool_dir: Path) -> None:
        self.store, self.part_bytes, self.spool_dir = store, part_bytes, spool_dir

    def begin(self, upload_id: str, key: str) -> str | None:
        # The part size is recorded with the upload: a later change of the setting must
        # not move the boundaries of parts already sent.
        return f"{self.part_bytes}/{self.store.create_multipart(key)}"

    def open(self, target: Target) -> Writer:
        return S3Writer(self, target)

    def discard(self, target: Target) -> None:
        if target.multipart:
            _, s3_id = split_multipart(target.multipart)
            self.store.abort_multipart(target.key, upload_id=s3_id)
        self.store.delete(target.key)
        self.store.delete_prefix(f"uploads/{target.upload_id}/")


def open_backend(store: ObjectStore, *, part_bytes: int, spool_dir: Path) -> Backend:
    """The writer family for this kind of store."""
    if isinstance(store, S3Store):
        return S3Backend(store, part_bytes=part_bytes, spool_dir=spool_dir)
    if isinstance(store, LocalStore):
        return LocalBackend(store)
    raise StorageError(f"uploads cannot write to a {type(store).__name__}")
