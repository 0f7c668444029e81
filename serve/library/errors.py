"""Errors of the video library.

Editing what belongs to someone else raises `cluster.errors.Forbidden`, and a malformed
field `cluster.errors.InvalidInput`, as in every service.
"""

from __future__ import annotations

from cluster.errors import VidrayError


class NotFound(VidrayError):
    """No such video or comment, or it is private to someone else: the two read alike,
    so an id never tells a stranger that a private video exists."""
