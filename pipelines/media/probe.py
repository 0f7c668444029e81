"""Probe an untrusted upload: what is it, is it within limits, does it really decode.

FFmpeg will happily open playlists, concat scripts and image sequences that point at other
files or URLs (the classic HLS-in-AVI local file read). So we never let FFmpeg guess:

1. we sniff the magic bytes ourselves and accept only the container families a video
   platform needs, then open with that explicit demuxer and `format_whitelist` set to it,
   so no nested demuxer (HLS, concat, image2…) can be selected even by a sub-probe;
2. the file is handed to FFmpeg as an already-open Python file object, with
   `protocol_whitelist` naming no real protocol and an `io_open` hook that refuses every
   nested open, so references inside the file (`file:`, `concat:`, `http:`, mov drefs)
   cannot be followed;
3. limits (size, streams, pixels, duration, wall time) are checked before any decoding,
   and one video frame must decode before we call the file valid.

Live recordings (a browser's MediaRecorder, OBS streaming to a file) write no duration in
their header. For those we measure it: demux every packet without decoding and take the
last end time, bounded by a packet count, the probe's wall time and the duration limit,
so a hostile file cannot keep the probe reading forever.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av

from .errors import (
    ACCEPTED_FORMATS_HINT,
    CorruptMedia,
    MediaError,
    MediaLimitExceeded,
    UnsupportedMedia,
)
from .info import AudioInfo, MediaInfo, ProbeLimits, VideoInfo

# Demuxer name per sniffed family. Values are FFmpeg demuxer names; `format_whitelist`
# matches any of the comma-separated aliases FFmpeg reports (e.g. "mov,mp4,m4a,...").
_MP4_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"}
VIDEO_CONTAINERS = ("mov", "matroska", "avi", "mpegts", "flv")
AUDIO_CONTAINERS = ("mp3", "ogg", "wav", "flac")
DEFAULT_LIMITS = ProbeLimits()


def sniff_container(head: bytes) -> str | None:
    """Demuxer name for the first bytes of a file, or None when we do not accept it."""
    if len(head) >= 8 and head[4:8] in _MP4_BOXES:
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    # MPEG-TS: sync byte every 188 bytes (M2TS adds a 4-byte timecode before each packet).
    for offset, stride in ((0, 188), (4, 192)):
        if len(head) >= offset + 2 * stride + 1 and all(
            head[offset + k * stride] == 0x47 for k in range(3)
        ):
            return "mpegts"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


class _NestedOpenRefused(MediaError):
    pass


@contextmanager
def open_untrusted(
    path: str | Path, *, container: str, timeout_s: float = 30.0, max_streams: int = 16
) -> Iterator[Any]:
    """Open `path` with the hardened settings described in the module docstring.

    `container` is the demuxer chosen by `sniff_container` (or `MediaInfo.container`).
    The encoder and thumbnailer reopen sources through this too, so a file that probed
    clean is never read with laxer settings later.
    """
    if container not in VIDEO_CONTAINERS + AUDIO_CONTAINERS:
        raise UnsupportedMedia(f"Container {container!r} is not accepted. {ACCEPTED_FORMATS_HINT}")
    refused: list[str] = []

    def refuse_nested_open(url: str, flags: int, options: dict[str, str]) -> IO[bytes]:
        # Any open beyond the upload itself is an indirection (playlist entry, dref,
        # concat member): record it so the error says why, and fail the open.
        refused.append(url)
        raise PermissionError(f"nested open refused: {url}")

    options = {
        "format_whitelist": container,
        # A name that is no protocol: nothing but our own file object can be read.
        "protocol_whitelist": "none",
        "protocol_blacklist": "all",
        "enable_drefs": "0",
        "use_absolute_path": "0",
        "max_streams": str(max_streams),
    }
    file = Path(path).open("rb")  # noqa: SIM115 - closed in finally below, after FFmpeg
    container_obj = None
    try:
        try:
            container_obj = av.open(
                file,
                format=container,
                container_options=options,
                timeout=(timeout_s, timeout_s),
                io_open=refuse_nested_open,
                buffer_size=1 << 20,
            )
        except MediaError:
            raise
        except Exception as exc:
            if refused:
                raise UnsupportedMedia(
                    "The file refers to other files or addresses, which is not allowed. "
                    + ACCEPTED_FORMATS_HINT,
                    reason="external_reference",
                ) from None
            raise CorruptMedia(
                f"The file could not be read as {container} ({exc.__class__.__name__}). "
                "It may be truncated or damaged: export it again and re-upload.",
                reason="unreadable",
            ) from None
        if refused:
            raise UnsupportedMedia(
                "The file refers to other files or addresses, which is not allowed. "
                + ACCEPTED_FORMATS_HINT,
                reason="external_reference",
            )
        yield container_obj
    finally:
        if container_obj is not None:
            container_obj.close()
        file.close()


def probe(path: str | Path, *, limits: ProbeLimits = DEFAULT_LIMITS) -> MediaInfo:
    """Inspect an untrusted upload; raise a `MediaError` subclass if it is unacceptable.

    >>> info = probe("clip.mp4")
    >>> info.video.display_width, info.video.fps
    (1080, Fraction(30, 1))
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise CorruptMedia(
            "The upload could not be found; upload it again.", reason="missing"
        ) from None
    if size == 0:
        raise CorruptMedia("The file is empty; upload it again.", reason="empty")
    if size > limits.max_file_bytes:
        raise MediaLimitExceeded(
            f"The file is {size / 1024**3:.1f} GiB; the limit is "
            f"{limits.max_file_bytes / 1024**3:.0f} GiB. Trim or compress it and re-upload.",
            reason="file_too_large",
        )
    with path.open("rb") as f:
        head = f.read(1024)
    container = sniff_container(head)
    if container is None:
        raise UnsupportedMedia(f"This file type is not supported. {ACCEPTED_FORMATS_HINT}")

    deadline = time.monotonic() + limits.max_probe_s
    with open_untrusted(
        path, container=container, timeout_s=limits.max_probe_s, max_streams=limits.max_streams
    ) as c:
        if len(c.streams) > limits.max_streams:
            raise MediaLimitExceeded(
                f"The file has {len(c.streams)} streams; at most {limits.max_streams} are "
                "accepted. Remove extra tracks and re-upload.",
                reason="too_many_streams",
            )
        vstream = c.streams.video[0] if c.streams.video else None
        astream = c.streams.audio[0] if c.streams.audio else None
        if vstream is None and astream is None:
            raise CorruptMedia(
                "No video or audio track was found in the file. " + ACCEPTED_FORMATS_HINT,
                reason="no_streams",
            )
        duration = _duration(c, vstream, astream)
        if duration > limits.max_duration_s:
            raise MediaLimitExceeded(
                f"The video is {duration / 3600:.1f} hours long; the limit is "
                f"{limits.max_duration_s / 3600:.0f} hours. Split it and upload the parts.",
                reason="too_long",
            )
        video = None
        if vstream is not None:
            video = _video_info(c, vstream, limits=limits, deadline=deadline)
        audio = _audio_info(astream) if astream is not None else None
        if video is None and audio is not None:
            _decode_one_frame(c, astream, limits=limits, deadline=deadline)
        warnings: tuple[str, ...] = ()
        if duration <= 0:
            # Last, once the file has shown it decodes: the scan reads the whole file.
            duration = _scan_duration(c, limits=limits, deadline=deadline)
            warnings = ("duration_measured: the header had no duration",)
            if video is not None:  # without cues the index holds only what we demuxed
                video = replace(video, keyframe_times=None)
    if duration <= 0:
        raise CorruptMedia(
            "The file has no measurable duration; export it again and re-upload.",
            reason="no_duration",
        )
    return MediaInfo(
        container=container,
        duration=duration,
        size_bytes=size,
        video=video,
        audio=audio,
        warnings=warnings,
    )


