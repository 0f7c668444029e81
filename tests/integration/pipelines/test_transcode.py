"""The transcode task graph on a real local Ray cluster, over the real object stores."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from cluster.bench.sources import make_source
from cluster.storage import LocalStore, ObjectStore, S3Store
from pipelines import transcode as graph
from pipelines.errors import TranscodeCancelled, TranscodeFailed

pytestmark = pytest.mark.usefixtures("ray_cluster")

CPU = graph.Options(accelerator="cpu", segment_seconds=2.0, segments_per_chunk=2)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(
        tmp_path_factory.mktemp("media") / "src.mp4", width=640, height=360, seconds=9
    )


def _ffprobe(path: Path | str, *args: str) -> dict[str, Any]:
    tool = shutil.which("ffprobe")
    if tool is None:
        pytest.skip("ffprobe not installed")
    out = subprocess.run(
        [tool, "-v", "error", "-of", "json", *args, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


def _decodes_cleanly(master: Path) -> None:
    tool = shutil.which("ffmpeg")
    if tool is None:
        pytest.skip("ffmpeg not installed")
    run = subprocess.run(
        [tool, "-v", "error", "-i", str(master), "-map", "0", "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0
    assert run.stderr == ""


def _run(store: ObjectStore, source: Path, **kwargs: Any) -> graph.Result:
    return graph.transcode(
        open_store=lambda: store,
        source=graph.Source(path=str(source)),
        prefix="hls/v1/",
        image_prefix="img/v1/",
        **{"options": CPU, **kwargs},
    )


def test_full_ladder_plays_and_grows_from_the_lowest_rung(tmp_path: Path, source: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    seen: list[graph.Progress] = []
    result = _run(store, source, progress=seen.append)
    assert result.poster_key == "img/v1/poster.jpg"
    assert store.exists("img/v1/poster.jpg")
    vtt = store.get_bytes("img/v1/storyboard.vtt").decode()
    assert vtt.startswith("WEBVTT")
    assert "storyboard.jpg#xywh=" in vtt

    master = tmp_path / "objects/hls/v1/master.m3u8"
    _decodes_cleanly(master)
    assert [r["name"] for r in result.renditions] == ["240p", "360p"]
    text = master.read_text()
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text
    assert "TYPE=AUDIO" in text
    playlist = (tmp_path / "objects/hls/v1/360p/index.m3u8").read_text()
    assert playlist.rstrip().endswith("#EXT-X-ENDLIST")

    first_playable = next(i for i, p in enumerate(seen) if p.playable)
    assert seen[first_playable].percent < 100, "the video must play before the ladder is done"
    assert seen[-1].stage == "done"
    assert [p.percent for p in seen] == sorted(p.percent for p in seen)
    assert not list(store.list("tmp/")), "staging objects must be gone"


def test_s3_store_gets_the_same_ladder(
    tmp_path: Path, source: Path, s3_server: str, s3_credentials: dict[str, str]
) -> None:
    open_store = functools.partial(
        S3Store, bucket="ladder", endpoint_url=s3_server, create_bucket=True, **s3_credentials
    )
    open_store().put_file("raw/up1", source)
    result = graph.transcode(
        open_store=open_store,
        source=graph.Source(key="raw/up1"),
        prefix="hls/v2/",
        options=CPU,
    )
    keys = {info.key for info in open_store().list("hls/v2/")}
    assert result.master_key in keys
    assert "hls/v2/360p/index.m3u8" in keys
    assert any(k.startswith("hls/v2/audio/seg_") for k in keys)
    assert not list(open_store().list("tmp/"))


@pytest.mark.parametrize(
    ("content", "reason_hint"),
    [
        (b"", "empty"),
        (b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n", ""),
        (bytes(range(256)) * 64, ""),
    ],
)
def test_hostile_input_fails_once_with_a_reason(
    tmp_path: Path, content: bytes, reason_hint: str
) -> None:
    bad = tmp_path / "upload.mp4"
    bad.write_bytes(content)
    store = LocalStore(tmp_path / "objects")
    with pytest.raises(TranscodeFailed) as caught:
        _run(store, bad)
    assert caught.value.reason not in {"internal", "timeout", "lost"}
    assert reason_hint in caught.value.reason
    assert list(store.list("")) == [], "a failed job leaves nothing behind"


def test_gpu_request_on_a_cpu_only_machine_falls_back_to_libx264(
    tmp_path: Path, source: Path
) -> None:
    store = LocalStore(tmp_path / "objects")
    options = graph.Options(accelerator="gpu", segment_seconds=2.0, segments_per_chunk=3)
    result = _run(store, source, options=options)
    _decodes_cleanly(tmp_path / "objects/hls/v1/master.m3u8")
    assert any("used libx264" in note for note in result.notes)


def test_cancel_mid_transcode_removes_partial_output(tmp_path: Path, source: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    playable = threading.Event()

    def watch(p: graph.Progress) -> None:
        if p.playable:
            playable.set()

    with pytest.raises(TranscodeCancelled):
        _run(store, source, progress=watch, cancelled=playable.is_set)
    assert list(store.list("hls/")) == []
    assert list(store.list("tmp/")) == []


def test_killed_worker_is_retried_and_the_ladder_completes(tmp_path: Path, source: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    killed: list[int] = []

    def kill_a_chunk_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            for proc in psutil.process_iter(["pid", "cmdline"]):
                if "_encode_chunk" in " ".join(proc.info["cmdline"] or []):
                    proc.kill()
                    killed.append(proc.pid)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_chunk_worker)
    killer.start()
    _run(store, source)
    killer.join()
    assert killed, "no chunk worker was seen to kill"
    _decodes_cleanly(tmp_path / "objects/hls/v1/master.m3u8")
    streams = _ffprobe(tmp_path / "objects/hls/v1/master.m3u8", "-show_streams")["streams"]
    assert {s["codec_type"] for s in streams} >= {"video", "audio"}
