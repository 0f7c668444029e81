"""The `/collect` edge: a bare ASGI app (no framework on the hot path) in front of
`Collector.collect`, and the one table that maps its refusals to HTTP statuses.

The body is read chunk by chunk and refused with 413 as soon as it passes 500 KB (or
at once, when Content-Length says so): an oversized body is never held whole. Players
post with `navigator.sendBeacon` (text/plain, no preflight) or `fetch`; both are
answered with CORS headers so a player on another origin can send.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cluster.errors import RateLimited, VidrayError
from serve.analytics.beacons import MAX_BODY_BYTES
from serve.analytics.collector import Collector, Outcome
from serve.analytics.errors import BatchRefused, BatchTooLarge

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

log = logging.getLogger(__name__)

# Most specific first: the first class that matches picks the status.
STATUSES: list[tuple[type[VidrayError], int]] = [
    (BatchTooLarge, 413),
    (BatchRefused, 400),
    (RateLimited, 429),
]
CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"content-type"),
    (b"access-control-max-age", b"86400"),
]


def _json(status: int, payload: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), *CORS]
    return status, headers, json.dumps(payload).encode()


def outcome_body(outcome: Outcome) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "rejected": [{"index": r.index, "reason": r.reason} for r in outcome.rejected],
    }
    if outcome.dropped:
        body["dropped"] = outcome.dropped
    return body


class CollectorApp:
    """ASGI: POST a batch, get what was kept; OPTIONS for a cross-origin preflight."""

    def __init__(self, collector: Collector, *, trusted_proxies: frozenset[str]) -> None:
        self.collector = collector
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        status, headers, body = await self.handle(scope, receive)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def handle(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        method = scope["method"]
        if method == "OPTIONS":
            return 204, CORS, b""
        if method != "POST":
            return _json(405, {"error": "POST a batch of beacon events here"})
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        peer = scope["client"][0] if scope.get("client") else ""
        ip = (
            headers["x-real-ip"].strip()
            if peer in self.trusted_proxies and "x-real-ip" in headers
            else peer
        )
        try:
            body = await read_body(receive, headers)
            outcome = await self.collector.collect(body=body, ip=ip, headers=headers)
        except VidrayError as error:
            for kind, status in STATUSES:
                if isinstance(error, kind):
                    payload: dict[str, Any] = {"error": str(error)}
                    if isinstance(error, RateLimited):
                        payload["retry_after"] = error.retry_after
                    return _json(status, payload)
            log.exception("collect failed")
            return _json(503, {"error": "events not stored: send the batch again later"})
        except Exception:  # the sink is down or restarting: the player keeps the batch
            log.exception("collect failed")
            return _json(503, {"error": "events not stored: send the batch again later"})
        return _json(200, outcome_body(outcome))


async def read_body(receive: Receive, headers: dict[str, str]) -> bytes:
    """The request body, refused as soon as it passes `MAX_BODY_BYTES`."""
    too_large = BatchTooLarge(
        "body", f"the body is over {MAX_BODY_BYTES // 1024} KB: send smaller batches"
    )
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BatchRefused("disconnect", "the client went away before the body ended")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
