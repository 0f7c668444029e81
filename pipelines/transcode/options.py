"""What a transcode is asked to do (`Options`) and how that becomes a plan: how many
segments per chunk for the cores there are, and whether the ladder is per-title."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pipelines.errors import TranscodeFailed
from pipelines.media import MediaInfo, TranscodePlan, plan_transcode

Accelerator = Literal["auto", "cpu", "gpu"]
PLAN_GOP_S = 2.0  # plan_transcode's default GOP
# The per-title probe costs the same 20-33 CPU-s (a 1080p ladder) whatever the length:
# more than the whole encode of a 10 s clip, 2-4 % of a five-minute one's; what it saves
# is stored and streamed for as long as the video lives.
PER_TITLE_AUTO_S = 300.0


@dataclass(frozen=True)
class Options:
    ladder: tuple[int, ...] | None = None
    max_height: int | None = None
    segment_seconds: float = 6.0
    # Fast start: a 0.5 s first segment, so the first chunk decodes half a second, not
    # 6 s, of the source before the lowest rung is published (and a player's first
    # download is small). A grainy 1080p source at camera bitrates costs ~2 CPU-s per
    # second to decode: at 1 s, that alone kept first playable above 1.5 s.
    first_segment_seconds: float | None = 0.5
    segments_per_chunk: int | None = None  # None: enough chunks to keep every core busy
    tail_chunks: int | None = None  # None: two per worker
    preset: str = "veryfast"
    accelerator: Accelerator = "auto"
    thumbnails: bool = True
    # Per-title ladder (pipelines/media/complexity.py): a probe of a few 1 s samples picks
    # each rung's cap. It runs before the chunks, so it delays first playable by its own
    # 10-30 s: off by default. None: on for videos of `PER_TITLE_AUTO_S` or more.
    per_title: bool | None = False


def per_title_for(options: Options, info: MediaInfo) -> bool:
    """Whether this video gets a per-title ladder: as `options` say, or else when it
    lasts `PER_TITLE_AUTO_S` or more."""
    if options.per_title is not None:
        return options.per_title
    return info.video is not None and info.duration >= PER_TITLE_AUTO_S


def chunk_size(*, duration: float, segment_seconds: float, workers: int) -> int:
    """Segments per chunk: about three chunks per worker, so the last ones finish together.

    Fewer, longer chunks waste less on seeking; more, shorter ones leave fewer cores idle
    at the end of a job. Three per worker balances the two; never more than 5 segments.
    The plan then ends on two single-segment chunks per worker (`tail_chunks`): the last
    rounds are short, so the workers run dry together.

    >>> chunk_size(duration=60, segment_seconds=6, workers=2)
    2
    """
    segments = max(1, math.ceil(duration / segment_seconds))
    return max(1, min(5, math.ceil(segments / (3 * max(1, workers)))))


def shape_for(info: MediaInfo, *, options: Options, workers: int) -> dict[str, int]:
    """How `info` is cut into chunks for `workers` cores: what a resumed job must reuse."""
    per_chunk = options.segments_per_chunk or chunk_size(
        duration=info.duration, segment_seconds=options.segment_seconds, workers=workers
    )
    tail = options.tail_chunks if options.tail_chunks is not None else 2 * workers
    return {"segments_per_chunk": per_chunk, "tail_chunks": tail}


def plan_for(info: MediaInfo, *, options: Options, shape: dict[str, int]) -> TranscodePlan:
    """The fixed ladder's plan for `info`, cut as `shape` says."""
    try:
        return plan_transcode(
            info,
            ladder=options.ladder,
            max_height=options.max_height,
            segment_seconds=options.segment_seconds,
            segments_per_chunk=shape["segments_per_chunk"],
            first_segment_seconds=options.first_segment_seconds,
            # The last GOPs are chunks of one 2 s GOP each (`tail_chunks`, two per worker):
            # the job ends on short tasks that finish together, not one long chunk on one
            # core. At most a quarter of the video: each chunk restarts x264's rate
            # control, which starts cautiously (a 10 s clip cut all in 2 s chunks lost
            # 0.7 dB at 720p).
            tail_gops=min(shape["tail_chunks"], math.ceil(info.duration / PLAN_GOP_S) // 4),
            tail_chunks=shape["tail_chunks"],
        )
    except ValueError as exc:  # options no plan can meet: the caller's bug
        raise TranscodeFailed(f"plan failed: {exc!r}", reason="internal") from None
