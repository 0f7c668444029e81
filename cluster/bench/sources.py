"""Synthetic sources for benchmarks and tests: real H.264/AAC files made with PyAV.

The picture is hard enough to encode to be honest (a scrolling gradient, a moving box and
per-frame noise), so encoder timings are not flattered by a static frame.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Issue #19's recipes: FFmpeg's test pattern, and the same with grain (camera or screen
# capture footage), both at a high bitrate (CRF 16) as a camera or recorder writes them.
SOURCE_KINDS: dict[str, str] = {
    "clean": "testsrc2=size={w}x{h}:rate={fps}",
    "noisy": "testsrc2=size={w}x{h}:rate={fps},noise=alls=6:allf=t",
}


def make_pattern_source(
    path: Path,
    *,
    kind: str,
    seconds: float,
    width: int = 1920,
    height: int = 1080,
    fps: int = 30,
) -> Path:
    """An H.264/AAC MP4 of FFmpeg's `testsrc2` pattern (`kind` "clean") or of the pattern
    with temporal noise ("noisy"), with a 440 Hz tone and 2 s GOPs, made by the ffmpeg CLI."""
    video = SOURCE_KINDS[kind].format(w=width, h=height, fps=fps)
    cmd = [
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", video,
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", f"{seconds:g}",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "16",
        "-g", str(2 * fps), "-keyint_min", str(2 * fps), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-shortest", "-f", "mp4", str(path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return path


def make_source(
    path: Path,
    *,
    width: int = 1920,
    height: int = 1080,
    seconds: float = 60.0,
    fps: int = 30,
    audio: bool = True,
    seed: int = 7,
) -> Path:
    """Write an MP4 (H.264 yuv420p + AAC stereo) with keyframes every 2 s."""
    rng = np.random.default_rng(seed)
    frames = round(seconds * fps)
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    base = np.stack(
        [
            np.broadcast_to(x, (height, width)),
            np.broadcast_to(y, (height, width)),
            np.full((height, width), 128, np.float32),
        ],
        axis=-1,
    ).astype(np.uint8)
    noise = rng.integers(0, 24, size=(8, height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "18", "g": str(2 * fps)}
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=48000)
            sound.layout = "stereo"
        samples_per_frame = 48000 // fps
        for i in range(frames):
            img = np.roll(base, i * 8, axis=1) + noise[i % len(noise)]
            bw, bh = width // 6, height // 6
            t = i / fps
            bx = int((width - bw) * (0.5 + 0.5 * np.sin(t * 2)))
            by = int((height - bh) * (0.5 + 0.5 * np.cos(t * 3)))
            img[by : by + bh, bx : bx + bw] = 255
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
            if sound is not None:
                n = np.arange(i * samples_per_frame, (i + 1) * samples_per_frame)
                tone = (0.2 * np.sin(2 * np.pi * 440 * n / 48000)).astype(np.float32)
                chunk = av.AudioFrame.from_ndarray(
                    np.stack([tone, tone]), format="fltp", layout="stereo"
                )
                chunk.sample_rate = 48000
                chunk.pts = i * samples_per_frame
                out.mux(sound.encode(chunk))
        # Flush: encoders hold frames back (lookahead, B-frames, AAC priming).
        out.mux(video.encode(None))
        if sound is not None:
            out.mux(sound.encode(None))
    return path


def make_synthetic_source(
    path: Path, *, kind: str, seconds: float, width: int = 1280, height: int = 720, fps: int = 30
) -> Path:
    """Easy content for the per-title bench, written with PyAV at near-lossless quality:
    "slides" (dark text lines on white, a new slide every 2 s, a moving pointer) and
    "talking" (a head-like ellipse swaying slowly on a soft background, light grain)."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "12", "g": str(2 * fps)}
        slide = None
        for i in range(round(seconds * fps)):
            t = i / fps
            if kind == "slides":
                if i % (2 * fps) == 0:
                    slide = np.full((height, width, 3), 250, np.uint8)
                    top = height // 10
                    for line in range(8):
                        y = top + line * height // 10
                        length = int(rng.integers(width // 3, width * 4 // 5))
                        for x in range(width // 12, width // 12 + length, 14):
                            glyph = rng.integers(0, 2, size=(height // 30, 10)) * 200
                            slide[y : y + height // 30, x : x + 10] = 40 + glyph[..., None]
                assert slide is not None
                img = slide.copy()
                px = int(width * (0.3 + 0.2 * np.sin(t)))
                img[height // 2 : height // 2 + 12, px : px + 12] = (220, 30, 30)
            else:
                back = np.stack([90 + 60 * xx / width, 80 + 40 * yy / height, 120 + 0 * xx], -1)
                cx = width / 2 + 20 * np.sin(t * 0.8)
                cy = height / 2 + 8 * np.sin(t * 1.3)
                head = ((xx - cx) / (width / 8)) ** 2 + ((yy - cy) / (height / 3)) ** 2 < 1
                back[head] = (200, 160, 130)
                grain = rng.normal(0, 2.0, size=(height, width, 1))
                img = np.clip(back + grain, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))  # flush the encoder's look-ahead
    return path
