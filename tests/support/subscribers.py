"""Dispatcher subscribers for tests that run on Ray: they must live in an importable
module (not a test file) so that Ray workers can load their class."""

from __future__ import annotations

import asyncio

from cluster.events import Event


class SlowRecorder:
    """Remembers every event id it was handed (with repeats), taking `delay_s` per
    batch: long enough for a test to kill the dispatcher while a batch is in flight."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.ids: list[int] = []
        self.batches = 0

    async def handle(self, events: list[Event]) -> None:
        await asyncio.sleep(self.delay_s)
        self.batches += 1
        self.ids.extend(event.id for event in events)

    def received(self) -> list[int]:
        return list(self.ids)
