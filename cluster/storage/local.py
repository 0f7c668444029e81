"""`LocalStore`: objects as files in a folder, written atomically."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from cluster.errors import InvalidKey, ObjectNotFound, ServiceUnavailable, StorageError
from cluster.storage.keys import validate_key, validate_prefix
from cluster.storage.types import CHUNK_SIZE, ObjectInfo, publish_by_moves


def _byte_range(start: int, end: int | None, size: int) -> tuple[int, int]:
    """Clamp [start, end) to the object; `end` is exclusive, None means the end."""
    if start < 0 or (end is not None and end < start):
        raise StorageError(f"invalid byte range {start}-{end}")
    stop = size if end is None else min(end, size)
    return min(start, size), stop


class LocalStore:
    """Objects as files under `root`. Writes go to a temporary file, fsync, then rename."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidKey(f"object key {key!r} escapes the store")
        return path

    def _info(self, key: str, path: Path) -> ObjectInfo:
        st = path.stat()
        etag = f"{st.st_size:x}-{st.st_mtime_ns:x}"
        return ObjectInfo(key, st.st_size, etag, datetime.fromtimestamp(st.st_mtime, UTC))

    @contextlib.contextmanager
    def _atomic(self, key: str) -> Iterator[IO[bytes]]:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        with self._atomic(key) as fh:
            fh.write(data)
        return self.stat(key)

    def put_stream(self, key: str, stream: IO[bytes]) -> ObjectInfo:
        with self._atomic(key) as fh:
            shutil.copyfileobj(stream, fh, CHUNK_SIZE)
        return self.stat(key)

    def put_file(self, key: str, path: Path) -> ObjectInfo:
        with Path(path).open("rb") as src:
            return self.put_stream(key, src)

    def get_bytes(self, key: str, *, start: int = 0, end: int | None = None) -> bytes:
        return b"".join(self.iter_bytes(key, start=start, end=end))

    def iter_bytes(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = CHUNK_SIZE
    ) -> Iterator[bytes]:
        path = self._path(key)
        try:
            fh = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        with fh:
            begin, stop = _byte_range(start, end, os.fstat(fh.fileno()).st_size)
            fh.seek(begin)
            remaining = stop - begin
            while remaining > 0:
                block = fh.read(min(chunk_size, remaining))
                if not block:
                    break
                remaining -= len(block)
                yield block

    def download(self, key: str, path: Path) -> Path:
        src = self._path(key)
        if not src.is_file():
            raise ObjectNotFound(key)
        shutil.copyfile(src, path)
        return Path(path)

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return self._info(key, path)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        # Walk only the deepest folder the prefix names, not the whole store.
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(".") and name.endswith(".tmp"):
                    continue  # an atomic write in flight
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield self._info(key, path)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        keys = [info.key for info in self.list(prefix)]
        for key in keys:
            self.delete(key)
        self._prune_empty_dirs(prefix)
        return len(keys)

    def _prune_empty_dirs(self, prefix: str) -> None:
        if "/" not in prefix:
            return
        base = self.root / prefix.rsplit("/", 1)[0]
        for dirpath, _, _ in sorted(os.walk(base), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):
                Path(dirpath).rmdir()
        # Then the parents the prefix created, up to (not including) the root.
        for parent in base.parents:
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def move(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        if not source.is_file():
            raise ObjectNotFound(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)

    def publish_prefix(self, staging: str, final: str) -> int:
        return publish_by_moves(self, staging, final)

    def open_append(self, key: str, *, offset: int) -> IO[bytes]:
        """Open `key` for writing at `offset`, dropping any bytes past it.

        Resumable uploads append in place, unlike every other write here: the bytes up
        to `offset` are the ones already acknowledged, anything after them was written
        by a request that never finished and is discarded. The caller fsyncs
        (`sync_file`) before it acknowledges the new length.
        """
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size < offset:
                raise StorageError(
                    f"{key!r} holds {size} bytes but {offset} were acknowledged: "
                    "the disk lost data; terminate the upload and start it again"
                )
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
            return os.fdopen(fd, "wb", buffering=CHUNK_SIZE)
        except BaseException:
            os.close(fd)
            raise

    def presigned_url(
        self, key: str, *, expires: int = 3600, content_type: str | None = None
    ) -> str | None:
        return None

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def check(self) -> None:
        probe = f".health/{uuid.uuid4().hex}"
        try:
            self.put_bytes(probe, b"ok")
            self.delete(probe)
        except OSError as exc:
            raise ServiceUnavailable(
                "VIDRAY_DATA_DIR", f"cannot write objects under {self.root}: {exc.strerror}"
            ) from None
