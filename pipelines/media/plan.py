"""Plan a transcode: which renditions, at what rate, cut into which independent chunks.

A pure function of `MediaInfo` and a few knobs. The plan is JSON-serialisable because it
travels between Ray tasks, and it is the single source of truth for timing: every chunk
encoder derives frame numbers, keyframes and segment numbers from it, which is what lets
chunks encoded on different machines join without gaps or overlaps.

Timing model. Output frame `n` is shown at `n / fps` seconds after the source's first
video frame (the "origin"). Keyframes sit on frames `round(j * gop * fps)`; every
`segment_seconds / gop_seconds`-th keyframe starts a segment; a chunk is a run of whole
segments. All of this is computed with `Fraction`s so 29.97 fps sources stay exact.

Fast start: with `first_segment_seconds`, the first segment is cut short and the next one
fills up to `segment_seconds`, so the grid after it is unchanged (0, 0.5, 6, 12, ... for
0.5 s and 6 s). A player starts on a small first download, and the pipeline publishes the
lowest rung after decoding half a second of the source instead of 6. Shorter than a GOP, the first
segment ends on an extra keyframe (one more IDR in the whole video).

No idle tail: with `tail_gops`, the last that many GOPs are segments (and chunks) of their
own, so the last tasks of a job are short and the workers run dry together.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from .probe import MediaInfo

# Short side -> average kbps at <= 30 fps for a 16:9 picture. Taken from Apple's HLS
# authoring specification bit-rate table (H.264), rounded up where libx264 "veryfast"
# needs a little more; 1440p interpolated, 2160p from Apple's top (HEVC) tier since
# H.264 at 4K needs at least that much.
BITRATE_KBPS: dict[int, int] = {
    144: 145,
    240: 300,
    360: 730,
    480: 1100,
    540: 2000,
    720: 3000,
    1080: 6000,
    1440: 10000,
    2160: 16800,
}
DEFAULT_LADDER: tuple[int, ...] = (240, 360, 480, 720, 1080, 1440, 2160)
HIGH_FPS_FACTOR = 1.4  # Apple: 720p60 4500 vs 720p30 3000; 1080p60 7800 vs 6000
PEAK_FACTOR = 1.5  # Apple: VOD peak should stay under 200 % of the average
MAX_FPS = Fraction(60)
SAME_RUNG_RATIO = 1.08  # a source this close above a standard rung replaces it

# H.264 levels: (name, max macroblocks/s, max frame size in macroblocks, max kbps High).
_H264_LEVELS: tuple[tuple[str, int, int, int], ...] = (
    ("3.0", 40500, 1620, 12500),
    ("3.1", 108000, 3600, 17500),
    ("3.2", 216000, 5120, 25000),
    ("4.0", 245760, 8192, 25000),
    ("4.1", 245760, 8192, 62500),
    ("4.2", 522240, 8704, 62500),
    ("5.0", 589824, 22080, 168750),
    ("5.1", 983040, 36864, 300000),
    ("5.2", 2073600, 36864, 300000),
    ("6.0", 4177920, 139264, 300000),
)


@dataclass(frozen=True)
class Rung:
    name: str  # "720p": the short side, so portrait 720x1280 is "720p" too
    width: int
    height: int
    bitrate: int  # average, bit/s
    maxrate: int  # capped VBR peak, bit/s
    bufsize: int  # VBV buffer, bits
    profile: str
    level: str
    # Per-title: constant quality (x264 CRF) under a VBV cap of `maxrate`, instead of an
    # average bitrate; `bitrate` is then the probe's estimate of what it will spend.
    crf: float | None = None


@dataclass(frozen=True)
class AudioPlan:
    bitrate: int
    channels: int
    sample_rate: int
    codec: str = "aac"


@dataclass(frozen=True)
class Chunk:
    index: int
    start: float  # seconds from the origin, on a segment boundary
    end: float
    first_segment: int  # global segment number of the chunk's first segment
    segment_count: int
    start_frame: int  # output frame numbers (video sources); end is exclusive
    end_frame: int
    last: bool


@dataclass(frozen=True)
class TranscodePlan:
    container: str  # demuxer name from probe, used to reopen the source the same way
    duration: float
    origin: float  # source time of output time 0 (the first video frame)
    fps: Fraction | None  # constant output rate; None for audio-only sources
    rotation: int  # clockwise degrees to apply to decoded pictures
    segment_seconds: float
    gop_seconds: float
    gop_frames: Fraction | None  # exact frames per GOP (may be fractional at 29.97)
    segment_times: tuple[float, ...]  # segment start times, plus the final end time
    segment_frames: tuple[int, ...]  # the same boundaries as output frame numbers
    rungs: tuple[Rung, ...]
    audio: AudioPlan | None
    chunks: tuple[Chunk, ...]

    @property
    def segment_count(self) -> int:
        return len(self.segment_times) - 1

    def keyframe(self, frame: int) -> bool:
        """Whether output frame `frame` must be an IDR (start of a GOP or of a segment)."""
        if self.gop_frames is None:
            return False
        j = round(frame / self.gop_frames)
        return round(j * self.gop_frames) == frame or frame in self._segment_start_set

    @functools.cached_property
    def _segment_start_set(self) -> frozenset[int]:
        return frozenset(self.segment_frames[:-1])

    def rung(self, name: str) -> Rung:
        return next(r for r in self.rungs if r.name == name)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fps"] = None if self.fps is None else str(self.fps)
        data["gop_frames"] = None if self.gop_frames is None else str(self.gop_frames)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranscodePlan:
        return cls(
            container=data["container"],
            duration=data["duration"],
            origin=data["origin"],
            fps=None if data["fps"] is None else Fraction(data["fps"]),
            rotation=data["rotation"],
            segment_seconds=data["segment_seconds"],
            gop_seconds=data["gop_seconds"],
            gop_frames=None if data["gop_frames"] is None else Fraction(data["gop_frames"]),
            segment_times=tuple(data["segment_times"]),
            segment_frames=tuple(data["segment_frames"]),
            rungs=tuple(Rung(**r) for r in data["rungs"]),
            audio=None if data["audio"] is None else AudioPlan(**data["audio"]),
            chunks=tuple(Chunk(**c) for c in data["chunks"]),
        )


def plan_transcode(
    info: MediaInfo,
    *,
    ladder: tuple[int, ...] | None = None,
    max_height: int | None = None,
    segment_seconds: float = 6.0,
    gop_seconds: float = 2.0,
    segments_per_chunk: int = 5,
    first_chunk_segments: int = 1,
    first_segment_seconds: float | None = None,
    tail_chunks: int = 0,
    tail_gops: int = 0,
) -> TranscodePlan:
    """Decide renditions and chunking for `info`.

    `ladder` lists short-side sizes (default 360p…2160p); `max_height` caps it (an owner's
    tier). A short first chunk (`first_chunk_segments`) lets the lowest rung play within
    seconds of upload while the rest is still encoding; a short first segment
    (`first_segment_seconds`: whole GOPs, or less than one) makes that chunk shorter still.
    The last `tail_gops` GOPs are segments of one GOP each.
    The last `tail_chunks` chunks hold one segment each: with a couple per worker, the
    workers run out of work at about the same time instead of one encoding a long last
    chunk while the others wait.

    >>> plan = plan_transcode(info, max_height=720)
    >>> [r.name for r in plan.rungs], len(plan.chunks)
    (['360p', '480p', '720p'], 3)
    """
    if segment_seconds <= 0 or gop_seconds <= 0 or segments_per_chunk < 1:
        raise ValueError("segment_seconds, gop_seconds and segments_per_chunk must be positive")
    # Segments must hold whole GOPs so every segment starts on a keyframe.
    gops_per_segment = max(1, round(segment_seconds / gop_seconds))
    seg = Fraction(segment_seconds).limit_denominator(1000)
    gop = seg / gops_per_segment

    video = info.video
    fps = _output_fps(video.fps, vfr=video.variable_frame_rate) if video else None
    origin = video.start_time if video else (info.audio.start_time if info.audio else 0.0)
    # The timeline runs from the first video frame to the end of the longest stream.
    # `info.duration` is FFmpeg's span from the earliest stream start, which is not 0 for
    # MPEG-TS or live recordings, so the end is that start plus the span.
    duration = max(_source_start(info) + info.duration - origin, 0.0) if video else info.duration

    exact = Fraction(duration).limit_denominator(1_000_000)
    starts = _segment_starts(
        exact, seg=seg, gop=gop, first=first_segment_seconds, tail_gops=max(0, tail_gops)
    )
    if fps is not None:
        total_frames = max(1, round(exact * fps))
        seg_frames = sorted({f for f in (round(t * fps) for t in starts) if f < total_frames})
        seg_frames.append(total_frames)
        times = tuple(float(f / fps) for f in seg_frames)
    else:
        seg_frames = [0] * (len(starts) + 1)
        times = (*(float(t) for t in starts), duration)

    chunks = _chunks(
        times,
        seg_frames,
        first=max(1, first_chunk_segments),
        per_chunk=segments_per_chunk,
        tail=max(0, tail_chunks),
    )
    rungs = _rungs(
        info,
        fps=fps,
        ladder=ladder or DEFAULT_LADDER,
        max_height=max_height,
        gop_seconds=float(gop),
    )
    audio = None
    if info.audio is not None:
        channels = min(2, max(1, info.audio.channels))
        rate = info.audio.sample_rate if info.audio.sample_rate in (44100, 48000) else 48000
        audio = AudioPlan(
            bitrate=128_000 if channels == 2 else 64_000, channels=channels, sample_rate=rate
        )
    return TranscodePlan(
        container=info.container,
        duration=float(times[-1]),
        origin=origin,
        fps=fps,
        rotation=video.rotation if video else 0,
        segment_seconds=float(seg),
        gop_seconds=float(gop),
        gop_frames=gop * fps if fps is not None else None,
        segment_times=times,
        segment_frames=tuple(seg_frames),
        rungs=rungs,
        audio=audio,
        chunks=chunks,
    )


def _source_start(info: MediaInfo) -> float:
    starts = [s.start_time for s in (info.video, info.audio) if s is not None]
    return min(starts, default=0.0)


def _output_fps(fps: Fraction, *, vfr: bool) -> Fraction:
    """A constant output rate: VFR is snapped to a broadcast rate, > 60 fps is halved."""
    while fps > MAX_FPS:
        fps /= 2
    if vfr:
        standard = [
            Fraction(24000, 1001),
            Fraction(24),
            Fraction(25),
            Fraction(30000, 1001),
            Fraction(30),
            Fraction(50),
            Fraction(60000, 1001),
            Fraction(60),
        ]
        fps = min(standard, key=lambda s: abs(s - fps))
    return fps


def _segment_starts(
    duration: Fraction, *, seg: Fraction, gop: Fraction, first: float | None, tail_gops: int
) -> list[Fraction]:
    """Segment start times: every `seg`, with the first segment cut to `first` (whole
    GOPs, or a fraction of the first GOP) when that is shorter, and the last `tail_gops`
    GOPs one segment each. Always at least one segment."""
    starts = {k * seg for k in range(max(1, math.ceil(duration / seg)))}
    if first is not None:
        wanted = Fraction(first).limit_denominator(1000)
        short = wanted if wanted < gop else max(1, round(wanted / gop)) * gop
        if 0 < short < seg and short < duration:
            starts.add(short)
    if tail_gops:
        gops = math.ceil(duration / gop)
        starts.update(k * gop for k in range(max(1, gops - tail_gops), gops))
    return sorted(starts)


def _chunks(
    times: tuple[float, ...], frames: list[int], *, first: int, per_chunk: int, tail: int
) -> tuple[Chunk, ...]:
    count = len(times) - 1
    chunks: list[Chunk] = []
    start = 0
    while start < count:
        size = first if not chunks else per_chunk
        # Bulk chunks stop where the tail begins; inside the tail, one segment each.
        end = min(count, start + size, max(start + 1, count - tail))
        chunks.append(
            Chunk(
                index=len(chunks),
                start=times[start],
                end=times[end],
                first_segment=start,
                segment_count=end - start,
                start_frame=frames[start],
                end_frame=frames[end],
                last=end == count,
            )
        )
        start = end
    return tuple(chunks)


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def _rungs(
    info: MediaInfo,
    *,
    fps: Fraction | None,
    ladder: tuple[int, ...],
    max_height: int | None,
    gop_seconds: float,
) -> tuple[Rung, ...]:
    video = info.video
    if video is None or fps is None:
        return ()
    dw, dh = video.display_width, video.display_height
    short = min(dw, dh)
    cap = min(short, max_height) if max_height else short
    sizes = sorted({s for s in ladder if s <= cap})
    if not sizes:  # smaller than the smallest rung: one rendition at (capped) source size
        sizes = [cap]
    own = short - short % 2
    if own == cap and sizes[-1] < own < max(ladder):
        # A source between standard sizes (640x272 cinema, 1920x800) keeps its own size as
        # the top rung; a standard rung within a few percent of it would look the same
        # and only cost encoding time, so the source's size takes its place.
        if own < sizes[-1] * SAME_RUNG_RATIO and len(sizes) > 1:
            sizes.pop()
        sizes.append(own)
    rungs = []
    for size in sizes:
        scale = size / short
        width, height = (_even(dw * scale), _even(dh * scale))
        width, height = min(width, dw - dw % 2 or 2), min(height, dh - dh % 2 or 2)
        rungs.append(_rung(size, width=width, height=height, fps=fps, gop_seconds=gop_seconds))
    return tuple(rungs)


def _rung(size: int, *, width: int, height: int, fps: Fraction, gop_seconds: float) -> Rung:
    # Scale by area against a 16:9 picture of the same short side: a 4:3 or square video
    # at the same short side has more pixels to pay for.
    kbps = _kbps_16x9(size) * (width * height) / (size * size * 16 / 9)
    if fps > 30:
        kbps *= HIGH_FPS_FACTOR
    bitrate = int(round(kbps, -1)) * 1000
    maxrate = int(bitrate * PEAK_FACTOR)
    # A buffer of one GOP at peak rate keeps any segment under ~2x the average (Apple).
    bufsize = int(maxrate * gop_seconds)
    return Rung(
        name=f"{size}p",
        width=width,
        height=height,
        bitrate=bitrate,
        maxrate=maxrate,
        bufsize=bufsize,
        profile="high",
        level=h264_level(width=width, height=height, fps=fps, maxrate=maxrate),
    )


def _kbps_16x9(size: int) -> float:
    """Average kbps for a 16:9 picture with short side `size`: the table's value, or
    interpolated by area between its neighbours (a 272p rung sits between 240p and 360p).
    Outside the table, the nearest end scaled by area."""
    known = sorted(BITRATE_KBPS)
    if size in BITRATE_KBPS:
        return float(BITRATE_KBPS[size])
    if size < known[0] or size > known[-1]:
        ref = known[0] if size < known[0] else known[-1]
        return BITRATE_KBPS[ref] * (size * size) / (ref * ref)
    lo = max(k for k in known if k < size)
    hi = min(k for k in known if k > size)
    t = (size * size - lo * lo) / (hi * hi - lo * lo)
    return BITRATE_KBPS[lo] + t * (BITRATE_KBPS[hi] - BITRATE_KBPS[lo])


def h264_level(*, width: int, height: int, fps: Fraction, maxrate: int) -> str:
    """Lowest H.264 level (High profile) that admits this size, rate and peak bitrate."""
    mbs = math.ceil(width / 16) * math.ceil(height / 16)
    for name, max_mbps, max_fs, max_kbps in _H264_LEVELS:
        if mbs <= max_fs and mbs * fps <= max_mbps and maxrate <= max_kbps * 1000:
            return name
    return _H264_LEVELS[-1][0]
