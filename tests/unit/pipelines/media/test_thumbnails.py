from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.media import frame_score, poster, probe, storyboard


def test_poster_skips_the_black_opening(tmp_path: Path, media: Callable[..., Path]) -> None:
    source = media("black-open", seconds=4, black_first_s=1.5, audio=False)
    info = probe(source)
    result = poster(source, info, tmp_path / "poster.jpg")
    assert result.time >= 1.5
    pixels = np.asarray(Image.open(result.path).convert("L"), dtype=np.float32)
    assert pixels.shape == (360, 640)
    assert pixels.mean() > 40 and pixels.std() > 10  # not black, not flat


def test_score_prefers_sharp_over_blurred_and_black() -> None:
    rng = np.random.default_rng(1)
    sharp = np.clip(rng.normal(128, 50, (90, 160)), 0, 255).astype(np.uint8)
    blurred = np.full((90, 160), 128, np.uint8)
    blurred[:, 80:] = 140
    black = np.zeros((90, 160), np.uint8)
    assert frame_score(sharp) > frame_score(blurred) > frame_score(black) == 0


def test_poster_of_a_rotated_video_is_portrait(tmp_path: Path, media: Callable[..., Path]) -> None:
    source = media("rotated", rotation=90, audio=False)
    result = poster(source, probe(source), tmp_path / "poster.jpg", candidates=4)
    assert Image.open(result.path).size == (360, 640)


def test_storyboard_vtt_covers_the_whole_video(tmp_path: Path, media: Callable[..., Path]) -> None:
    source = media("main", width=1280, height=720, seconds=5)
    info = probe(source)
    board = storyboard(source, info, tmp_path, interval=1.0, tile_width=160, columns=3)
    assert board.tiles == 5
    assert Image.open(board.image).size == (3 * 160, 2 * 90)
    text = board.vtt.read_text()
    assert text.startswith("WEBVTT")
    cues = re.findall(r"(\S+) --> (\S+)\nstoryboard\.jpg#xywh=(\d+),(\d+),160,90", text)
    assert len(cues) == 5
    assert cues[0][0] == "00:00:00.000" and cues[-1][1] == "00:00:05.000"
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(cues))
    assert (cues[4][2], cues[4][3]) == ("160", "90")  # 5th tile: row 2, column 2
