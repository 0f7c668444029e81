"""Errors of webhooks. A URL that may not be called is `cluster.errors.InvalidInput`
(field "url"), and someone else's webhook reads as not found, as in every service.

    VidrayError
    └── WebhookNotFound       no such webhook (or delivery) of yours
"""

from __future__ import annotations

from serve.library.errors import NotFound


class WebhookNotFound(NotFound):
    """No such webhook or event of the caller's: the same answer for someone else's."""
