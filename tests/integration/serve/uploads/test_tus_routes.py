"""tus uploads over the gateway's ASGI app, on local storage and on a real S3 server.

Each test talks HTTP to `create_app(Gateway(...))` with a real SQLite database, the
embedded KV store and a real object store; only the job actor's client is replaced by a
recorder (tests/integration/actors/test_jobs.py hands uploads to the real actor, and the
e2e test runs the real transcode).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.requests import ClientDisconnect

from actors.jobs_client import JobView
from cluster import db
from cluster.bench.sources import make_source
from cluster.config import Settings, load_settings
from cluster.db.models import Job, OutboxEvent, Upload, UploadStatus, Video, VideoStatus
from cluster.storage import S3Store
from cluster.upload_client import UrlStore, upload_file
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from serve.uploads.expiry import sweep
from serve.uploads.service import Uploads
from tests.support.accounts import RESTRICTED_TIERS, sign_in
from tests.support.clock import FakeClock
from tests.support.servers import free_port, serving
from tests.support.waiting import eventually_async

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}


@dataclass
class Recorder:
    """Stands in for the job actor's client: remembers what would have been transcoded,
    and writes the queued job row the actor would write (the sweep looks for it)."""

    sessions: Any = None
    submitted: list[dict[str, Any]] = field(default_factory=list)

    async def latest(self, video_id: str) -> JobView | None:
        """A handed-over upload reads as accepted and encoding, as the actor would show
        it once its probe passed (what `vidray upload` waits for)."""
        if not any(job["video_id"] == video_id for job in self.submitted):
            return None
        return JobView(
            id=f"job-{video_id}",
            video_id=video_id,
            state="running",
            stage="encoding",
            percent=10.0,
            playable=False,
            error=None,
            notes=(),
            version=1,
        )

    async def watch(self, job_id: str, *, after_version: int, timeout: float) -> JobView | None:
        """The actor long-polls for a newer version; here the next one is the end. (An
        answer with the same version at once would spin the subscription's loop.)"""
        view = await self.latest(job_id.removeprefix("job-"))
        if view is None:
            return None
        return replace(view, state="done", stage="done", percent=100.0, version=after_version + 1)

    def submit_upload(self, **job: Any) -> str:
        self.submitted.append(job)
        with self.sessions.begin() as session:
            row = Job(video_id=job["video_id"], owner_id=job["owner_id"], params=job["params"])
            session.add(row)
            session.flush()
            return row.id


@dataclass
class Env:
    settings: Settings
    uploads: Uploads
    jobs: Recorder
    clock: FakeClock
    client: httpx.AsyncClient
    gateway: Gateway
    token: str
    other_token: str

    def auth(self, token: str | None = None, **extra: str) -> dict[str, str]:
        return {**TUS, "Authorization": f"Bearer {token or self.token}", **extra}

    def row(self, upload_id: str) -> Upload:
        with self.uploads.sessions() as session:
            row = session.get(Upload, upload_id)
            assert row is not None
            return row

    def stored(self, upload_id: str) -> bytes:
        return self.uploads.store.get_bytes(f"raw/{upload_id}")


@pytest.fixture
async def env(
    tmp_path: Path, store_overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Env]:
    overrides = store_overrides
    # Tiers as an operator who sells plans sets them: the free tier has no private videos.
    monkeypatch.setenv("VIDRAY_TIERS", RESTRICTED_TIERS)
    settings = load_settings(
        data_dir=tmp_path,
        signing_secret=secrets.token_urlsafe(32),
        jwt_secret=secrets.token_urlsafe(32),
        upload_part_bytes=5 * MIB,
        upload_lock_ttl_s=5,
        **overrides,
    )
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    clock, jobs = FakeClock(), Recorder()
    # Tokens are signed on real time: the platform's clock starts there and moves by hand.
    clock.now = time.time()
    platform = Platform(settings, jobs=jobs, clock=clock)  # type: ignore[arg-type]
    jobs.sessions = platform.sessions
    token = sign_in(platform.accounts, settings, "ana@example.com")
    other = sign_in(platform.accounts, settings, "bob@example.com")
    uploads = platform.uploads
    gateway = Gateway(platform)
    transport = httpx.ASGITransport(app=create_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://vidray") as client:
        yield Env(settings, uploads, jobs, clock, client, gateway, token, other)
    await gateway.files.settle()
    platform.close()
    engine.dispose()


async def _create(env: Env, length: int | None, **headers: str) -> str:
    extra = {"Upload-Length": str(length)} if length is not None else {}
    response = await env.client.post("/files/", headers=env.auth(**extra, **headers))
    assert response.status_code == 201, response.text
    location = response.headers["location"]
    assert location.startswith("http://vidray/files/")
    return location.rsplit("/", 1)[-1]


async def _patch(
    env: Env, upload_id: str, offset: int, body: Any, **headers: str
) -> httpx.Response:
    return await env.client.patch(
        f"/files/{upload_id}",
        headers={**env.auth(), **OCTETS, "Upload-Offset": str(offset), **headers},
        content=body,
    )


async def _offset(env: Env, upload_id: str) -> int:
    response = await env.client.head(f"/files/{upload_id}", headers=env.auth())
    assert response.status_code == 200
    return int(response.headers["upload-offset"])


def _digest(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = make_source(
        tmp_path_factory.mktemp("clip") / "clip.mp4", width=320, height=180, seconds=2
    )
    return path.read_bytes()


# --- the happy path ---------------------------------------------------------------------


async def test_options_advertises_the_protocol(env: Env) -> None:
    response = await env.client.options("/files/")
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    extensions = set(response.headers["tus-extension"].split(","))
    assert {"creation", "creation-with-upload", "creation-defer-length", "expiration"} <= extensions
    assert {"checksum", "termination", "concatenation"} <= extensions
    assert response.headers["tus-checksum-algorithm"] == "sha1,md5,sha256"
    assert int(response.headers["tus-max-size"]) == env.settings.upload_max_bytes


async def test_upload_in_chunks_with_checksums_becomes_a_video(env: Env, clip: bytes) -> None:
    metadata = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in {"filename": "../../etc/clip\x00.mp4", "title": "My\x07 clip"}.items()
    )
    upload_id = await _create(env, len(clip), **{"Upload-Metadata": metadata})
    half = len(clip) // 2
    for offset, chunk, algorithm in ((0, clip[:half], "sha1"), (half, clip[half:], "md5")):
        response = await _patch(
            env, upload_id, offset, chunk, **{"Upload-Checksum": _digest(algorithm, chunk)}
        )
        assert response.status_code == 204, response.text
        assert int(response.headers["upload-offset"]) == offset + len(chunk)
        # An unfinished upload says when it expires; a finished one no longer does.
        assert ("upload-expires" in response.headers) == (offset == 0)
    await env.gateway.files.settle()
    assert env.stored(upload_id) == clip
    row = env.row(upload_id)
    assert row.meta == {"filename": "clip.mp4", "title": "My clip"}
    assert row.storage_key == f"raw/{upload_id}"
    with env.uploads.sessions() as session:
        video = session.get(Video, row.video_id)
        assert video is not None and video.status == VideoStatus.PROCESSING
        assert video.title == "My clip" and video.source_key == f"raw/{upload_id}"
    # No probe here: the job actor probes the file, once (tests/integration/actors).
    free = env.settings.tiers["free"]
    assert env.jobs.submitted == [
        {
            "upload_id": upload_id,
            "video_id": row.video_id,
            "owner_id": row.owner_id,
            "source_key": f"raw/{upload_id}",
            "params": {
                "max_height": free.max_output_height,
                "minutes_left": free.upload_minutes_per_month,
            },
        }
    ]


async def test_a_lost_hand_over_is_redone_by_the_sweep_once(env: Env, clip: bytes) -> None:
    upload_id = await _create(env, len(clip))
    env.jobs.submitted.clear()

    def lost(**job: Any) -> str:
        raise ConnectionError("the job actor was restarting")

    env.uploads.jobs = type("Lost", (), {"submit_upload": staticmethod(lost)})()  # type: ignore[assignment]
    assert (await _patch(env, upload_id, 0, clip)).status_code == 204
    await env.gateway.files.settle()
    video_id = env.row(upload_id).video_id
    env.uploads.jobs = env.jobs  # type: ignore[assignment]
    env.clock.advance(6 * 60)  # the sweep leaves the last five minutes' uploads alone
    sweep(env.uploads)
    sweep(env.uploads)  # a second sweep finds the video handed over: nothing twice
    assert [job["video_id"] for job in env.jobs.submitted] == [video_id]


async def test_creation_with_upload_and_a_multi_part_body(env: Env) -> None:
    # 12 MiB crosses two 5 MiB part boundaries on S3.
    data = secrets.token_bytes(12 * MIB)
    response = await env.client.post(
        "/files/",
        headers={
            **env.auth(),
            **OCTETS,
            "Upload-Length": str(len(data) + 1),
            "Upload-Concat": "partial",
        },
        content=data[: 7 * MIB],
    )
    assert response.status_code == 201
    assert response.headers["upload-offset"] == str(7 * MIB)
    upload_id = response.headers["location"].rsplit("/", 1)[-1]
    assert (await _patch(env, upload_id, 7 * MIB, data[7 * MIB :])).status_code == 204
    assert (await _patch(env, upload_id, len(data), b"!")).status_code == 204
    assert env.stored(upload_id) == data + b"!"


async def test_deferred_length_is_declared_by_a_later_patch(env: Env) -> None:
    upload_id = await _create(env, None, **{"Upload-Defer-Length": "1", "Upload-Concat": "partial"})
    head = await env.client.head(f"/files/{upload_id}", headers=env.auth())
    assert head.headers["upload-defer-length"] == "1"
    assert (await _patch(env, upload_id, 0, b"a" * 10)).status_code == 204
    response = await _patch(env, upload_id, 10, b"b" * 5, **{"Upload-Length": "15"})
    assert response.status_code == 204
    assert env.row(upload_id).status == "complete"
    assert env.stored(upload_id) == b"a" * 10 + b"b" * 5


async def test_a_deferred_length_past_the_tier_limit_is_refused_with_an_event(env: Env) -> None:
    upload_id = await _create(env, None, **{"Upload-Defer-Length": "1"})
    too_big = str(3 * 1024**3)  # the free tier stops at 2 GiB
    response = await _patch(env, upload_id, 0, b"a", **{"Upload-Length": too_big})
    assert response.status_code == 413
    with env.uploads.sessions() as session:
        [event] = session.scalars(
            select(OutboxEvent).where(
                OutboxEvent.aggregate_id == upload_id, OutboxEvent.topic == "upload.failed"
            )
        ).all()
    assert event.payload["reason"] == "over_quota"
    assert event.payload["owner_id"] == env.row(upload_id).owner_id
    assert "maximum upload size" in event.payload["detail"]


async def test_concatenation_joins_partial_uploads(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The joined bytes are random, so the probe would fail the upload and delete them
    # at any moment: finish it by hand, after looking.
    finished: list[str] = []
    monkeypatch.setattr(env.gateway.files, "finish_later", finished.append)
    parts = [secrets.token_bytes(6 * MIB), secrets.token_bytes(1000)]
    ids = []
    for data in parts:
        upload_id = await _create(env, len(data), **{"Upload-Concat": "partial"})
        assert (await _patch(env, upload_id, 0, data)).status_code == 204
        ids.append(upload_id)
    final = await env.client.post(
        "/files/",
        headers=env.auth(
            **{"Upload-Concat": f"final;/files/{ids[0]} http://vidray/files/{ids[1]}"}
        ),
    )
    assert final.status_code == 201, final.text
    final_id = final.headers["location"].rsplit("/", 1)[-1]
    assert env.stored(final_id) == b"".join(parts)
    head = await env.client.head(f"/files/{final_id}", headers=env.auth())
    assert head.headers["upload-offset"] == head.headers["upload-length"] == str(6 * MIB + 1000)
    assert finished == [final_id]  # the partials are not videos; the final upload is
    # Forbidden by the protocol, before and after the job actor refuses it.
    assert (await _patch(env, final_id, 0, b"x")).status_code == 403
    with env.uploads.sessions.begin() as session:
        session.get(Upload, final_id).status = UploadStatus.FAILED  # type: ignore[union-attr]
    assert (await _patch(env, final_id, 0, b"x")).status_code == 403


async def test_termination_deletes_the_bytes(env: Env) -> None:
    upload_id = await _create(env, 100)
    await _patch(env, upload_id, 0, b"x" * 40)
    response = await env.client.delete(f"/files/{upload_id}", headers=env.auth())
    assert response.status_code == 204
    assert (await env.client.head(f"/files/{upload_id}", headers=env.auth())).status_code == 404
    assert not env.uploads.store.exists(f"raw/{upload_id}")


# --- faults ---------------------------------------------------------------------------------


async def test_wrong_offset_is_409_and_writes_nothing(env: Env) -> None:
    upload_id = await _create(env, 100, **{"Upload-Concat": "partial"})
    await _patch(env, upload_id, 0, b"a" * 10)
    for wrong in (0, 5, 11):
        assert (await _patch(env, upload_id, wrong, b"z" * 10)).status_code == 409
    assert await _offset(env, upload_id) == 10
    await _patch(env, upload_id, 10, b"b" * 90)
    assert env.stored(upload_id) == b"a" * 10 + b"b" * 90


async def test_checksum_mismatch_is_460_with_the_offset_unchanged(env: Env) -> None:
    data = secrets.token_bytes(6 * MIB)
    upload_id = await _create(env, len(data), **{"Upload-Concat": "partial"})
    bad = _digest("sha256", b"something else")
    response = await _patch(env, upload_id, 0, data, **{"Upload-Checksum": bad})
    assert response.status_code == 460
    assert await _offset(env, upload_id) == 0
    unknown = await _patch(env, upload_id, 0, data, **{"Upload-Checksum": "crc32 AAAA"})
    assert unknown.status_code == 400
    good = await _patch(env, upload_id, 0, data, **{"Upload-Checksum": _digest("sha256", data)})
    assert good.status_code == 204
    assert env.stored(upload_id) == data


async def test_concurrent_patches_never_interleave(env: Env) -> None:
    upload_id = await _create(env, 200, **{"Upload-Concat": "partial"})
    gate, reading = asyncio.Event(), asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"a" * 50
        # Asked for more: the first PATCH holds the upload's lock and is reading its body.
        reading.set()
        await gate.wait()
        yield b"a" * 50

    first = asyncio.create_task(_patch(env, upload_id, 0, slow()))
    await asyncio.wait_for(reading.wait(), timeout=10)
    second = await _patch(env, upload_id, 0, b"b" * 100)
    assert second.status_code == 423
    gate.set()
    assert (await first).status_code == 204
    assert (await _patch(env, upload_id, 100, b"c" * 100)).status_code == 204
    assert env.stored(upload_id) == b"a" * 100 + b"c" * 100


async def test_a_cut_connection_keeps_only_durable_bytes_and_resumes(env: Env) -> None:
    data = secrets.token_bytes(8 * MIB)
    upload_id = await _create(env, len(data), **{"Upload-Concat": "partial"})

    async def cut(after: int) -> AsyncIterator[bytes]:
        yield data[:after]
        raise ClientDisconnect()

    # With a checksum promised, a cut body keeps nothing.
    await _patch(env, upload_id, 0, cut(MIB), **{"Upload-Checksum": _digest("md5", data)})
    assert await _offset(env, upload_id) == 0
    # Without one, what arrived is kept and reported.
    await _patch(env, upload_id, 0, cut(6 * MIB + 123))
    offset = await _offset(env, upload_id)
    assert offset == 6 * MIB + 123
    assert (await _patch(env, upload_id, offset, data[offset:])).status_code == 204
    assert env.stored(upload_id) == data


async def test_a_crash_before_the_offset_is_recorded_leaves_head_truthful(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = secrets.token_bytes(11 * MIB)
    upload_id = await _create(env, len(data), **{"Upload-Concat": "partial"})
    assert (await _patch(env, upload_id, 0, data[: 3 * MIB])).status_code == 204

    def crash(**kwargs: Any) -> None:
        raise RuntimeError("replica killed between the part upload and the metadata write")

    # Parts 1 and 2 reach the store, the database never hears of them.
    monkeypatch.setattr(env.uploads.patches, "_advance", crash)
    with pytest.raises(RuntimeError):
        await _patch(env, upload_id, 3 * MIB, data[3 * MIB : 10 * MIB])
    monkeypatch.undo()
    # A fresh service (a restarted replica) reports only what was recorded, and resumes.
    restarted = Platform(env.settings).uploads
    assert restarted.head(upload_id=upload_id, owner_id=env.row(upload_id).owner_id).offset == (
        3 * MIB
    )
    assert await _offset(env, upload_id) == 3 * MIB
    assert (await _patch(env, upload_id, 3 * MIB, data[3 * MIB :])).status_code == 204
    assert env.stored(upload_id) == data


async def test_a_body_past_upload_length_is_refused_without_storing_it(env: Env) -> None:
    upload_id = await _create(env, 100, **{"Upload-Concat": "partial"})
    await _patch(env, upload_id, 0, b"a" * 60)
    # With Content-Length: refused before reading.
    assert (await _patch(env, upload_id, 60, b"b" * 41)).status_code == 413

    async def chunked() -> AsyncIterator[bytes]:
        yield b"b" * 30
        yield b"b" * 30

    # Without one (chunked): refused when the excess arrives.
    assert (await _patch(env, upload_id, 60, chunked())).status_code == 413
    assert await _offset(env, upload_id) == 60
    local = env.uploads.store.local_path(f"raw/{upload_id}")
    if local is not None:  # nothing past the acknowledged bytes was left on disk... yet
        assert local.stat().st_size <= 60 + 30
    assert (await _patch(env, upload_id, 60, b"c" * 40)).status_code == 204
    assert env.stored(upload_id) == b"a" * 60 + b"c" * 40


async def test_a_creation_body_past_upload_length_creates_nothing(env: Env) -> None:
    response = await env.client.post(
        "/files/", headers={**env.auth(), **OCTETS, "Upload-Length": "10"}, content=b"x" * 11
    )
    assert response.status_code == 413
    assert "location" not in response.headers
    with env.uploads.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Upload)) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Upload-Offset": "abc"},
        {"Upload-Offset": "-1"},
        {"Upload-Offset": "99999999999999999999"},
        {"Upload-Offset": "1e3"},
        {"Upload-Offset": "0", "Upload-Checksum": "sha1 !!!"},
        {"Upload-Offset": "0", "Upload-Length": "-5"},
    ],
)
async def test_garbage_headers_are_400(env: Env, headers: dict[str, str]) -> None:
    upload_id = await _create(env, 10)
    response = await env.client.patch(
        f"/files/{upload_id}", headers={**env.auth(), **OCTETS, **headers}, content=b"x"
    )
    assert response.status_code == 400
    assert await _offset(env, upload_id) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Upload-Length": "ten"},
        {"Upload-Length": "18446744073709551616"},
        {"Upload-Length": "-1"},
        {},
        {"Upload-Length": "10", "Upload-Defer-Length": "1"},
        {"Upload-Defer-Length": "yes"},
        {"Upload-Length": "10", "Upload-Metadata": "filename not-base64!"},
        {"Upload-Length": "10", "Upload-Metadata": "bad key dGl0bGU="},
        {"Upload-Length": "10", "Upload-Concat": "final;/elsewhere/x"},
    ],
)
async def test_garbage_creation_headers_are_400(env: Env, headers: dict[str, str]) -> None:
    response = await env.client.post("/files/", headers=env.auth(**headers))
    assert response.status_code == 400, response.text


