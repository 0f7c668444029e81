"""Errors raised by the media library.

Every failure a caller can act on is one of these, so the task graph maps them to a job
state and `serve/` maps them to a user-facing message without parsing FFmpeg's text.

    MediaError                   base; `reason` is a short machine code
    ├── UnsupportedMedia         container, codec or feature we refuse (HLS, concat, drefs…)
    ├── CorruptMedia             empty, truncated or undecodable input
    ├── MediaLimitExceeded       pixels, duration, streams, size or probe time over a limit
    └── EncoderUnavailable       the requested encoder cannot be opened on this machine

Messages are written for the person who uploaded the file: they say what to do next.
"""

from __future__ import annotations

ACCEPTED_FORMATS_HINT = "Upload an MP4, MOV, MKV, WebM, AVI, FLV or MPEG-TS video file."


class MediaError(Exception):
    """Base class: `reason` is stable and machine-readable, `str(error)` is for people."""

    default_reason = "media_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or self.default_reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r}, message={str(self)!r})"


class UnsupportedMedia(MediaError):
    """The file is of a kind we do not accept (or it points at other files)."""

    default_reason = "unsupported_format"


class CorruptMedia(MediaError):
    """The file is of an accepted kind but cannot be decoded: empty, truncated, damaged."""

    default_reason = "corrupt"


class MediaLimitExceeded(MediaError):
    """The file is valid but larger than this platform accepts (pixels, duration, streams)."""

    default_reason = "limit_exceeded"


class EncoderUnavailable(MediaError):
    """The requested encoder (e.g. NVENC without a GPU) cannot be opened here."""

    default_reason = "encoder_unavailable"
