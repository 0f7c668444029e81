"""The poster and storyboard come out of the chunk encoders' own decode, and they are the
pictures the separate passes (`thumbnails.poster`, `thumbnails.storyboard`) made."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.media import (
    StillTimes,
    best_poster,
    encode_chunk,
    plan_transcode,
    poster,
    probe,
    storyboard,
    write_storyboard,
)


def _from_encode_pass(source: Path, out: Path, **times: object) -> tuple[Path, Path, float]:
    info = probe(source)
    assert info.video is not None
    plan = plan_transcode(info, ladder=(360, 240), segment_seconds=2.0, segments_per_chunk=1)
    assert len(plan.chunks) > 1  # the pictures are gathered across several chunk tasks
    still_times = StillTimes.for_video(
        duration=plan.duration,
        width=info.video.display_width,
        height=info.video.display_height,
        **times,  # type: ignore[arg-type]
    )
    tiles: dict[int, bytes] = {}
    picks = []
    for chunk in plan.chunks:
        output = encode_chunk(
            source=source,
            plan=plan,
            chunk=chunk,
            out_dir=out / "hls",
            threads=1,
            preset="ultrafast",
            stills=still_times,
        )
        assert output.stills is not None
        tiles.update(output.stills.tiles)
        if output.stills.poster is not None:
            picks.append(output.stills.poster)
        assert output.cpu["decode"] > 0 and output.cpu["stills"] > 0
    board = write_storyboard(tiles, still_times, out / "img", columns=3)
    chosen = best_poster(picks, out / "img" / "poster.jpg")
    return board.image, chosen.path, chosen.time


def _pixels(path: Path, *, shrink: int = 1) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    if shrink > 1:  # averages away the scalers' different treatment of fine noise
        image = image.reduce(shrink)
    return np.asarray(image, dtype=np.float32)


def test_storyboard_and_poster_match_the_separate_passes(
    tmp_path: Path, media: Callable[..., Path]
) -> None:
    source = media("stills", width=640, height=360, seconds=5, audio=False)
    info = probe(source)
    sheet, poster_path, poster_time = _from_encode_pass(
        source, tmp_path / "new", interval=1.0, tile_width=160
    )
    old_board = storyboard(source, info, tmp_path / "old", interval=1.0, columns=3)
    old_poster = poster(source, info, tmp_path / "old" / "poster.jpg")

    assert Image.open(sheet).size == Image.open(old_board.image).size == (3 * 160, 2 * 90)
    # Same frames; only the scaler differs (FFmpeg's area average against Pillow's bicubic).
    new, old = _pixels(sheet, shrink=10), _pixels(old_board.image, shrink=10)
    tiles_new = [new[r * 9 : r * 9 + 9, c * 16 : c * 16 + 16] for r in (0, 1) for c in (0, 1, 2)]
    tiles_old = [old[r * 9 : r * 9 + 9, c * 16 : c * 16 + 16] for r in (0, 1) for c in (0, 1, 2)]
    # The separate pass took the keyframe up to 1 s before a tile's time: for the tile at
    # 1 s that was the frame at 0 s (this source has one keyframe); the encode pass has
    # the frame at 1 s itself. Every other tile is the same frame.
    for i in (0, 2, 3, 4):
        assert np.abs(tiles_new[i] - tiles_old[i]).mean() < 3, f"tile {i}"
    assert np.abs(tiles_new[1] - tiles_old[1]).mean() > 20  # a different frame shows
    assert abs(poster_time - old_poster.time) < 1 / 30 + 1e-6
    assert Image.open(poster_path).size == Image.open(old_poster.path).size == (640, 360)
    # The same frame (the first at or after the sample time), at full size.
    assert np.abs(_pixels(poster_path) - _pixels(old_poster.path)).mean() < 1


def test_a_rotated_source_gives_upright_stills(tmp_path: Path, media: Callable[..., Path]) -> None:
    source = media("stills-rotated", rotation=90, seconds=4, audio=False)
    sheet, poster_path, _ = _from_encode_pass(source, tmp_path, candidates=4)
    assert Image.open(poster_path).size == (360, 640)
    # Portrait tiles: 160 wide, 284 high (the display aspect, even).
    assert Image.open(sheet).size == (3 * 160, 2 * 284)