async def test_protocol_version_and_content_type_are_enforced(env: Env) -> None:
    upload_id = await _create(env, 10)
    no_version = {"Authorization": f"Bearer {env.token}", "Upload-Offset": "0"}
    response = await env.client.patch(f"/files/{upload_id}", headers=no_version, content=b"x")
    assert response.status_code == 412
    assert response.headers["tus-version"] == "1.0.0"
    wrong_type = {**env.auth(), "Upload-Offset": "0", "Content-Type": "text/plain"}
    response = await env.client.patch(f"/files/{upload_id}", headers=wrong_type, content=b"x")
    assert response.status_code == 415


# --- ownership, limits, expiry, browsers ------------------------------------------------


async def test_one_user_cannot_touch_anothers_upload(env: Env) -> None:
    upload_id = await _create(env, 10)
    theirs = env.auth(env.other_token)
    assert (await env.client.head(f"/files/{upload_id}", headers=theirs)).status_code == 404
    patch = {**theirs, **OCTETS, "Upload-Offset": "0"}
    assert (
        await env.client.patch(f"/files/{upload_id}", headers=patch, content=b"x")
    ).status_code == 404
    assert (await env.client.delete(f"/files/{upload_id}", headers=theirs)).status_code == 404
    assert (await env.client.head(f"/files/{upload_id}", headers=TUS)).status_code == 401
    assert await _offset(env, upload_id) == 0