def _duration(c: Any, vstream: Any, astream: Any) -> float:
    candidates = []
    if c.duration is not None:
        candidates.append(c.duration / av.time_base)
    for s in (vstream, astream):
        if s is not None and s.duration is not None and s.time_base is not None:
            candidates.append(float(s.duration * s.time_base))
    return max(candidates, default=0.0)


def _scan_duration(c: Any, *, limits: ProbeLimits, deadline: float) -> float:
    """Duration from the packets themselves: last end time minus first start time.

    The same span FFmpeg reports after `ffmpeg -c copy` has written a header. Demuxing
    only, and bounded: too many packets or too much wall time is `probe_timeout`, an end
    past `max_duration_s` is `too_long` as soon as it is seen.
    """
    streams = [s for s in (*c.streams.video[:1], *c.streams.audio[:1]) if s.time_base]
    first: float | None = None
    last: float | None = None
    packets = 0
    c.seek(0)
    try:
        for packet in c.demux(streams):
            packets += 1
            if packets > limits.max_scan_packets or time.monotonic() > deadline:
                raise MediaLimitExceeded(
                    "The file has no duration in its header and took too long to measure. "
                    "Export it again (or remux it with `ffmpeg -i in.webm -c copy out.webm`) "
                    "and re-upload.",
                    reason="probe_timeout",
                )
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None:  # the flush packet at the end of each stream
                continue
            start = float(ts * packet.time_base)
            end = start + float((packet.duration or 0) * packet.time_base)
            first = start if first is None else min(first, start)
            last = end if last is None else max(last, end)
            if last - first > limits.max_duration_s:
                raise MediaLimitExceeded(
                    f"The video is longer than {limits.max_duration_s / 3600:.0f} hours, the "
                    "limit. Split it and upload the parts.",
                    reason="too_long",
                )
    except MediaError:
        raise
    except Exception:  # a damaged tail: what came before it still plays
        return 0.0 if first is None or last is None else last - first
    return 0.0 if first is None or last is None else last - first


