"""How the rest of vidray talks to the dispatcher actor: `DispatcherClient`, and the
`DispatcherWaker` that every process which writes events hooks to its sessions
(`cluster.events.wake_on_commit`). `actors/dispatcher.py` exports both beside the actor."""

from __future__ import annotations

import time
from typing import Any

from cluster.config import Settings

ACTOR_NAME = "dispatcher"


class DispatcherClient:
    """Typed calls to the dispatcher actor."""

    def __init__(self, actor: Any) -> None:  # Any: a Ray actor handle
        self.actor = actor

    @classmethod
    def connect(cls, settings: Settings) -> DispatcherClient | None:
        import ray

        try:
            return cls(ray.get_actor(ACTOR_NAME, namespace=settings.ray_namespace))
        except ValueError:
            return None

    def wake(self) -> None:
        """Fire and forget: nothing waits for the reply."""
        self.actor.wake.remote()

    def cursors(self) -> dict[str, int]:
        import ray

        cursors: dict[str, int] = ray.get(self.actor.cursors.remote())
        return cursors

    def head(self) -> int:
        import ray

        head: int = ray.get(self.actor.head.remote())
        return head


class DispatcherWaker:
    """What `wake_on_commit` calls in every process that writes events: pings the
    dispatcher if this process is connected to a Ray cluster where one runs. A lookup
    that finds none is not repeated for a few seconds (the poll covers meanwhile)."""

    RETRY_S = 5.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: DispatcherClient | None = None
        self._looked_at = -self.RETRY_S

    def __call__(self) -> None:
        import sys

        ray = sys.modules.get("ray")  # a process that never imported Ray runs no cluster
        if ray is None or not ray.is_initialized():
            return
        if self._client is None:
            now = time.monotonic()
            if now - self._looked_at < self.RETRY_S:
                return
            self._looked_at = now
            self._client = DispatcherClient.connect(self.settings)
            if self._client is None:
                return
        try:
            self._client.wake()
        except Exception:
            self._client = None
            raise
