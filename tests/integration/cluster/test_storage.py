"""One storage suite, run against a local folder and a real S3-compatible server."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from pathlib import Path

import httpx
import pytest

from cluster.errors import InvalidKey, ObjectNotFound, ServiceUnavailable
from cluster.storage import LocalStore, ObjectStore, S3Store, staging_prefix


@pytest.fixture(params=["local", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_credentials: dict[str, str]
) -> ObjectStore:
    if request.param == "local":
        return LocalStore(tmp_path / "objects")
    endpoint = request.getfixturevalue("s3_server")
    return S3Store(
        bucket=f"vidray-{uuid.uuid4().hex[:12]}",
        endpoint_url=endpoint,
        create_bucket=True,
        **s3_credentials,
    )


class FailingStream(io.RawIOBase):
    """Yields some bytes, then breaks like a dropped connection."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.left <= 0:
            raise ConnectionResetError("client went away")
        n = min(len(buffer), self.left, 1 << 20)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


def test_bytes_round_trip_and_stat(store: ObjectStore) -> None:
    info = store.put_bytes("raw/a", b"hello world")
    assert info.size == 11
    assert store.get_bytes("raw/a") == b"hello world"
    assert store.stat("raw/a").etag == info.etag
    assert store.exists("raw/a")
    assert not store.exists("raw/b")


def test_large_object_streams_through_multipart(store: ObjectStore) -> None:
    data = os.urandom(40 * 1024 * 1024 + 123)  # above the multipart threshold
    store.put_stream("raw/big", io.BytesIO(data))
    assert store.stat("raw/big").size == len(data)
    digest = hashlib.sha256()
    chunks = 0
    for chunk in store.iter_bytes("raw/big"):
        digest.update(chunk)
        chunks += 1
    assert digest.digest() == hashlib.sha256(data).digest()
    assert chunks > 1, "a large object must come back in pieces, not one buffer"


def test_range_reads(store: ObjectStore) -> None:
    store.put_bytes("raw/r", bytes(range(256)))
    assert store.get_bytes("raw/r", start=10, end=20) == bytes(range(10, 20))
    assert store.get_bytes("raw/r", start=250) == bytes(range(250, 256))
    assert store.get_bytes("raw/r", start=250, end=10_000) == bytes(range(250, 256))
    assert store.get_bytes("raw/r", start=300) == b""


def test_missing_object(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.get_bytes("raw/nothing")
    with pytest.raises(ObjectNotFound):
        store.stat("raw/nothing")


def test_list_and_delete_by_prefix(store: ObjectStore) -> None:
    for key in ["hls/v1/master.m3u8", "hls/v1/720p/a.ts", "hls/v10/master.m3u8", "raw/x"]:
        store.put_bytes(key, b"1")
    assert {i.key for i in store.list("hls/v1/")} == {"hls/v1/master.m3u8", "hls/v1/720p/a.ts"}
    assert store.delete_prefix("hls/v1/") == 2
    assert {i.key for i in store.list("")} == {"hls/v10/master.m3u8", "raw/x"}


def test_a_failed_write_leaves_the_previous_object_whole(store: ObjectStore) -> None:
    store.put_bytes("raw/keep", b"original")
    with pytest.raises(ConnectionResetError):
        store.put_stream("raw/keep", io.BufferedReader(FailingStream(3 * 1024 * 1024)))
    with pytest.raises(ConnectionResetError):
        store.put_stream("raw/new", io.BufferedReader(FailingStream(20 * 1024 * 1024)))
    assert store.get_bytes("raw/keep") == b"original"
    assert not store.exists("raw/new")
    assert {i.key for i in store.list("raw/")} == {"raw/keep"}


def test_publish_moves_a_staged_prefix(store: ObjectStore) -> None:
    staging = staging_prefix("hls/v2")
    store.put_bytes(f"{staging}master.m3u8", b"#EXTM3U")
    store.put_bytes(f"{staging}240p/index.m3u8", b"#EXTM3U")
    assert not store.exists("hls/v2/master.m3u8")
    assert store.publish_prefix(staging, "hls/v2/") == 2
    assert store.get_bytes("hls/v2/240p/index.m3u8") == b"#EXTM3U"
    assert list(store.list(staging)) == []


@pytest.mark.parametrize("key", ["../escape", "/abs", "raw/a\x00", "raw\\x", "hls/../../x"])
def test_unsafe_keys_write_nothing(store: ObjectStore, key: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidKey):
        store.put_bytes(key, b"evil")
    with pytest.raises(InvalidKey):
        store.get_bytes(key)
    assert list(store.list("")) == []
    assert not (tmp_path / "escape").exists()


def test_presigned_urls(store: ObjectStore) -> None:
    store.put_bytes("img/v1/poster.jpg", b"jpeg bytes")
    url = store.presigned_url("img/v1/poster.jpg", expires=60)
    if isinstance(store, LocalStore):
        assert url is None
        assert store.local_path("img/v1/poster.jpg") is not None
        return
    assert url is not None
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"jpeg bytes"


def test_health_check_names_the_missing_bucket(
    s3_server: str, s3_credentials: dict[str, str]
) -> None:
    store = S3Store(bucket="no-such-bucket", endpoint_url=s3_server, **s3_credentials)
    with pytest.raises(ServiceUnavailable) as caught:
        store.check()
    assert caught.value.variable == "VIDRAY_S3_BUCKET"


def test_health_check_names_an_unreachable_endpoint(s3_credentials: dict[str, str]) -> None:
    store = S3Store(bucket="b", endpoint_url="http://127.0.0.1:9", **s3_credentials)
    with pytest.raises(ServiceUnavailable) as caught:
        store.check()
    assert caught.value.variable == "VIDRAY_S3_ENDPOINT_URL"


def test_health_check_names_refused_credentials(s3_server_checking_credentials: str) -> None:
    store = S3Store(
        bucket="b",
        endpoint_url=s3_server_checking_credentials,
        access_key_id="AKIAWRONGWRONGWRONG1",
        secret_access_key="wrong",
    )
    with pytest.raises(ServiceUnavailable) as caught:
        store.check()
    assert caught.value.variable == "VIDRAY_S3_ACCESS_KEY_ID"
    assert "refused the credentials" in str(caught.value)


def test_health_check_names_missing_credentials(
    s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No key pair anywhere boto3 looks: not in settings, the environment or a profile.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = S3Store(bucket="b", endpoint_url=s3_server)
    with pytest.raises(ServiceUnavailable) as caught:
        store.check()
    assert caught.value.variable == "VIDRAY_S3_ACCESS_KEY_ID"
