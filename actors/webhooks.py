"""Webhook deliveries: a dispatcher subscriber of its own, the detached actor "webhooks".

Why not inside the notifier: a webhook endpoint is someone else's server, and may take
its full timeout (15 s) to fail, thousands of times over. In an actor of its own, and
with each message in a task of its own, a slow endpoint holds back nothing but its own
messages: email, SMS and the in-app inbox carry on in the notifier, and the dispatcher
moves on as soon as `handle` has written the deliveries (it never waits on HTTP).

The work itself (which endpoints, signing, the SSRF guard, retries) lives in
`serve/notifications/webhooks/delivery.py`; `serve/app.py` hands its builder in, so that
this module imports nothing from `serve/` (imports point down).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from actors.singleton import start_singleton
from cluster.config import Settings
from cluster.events import Event

log = logging.getLogger(__name__)

ACTOR_NAME = "webhooks"
TICK_S = 1.0  # how often due retries are looked for


class Deliveries(Protocol):
    def enqueue(self, events: list[Event]) -> int: ...

    async def start_due(self) -> list[asyncio.Task[Any]]: ...


class WebhookSender:
    """The actor: `handle` (the dispatcher's call) writes deliveries; a loop on a
    thread of its own sends what is due, woken by `handle` or every `TICK_S`."""

    def __init__(self, settings: Settings, build: Callable[[Settings], Deliveries]) -> None:
        self.deliveries = build(settings)
        self._loop = asyncio.new_event_loop()
        self._wake = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    async def handle(self, events: list[Event]) -> None:
        """Subscriber: durable once this returns (the rows are committed)."""
        added = await asyncio.to_thread(self.deliveries.enqueue, events)
        if added:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _run(self) -> None:
        self._loop.run_until_complete(self._send_forever())

    async def _send_forever(self) -> None:
        in_flight: set[asyncio.Task[Any]] = set()
        while True:
            self._wake.clear()
            try:
                for task in await self.deliveries.start_due():
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
            except Exception as exc:  # the database is away: the next tick tries again
                log.warning("webhooks: could not claim deliveries: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=TICK_S)


def start(settings: Settings, build: Callable[[Settings], Deliveries]) -> Any:
    """The cluster's one webhook actor (its handle), created if missing."""
    return start_singleton(
        WebhookSender, settings, build, settings=settings, name=ACTOR_NAME, max_concurrency=4
    )
