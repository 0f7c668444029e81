"""Refusals of the analytics service. The `/collect` edge maps them to statuses in one
table (`serve/analytics/app.py`); queries refused for who asks raise
`cluster.errors.Forbidden`, and bad arguments `cluster.errors.InvalidInput`.

    VidrayError
    └── BatchRefused        the whole batch is refused (`reason` is machine-readable)
        └── BatchTooLarge   over the body or event-count limit
"""

from __future__ import annotations

from cluster.errors import VidrayError


class BatchRefused(VidrayError):
    """A beacon batch that cannot be read at all: nothing in it was kept."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BatchTooLarge(BatchRefused):
    """A body or an event list over its limit: send smaller batches, more often."""
