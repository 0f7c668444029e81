"""Upload with tuspy to a running `vidray up`: cut the connection, resume with
checksums, and watch the video get transcoded."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from pathlib import Path

import httpx
import psutil
from tusclient import client as tus

from cluster.bench.sources import make_source
from cluster.upload_client import upload_file
from tests.support.accounts import outbox_code
from tests.support.launch import Launch
from tests.support.tus import cut_patch
from tests.support.waiting import eventually

MIB = 1024 * 1024
SIGN_IN = """mutation($email: String!, $code: String!) {
  verifyOtp(email: $email, code: $code) { accessToken }
}"""


def _sign_in(base: str, outbox: Path) -> str:
    email = "uploader@example.com"
    httpx.post(
        f"{base}/graphql",
        json={
            "query": "mutation($e: String!) { requestOtp(email: $e) }",
            "variables": {"e": email},
        },
        timeout=30,
    ).raise_for_status()
    code = eventually(
        lambda: outbox_code(outbox, email), timeout=20, interval=0.2, what="a sign-in code"
    )
    answer = httpx.post(
        f"{base}/graphql",
        json={"query": SIGN_IN, "variables": {"email": email, "code": code}},
        timeout=30,
    ).json()
    token: str = answer["data"]["verifyOtp"]["accessToken"]
    return token


def test_tuspy_uploads_resumes_and_the_video_is_transcoded(
    module_platform: Launch, tmp_path: Path
) -> None:
    base = module_platform.base
    data_dir = module_platform.tmp_path / "data"
    token = _sign_in(base, data_dir / "outbox")
    source = make_source(tmp_path / "clip.mp4", width=320, height=180, seconds=3)
    payload = source.read_bytes()

    client = tus.TusClient(f"{base}/files/", headers={"Authorization": f"Bearer {token}"})
    uploader = client.uploader(
        str(source),
        chunk_size=128 * 1024,
        metadata={"filename": "clip.mp4", "title": "e2e clip"},
        upload_checksum=True,
    )
    url = uploader.create_url()
    uploader.set_url(url)
    # Created at the gateway, written through the upload edge, as `Location` says.
    assert url.startswith(f"{module_platform.upload_base}/files/")

    # The connection is cut mid-body: HEAD reports only what was stored.
    cut_patch(url, token, payload[: 100 * 1024], declared=len(payload))

    def offset() -> int:
        headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
        return int(httpx.head(url, headers=headers).headers["upload-offset"])

    # The edge may still be storing what arrived before the cut when the first HEAD
    # comes (a loaded machine): the offset settles once that write is in.
    def settled() -> int | None:
        first = offset()
        return first if first == offset() and first > 0 else None

    stored = eventually(settled, timeout=30, what="the cut PATCH's bytes stored")
    assert 0 < stored <= 100 * 1024

    # tuspy resumes from that offset, a few chunks now and the rest after a "restart".
    uploader.offset = uploader.get_offset()
    assert uploader.offset == stored
    uploader.upload(stop_at=stored + 256 * 1024)
    resumed = client.uploader(str(source), url=url, chunk_size=256 * 1024, upload_checksum=True)
    assert resumed.offset == stored + 256 * 1024
    resumed.upload()
    assert resumed.offset == len(payload)

    upload_id = url.rsplit("/", 1)[-1]
    stored_bytes = (data_dir / "objects" / "raw" / upload_id).read_bytes()
    assert hashlib.sha256(stored_bytes).hexdigest() == hashlib.sha256(payload).hexdigest()

    # The upload becomes a video and the job actor transcodes it.
    database = data_dir / "vidray.db"

    def transcoded() -> tuple[str, str | None] | None:
        with sqlite3.connect(database) as conn:
            row = conn.execute(
                "SELECT v.status, v.failure_reason FROM uploads u JOIN videos v "
                "ON v.id = u.video_id WHERE u.id = ?",
                (upload_id,),
            ).fetchone()
        return row if row is not None and row[0] in {"ready", "failed"} else None

    status = eventually(transcoded, timeout=120, interval=1, what="the transcode's end")
    assert status == ("ready", None), status
    video_dirs = list((data_dir / "objects" / "hls").iterdir())
    assert any((d / "master.m3u8").is_file() for d in video_dirs)


def _edge_memory(launch: Launch) -> tuple[int, int]:
    """(pid, private resident bytes) of the platform's upload edge actor."""
    for child in psutil.Process(launch.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "UploadEdgeActor" in " ".join(child.cmdline()):
                for line in Path(f"/proc/{child.pid}/status").read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        return child.pid, int(line.split()[1]) * 1024
    raise AssertionError("no upload edge among the platform's processes")


def test_a_large_upload_leaves_the_upload_edge_memory_flat(
    module_platform: Launch, tmp_path: Path
) -> None:
    base = module_platform.base
    data_dir = module_platform.tmp_path / "data"
    token = _sign_in(base, data_dir / "outbox")
    source = tmp_path / "big.bin"
    with source.open("wb") as fh:
        for _ in range(24):
            fh.write(os.urandom(16 * MIB))
    warm = tmp_path / "warm.bin"
    warm.write_bytes(os.urandom(MIB))
    upload_file(server=base, path=warm, token=token, metadata={}, checksum=False)
    pid, before = _edge_memory(module_platform)

    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            with contextlib.suppress(OSError, AssertionError):
                peak = max(peak, _edge_memory(module_platform)[1])

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        url = upload_file(
            server=base,
            path=source,
            token=token,
            metadata={"filename": "big.bin"},
            chunk_size=64 * MIB,
        )
    finally:
        done.set()
        sampler.join()
    assert url.startswith(f"{module_platform.upload_base}/files/")
    # 384 MiB in 64 MiB PATCHes: the edge holds a few MiB of body at a time.
    assert (peak - before) < 64 * MIB, f"the edge grew by {(peak - before) / MIB:.0f} MiB"
    assert _edge_memory(module_platform)[0] == pid  # the same process throughout

    # Random bytes are no video: refused once complete, with the reason, bytes deleted.
    upload_id = url.rsplit("/", 1)[-1]

    def failed() -> tuple[str, str | None] | None:
        with sqlite3.connect(data_dir / "vidray.db") as conn:
            row = conn.execute(
                "SELECT status, failure_reason FROM uploads WHERE id = ?", (upload_id,)
            ).fetchone()
        return row if row is not None and row[0] == "failed" else None

    row = eventually(failed, timeout=60, interval=0.5, what="the upload's refusal")
    assert row[0] == "failed", row
    assert not (data_dir / "objects" / "raw" / upload_id).exists()
