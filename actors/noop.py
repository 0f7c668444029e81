"""A subscriber that does nothing but count: what `vidray bench notify` measures the
dispatcher against, and what tests can register to watch deliveries."""

from __future__ import annotations

import time

from cluster.events import Event


class NoopSubscriber:
    """Counts events and how long after their commit each arrived."""

    def __init__(self) -> None:
        self.count = 0
        self.ids: list[int] = []
        self.lags: list[float] = []

    async def handle(self, events: list[Event]) -> None:
        now = time.time()
        self.count += len(events)
        self.ids.extend(event.id for event in events)
        self.lags.extend(now - event.timestamp.timestamp() for event in events)

    def stats(self) -> dict[str, float]:
        lags = sorted(self.lags)
        return {
            "count": float(self.count),
            "lag_p50_s": lags[len(lags) // 2] if lags else 0.0,
            "lag_p95_s": lags[int(0.95 * (len(lags) - 1))] if lags else 0.0,
        }

    def lag_of_last(self) -> float:
        return self.lags[-1] if self.lags else 0.0

    def received(self) -> list[int]:
        return list(self.ids)
