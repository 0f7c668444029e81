from __future__ import annotations

import json
import os
import struct
import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest

from pipelines.media import (
    CorruptMedia,
    MediaError,
    MediaInfo,
    MediaLimitExceeded,
    UnsupportedMedia,
    probe,
)
from tests.support.media import (
    Spec,
    avi_with_embedded_playlist,
    make_live_webm,
    make_media,
    require_tool,
)


def test_reads_video_and_audio(media: Callable[..., Path]) -> None:
    info = probe(media("main", width=1280, height=720, seconds=5))
    assert info.container == "mov"
    assert info.duration == pytest.approx(5.0, abs=0.05)
    assert info.video is not None and info.audio is not None
    assert (info.video.width, info.video.height) == (1280, 720)
    assert info.video.fps == Fraction(30) and not info.video.variable_frame_rate
    assert (info.video.codec, info.video.pix_fmt, info.video.bit_depth) == ("h264", "yuv420p", 8)
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == ("aac", 48000, 2)


def test_rotated_phone_video_reports_portrait_display(media: Callable[..., Path]) -> None:
    info = probe(media("rotated", rotation=90, audio=False))
    assert info.video is not None
    assert (info.video.width, info.video.height) == (640, 360)
    assert (info.video.display_width, info.video.display_height) == (360, 640)
    assert info.video.rotation in (90, 270)


def test_variable_frame_rate_is_flagged(media: Callable[..., Path]) -> None:
    info = probe(media("vfr", vfr=True))
    assert info.video is not None and info.video.variable_frame_rate


def test_ten_bit_and_audio_only(media: Callable[..., Path]) -> None:
    ten = probe(media("tenbit", pix_fmt="yuv420p10le", audio=False))
    assert ten.video is not None and ten.video.bit_depth == 10
    audio = probe(media("song", video=False, suffix=".m4a"))
    assert audio.video is None and audio.audio is not None


def test_info_survives_json(media: Callable[..., Path]) -> None:
    info = probe(media("main", width=1280, height=720, seconds=5))
    assert MediaInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info


def test_a_live_recording_without_a_duration_is_measured(tmp_path: Path) -> None:
    path = make_live_webm(tmp_path / "live.webm", seconds=2.0)
    header = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-show_entries", "format=duration", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "duration=N/A" in header, "the file must have no duration for this test to mean much"
    info = probe(path)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.video is not None and info.video.codec == "vp8"
    assert info.audio is not None and info.audio.codec == "opus"
    assert any(w.startswith("duration_measured") for w in info.warnings)


def test_measuring_a_duration_is_bounded(tmp_path: Path) -> None:
    from pipelines.media import ProbeLimits

    path = make_live_webm(tmp_path / "live.webm", seconds=2.0)  # ~60 video + 100 audio packets
    with pytest.raises(MediaLimitExceeded) as caught:
        probe(path, limits=ProbeLimits(max_scan_packets=50))
    assert caught.value.reason == "probe_timeout" and "ffmpeg" in str(caught.value)
    with pytest.raises(MediaLimitExceeded) as caught:
        probe(path, limits=ProbeLimits(max_duration_s=1.0))
    assert caught.value.reason == "too_long"


# --- hostile inputs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local file an attacker wants read: a valid video with a tell-tale size (322x178)."""
    return make_media(
        tmp_path_factory.mktemp("secret") / "secret.ts",
        Spec(width=322, height=178, seconds=1, audio=False, suffix=".ts"),
    )


def _playlist(target: Path) -> bytes:
    return (
        f"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-TARGETDURATION:1\n"
        f"#EXTINF:1.0,\n{target}\n#EXT-X-ENDLIST\n"
    ).encode()


def test_unhardened_ffmpeg_would_follow_the_playlist(tmp_path: Path, secret: Path) -> None:
    # Proves the hostile playlist below is real: plain FFmpeg opens the referenced file.
    path = tmp_path / "evil.m3u8"
    path.write_bytes(_playlist(secret))
    with av.open(str(path)) as c:
        assert c.streams.video[0].width == 322


