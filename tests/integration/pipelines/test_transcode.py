"""The transcode task graph on a real local Ray cluster, over the real object stores."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import re
import shutil
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest
import ray
from PIL import Image

from cluster.bench.sources import make_source, make_synthetic_source
from cluster.storage import LocalStore, ObjectInfo, ObjectStore, S3Store
from pipelines import transcode as graph
from pipelines.errors import SourceRejected, TranscodeCancelled
from pipelines.media import probe
from tests.support.media import Spec, make_media
from tests.support.waiting import eventually

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


def _master_lists(text: str, *, prefix: str) -> list[tuple[str, str, str]]:
    """(playlist key, resolution, video codecs) of each video variant the master names."""
    lines = text.splitlines()
    listed = []
    for attrs, uri in itertools.pairwise(lines):
        if attrs.startswith("#EXT-X-STREAM-INF:") and "RESOLUTION=" in attrs:
            resolution = re.search(r"RESOLUTION=(\d+x\d+)", attrs)
            codecs = re.search(r'CODECS="([^",]+)', attrs)
            assert resolution and codecs, attrs
            listed.append((prefix + uri, resolution[1], codecs[1]))
    return sorted(listed)


def _assert_renditions_are_the_masters(store: ObjectStore, result: graph.Result) -> None:
    prefix = result.master_key.removesuffix("master.m3u8")
    master = store.get_bytes(result.master_key).decode()
    assert _master_lists(master, prefix=prefix) == sorted(
        (r["playlist_key"], f"{r['width']}x{r['height']}", r["codecs"]) for r in result.renditions
    )


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
    _assert_renditions_are_the_masters(store, result)
    assert result.probe == probe(source)
    assert (result.width, result.height) == (640, 360)
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
    _assert_renditions_are_the_masters(open_store(), result)
    assert not list(open_store().list("tmp/"))


HOSTILE = pytest.mark.parametrize(
    ("content", "reason_hint"),
    [
        (b"", "empty"),
        (b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n", ""),
        (bytes(range(256)) * 64, ""),
    ],
)


@HOSTILE
def test_hostile_input_fails_once_with_a_reason(
    tmp_path: Path, content: bytes, reason_hint: str
) -> None:
    bad = tmp_path / "upload.mp4"
    bad.write_bytes(content)
    store = LocalStore(tmp_path / "objects")
    with pytest.raises(SourceRejected) as caught:
        _run(store, bad)
    assert caught.value.reason not in {"internal", "timeout", "lost"}
    assert reason_hint in caught.value.reason
    assert list(store.list("")) == [], "a failed job leaves nothing behind"


@HOSTILE
def test_probe_source_refuses_hostile_uploads_with_the_media_reason(
    tmp_path: Path, content: bytes, reason_hint: str
) -> None:
    store = LocalStore(tmp_path / "objects")
    store.put_bytes("raw/up1", content)
    with pytest.raises(SourceRejected) as caught:
        graph.probe_source(open_store=lambda: store, source=graph.Source(key="raw/up1"))
    assert caught.value.reason not in {"internal", "timeout", "lost"}
    assert reason_hint in caught.value.reason


def test_a_given_probe_is_the_only_probe(tmp_path: Path, source: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    store.put_file("raw/up1", source)
    upload = graph.Source(key="raw/up1")
    made = graph.probe_source(open_store=lambda: store, source=upload)
    assert made == probe(source)
    assert made.video is not None
    # The caller's probe says the picture is turned a quarter. Were the file probed again
    # anywhere (for the plan, the poster or the storyboard), that part would come out
    # landscape: portrait everywhere shows the given probe was the only one read.
    turned = replace(
        made,
        video=replace(
            made.video,
            rotation=90,
            display_width=made.video.display_height,
            display_height=made.video.display_width,
        ),
    )
    result = graph.transcode(
        open_store=lambda: store,
        source=upload,
        prefix="hls/v1/",
        image_prefix="img/v1/",
        options=replace(CPU, ladder=(240,), segments_per_chunk=3),
        probe=turned,
    )
    assert result.probe is turned
    assert (result.width, result.height) == (360, 640)
    assert [r["name"] for r in result.renditions] == ["240p"]
    assert all(r["height"] > r["width"] == 240 for r in result.renditions)
    _assert_renditions_are_the_masters(store, result)
    with Image.open(tmp_path / "objects/img/v1/poster.jpg") as poster:
        assert poster.size == (360, 640)
    tiles = re.findall(
        r"#xywh=\d+,\d+,(\d+),(\d+)", store.get_bytes("img/v1/storyboard.vtt").decode()
    )
    assert tiles and all(int(h) > int(w) for w, h in tiles)


def test_per_title_spends_far_fewer_bits_on_slides(tmp_path: Path) -> None:
    # Slides are transparent at a fraction of the table's bits: the probe runs as a task
    # of its own, the ladder it fits is what the chunks encode, and the video still plays.
    slides = make_synthetic_source(
        tmp_path / "slides.mp4", kind="slides", seconds=4, width=640, height=360
    )
    sizes = {}
    for label, per_title in (("fixed", False), ("title", True)):
        objects = tmp_path / label
        result = graph.transcode(
            open_store=functools.partial(LocalStore, objects),
            source=graph.Source(path=str(slides)),
            prefix="hls/",
            options=replace(CPU, per_title=per_title, ladder=(360, 240)),
        )
        _decodes_cleanly(objects / "hls/master.m3u8")
        assert ("complexity probe" in result.cpu) is per_title
        sizes[label] = {
            r.name: sum(f.stat().st_size for f in (objects / "hls" / r.name).glob("*.ts"))
            for r in result.plan.rungs
        }
        if per_title:
            assert all(r.crf is not None for r in result.plan.rungs), result.plan.rungs
    for rung, fixed in sizes["fixed"].items():
        assert sizes["title"][rung] < 0.8 * fixed, sizes


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

    # Only this session's workers: the raylet's children. Every process on the machine
    # named after the task would include other people's benchmarks and test runs.
    node = ray._private.worker._global_node
    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)

    def kill_one() -> bool:
        for proc in raylet.children(recursive=True):
            cmdline = ""
            with contextlib.suppress(psutil.NoSuchProcess):
                cmdline = " ".join(proc.cmdline())
            if "_encode_chunk" in cmdline:
                proc.kill()
                killed.append(proc.pid)
                return True
        return False

    def kill_a_chunk_worker() -> None:
        # No worker seen in time is reported below, by `assert killed`.
        with contextlib.suppress(AssertionError):
            eventually(kill_one, timeout=60, what="a chunk worker")

    killer = threading.Thread(target=kill_a_chunk_worker)
    killer.start()
    _run(store, source)
    killer.join()
    assert killed, "no chunk worker was seen to kill"
    _decodes_cleanly(tmp_path / "objects/hls/v1/master.m3u8")
    streams = _ffprobe(tmp_path / "objects/hls/v1/master.m3u8", "-show_streams")["streams"]
    assert {s["codec_type"] for s in streams} >= {"video", "audio"}


def _audio_held_after_its_first_segment(root: Path, gate: Path) -> graph.StoreFactory:
    """The real LocalStore, except that the audio task stores no segment after its first
    until `gate` exists: the test then knows, rather than hopes, that the audio track is
    still being encoded when the video first becomes playable."""

    class HeldAudio(LocalStore):  # local, so Ray pickles it by value for its workers
        def put_file(self, key: str, path: Path) -> ObjectInfo:
            if "/audio/seg_" in key and not key.endswith("/seg_00000.ts"):
                # This runs in a Ray worker, which need not find tests.support: the gate
                # is polled by hand. A graph that never plays fails, not hangs.
                give_up = time.monotonic() + 60
                while not gate.exists() and time.monotonic() < give_up:
                    time.sleep(0.02)
            return super().put_file(key, path)

    return lambda: HeldAudio(root)


def _listed(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def _span(files: list[Path], stream: str) -> float:
    """Seconds from the first packet of `stream` ("a" or "v") to the end of the last."""
    pkts = [
        p
        for f in files
        for p in _ffprobe(f, "-select_streams", stream, "-show_entries", "packet=pts,duration")[
            "packets"
        ]
    ]
    first = min(int(p["pts"]) for p in pkts)
    end = max(int(p["pts"]) + int(p["duration"]) for p in pkts)
    return (end - first) / 90_000


def _decode_live(hls: Path) -> dict[str, str]:
    """Fetch what each rendition of a growing (EVENT) ladder lists right now, as a
    player's loaders do, and decode it; ffmpeg's complaints by rendition ("" when clean).
    (Not ffmpeg's HLS reader: on a live playlist it waits for more than the 15 pictures
    of a 0.5 s first segment before it decodes anything.)"""
    tool = shutil.which("ffmpeg")
    if tool is None:
        pytest.skip("ffmpeg not installed")
    errors = {}
    for rendition in ("240p", "audio"):
        folder = hls / rendition
        listed = _listed((folder / "index.m3u8").read_text())
        joined = "concat:" + "|".join(str(folder / name) for name in listed)
        argv = [tool, "-v", "error", "-i", joined, "-f", "null", "-"]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        errors[rendition] = run.stderr if run.returncode == 0 else f"exit {run.returncode}"
    return errors


def _assert_final_ladder(objects: Path, result: graph.Result) -> None:
    hls = objects / "hls/v1"
    _decodes_cleanly(hls / "master.m3u8")
    for rendition in ("audio", *(r["name"] for r in result.renditions)):
        text = (hls / rendition / "index.m3u8").read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
        assert len(_listed(text)) == result.plan.segment_count
    audio = _span(sorted((hls / "audio").glob("seg_*.ts")), "a")
    video = _span(sorted((hls / "240p").glob("seg_*.ts")), "v")
    assert audio == pytest.approx(video, abs=0.1)


def test_video_plays_while_the_audio_track_is_still_encoding(tmp_path: Path, source: Path) -> None:
    objects, gate = tmp_path / "objects", tmp_path / "audio-may-go-on"
    open_store = _audio_held_after_its_first_segment(objects, gate)
    store = open_store()
    seen: dict[str, Any] = {}

    def watch(p: graph.Progress) -> None:
        if p.playable and not seen:
            # What a player fetching the master right now would find.
            keys = {info.key for info in store.list("hls/v1/")}
            texts = {
                name: store.get_bytes(f"hls/v1/{name}").decode()
                for name in ("master.m3u8", "240p/index.m3u8", "audio/index.m3u8")
            }
            seen.update(keys=keys, texts=texts, decoded=_decode_live(objects / "hls/v1"))
            gate.touch()

    result = graph.transcode(
        open_store=open_store,
        source=graph.Source(path=str(source)),
        prefix="hls/v1/",
        options=CPU,
        progress=watch,
    )

    assert seen, "the video never became playable"
    master = seen["texts"]["master.m3u8"]
    assert 'TYPE=AUDIO,GROUP-ID="aud"' in master and "240p/index.m3u8" in master
    for name in ("240p", "audio"):
        playlist = seen["texts"][f"{name}/index.m3u8"]
        assert "#EXT-X-PLAYLIST-TYPE:EVENT" in playlist and "#EXT-X-ENDLIST" not in playlist
        listed = _listed(playlist)
        assert listed, f"{name} lists no segment"
        assert {f"hls/v1/{name}/{segment}" for segment in listed} <= seen["keys"]
    assert seen["decoded"] == {"240p": "", "audio": ""}
    # Playable from the first audio segment alone: the rest of the track was still held.
    assert _listed(seen["texts"]["audio/index.m3u8"]) == ["seg_00000.ts"]
    assert not any(k.startswith("hls/v1/audio/seg_00001") for k in seen["keys"])

    _assert_final_ladder(objects, result)
    assert not list(store.list("tmp/")), "staging objects must be gone"


def test_killed_audio_worker_resumes_its_stream(tmp_path: Path, source: Path) -> None:
    objects, gate = tmp_path / "objects", tmp_path / "audio-may-go-on"
    open_store = _audio_held_after_its_first_segment(objects, gate)
    killed: list[int] = []

    def kill_the_audio_worker(p: graph.Progress) -> None:
        # Playable means the audio task has stored one segment and is held at the next.
        if p.playable and not gate.exists():
            for proc in psutil.process_iter(["pid", "cmdline"]):
                if "_encode_audio" in " ".join(proc.info["cmdline"] or []):
                    proc.kill()
                    killed.append(proc.pid)
            gate.touch()

    result = graph.transcode(
        open_store=open_store,
        source=graph.Source(path=str(source)),
        prefix="hls/v1/",
        options=CPU,
        progress=kill_the_audio_worker,
    )

    assert killed, "no audio worker was seen to kill"
    # The retry encodes the track again; the driver takes only the segments it lacked.
    _assert_final_ladder(objects, result)
    assert not list(open_store().list("tmp/")), "the retry's spare segments must be gone"


def test_audio_only_upload_gets_its_waveform_as_the_poster(tmp_path: Path) -> None:
    song = make_media(tmp_path / "song.m4a", Spec(video=False, seconds=4, suffix=".m4a"))
    store = LocalStore(tmp_path / "objects")
    result = _run(store, song)
    assert result.renditions == ()
    assert (result.poster_key, result.storyboard_key) == ("img/v1/poster.jpg", None)
    poster = Image.open(tmp_path / "objects/img/v1/poster.jpg")
    assert (poster.format, poster.size) == ("JPEG", (1280, 720))
    assert max(band[1] for band in poster.getextrema()) > 128, "the poster is blank"
    _decodes_cleanly(tmp_path / "objects/hls/v1/master.m3u8")
