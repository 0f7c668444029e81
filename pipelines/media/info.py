"""What a probe finds in a source, and the limits it holds a hostile one to: plain data
that crosses Ray (`MediaInfo.to_dict` / `from_dict`) and feeds planning."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class ProbeLimits:
    """What the platform accepts. Defaults suit a general-purpose video site."""

    max_file_bytes: int = 64 * 1024**3
    max_duration_s: float = 12 * 3600.0
    max_pixels: int = 8192 * 4352  # 8K DCI; beyond that no H.264 level applies
    max_streams: int = 16
    max_probe_s: float = 30.0
    max_packets_before_frame: int = 2000
    # Only header-less files are scanned. 12 h at 60 fps plus ~50 audio packets/s is
    # ~4.8 M packets; demuxing (no decoding) reads a few hundred thousand per second.
    max_scan_packets: int = 5_000_000


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int  # coded (stored) size
    height: int
    display_width: int  # after rotation: what the viewer sees
    display_height: int
    rotation: int  # clockwise degrees the viewer must apply: 0, 90, 180, 270
    fps: Fraction
    variable_frame_rate: bool
    pix_fmt: str
    bit_depth: int
    bitrate: int | None
    start_time: float  # seconds; the origin of every output timestamp
    keyframe_times: tuple[float, ...] | None = None  # from the index, when it is cheap


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    layout: str
    bitrate: int | None
    start_time: float


@dataclass(frozen=True)
class MediaInfo:
    container: str  # demuxer name, reused by every later open of the same file
    duration: float
    size_bytes: int
    video: VideoInfo | None = None
    audio: AudioInfo | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.video is not None:
            data["video"]["fps"] = str(self.video.fps)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaInfo:
        video = data.get("video")
        audio = data.get("audio")
        return cls(
            container=data["container"],
            duration=data["duration"],
            size_bytes=data["size_bytes"],
            video=None
            if video is None
            else VideoInfo(
                **{
                    **video,
                    "fps": Fraction(video["fps"]),
                    "keyframe_times": None
                    if video.get("keyframe_times") is None
                    else tuple(video["keyframe_times"]),
                }
            ),
            audio=None if audio is None else AudioInfo(**audio),
            warnings=tuple(data.get("warnings", ())),
        )
