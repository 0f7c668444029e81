"""Poster and storyboard from the frames the chunk encoders already decode.

Decoding a 1080p source is a third of a transcode's CPU when the source is grainy and
its bitrate high; seeking to a sample time decodes up to a whole GOP that is thrown away.
So the images are not made by a second pass over the source: each chunk encoder is told
the sample times (`StillTimes`), and at those output frames it keeps a small copy
(`StillCollector`): a storyboard tile, and the scored poster candidate. The driver then
assembles the sheet and keeps the best-scoring poster (`write_storyboard`, `best_poster`).

The times are the ones `thumbnails.poster` and `thumbnails.storyboard` sample, on the
plan's output timeline (seconds after the first video frame), so the pictures are the
same ones, taken at the exact frame instead of the keyframe before it.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import CorruptMedia
from .thumbnails import Poster, Storyboard, frame_score, vtt_time

POSTER_CANDIDATES = 15
SCORE_WIDTH = 256  # poster candidates are scored on a picture this wide


@dataclass(frozen=True)
class StillTimes:
    """Which output times become poster candidates and storyboard tiles."""

    poster: tuple[float, ...]
    tiles: tuple[float, ...]
    interval: float
    tile_width: int
    tile_height: int
    duration: float

    @classmethod
    def for_video(
        cls,
        *,
        duration: float,
        width: int,
        height: int,
        candidates: int = POSTER_CANDIDATES,
        interval: float | None = None,
        tile_width: int = 160,
    ) -> StillTimes:
        """The same sample times as `thumbnails.poster` and `thumbnails.storyboard`:
        poster candidates spread over the video past its first second, and one tile per
        `interval` (default: at most 100 tiles, at least a second apart)."""
        start = 1.0 if duration > 2.0 else duration * 0.25
        end = duration * 0.95
        poster = tuple(
            start + (end - start) * i / max(candidates - 1, 1) for i in range(candidates)
        )
        step = interval or max(1.0, duration / 100)
        count = max(1, math.ceil(duration / step))
        tile_height = max(2, round(tile_width * height / width / 2) * 2)
        return cls(
            poster=poster,
            tiles=tuple(i * step for i in range(count)),
            interval=step,
            tile_width=tile_width,
            tile_height=tile_height,
            duration=duration,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "poster": list(self.poster), "tiles": list(self.tiles)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StillTimes:
        return cls(**{**data, "poster": tuple(data["poster"]), "tiles": tuple(data["tiles"])})


@dataclass(frozen=True)
class PosterPick:
    score: float
    time: float
    jpeg: bytes


@dataclass(frozen=True)
class ChunkStills:
    """What one chunk saw at the sample times: tiles (raw RGB) and its best poster."""

    tiles: dict[int, bytes]
    poster: PosterPick | None

    def to_dict(self) -> dict[str, Any]:
        pick = self.poster
        return {
            "tiles": self.tiles,
            "poster": None if pick is None else {**pick.__dict__},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkStills:
        pick = data["poster"]
        return cls(
            tiles={int(k): v for k, v in data["tiles"].items()},
            poster=None if pick is None else PosterPick(**pick),
        )


class StillCollector:
    """Inside a chunk encoder: keeps a small copy of the frames at the sample times."""

    def __init__(self, *, times: StillTimes, fps: Any, first: int, end: int, last_frame: int):
        self.times = times
        self.fps = fps
        self.tiles: dict[int, bytes] = {}
        self.best: tuple[float, float, Any] | None = None  # (score, time, full picture)
        self.wanted: dict[int, list[tuple[str, int]]] = {}
        for kind, when in (("tile", times.tiles), ("poster", times.poster)):
            for i, t in enumerate(when):
                # The first frame at or after `t`, as the seeking passes took it.
                slot = min(math.ceil(t * fps - 1e-6), last_frame)
                if first <= slot < end:
                    self.wanted.setdefault(slot, []).append((kind, i))

    def offer(self, n: int, picture: Any) -> None:
        """Called with every output frame `n` (an upright `av.VideoFrame`)."""
        wanted = self.wanted.get(n)
        if not wanted:
            return
        for kind, i in wanted:
            if kind == "tile":
                tile = picture.reformat(
                    width=self.times.tile_width,
                    height=self.times.tile_height,
                    format="rgb24",
                    interpolation="AREA",
                )
                self.tiles[i] = bytes(tile.to_ndarray().tobytes())
            else:
                small = picture.reformat(
                    width=SCORE_WIDTH,
                    height=max(2, SCORE_WIDTH * picture.height // picture.width),
                    format="gray",  # scaled as `thumbnails.poster` does: the same scores
                )
                score = frame_score(small.to_ndarray())
                if self.best is None or score > self.best[0]:
                    self.best = (score, float(n / self.fps), picture.to_image())

    def result(self) -> ChunkStills:
        pick = None
        if self.best is not None:
            score, when, image = self.best
            out = io.BytesIO()
            image.save(out, "JPEG", quality=85, optimize=True)
            pick = PosterPick(score=score, time=when, jpeg=out.getvalue())
        return ChunkStills(tiles=dict(self.tiles), poster=pick)


def best_poster(picks: list[PosterPick], out_path: str | Path) -> Poster:
    """Write the best-scoring pick (the earliest among equals) as the poster JPEG."""
    if not picks:
        raise CorruptMedia("No frame could be decoded for the poster.", reason="undecodable")
    best = max(picks, key=lambda p: (p.score, -p.time))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(best.jpeg)
    return Poster(path=out, time=best.time, score=best.score)


def write_storyboard(
    tiles: dict[int, bytes], times: StillTimes, out_dir: str | Path, *, columns: int = 10
) -> Storyboard:
    """`storyboard.jpg` and `storyboard.vtt` from the chunks' tiles; a tile a chunk did not
    see (past the last frame) repeats the one before it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    count, tw, th = len(times.tiles), times.tile_width, times.tile_height
    rows = math.ceil(count / columns)
    sheet = Image.new("RGB", (tw * min(columns, count), th * rows))
    cues = ["WEBVTT", ""]
    last: bytes | None = None
    for i in range(count):
        data = tiles.get(i, last)
        if data is None:
            data = next((tiles[k] for k in sorted(tiles) if k > i), None)
        if data is None:
            raise CorruptMedia(
                "No frame could be decoded for the storyboard.", reason="undecodable"
            )
        last = data
        x, y = (i % columns) * tw, (i // columns) * th
        sheet.paste(Image.frombytes("RGB", (tw, th), data), (x, y))
        begin, finish = i * times.interval, min((i + 1) * times.interval, times.duration)
        cues += [
            f"{vtt_time(begin)} --> {vtt_time(finish)}",
            f"storyboard.jpg#xywh={x},{y},{tw},{th}",
            "",
        ]
    image, vtt = out / "storyboard.jpg", out / "storyboard.vtt"
    sheet.save(image, "JPEG", quality=80, optimize=True)
    vtt.write_text("\n".join(cues))
    return Storyboard(image=image, vtt=vtt, tiles=count, interval=times.interval)
