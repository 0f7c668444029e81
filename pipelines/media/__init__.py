"""Pure media library: probe, plan, encode, package, thumbnails. No Ray, no DB, no HTTP."""

from .audio import audio_segments, encode_audio
from .encode import AAC_CODECS, AudioOutput, ChunkOutput, RungOutput, Segment, encode_chunk
from .encoders import EncoderSupport, available_encoders
from .errors import (
    CorruptMedia,
    EncoderUnavailable,
    MediaError,
    MediaLimitExceeded,
    UnsupportedMedia,
)
from .info import AudioInfo, MediaInfo, ProbeLimits, VideoInfo
from .package import Package, master_playlist, media_playlist, package
from .plan import AudioPlan, Chunk, Rung, TranscodePlan, plan_transcode
from .probe import open_untrusted, probe
from .stills import ChunkStills, PosterPick, StillTimes, best_poster, write_storyboard
from .thumbnails import Poster, Storyboard, frame_jpeg, frame_score, poster, storyboard
from .waveform import waveform

__all__ = [
    "AAC_CODECS",
    "AudioInfo",
    "AudioOutput",
    "AudioPlan",
    "Chunk",
    "ChunkOutput",
    "ChunkStills",
    "CorruptMedia",
    "EncoderSupport",
    "EncoderUnavailable",
    "MediaError",
    "MediaInfo",
    "MediaLimitExceeded",
    "Package",
    "Poster",
    "PosterPick",
    "ProbeLimits",
    "Rung",
    "RungOutput",
    "Segment",
    "StillTimes",
    "Storyboard",
    "TranscodePlan",
    "UnsupportedMedia",
    "VideoInfo",
    "audio_segments",
    "available_encoders",
    "best_poster",
    "encode_audio",
    "encode_chunk",
    "frame_jpeg",
    "frame_score",
    "master_playlist",
    "media_playlist",
    "open_untrusted",
    "package",
    "plan_transcode",
    "poster",
    "probe",
    "storyboard",
    "waveform",
    "write_storyboard",
]
