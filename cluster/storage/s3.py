"""`S3Store`: objects in an S3-compatible bucket, through boto3."""

from __future__ import annotations

import base64
import builtins
import contextlib
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from cluster.errors import ObjectNotFound, ServiceUnavailable, StorageError
from cluster.storage.keys import validate_key, validate_prefix
from cluster.storage.types import CHUNK_SIZE, ObjectInfo, publish_by_moves

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Objects above this size go up in parallel multipart parts (S3 needs >= 5 MiB parts).
MULTIPART_THRESHOLD = 16 * 1024 * 1024
MULTIPART_CHUNKSIZE = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Part:
    """One part of an S3 multipart upload."""

    number: int
    etag: str
    size: int


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
        return publish_by_moves(self, staging, final)

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
