"""The job board for admins: `jobs(filter, first, after)` with progress, ETA and every
try, and `retryJob`, `cancelJob`, `retryFailedJobs`. The job actor answers all of them
(`actors/jobs.py`); resolvers only check the viewer is an admin and translate."""

from __future__ import annotations

from datetime import datetime

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info

from actors.jobs_client import AttemptView, BoardJob, JobsClient
from cluster.db.models import Role
from cluster.errors import Forbidden, ServiceUnavailable
from serve.gateway.context import GatewayContext

Ctx = Info[GatewayContext, None]
MAX_FIRST = 200


@strawberry.type(description='One try at a job (task "job") or at one of its chunks.')
class JobAttempt:
    task: str = strawberry.field(description='"job", or "chunk 3".')
    retry: int = strawberry.field(description="0 for the first try.")
    outcome: str = strawberry.field(
        description="running, done, lost (its worker, node or actor died), failed, stalled "
        "or cancelled."
    )
    node_id: str | None
    worker_id: str | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, view: AttemptView) -> JobAttempt:
        return cls(
            task=view.task,
            retry=view.retry,
            outcome=view.outcome,
            node_id=view.node_id,
            worker_id=view.worker_id,
            error=view.error,
            started_at=view.started_at,
            finished_at=view.finished_at,
        )


@strawberry.type(description="A transcode job as the job board shows it.")
class Job:
    id: strawberry.ID
    video_id: strawberry.ID
    owner_id: strawberry.ID
    state: str = strawberry.field(description="queued, running, done, failed or cancelled.")
    stage: str
    percent: float
    eta_seconds: float | None = strawberry.field(
        description="Seconds left at the pace so far; null when not running or too early."
    )
    error: str | None
    notes: list[str] = strawberry.field(description='e.g. "no usable NVENC; used libx264".')
    runs: int = strawberry.field(description="How many times the job has been started.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: list[JobAttempt]

    @classmethod
    def of(cls, view: BoardJob) -> Job:
        return cls(
            id=strawberry.ID(view.id),
            video_id=strawberry.ID(view.video_id),
            owner_id=strawberry.ID(view.owner_id),
            state=view.state,
            stage=view.stage,
            percent=view.percent,
            eta_seconds=view.eta_s,
            error=view.error,
            notes=list(view.notes),
            runs=view.runs,
            created_at=view.created_at,
            started_at=view.started_at,
            finished_at=view.finished_at,
            attempts=[JobAttempt.of(a) for a in view.attempts],
        )


@strawberry.type
class JobConnection:
    nodes: list[Job]
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")
    has_next_page: bool


@strawberry.input
class JobFilter:
    status: str | None = strawberry.field(
        default=None, description="queued, running, done, failed or cancelled."
    )
    owner: strawberry.ID | None = None
    video: strawberry.ID | None = None


def _board(info: Ctx) -> JobsClient:
    """The job actor's client, for an admin only."""
    viewer = info.context.require_viewer()
    if viewer.role != Role.ADMIN:
        raise Forbidden("only an administrator can see or change the job board")
    jobs = info.context.jobs
    if jobs is None:
        raise ServiceUnavailable(
            "RAY_ADDRESS", "the job board needs the job actor: run vidray on its Ray cluster"
        )
    return jobs


@strawberry.type
class JobQueries:
    @strawberry.field(description="Transcode jobs, newest first (admins only).")
    async def jobs(
        self,
        info: Ctx,
        filter: JobFilter | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> JobConnection:
        board = _board(info)
        wanted = max(1, min(first, MAX_FIRST))
        found = filter or JobFilter()
        page = await run_in_threadpool(
            lambda: board.board(
                status=found.status,
                owner_id=None if found.owner is None else str(found.owner),
                video_id=None if found.video is None else str(found.video),
                first=wanted + 1,
                after=after,
            )
        )
        nodes = [Job.of(view) for view in page[:wanted]]
        return JobConnection(
            nodes=nodes,
            end_cursor=str(nodes[-1].id) if nodes else None,
            has_next_page=len(page) > wanted,
        )


@strawberry.type
class JobMutations:
    @strawberry.mutation(description="Queue a failed or cancelled job again (admins only).")
    async def retry_job(self, info: Ctx, id: strawberry.ID) -> Job:
        board = _board(info)
        return Job.of(await run_in_threadpool(board.retry, str(id)))

    @strawberry.mutation(description="Cancel a queued or running job (admins only).")
    async def cancel_job(self, info: Ctx, id: strawberry.ID) -> Job:
        board = _board(info)
        return Job.of(await run_in_threadpool(board.cancel, str(id)))

    @strawberry.mutation(
        description="Queue every failed job again, of one owner or of all (admins only); "
        "returns their ids."
    )
    async def retry_failed_jobs(
        self, info: Ctx, owner: strawberry.ID | None = None
    ) -> list[strawberry.ID]:
        board = _board(info)
        owner_id = None if owner is None else str(owner)
        ids = await run_in_threadpool(lambda: board.retry_failed(owner_id=owner_id))
        return [strawberry.ID(i) for i in ids]