async def test_tier_limits_are_checked_at_creation(env: Env) -> None:
    too_big = str(3 * 1024**3)  # the free tier stops at 2 GiB
    response = await env.client.post("/files/", headers=env.auth(**{"Upload-Length": too_big}))
    assert response.status_code == 413
    assert "maximum upload size" in response.text
    private = base64.b64encode(b"private").decode()
    response = await env.client.post(
        "/files/",
        headers=env.auth(**{"Upload-Length": "10", "Upload-Metadata": f"visibility {private}"}),
    )
    assert response.status_code == 403
    assert "private videos" in response.text


async def test_storage_quota_is_checked_at_creation(env: Env) -> None:
    # The free tier: 2 GiB per file, 10 GiB in all; uploads in flight count.
    two_gib = str(2 * 1024**3)
    for _ in range(5):
        await _create(env, None, **{"Upload-Length": two_gib})
    response = await env.client.post("/files/", headers=env.auth(**{"Upload-Length": two_gib}))
    assert response.status_code == 413
    assert "storage quota" in response.text
    # Another user's quota is their own.
    theirs = await env.client.post(
        "/files/", headers=env.auth(env.other_token, **{"Upload-Length": two_gib})
    )
    assert theirs.status_code == 201


async def test_upload_minutes_are_checked_at_creation(env: Env) -> None:
    owner_id = env.row(await _create(env, 10)).owner_id
    with env.uploads.sessions.begin() as session:
        # The free tier's 120 minutes, all used by this month's videos: nothing fits.
        session.add(Video(owner_id=owner_id, title="long", duration=120 * 60.0))
    for headers in ({"Upload-Length": "10"}, {"Upload-Defer-Length": "1"}):
        response = await env.client.post("/files/", headers=env.auth(**headers))
        assert response.status_code == 413
        assert "upload minutes" in response.text
    theirs = await env.client.post(
        "/files/", headers=env.auth(env.other_token, **{"Upload-Length": "10"})
    )
    assert theirs.status_code == 201


