"""Upload metrics around the tus PATCH handler: bytes stored and latency per PATCH.

A decorator rather than lines inside the handler: the handler answers from several
places (errors, a cut connection, success), and the response says what happened.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from cluster import metrics

PatchHandler = Callable[[Request, str], Awaitable[Response]]


def metered(handler: PatchHandler) -> PatchHandler:
    """Record each PATCH: its status, its time, and the bytes its offset moved by."""

    @functools.wraps(handler)
    async def patch(request: Request, upload_id: str) -> Response:
        started = time.monotonic()
        response = await handler(request, upload_id)
        stored = 0
        if response.status_code == 204:
            try:
                stored = int(response.headers["upload-offset"]) - int(
                    request.headers.get("upload-offset", "0")
                )
            except (KeyError, ValueError):
                stored = 0
        metrics.patch_stored(
            status=response.status_code, nbytes=stored, seconds=time.monotonic() - started
        )
        return response

    return patch
