"""How the rest of vidray talks to the job actor: `JobsClient`, and the `JobView` it
hands back. `actors/jobs.py` exports both beside the actor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True)
class AttemptView:
    """One try at a job ("job") or at one of its chunks ("chunk 3")."""

    task: str
    retry: int
    outcome: str  # running, done, lost, failed, stalled, cancelled
    node_id: str | None
    worker_id: str | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class BoardJob:
    """A job as the job board lists it: its state, live progress, ETA and tries."""

    id: str
    video_id: str
    owner_id: str
    state: str
    stage: str
    percent: float
    error: str | None
    notes: tuple[str, ...]
    runs: int  # how many times the job has been started
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    eta_s: float | None  # seconds left, from the pace so far; None until it can tell
    attempts: tuple[AttemptView, ...]


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

    # -- the job board ------------------------------------------------------------------

    def board(
        self,
        *,
        status: str | None = None,
        owner_id: str | None = None,
        video_id: str | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> list[BoardJob]:
        """Jobs, newest first; `after` is the id of the last job of the previous page."""
        return self._get(
            self.actor.board.remote(
                status=status, owner_id=owner_id, video_id=video_id, first=first, after=after
            )
        )

    def retry(self, job_id: str) -> BoardJob:
        """Queue a failed or cancelled job again."""
        return self._get(self.actor.retry.remote(job_id))

    def cancel(self, job_id: str) -> BoardJob:
        """Cancel a queued or running job."""
        return self._get(self.actor.cancel.remote(job_id))

    def retry_failed(self, *, owner_id: str | None = None) -> list[str]:
        """Queue every failed job again (of one owner, or all); their ids."""
        return self._get(self.actor.retry_failed.remote(owner_id=owner_id))

    @staticmethod
    def _get(ref: Any) -> Any:
        import ray

        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            # The actor's own error (a job that cannot be retried), not Ray's wrapper.
            if isinstance(exc.cause, Exception):
                raise exc.cause from None
            raise

    async def latest(self, video_id: str) -> JobView | None:
        view: JobView | None = await self.actor.latest.remote(video_id)
        return view

    async def watch(self, job_id: str, *, after_version: int, timeout: float) -> JobView | None:
        view: JobView | None = await self.actor.watch.remote(
            job_id, after_version=after_version, timeout=timeout
        )
        return view
