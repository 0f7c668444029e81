"""Errors of resumable uploads.

The tus routes choose each one's HTTP status in one table (`serve/uploads/routes.py`),
the GraphQL edge its code (`serve/gateway/errors.py`); messages are written for the
person whose client sent the request.

    UploadError
    ├── MalformedRequest     a header is missing, garbage, negative or overflowing
    ├── UnsupportedChecksum  an Upload-Checksum algorithm we do not offer
    ├── UploadNotFound       no such upload, or it belongs to someone else
    ├── UploadGone           expired, terminated or failed: start a new upload
    ├── OffsetConflict       Upload-Offset is not where the upload stands
    ├── UploadLocked         another request is writing this upload right now
    ├── ChecksumMismatch     the bytes received do not match Upload-Checksum
    ├── LimitExceeded        a size, quota or monthly limit; `limit` names it
    └── UploadRefused        the request is well formed but not allowed (e.g. private
                             videos on a tier without them)
"""

from __future__ import annotations

from cluster.errors import VidrayError


class UploadError(VidrayError):
    """An upload request was refused; nothing was stored beyond the acknowledged offset."""


class MalformedRequest(UploadError):
    """A header is missing or not what tus 1.0.0 allows."""


class UnsupportedChecksum(UploadError):
    """Upload-Checksum names an algorithm this server does not offer."""


class UploadNotFound(UploadError):
    """No upload by that id is visible to this caller."""

    def __init__(self, message: str = "no such upload: create a new one with POST /files/"):
        super().__init__(message)


class UploadGone(UploadError):
    """The upload expired, was terminated or failed; its bytes are gone."""


class OffsetConflict(UploadError):
    """The request's Upload-Offset differs from the stored offset."""


class UploadLocked(UploadError):
    """Another request holds this upload's write lock."""


class ChecksumMismatch(UploadError):
    """The body's digest differs from the one in Upload-Checksum."""


class LimitExceeded(UploadError):
    """A limit would be passed; `limit` is its machine-readable name."""

    def __init__(self, message: str, *, limit: str = "max_size") -> None:
        super().__init__(message)
        self.limit = limit


class UploadRefused(UploadError):
    """The request is well formed but not allowed for this account."""
