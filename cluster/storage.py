"""Object storage: one interface, a local folder (`LocalStore`) or an S3 bucket (`S3Store`).

Keys are relative, slash-separated paths (`hls/{video_id}/master.m3u8`). Every write is
atomic: readers see the previous object or the complete new one, never a half-written
file. Large objects stream in both directions; nothing here holds a whole object in
memory unless asked for bytes.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from cluster.errors import InvalidKey, ObjectNotFound, ServiceUnavailable, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from cluster.config import Settings

CHUNK_SIZE = 1024 * 1024
MAX_KEY_LENGTH = 1024
# Objects above this size go up in parallel multipart parts (S3 needs >= 5 MiB parts).
MULTIPART_THRESHOLD = 16 * 1024 * 1024
MULTIPART_CHUNKSIZE = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    modified: datetime


@dataclass(frozen=True, slots=True)
class Part:
    """One part of an S3 multipart upload."""

    number: int
    etag: str
    size: int


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise `InvalidKey`.

    >>> validate_key("hls/abc/master.m3u8")
    'hls/abc/master.m3u8'
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey("object key is empty: give a relative path such as 'raw/abc'")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"object key is longer than {MAX_KEY_LENGTH} characters")
    if "\x00" in key:
        raise InvalidKey("object key contains a NUL byte")
    if "\\" in key:
        raise InvalidKey("object key contains a backslash: use '/' to separate parts")
    if key.startswith("/"):
        raise InvalidKey(f"object key {key!r} is absolute: drop the leading '/'")
    parts = key.split("/")
    if any(part in {"", ".", ".."} for part in parts[:-1]) or parts[-1] in {".", ".."}:
        raise InvalidKey(f"object key {key!r} has an empty, '.' or '..' segment")
    if any(ord(ch) < 0x20 for ch in key):
        raise InvalidKey(f"object key {key!r} contains a control character")
    return key


def validate_prefix(prefix: str) -> str:
    """A prefix is a key that may end with '/' (or the empty prefix: everything)."""
    if prefix == "":
        return prefix
    validate_key(prefix.rstrip("/") or "/")
    return prefix


class ObjectStore(Protocol):
    """What every store offers. Implementations: `LocalStore`, `S3Store`."""

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo: ...
    def put_stream(self, key: str, stream: IO[bytes]) -> ObjectInfo: ...
    def put_file(self, key: str, path: Path) -> ObjectInfo: ...
    def get_bytes(self, key: str, *, start: int = 0, end: int | None = None) -> bytes: ...
    def iter_bytes(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = ...
    ) -> Iterator[bytes]: ...
    def download(self, key: str, path: Path) -> Path: ...
    def stat(self, key: str) -> ObjectInfo: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def move(self, src: str, dst: str) -> None: ...
    def publish_prefix(self, staging: str, final: str) -> int: ...
    def presigned_url(
        self, key: str, *, expires: int = 3600, content_type: str | None = None
    ) -> str | None: ...
    def local_path(self, key: str) -> Path | None: ...
    def check(self) -> None: ...


def staging_prefix(final: str) -> str:
    """A fresh temporary prefix beside `final`, for outputs published later in one go."""
    return f"tmp/{uuid.uuid4().hex}/{final.strip('/')}/"


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
        return _publish_prefix(self, staging, final)

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


def _publish_prefix(store: ObjectStore, staging: str, final: str) -> int:
    """Move every object under `staging` to the same relative key under `final`."""
    moved = 0
    for info in list(store.list(staging)):
        store.move(info.key, final + info.key[len(staging) :])
        moved += 1
    return moved


class S3Store:
    """Objects in an S3-compatible bucket, through boto3."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str = "us-east-1",
        create_bucket: bool = False,
    ) -> None:
        self.bucket = bucket
        self.client: S3Client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
            config=BotoConfig(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
                max_pool_connections=32,
            ),
        )
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNKSIZE
        )
        if create_bucket:
            self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
                raise self._unavailable(exc) from None
            self.client.create_bucket(Bucket=self.bucket)

    def _unavailable(self, exc: Exception) -> ServiceUnavailable:
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"}:
                return ServiceUnavailable(
                    "VIDRAY_S3_ACCESS_KEY_ID",
                    f"S3 refused the credentials ({code}): check the key id and secret",
                )
            if code in {"404", "NoSuchBucket"}:
                return ServiceUnavailable(
                    "VIDRAY_S3_BUCKET", f"bucket {self.bucket!r} does not exist: create it first"
                )
            return ServiceUnavailable("VIDRAY_S3_ENDPOINT_URL", f"S3 answered {code}")
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return ServiceUnavailable(
                "VIDRAY_S3_ACCESS_KEY_ID",
                "no S3 credentials: set it and VIDRAY_S3_SECRET_ACCESS_KEY",
            )
        return ServiceUnavailable("VIDRAY_S3_ENDPOINT_URL", f"cannot reach S3: {exc}")

    def _info(self, key: str, head: dict[str, object]) -> ObjectInfo:
        size = head.get("ContentLength", head.get("Size", 0))
        modified = head.get("LastModified")
        return ObjectInfo(
            key=key,
            size=int(size) if isinstance(size, int) else 0,
            etag=str(head.get("ETag", "")).strip('"'),
            modified=modified if isinstance(modified, datetime) else datetime.now(UTC),
        )

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        # One PUT is atomic on S3: the object appears complete or not at all.
        self.client.put_object(
            Bucket=self.bucket,
            Key=validate_key(key),
            Body=data,
            ContentMD5=_b64_md5(data),
        )
        return self.stat(key)

    def put_stream(self, key: str, stream: IO[bytes]) -> ObjectInfo:
        # upload_fileobj switches to multipart above the threshold; parts stay invisible
        # until CompleteMultipartUpload, so readers never see half an object.
        self.client.upload_fileobj(stream, self.bucket, validate_key(key), Config=self.transfer)
        return self.stat(key)

    def put_file(self, key: str, path: Path) -> ObjectInfo:
        self.client.upload_file(str(path), self.bucket, validate_key(key), Config=self.transfer)
        return self.stat(key)

    def get_bytes(self, key: str, *, start: int = 0, end: int | None = None) -> bytes:
        return b"".join(self.iter_bytes(key, start=start, end=end))

    def iter_bytes(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = CHUNK_SIZE
    ) -> Iterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise StorageError(f"invalid byte range {start}-{end}")
        if end is not None and end == start:
            self.stat(key)
            return
        byte_range = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            body = self.client.get_object(
                Bucket=self.bucket, Key=validate_key(key), Range=byte_range
            )["Body"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in {"NoSuchKey", "404"}:
                raise ObjectNotFound(key) from None
            if code == "InvalidRange":  # start past the end: an empty read, as locally
                return
            raise StorageError(f"S3 get {key!r} failed: {code}") from exc
        with contextlib.closing(body):
            yield from body.iter_chunks(chunk_size)

    def download(self, key: str, path: Path) -> Path:
        try:
            self.client.download_file(
                self.bucket, validate_key(key), str(path), Config=self.transfer
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey"}:
                raise ObjectNotFound(key) from None
            raise
        return Path(path)

    def stat(self, key: str) -> ObjectInfo:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                raise ObjectNotFound(key) from None
            raise StorageError(f"S3 head {key!r} failed") from exc
        return self._info(key, dict(head))

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=validate_prefix(prefix)):
            for obj in page.get("Contents", []):
                yield self._info(obj["Key"], dict(obj))

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=validate_key(key))

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        for batch in _batched((info.key for info in self.list(prefix)), 1000):
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            deleted += len(batch)
        return deleted

    def move(self, src: str, dst: str) -> None:
        try:
            self.client.copy(
                {"Bucket": self.bucket, "Key": validate_key(src)},
                self.bucket,
                validate_key(dst),
                Config=self.transfer,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey"}:
                raise ObjectNotFound(src) from None
            raise
        self.delete(src)

    def publish_prefix(self, staging: str, final: str) -> int:
        return _publish_prefix(self, staging, final)

    # -- multipart, for uploads that arrive in pieces over many requests ------------

    def create_multipart(self, key: str) -> str:
        """Start a multipart upload of `key`; returns its upload id."""
        response = self.client.create_multipart_upload(Bucket=self.bucket, Key=validate_key(key))
        return response["UploadId"]

    def upload_part(self, key: str, *, upload_id: str, number: int, path: Path) -> Part:
        """Send the file at `path` as part `number` (1-based); re-sending a number replaces it."""
        size = Path(path).stat().st_size
        with Path(path).open("rb") as body:
            response = self.client.upload_part(
                Bucket=self.bucket,
                Key=validate_key(key),
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ContentLength=size,
            )
        return Part(number=number, etag=response["ETag"], size=size)

    def list_parts(self, key: str, *, upload_id: str) -> tuple[Part, ...]:
        """The parts S3 holds for a multipart upload, by number."""
        parts: builtins.list[Part] = []
        paginator = self.client.get_paginator("list_parts")
        try:
            for page in paginator.paginate(
                Bucket=self.bucket, Key=validate_key(key), UploadId=upload_id
            ):
                parts.extend(
                    Part(number=p["PartNumber"], etag=p["ETag"], size=p["Size"])
                    for p in page.get("Parts", [])
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
                raise ObjectNotFound(f"{key} (multipart {upload_id})") from None
            raise
        return tuple(sorted(parts, key=lambda p: p.number))

    def complete_multipart(self, key: str, *, upload_id: str, parts: Sequence[Part]) -> ObjectInfo:
        """Join `parts` (in order) into the object `key`; it appears whole or not at all."""
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=validate_key(key),
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in parts]},
        )
        return self.stat(key)

    def abort_multipart(self, key: str, *, upload_id: str) -> None:
        """Drop a multipart upload and every part it holds (idempotent)."""
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=validate_key(key), UploadId=upload_id
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"NoSuchUpload", "404"}:
                raise

    def presigned_url(
        self, key: str, *, expires: int = 3600, content_type: str | None = None
    ) -> str | None:
        """A GET URL valid for `expires` seconds; `content_type` overrides the stored one
        in the answer (objects are stored without one)."""
        params = {"Bucket": self.bucket, "Key": validate_key(key)}
        if content_type:
            params["ResponseContentType"] = content_type
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)

    def local_path(self, key: str) -> Path | None:
        return None

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise self._unavailable(exc) from None


def _b64_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def open_store(settings: Settings) -> ObjectStore:
    """The store the settings name: S3 when a bucket is set, else the data-dir folder."""
    if settings.s3_bucket:
        secret = settings.s3_secret_access_key
        return S3Store(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            region=settings.s3_region,
        )
    return LocalStore(settings.objects_dir)