def _multipart_keys(store: S3Store) -> set[str]:
    listing = store.client.list_multipart_uploads(Bucket=store.bucket)
    return {u["Key"] for u in listing.get("Uploads", [])}


async def test_expired_uploads_are_swept(env: Env) -> None:
    data = secrets.token_bytes(6 * MIB)
    upload_id = await _create(env, len(data) * 2)
    assert (await _patch(env, upload_id, 0, data)).status_code == 204
    store = env.uploads.store
    if isinstance(store, S3Store):  # one 5 MiB part is on S3, in an unfinished multipart
        assert f"raw/{upload_id}" in _multipart_keys(store)
    env.clock.advance(env.settings.upload_expiry_s + 1)
    assert sweep(env.uploads) == 1
    if isinstance(store, S3Store):  # the multipart upload is aborted: S3 frees its parts
        assert f"raw/{upload_id}" not in _multipart_keys(store)
    assert env.row(upload_id).status == "expired"
    assert not env.uploads.store.exists(f"raw/{upload_id}")
    assert list(env.uploads.store.list(f"uploads/{upload_id}/")) == []
    # A day later the uploader signs in again, and hears that the upload is gone.
    env.token = sign_in(env.gateway.platform.accounts, env.settings, "ana@example.com")
    assert (await env.client.head(f"/files/{upload_id}", headers=env.auth())).status_code == 410


