"""A WebM recorded by Chromium's MediaRecorder, as a "record" button would upload it.

Such files carry no duration in their header; the probe must measure it and the whole
pipeline must turn the recording into HLS that plays.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cluster.storage import LocalStore
from pipelines import transcode as graph
from pipelines.media import probe
from tests.support.media import require_tool
from tests.support.recording import record_webm

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.usefixtures("ray_cluster")

CPU = graph.Options(accelerator="cpu", segment_seconds=2.0, segments_per_chunk=2)


def _format(path: Path) -> dict[str, str]:
    out = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-of", "json", "-show_format", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout)["format"])


def test_a_chromium_recording_probes_and_plays_as_hls(tmp_path: Path, browser: Browser) -> None:
    recording = record_webm(browser, seconds=3.5, width=640, height=360)
    source = tmp_path / "recording.webm"
    source.write_bytes(recording.data)
    assert "duration" not in _format(source), "MediaRecorder wrote a duration: test is moot"

    # The truth: what FFmpeg measures once a remux has written the header.
    remuxed = tmp_path / "remuxed.webm"
    subprocess.run(
        [require_tool("ffmpeg"), "-v", "error", "-i", str(source), "-c", "copy", str(remuxed)],
        check=True,
    )
    truth = float(_format(remuxed)["duration"])
    assert truth == pytest.approx(recording.elapsed, abs=0.5)

    info = probe(source)
    assert info.duration == pytest.approx(truth, abs=0.5)
    assert info.video is not None and info.video.codec == "vp8"
    assert info.audio is not None and info.audio.codec == "opus"

    store = LocalStore(tmp_path / "objects")
    result = graph.transcode(
        open_store=lambda: store,
        source=graph.Source(path=str(source)),
        prefix="hls/v1/",
        image_prefix="img/v1/",
        options=CPU,
    )
    assert [r["name"] for r in result.renditions] == ["240p", "360p"]
    master = tmp_path / "objects/hls/v1/master.m3u8"
    decoded = subprocess.run(
        [require_tool("ffmpeg"), "-v", "error", "-i", str(master), "-map", "0", "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    assert decoded.returncode == 0 and decoded.stderr == ""
    played = float(_format(tmp_path / "objects/hls/v1/360p/index.m3u8")["duration"])
    assert played == pytest.approx(truth, abs=0.5)
