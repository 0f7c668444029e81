from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipelines.media import CorruptMedia, probe, waveform
from pipelines.media.waveform import BACKGROUND


def _quiet_then_loud(path: Path, *, seconds: float = 4.0) -> Path:
    """A tone at 2 % of full scale for the first half, 60 % for the second."""
    rate = 48000
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        total = int(seconds * rate)
        for start in range(0, total, 1024):
            t = np.arange(start, min(start + 1024, total)) / rate
            gain = np.where(t < seconds / 2, 0.02, 0.6)
            tone = (gain * np.sin(2 * np.pi * 300 * t) * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(tone[None, :], format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _bar_heights(path: Path) -> np.ndarray:
    """Per column, how many pixels differ from the background: the drawn bar's height."""
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    drawn = np.abs(pixels - np.array(BACKGROUND)).sum(axis=2) > 60
    return np.asarray(drawn.sum(axis=0))


@pytest.mark.parametrize("full_decode_s", [600.0, 0.0], ids=["decoded-whole", "sampled"])
def test_the_poster_shows_where_the_sound_is_loud(tmp_path: Path, full_decode_s: float) -> None:
    source = _quiet_then_loud(tmp_path / "speech.wav")
    out = waveform(source, probe(source), tmp_path / "poster.jpg", full_decode_s=full_decode_s)
    image = Image.open(out.path)
    assert (image.format, image.size) == ("JPEG", (1280, 720))
    heights = _bar_heights(out.path)
    quiet, loud = heights[40:600].max(), heights[680:1240].max()
    assert loud > 0.7 * 720, "the loud half should fill most of the picture"
    assert quiet < 0.2 * loud, "the quiet half should be a low line"


def test_silence_is_a_flat_line_not_an_error(tmp_path: Path, media: Callable[..., Path]) -> None:
    path = tmp_path / "silence.wav"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.int16), layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    heights = _bar_heights(waveform(path, probe(path), tmp_path / "p.jpg").path)
    assert 0 < heights.max() <= 6


def test_a_video_without_sound_has_no_waveform(tmp_path: Path, media: Callable[..., Path]) -> None:
    silent = media("silent", audio=False)
    with pytest.raises(CorruptMedia) as caught:
        waveform(silent, probe(silent), tmp_path / "p.jpg")
    assert caught.value.reason == "no_audio"
