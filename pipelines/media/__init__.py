"""Pure media library: probe, plan, encode, package, thumbnails. No Ray, no DB, no HTTP."""

from .audio import encode_audio
from .encode import (
    AudioOutput,
    ChunkOutput,
    EncoderSupport,
    RungOutput,
    Segment,
    available_encoders,
    encode_chunk,
)
from .errors import (
    CorruptMedia,
    EncoderUnavailable,
    MediaError,
    MediaLimitExceeded,
    UnsupportedMedia,
)
from .package import Package, master_playlist, media_playlist, package
from .plan import AudioPlan, Chunk, Rung, TranscodePlan, plan_transcode
from .probe import AudioInfo, MediaInfo, ProbeLimits, VideoInfo, open_untrusted, probe

__all__ = [
    "AudioInfo",
    "AudioOutput",
    "AudioPlan",
    "Chunk",
    "ChunkOutput",
    "CorruptMedia",
    "EncoderSupport",
    "EncoderUnavailable",
    "MediaError",
    "MediaInfo",
    "MediaLimitExceeded",
    "Package",
    "ProbeLimits",
    "Rung",
    "RungOutput",
    "Segment",
    "TranscodePlan",
    "UnsupportedMedia",
    "VideoInfo",
    "available_encoders",
    "encode_audio",
    "encode_chunk",
    "master_playlist",
    "media_playlist",
    "open_untrusted",
    "package",
    "plan_transcode",
    "probe",
]