async def test_create_upload_gives_a_one_time_url(env: Env) -> None:
    mutation = """mutation($input: CreateUploadInput!) {
      createUpload(input: $input) { uploadUrl video { id } upload { id status } }
    }"""
    response = await env.client.post(
        "/graphql",
        json={"query": mutation, "variables": {"input": {"size": 5, "title": "Hello"}}},
        headers={"Authorization": f"Bearer {env.token}"},
    )
    payload = response.json()["data"]["createUpload"]
    url = payload["uploadUrl"]
    assert url.startswith("http://vidray/files/") and "?token=" in url
    path = url.removeprefix("http://vidray")
    response = await env.client.patch(
        path, headers={**OCTETS, "Upload-Offset": "0"}, content=b"12345"
    )
    assert response.status_code == 204
    assert env.row(payload["upload"]["id"]).video_id == payload["video"]["id"]
    # The token opens that upload only.
    other = await _create(env, 5)
    token = url.split("token=", 1)[1]
    response = await env.client.head(f"/files/{other}?token={token}", headers=TUS)
    assert response.status_code == 404


async def test_cors_exposes_the_tus_headers(env: Env) -> None:
    upload_id = await _create(env, 10)
    response = await env.client.head(
        f"/files/{upload_id}", headers=env.auth(Origin="https://app.example")
    )
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "upload-offset" in exposed and "location" in exposed and "tus-version" in exposed
    preflight = await env.client.options(
        "/files/",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "upload-offset,tus-resumable,content-type",
        },
    )
    assert preflight.status_code == 200
    assert "PATCH" in preflight.headers["access-control-allow-methods"]


