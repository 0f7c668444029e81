"""How the rest of vidray talks to the job actor: `JobsClient`, and the `JobView` it
hands back. `actors/jobs.py` exports both beside the actor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.config import Settings

ACTOR_NAME = "jobs"


@dataclass(frozen=True)
class JobView:
    """What watchers (GraphQL subscriptions, the CLI) see of a job."""

    id: str
    video_id: str
    state: str
    stage: str
    percent: float
    playable: bool
    error: str | None
    notes: tuple[str, ...]
    version: int


class JobsClient:
    """Typed calls to the job actor. Blocking methods are for worker threads and the
    CLI; the async ones for an event loop (a GraphQL subscription)."""

    def __init__(self, actor: Any) -> None:  # Any: a Ray actor handle
        self.actor = actor

    @classmethod
    def connect(cls, settings: Settings) -> JobsClient | None:
        """The running job actor's client, or None where there is none (a benchmark of
        the request path)."""
        import ray

        try:
            return cls(ray.get_actor(ACTOR_NAME, namespace=settings.ray_namespace))
        except ValueError:
            return None

    def submit_upload(
        self,
        *,
        upload_id: str,
        video_id: str,
        owner_id: str,
        source_key: str,
        params: dict[str, Any],
    ) -> str:
        """Queue a completed upload's transcode and wait until its job row exists."""
        import ray

        job_id: str = ray.get(
            self.actor.submit_upload.remote(
                upload_id=upload_id,
                video_id=video_id,
                owner_id=owner_id,
                source_key=source_key,
                params=params,
            )
        )
        return job_id

    def cancel_video(self, video_id: str) -> int:
        import ray

        cancelled: int = ray.get(self.actor.cancel_video.remote(video_id))
        return cancelled

    def status(self, job_id: str) -> JobView | None:
        import ray

        view: JobView | None = ray.get(self.actor.status.remote(job_id))
        return view

    def wait_idle(self, timeout: float = 300.0) -> bool:
        import ray

        idle: bool = ray.get(self.actor.wait_idle.remote(timeout))
        return idle

    async def latest(self, video_id: str) -> JobView | None:
        view: JobView | None = await self.actor.latest.remote(video_id)
        return view

    async def watch(self, job_id: str, *, after_version: int, timeout: float) -> JobView | None:
        view: JobView | None = await self.actor.watch.remote(
            job_id, after_version=after_version, timeout=timeout
        )
        return view
