"""Errors of playback. A refused signed URL is `cluster.errors.UrlRefused` (the signer
raises it); the stream application maps both to a status in `serve/stream/app.py`."""

from __future__ import annotations

from cluster.errors import VidrayError


class VideoUnavailable(VidrayError):
    """No such video, not playable yet, or private and the viewer is not its owner."""