def _video_info(c: Any, s: Any, *, limits: ProbeLimits, deadline: float) -> VideoInfo:
    cc = s.codec_context
    width, height = int(cc.width or 0), int(cc.height or 0)
    if width <= 0 or height <= 0:
        raise CorruptMedia("The video track has no picture size; it is damaged.", reason="no_size")
    if width * height > limits.max_pixels:
        raise MediaLimitExceeded(
            f"The video is {width}x{height}; the largest accepted picture is "
            f"{limits.max_pixels / 1e6:.0f} megapixels. Export it at 4K or below.",
            reason="too_many_pixels",
        )
    first = _decode_one_frame(c, s, limits=limits, deadline=deadline)
    if first.width * first.height > limits.max_pixels:  # the bitstream disagreed with the header
        raise MediaLimitExceeded(
            f"The video is {first.width}x{first.height}; the largest accepted picture is "
            f"{limits.max_pixels / 1e6:.0f} megapixels. Export it at 4K or below.",
            reason="too_many_pixels",
        )
    # FFmpeg reports counter-clockwise degrees; viewers rotate clockwise by the opposite.
    rotation = round(-float(getattr(first, "rotation", 0) or 0)) % 360
    rotation = rotation if rotation in (0, 90, 180, 270) else 0
    swap = rotation in (90, 270)
    fmt = first.format
    bit_depth = max((comp.bits for comp in fmt.components), default=8)
    fps, vfr = _frame_rate(c, s, deadline=deadline)
    keyframes = None
    try:
        entries = s.index_entries
        if entries is not None and len(entries) > 0:
            base = s.start_time or 0
            keyframes = tuple(
                round(float((e.timestamp - base) * s.time_base), 6)
                for e in entries
                if e.is_keyframe
            )
    except (AttributeError, TypeError):  # demuxers without an index (TS, FLV)
        keyframes = None
    start = float(s.start_time * s.time_base) if s.start_time is not None else 0.0
    return VideoInfo(
        codec=cc.name,
        width=width,
        height=height,
        display_width=height if swap else width,
        display_height=width if swap else height,
        rotation=rotation,
        fps=fps,
        variable_frame_rate=vfr,
        pix_fmt=fmt.name,
        bit_depth=bit_depth,
        bitrate=int(cc.bit_rate) if cc.bit_rate else None,
        start_time=start,
        keyframe_times=keyframes,
    )


def _audio_info(s: Any) -> AudioInfo:
    cc = s.codec_context
    if not cc.sample_rate or cc.sample_rate <= 0:
        raise CorruptMedia("The audio track has no sample rate; it is damaged.", reason="no_rate")
    return AudioInfo(
        codec=cc.name,
        sample_rate=int(cc.sample_rate),
        channels=int(cc.layout.nb_channels) if cc.layout else int(cc.channels),
        layout=cc.layout.name if cc.layout else "",
        bitrate=int(cc.bit_rate) if cc.bit_rate else None,
        start_time=float(s.start_time * s.time_base) if s.start_time is not None else 0.0,
    )


def _decode_one_frame(c: Any, s: Any, *, limits: ProbeLimits, deadline: float) -> Any:
    """Decode the first frame of `s`: metadata can lie, a decoded picture cannot."""
    packets = 0
    try:
        for packet in c.demux(s):
            packets += 1
            if packets > limits.max_packets_before_frame or time.monotonic() > deadline:
                raise MediaLimitExceeded(
                    "The file took too long to decode; export it again with a standard "
                    "encoder and re-upload.",
                    reason="probe_timeout",
                )
            for frame in packet.decode():
                c.seek(0)  # leave the container rewound for the frame-rate scan
                return frame
    except MediaError:
        raise
    except Exception:
        raise CorruptMedia(
            "The video could not be decoded; it may be truncated or damaged. "
            "Export it again and re-upload.",
            reason="undecodable",
        ) from None
    raise CorruptMedia(
        "No picture or sound could be decoded from the file; it may be truncated. "
        "Export it again and re-upload.",
        reason="undecodable",
    )


def _frame_rate(c: Any, s: Any, *, deadline: float, sample: int = 240) -> tuple[Fraction, bool]:
    """Average frame rate and whether the first `sample` frames arrive at uneven intervals.

    Demuxing packets is cheap (no decoding), and phone recordings that are VFR show it
    within a few seconds.
    """
    pts: list[int] = []
    try:
        for packet in c.demux(s):
            if packet.pts is not None:
                pts.append(packet.pts)
            if len(pts) >= sample or time.monotonic() > deadline:
                break
    except Exception:  # a damaged tail is found later, by the decoder that needs it
        pts = pts or []
    rate = s.average_rate or s.guessed_rate or s.base_rate
    fps = Fraction(rate) if rate else Fraction(30)
    vfr = False
    pts.sort()
    deltas = [b - a for a, b in itertools.pairwise(pts) if b > a]
    if len(deltas) >= 4 and s.time_base is not None:
        median = sorted(deltas)[len(deltas) // 2]
        vfr = any(abs(d - median) > median * 0.25 for d in deltas)
        if vfr or not rate:
            mean = (pts[-1] - pts[0]) / len(deltas) * s.time_base
            fps = Fraction(1 / mean).limit_denominator(1001) if mean > 0 else fps
    if fps <= 0 or fps > 1000:
        fps = Fraction(30)
    return fps, vfr