@pytest.mark.parametrize(
    ("name", "expected", "reason"),
    [
        ("hls.mp4", UnsupportedMedia, "unsupported_format"),
        ("hls.m3u8", UnsupportedMedia, "unsupported_format"),
        ("ffconcat.mp4", UnsupportedMedia, "unsupported_format"),
        ("gab2.avi", MediaError, None),
    ],
)
def test_indirections_never_read_the_referenced_file(
    tmp_path: Path, secret: Path, name: str, expected: type[MediaError], reason: str | None
) -> None:
    payloads = {
        "hls.mp4": _playlist(secret),
        "hls.m3u8": _playlist(secret),
        "ffconcat.mp4": f"ffconcat version 1.0\nfile '{secret}'\n".encode(),
        "gab2.avi": avi_with_embedded_playlist(_playlist(secret)),
    }
    path = tmp_path / name
    path.write_bytes(payloads[name])
    with pytest.raises(expected) as caught:
        probe(path)
    if reason:
        assert caught.value.reason == reason
    assert "322" not in str(caught.value) and str(secret) not in str(caught.value)


def test_nested_opens_are_refused_even_for_an_explicit_playlist_demuxer(
    tmp_path: Path, secret: Path
) -> None:
    # Defence in depth: if a sniffed family ever handed over to a nested demuxer, the
    # hardened open still refuses to open anything but the upload itself.
    from pipelines.media.probe import VIDEO_CONTAINERS

    assert "hls" not in VIDEO_CONTAINERS
    path = tmp_path / "evil.m3u8"
    path.write_bytes(_playlist(secret))
    with pytest.raises(UnsupportedMedia):
        from pipelines.media import open_untrusted

        with open_untrusted(path, container="hls"):
            pass


def test_mkv_claiming_a_year_is_refused(tmp_path: Path, media: Callable[..., Path]) -> None:
    data = bytearray(
        make_media(tmp_path / "short.mkv", Spec(seconds=1, suffix=".mkv")).read_bytes()
    )
    i = data.find(b"\x44\x89\x88")  # Segment Info / Duration, 8-byte float, in ms
    assert i != -1
    data[i + 3 : i + 11] = struct.pack(">d", 366 * 86400 * 1000.0)
    path = tmp_path / "year.mkv"
    path.write_bytes(data)
    with pytest.raises(MediaLimitExceeded) as caught:
        probe(path)
    assert caught.value.reason == "too_long"


def test_huge_picture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "small.avi"
    with av.open(str(path), "w") as out:
        s = out.add_stream("mjpeg", rate=10)
        s.width = s.height = 64
        s.pix_fmt = "yuvj420p"
        import numpy as np

        for _ in range(3):
            out.mux(
                s.encode(
                    av.VideoFrame.from_ndarray(np.full((64, 64, 3), 99, np.uint8), format="rgb24")
                )
            )
        out.mux(s.encode())
    data = bytearray(path.read_bytes())
    i = data.find(b"strf")
    data[i + 12 : i + 20] = struct.pack("<ii", 9000, 9000)  # BITMAPINFOHEADER
    start = 0
    while (j := data.find(b"\xff\xc0", start)) != -1:  # every JPEG start-of-frame
        data[j + 5 : j + 9] = struct.pack(">HH", 9000, 9000)
        start = j + 2
    path.write_bytes(data)
    with pytest.raises(MediaLimitExceeded) as caught:
        probe(path)
    assert caught.value.reason == "too_many_pixels"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda src: b"", CorruptMedia),
        (lambda src: os.urandom(200_000), UnsupportedMedia),
        (lambda src: src[: len(src) // 3], CorruptMedia),
        (lambda src: src[:4000], CorruptMedia),
        (lambda src: bytes([0x47] + [0] * 187) * 20, CorruptMedia),
        (lambda src: b"<html><body>not a video</body></html>", UnsupportedMedia),
    ],
    ids=["zero-bytes", "random", "truncated", "header-only", "empty-ts", "html"],
)
def test_broken_files_raise_typed_errors(
    tmp_path: Path,
    media: Callable[..., Path],
    make: Callable[[bytes], bytes],
    expected: type[MediaError],
) -> None:
    path = tmp_path / "upload.mp4"
    path.write_bytes(make(media("main", width=1280, height=720, seconds=5).read_bytes()))
    with pytest.raises(expected) as caught:
        probe(path)
    assert caught.value.reason and str(caught.value)


def test_limits_apply(media: Callable[..., Path]) -> None:
    from pipelines.media import ProbeLimits

    src = media("main", width=1280, height=720, seconds=5)
    with pytest.raises(MediaLimitExceeded, match=r"hours|long"):
        probe(src, limits=ProbeLimits(max_duration_s=1.0))
    with pytest.raises(MediaLimitExceeded):
        probe(src, limits=ProbeLimits(max_pixels=640 * 360))
    with pytest.raises(MediaLimitExceeded):
        probe(src, limits=ProbeLimits(max_file_bytes=1000))
