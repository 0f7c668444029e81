"""Errors of the transcode task graph (media errors live in `pipelines.media.errors`).

TranscodeError
├── TranscodeFailed     the job cannot finish; `reason` says why (never retried)
│   └── SourceRejected  the source itself is unacceptable; `reason` is the media error's
└── TranscodeCancelled  the video was deleted or the job cancelled mid-way
"""

from __future__ import annotations

from cluster.errors import VidrayError


class TranscodeError(VidrayError):
    """Base of the task graph's errors (they pickle across Ray, as every VidrayError)."""


class TranscodeFailed(TranscodeError):
    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SourceRejected(TranscodeFailed):
    """The file is the problem (hostile, damaged, over a limit), not the cluster: the
    message is the `MediaError`'s, written for the uploader, and retrying cannot help."""


class TranscodeCancelled(TranscodeError):
    """Raised by `transcode` once cancellation is seen; partial output is removed."""
