"""A poster for sound: the waveform of an audio-only upload, drawn as a bar chart.

A podcast or a song has no picture, and a black 16:9 box tells a viewer nothing; the
shape of the sound (quiet intro, loud chorus) does, and it is cheap to draw. Short files
are decoded whole; long ones are sampled, one short window per bar, so a 12-hour upload
costs about as much as a few minutes of one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw

from .errors import CorruptMedia
from .probe import MediaInfo, open_untrusted
from .thumbnails import Poster

_RATE = 8000  # plenty for a loudness envelope, and cheap to resample to
BACKGROUND = (17, 20, 28)
BARS = (92, 170, 255)


def waveform(
    source: str | Path,
    info: MediaInfo,
    out_path: str | Path,
    *,
    width: int = 1280,
    height: int = 720,
    bars: int = 96,
    full_decode_s: float = 600.0,
) -> Poster:
    """Write the loudness of `source`'s first audio track over time as a JPEG poster.

    Files up to `full_decode_s` long are decoded whole; longer ones are sampled with one
    seek and a quarter-second window per bar.
    """
    if info.audio is None:
        raise CorruptMedia("The file has no audio track to draw.", reason="no_audio")
    with open_untrusted(source, container=info.container) as container:
        stream = container.streams.audio[0]
        if info.duration <= full_decode_s:
            levels = _levels_whole(container, stream, bars=bars, duration=info.duration)
        else:
            levels = _levels_sampled(container, stream, info, bars=bars)
    if not np.any(levels > 0):
        levels = np.zeros(bars)  # silence draws as a flat line, not as an error
    image = _draw(levels, width=width, height=height)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, "JPEG", quality=85, optimize=True)
    return Poster(path=out, time=0.0, score=0.0)


def _frames(container: Any, stream: Any) -> Iterator[Any]:
    try:
        yield from container.decode(stream)
    except av.FFmpegError:  # a damaged tail (or a seek past it): draw what decoded
        return


def _mono(resampler: Any, frame: Any) -> np.ndarray:
    parts = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _resampler() -> Any:
    return av.AudioResampler(format="flt", layout="mono", rate=_RATE)


def _levels_whole(container: Any, stream: Any, *, bars: int, duration: float) -> np.ndarray:
    """RMS per bar over the whole file, by sample position (timestamps may not start at 0)."""
    total = max(1, round(duration * _RATE))
    squares = np.zeros(bars)
    counts = np.zeros(bars)
    seen = 0
    resampler = _resampler()
    for frame in _frames(container, stream):
        samples = _mono(resampler, frame).astype(np.float64)
        if samples.size == 0:
            continue
        slots = np.minimum((seen + np.arange(samples.size)) * bars // total, bars - 1)
        squares += np.bincount(slots, weights=samples * samples, minlength=bars)
        counts += np.bincount(slots, minlength=bars)
        seen += samples.size
    if seen == 0:
        raise CorruptMedia("No sound could be decoded for the poster.", reason="undecodable")
    return np.sqrt(squares / np.maximum(counts, 1))


def _levels_sampled(container: Any, stream: Any, info: MediaInfo, *, bars: int) -> np.ndarray:
    """RMS of a window (a quarter second, or the bar's span if shorter) at each bar's start."""
    assert info.audio is not None and stream.time_base is not None
    span = info.duration / bars
    window = max(1, round(min(0.25, span) * _RATE))
    levels = np.zeros(bars)
    for i in range(bars):
        at = info.audio.start_time + i * span
        container.seek(int(at / stream.time_base), stream=stream, backward=True)
        resampler = _resampler()
        got: list[np.ndarray] = []
        size = 0
        for frame in _frames(container, stream):
            got.append(_mono(resampler, frame))
            size += got[-1].size
            if size >= window:
                break
        if got:
            samples = np.concatenate(got)[:window].astype(np.float64)
            levels[i] = float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0
    return levels


def _draw(levels: np.ndarray, *, width: int, height: int) -> Image.Image:
    """Bars mirrored about the middle, scaled to the loudest: quiet files keep a shape."""
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    peak = float(levels.max()) if levels.size else 0.0
    scaled = levels / peak if peak > 0 else levels
    slot = width / len(levels)
    gap = max(1.0, slot * 0.25)
    middle, reach = height / 2, height * 0.4
    for i, level in enumerate(scaled):
        half = max(1.0, float(level) * reach)
        x0 = i * slot + gap / 2
        draw.rectangle((x0, middle - half, x0 + slot - gap, middle + half), fill=BARS)
    return image
