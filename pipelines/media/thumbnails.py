"""Poster frame and storyboard sprite (+ WebVTT) for the player.

The poster is chosen, not taken: frame 0 is usually black or a fade, so we sample frames
across the video (skipping the first second), score each on brightness, contrast and
sharpness, and keep the best. Sharpness is the variance of a Laplacian, the classic
focus measure: blurred or motion-smeared frames score low.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import CorruptMedia
from .probe import MediaInfo, open_untrusted

_ROTATE = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}  # PIL rotates counter-clockwise


@dataclass(frozen=True)
class Poster:
    path: Path
    time: float
    score: float


@dataclass(frozen=True)
class Storyboard:
    image: Path
    vtt: Path
    tiles: int
    interval: float


def frame_score(gray: np.ndarray) -> float:
    """Higher is a better poster. `gray` is a 2-D uint8 picture."""
    g = gray.astype(np.float32)
    mean = float(g.mean())
    if mean < 40 or mean > 230:  # black, near-black fades, or blown-out white
        return 0.0
    contrast = float(g.std())
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    sharpness = float(lap.var())
    # Logs keep one huge term (noise is "sharp") from drowning the others.
    return math.log1p(contrast) * math.log1p(sharpness) * (1 - abs(mean - 128) / 256)


def poster(
    source: str | Path, info: MediaInfo, out_path: str | Path, *, candidates: int = 15
) -> Poster:
    """Write the best-scoring frame of `source` as a JPEG at `out_path`."""
    video = _video(info)
    out = Path(out_path)
    start = 1.0 if info.duration > 2.0 else info.duration * 0.25
    end = info.duration * 0.95
    times = [start + (end - start) * i / max(candidates - 1, 1) for i in range(candidates)]
    best: tuple[float, float, Any] | None = None
    with open_untrusted(source, container=info.container) as container:
        stream = container.streams.video[0]
        for t in times:
            frame = _frame_at(container, stream, video.start_time + t)
            if frame is None:
                continue
            small = frame.reformat(
                width=256, height=max(2, 256 * frame.height // frame.width), format="gray"
            )
            score = frame_score(small.to_ndarray())
            if best is None or score > best[0]:
                best = (score, float(frame.time - video.start_time), frame.to_image())
    if best is None:
        raise CorruptMedia("No frame could be decoded for the poster.", reason="undecodable")
    score, when, image = best
    image = _rotate(image, video.rotation)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, "JPEG", quality=85, optimize=True)
    return Poster(path=out, time=when, score=score)


def frame_jpeg(source: str | Path, info: MediaInfo, at: float, out_path: str | Path) -> Path:
    """Write the picture near `at` seconds (the keyframe before it, or the exact frame
    when keyframes are sparse) as an upright JPEG: the owner's pick of a thumbnail."""
    video = _video(info)
    with open_untrusted(source, container=info.container) as container:
        frame = _frame_at(container, container.streams.video[0], video.start_time + at)
    if frame is None:
        raise CorruptMedia(f"No frame could be decoded near {at:.1f} s.", reason="undecodable")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _rotate(frame.to_image(), video.rotation).save(out, "JPEG", quality=85, optimize=True)
    return out


def storyboard(
    source: str | Path,
    info: MediaInfo,
    out_dir: str | Path,
    *,
    interval: float | None = None,
    tile_width: int = 160,
    columns: int = 10,
) -> Storyboard:
    """Write `storyboard.jpg` (a grid of tiles) and `storyboard.vtt` mapping times to tiles.

    `interval` defaults to whatever gives at most 100 tiles (and at least one a second).
    """
    video = _video(info)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    step = interval or max(1.0, info.duration / 100)
    count = max(1, math.ceil(info.duration / step))
    tile_h = max(2, round(tile_width * video.display_height / video.display_width / 2) * 2)
    rows = math.ceil(count / columns)
    sheet = Image.new("RGB", (tile_width * min(columns, count), tile_h * rows))
    cues = ["WEBVTT", ""]
    with open_untrusted(source, container=info.container) as container:
        stream = container.streams.video[0]
        last = None
        for i in range(count):
            frame = _frame_at(container, stream, video.start_time + i * step) or last
            if frame is None:
                raise CorruptMedia(
                    "No frame could be decoded for the storyboard.", reason="undecodable"
                )
            last = frame
            tile = _rotate(frame.to_image(), video.rotation).resize((tile_width, tile_h))
            x, y = (i % columns) * tile_width, (i // columns) * tile_h
            sheet.paste(tile, (x, y))
            begin, finish = i * step, min((i + 1) * step, info.duration)
            cues += [
                f"{vtt_time(begin)} --> {vtt_time(finish)}",
                f"storyboard.jpg#xywh={x},{y},{tile_width},{tile_h}",
                "",
            ]
    image, vtt = out / "storyboard.jpg", out / "storyboard.vtt"
    sheet.save(image, "JPEG", quality=80, optimize=True)
    vtt.write_text("\n".join(cues))
    return Storyboard(image=image, vtt=vtt, tiles=count, interval=step)


def _video(info: MediaInfo) -> Any:
    if info.video is None:
        raise CorruptMedia("The file has no video track, so it has no pictures.", reason="no_video")
    return info.video


def _frame_at(container: Any, stream: Any, t: float, *, tolerance: float = 1.0) -> Any:
    """A frame close to source time `t`: the keyframe before it, if within `tolerance`.

    A poster or a scrubbing tile needs a good picture near `t`, not the exact frame, and
    decoding a whole GOP per tile made the storyboard of a long 1080p video cost more CPU
    than encoding one of its rungs; so only keyframes are decoded (`skip_frame=NONKEY`)
    unless the source's keyframes are too sparse, when we decode on to `t`.
    """
    ctx = stream.codec_context
    position = max(0, int(t / stream.time_base))
    ctx.skip_frame = "NONKEY"
    container.seek(position, stream=stream, backward=True)
    keyframe = next(iter(container.decode(stream)), None)
    if keyframe is not None and keyframe.time is not None and t - keyframe.time <= tolerance:
        return keyframe
    ctx.skip_frame = "DEFAULT"
    container.seek(position, stream=stream, backward=True)
    fallback = keyframe
    for frame in container.decode(stream):
        if frame.time is not None and frame.time + 1e-3 >= t:
            return frame
        fallback = frame
    return fallback  # past the end: the last frame


def _rotate(image: Image.Image, rotation: int) -> Image.Image:
    transpose = _ROTATE.get(rotation)
    return image.transpose(transpose) if transpose is not None else image


def vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
