"""GraphQL error codes: the one place where vidray's errors meet `extensions.code`.

Resolvers raise the services' domain errors; this extension rewrites each GraphQL error
they caused so that clients can branch on `extensions.code` (and `field`, where the
error names one).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension

from cluster.errors import (
    Forbidden,
    InvalidInput,
    RateLimited,
    Unauthenticated,
    VidrayError,
)
from serve.library.errors import NotFound
from serve.notifications.errors import CampaignLocked, CampaignNotFound
from serve.stream.errors import VideoUnavailable
from serve.uploads.errors import LimitExceeded, UploadError

log = logging.getLogger(__name__)

# Most specific first: the first matching class decides.
CODES: dict[type[VidrayError], str] = {
    NotFound: "NOT_FOUND",
    CampaignNotFound: "NOT_FOUND",
    CampaignLocked: "BAD_USER_INPUT",
    VideoUnavailable: "NOT_FOUND",
    Unauthenticated: "UNAUTHENTICATED",
    Forbidden: "FORBIDDEN",
    RateLimited: "RATE_LIMITED",
    InvalidInput: "BAD_USER_INPUT",
    # createUpload checks the tier's limits before any byte is sent.
    UploadError: "BAD_USER_INPUT",
}
UNAVAILABLE = "a service vidray needs is unavailable right now: try again in a minute"


def _extensions(error: VidrayError) -> tuple[str, dict[str, Any]]:
    for kind, code in CODES.items():
        if isinstance(error, kind):
            extensions: dict[str, Any] = {"code": code}
            if isinstance(error, RateLimited):
                extensions["retryAfter"] = error.retry_after
            if isinstance(error, InvalidInput):
                extensions["field"] = error.field
            elif isinstance(error, LimitExceeded):
                extensions["field"] = error.limit
            elif isinstance(error, UploadError):
                extensions["field"] = "upload"
            return str(error), extensions
    # Delivery and backing-service failures name settings a client cannot act on.
    log.error("request failed: %s", error)
    return UNAVAILABLE, {"code": "SERVICE_UNAVAILABLE"}


def with_code(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if not isinstance(original, VidrayError):
        return error
    message, extensions = _extensions(original)
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions={**(error.extensions or {}), **extensions},
    )


class ErrorCodes(SchemaExtension):
    """Adds `extensions.code` to every error raised as one of vidray's errors."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [with_code(error) for error in errors]
