"""Generate real media for tests with PyAV (no media files on disk).

Pictures are testsrc-like (moving gradient, a moving box, fine noise so sharpness is
measurable); sound is a sine tone. Everything is small and short so the suite stays fast.
"""

from __future__ import annotations

import os
import shutil
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipelines.media import AudioInfo, MediaInfo, VideoInfo


def require_tool(name: str) -> str:
    """Path of an FFmpeg CLI tool; skip (or fail under VIDRAY_REQUIRE_SERVICES=1) if absent."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("VIDRAY_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{name} is required (VIDRAY_REQUIRE_SERVICES=1) but not on PATH")
        pytest.skip(f"{name} not on PATH: install ffmpeg to validate media output")
    return found


@dataclass(frozen=True)
class Spec:
    width: int = 640
    height: int = 360
    seconds: float = 3.0
    fps: int = 30
    audio: bool = True
    video: bool = True
    pix_fmt: str = "yuv420p"
    codec: str = "libx264"
    rotation: int = 0  # counter-clockwise, as FFmpeg's display matrix says
    vfr: bool = False
    black_first_s: float = 0.0
    suffix: str = ".mp4"


def _picture(spec: Spec, i: int, base: np.ndarray) -> np.ndarray:
    """Frame `i`: the precomputed gradient scrolled sideways plus a moving white box."""
    h, w = spec.height, spec.width
    t = i / spec.fps
    if t < spec.black_first_s:
        return np.zeros((h, w, 3), np.uint8)
    img = np.roll(base, i * 4, axis=1)
    bw, bh = max(w // 6, 2), max(h // 6, 2)
    bx = int((w - bw) * (0.5 + 0.5 * np.sin(t * 2)))
    by = int((h - bh) * (0.5 + 0.5 * np.cos(t * 3)))
    img[by : by + bh, bx : bx + bw] = 255
    return img


def _base(spec: Spec, rng: np.random.Generator) -> np.ndarray:
    h, w = spec.height, spec.width
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    img = np.empty((h, w, 3), np.float32)
    img[..., 0] = x
    img[..., 1] = y
    img[..., 2] = 255 - (x + y) / 2
    # Light grain: detail for the sharpness score that costs the encoder little.
    img += rng.normal(0, 3, (h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_media(path: Path, spec: Spec) -> Path:
    rng = np.random.default_rng(7)
    base = _base(spec, rng)
    out = av.open(str(path), "w")
    v = a = None
    if spec.video:
        v = out.add_stream(spec.codec, rate=spec.fps)
        v.width, v.height, v.pix_fmt = spec.width, spec.height, spec.pix_fmt
        v.codec_context.options = {"preset": "ultrafast"}
        if spec.vfr:
            v.codec_context.time_base = Fraction(1, 1000)
        if spec.rotation:
            v.set_display_rotation(spec.rotation)
    if spec.audio:
        a = out.add_stream("aac", rate=48000, layout="stereo")
    frames = int(spec.seconds * spec.fps)
    if v is not None:
        t_ms = 0
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(_picture(spec, i, base), format="rgb24")
            if spec.vfr:
                # Phone-style VFR: frame spacing wanders between 20 and 50 ms.
                frame.pts, frame.time_base = t_ms, Fraction(1, 1000)
                t_ms += int(rng.integers(20, 51))
            out.mux(v.encode(frame))
        out.mux(v.encode())
    if a is not None:
        rate, n, total = 48000, 1024, int(spec.seconds * 48000)
        for start in range(0, total, n):
            t = (np.arange(start, min(start + n, total)) / rate).astype(np.float32)
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(
                np.stack([tone, tone]), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = rate, start
            out.mux(a.encode(frame))
        out.mux(a.encode())
    out.close()
    return path


def make_live_webm(path: Path, *, seconds: float = 2.0, fps: int = 30) -> Path:
    """VP8 + Opus WebM written the way live recorders write it: no duration, no cues.

    FFmpeg's `live` option is what MediaRecorder-style files look like to a demuxer; for
    a real browser recording see tests.support.recording.
    """
    spec = Spec(width=320, height=240, seconds=seconds, fps=fps)
    base = _base(spec, np.random.default_rng(7))
    with av.open(str(path), "w", format="webm", options={"live": "1"}) as out:
        v = out.add_stream("libvpx", rate=fps)
        v.width, v.height, v.pix_fmt = spec.width, spec.height, "yuv420p"
        a = out.add_stream("libopus", rate=48000, layout="stereo")
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(_picture(spec, i, base), format="rgb24")
            out.mux(v.encode(frame))
        out.mux(v.encode())
        rate, n, total = 48000, 960, int(seconds * 48000)
        for start in range(0, total, n):
            t = (np.arange(start, min(start + n, total)) / rate).astype(np.float32)
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            sound = av.AudioFrame.from_ndarray(
                np.stack([tone, tone]), format="fltp", layout="stereo"
            )
            sound.sample_rate, sound.pts = rate, start
            out.mux(a.encode(sound))
        out.mux(a.encode())
    return path


# --- hostile inputs -------------------------------------------------------------------


def patch_box(data: bytearray, box: bytes, offset: int, value: bytes) -> None:
    """Overwrite bytes at `offset` inside the payload of every `box` atom (MP4 patching)."""
    start = 0
    while (i := data.find(box, start)) != -1:
        payload = i + 4
        data[payload + offset : payload + offset + len(value)] = value
        start = i + 4


def avi_with_embedded_playlist(playlist: bytes) -> bytes:
    """A RIFF/AVI whose only stream is a GAB2 'subtitle' carrying an HLS playlist.

    This is the shape of the 2017 FFmpeg local-file-read exploit: the AVI demuxer probes
    the GAB2 payload and, unhardened, could hand it to the HLS demuxer.
    """

    def chunk(tag: bytes, body: bytes) -> bytes:
        return tag + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")

    def lst(kind: bytes, body: bytes) -> bytes:
        return chunk(b"LIST", kind + body)

    avih = struct.pack("<IIIIIIIIII", 40000, 0, 0, 0x10, 1, 0, 1, 0, 64, 64) + b"\0" * 16
    strh = b"txts" + b"\0" * 4 + struct.pack("<IHHIIIIIIII", 0, 0, 0, 0, 1, 25, 0, 1, 0, 0, 0)
    strh += b"\0" * 8
    gab2 = b"GAB2\0\x02\0" + struct.pack("<I", 4) + b"x\0" + b"\x04\0"
    gab2 += struct.pack("<I", len(playlist)) + playlist
    hdrl = lst(b"hdrl", chunk(b"avih", avih) + lst(b"strl", chunk(b"strh", strh)))
    movi = lst(b"movi", chunk(b"00st", gab2))
    body = b"AVI " + hdrl + movi
    return b"RIFF" + struct.pack("<I", len(body)) + body


def ffprobe_json(ffprobe: str, *args: str) -> dict:
    import json
    import subprocess

    done = subprocess.run(
        [ffprobe, "-v", "error", "-of", "json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def packets(ffprobe: str, path: Path, stream: str) -> list[dict]:
    """Packets of one stream ('v' or 'a') in file order, with pts/duration/flags."""
    data = ffprobe_json(
        ffprobe,
        "-select_streams",
        stream,
        "-show_entries",
        "packet=pts,dts,duration,flags",
        str(path),
    )
    return data.get("packets", [])


def make_grain(path: Path, *, seconds: float = 2.0, width: int = 320, height: int = 180) -> Path:
    """A hard source: full-strength random grain every frame, kept by a near-lossless
    encode (CRF 4). No bitrate reaches visually transparent quality on it."""
    rng = np.random.default_rng(11)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=30)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.codec_context.options = {"preset": "ultrafast", "crf": "4", "g": "30"}
        for _ in range(int(seconds * 30)):
            img = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
            out.mux(v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(v.encode())
    return path


def media_info(
    width: int = 1920,
    height: int = 1080,
    *,
    duration: float = 95.0,
    fps: Fraction = Fraction(30),
    rotation: int = 0,
    vfr: bool = False,
    audio: bool = True,
    video: bool = True,
) -> MediaInfo:
    """What the probe would say of an H.264 + 5.1 AAC file like this, for planning tests
    that need no real file."""
    swap = rotation in (90, 270)
    picture = VideoInfo(
        codec="h264",
        width=width,
        height=height,
        display_width=height if swap else width,
        display_height=width if swap else height,
        rotation=rotation,
        fps=fps,
        variable_frame_rate=vfr,
        pix_fmt="yuv420p",
        bit_depth=8,
        bitrate=None,
        start_time=0.0,
    )
    sound = AudioInfo(
        codec="aac", sample_rate=44100, channels=6, layout="5.1", bitrate=None, start_time=0.0
    )
    return MediaInfo(
        container="mov",
        duration=duration,
        size_bytes=1,
        video=picture if video else None,
        audio=sound if audio else None,
    )