async def test_vidray_upload_resumes_after_an_interruption(
    env: Env, clip: bytes, tmp_path: Path
) -> None:
    source = tmp_path / "talk.mp4"
    source.write_bytes(clip)
    urls = UrlStore(env.settings.data_dir / "upload-urls.json")
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def interrupt(done: int, total: int) -> None:
        if done > 0:
            raise KeyboardInterrupt  # Ctrl-C after the first chunk

    with serving(create_app(env.gateway), port):
        with pytest.raises(KeyboardInterrupt):
            await asyncio.to_thread(
                upload_file,
                server=base,
                path=source,
                token=env.token,
                metadata={"filename": source.name},
                chunk_size=8 * 1024,
                urls=urls,
                progress=interrupt,
            )
        first_url = urls.get(UrlStore.key(source, base))
        assert first_url is not None
        upload_id = first_url.rsplit("/", 1)[-1]
        assert env.row(upload_id).offset == 8 * 1024

        # The same command again, as a person types it: it picks up at 8 KiB.
        cli = await asyncio.to_thread(
            subprocess.run,
            [
                *(str(Path(sys.executable).with_name("vidray")), "upload", str(source)),
                *("--server", base, "--token", env.token, "--title", "My talk"),
            ],
            env={**os.environ, "VIDRAY_DATA_DIR": str(env.settings.data_dir)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
        assert "uploaded talk.mp4" in cli.stdout
        # The same upload went on (one row, below) and became a video with a watch URL.
        assert f"watch  {base}/watch/{env.row(upload_id).video_id}" in cli.stdout
        await eventually_async(
            lambda: not env.gateway.files.pending, timeout=30, what="the upload's finish"
        )
    assert env.stored(upload_id) == clip
    with env.uploads.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Upload)) == 1
    assert urls.get(UrlStore.key(source, base)) is None  # forgotten once complete
