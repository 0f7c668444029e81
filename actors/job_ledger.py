"""The job actor's ledger of attempts and the job board read from it.

Every try at a job, and at each of its chunks, is a `JobAttempt` row: where it ran, when,
and how it ended. The rows outlive Ray (whose task history is capped and dies with the
cluster): an operator reads a retried chunk and the node death behind it on the board,
and a resumed job publishes the chunks a previous run finished instead of encoding them
again. Only the job actor writes here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from actors.jobs_client import AttemptView, BoardJob, JobView
from cluster.db.models import Job, JobAttempt, JobState, utcnow
from cluster.storage import ObjectStore
from pipelines.transcode.attempts import Attempt, ChunkKey

JOB_TASK = "job"
MAX_PAGE = 200


class ChunkLedger:
    """Records one run's chunk attempts: a row when a try starts, completed when it ends."""

    def __init__(self, sessions: sessionmaker[Session], job_id: str) -> None:
        self.sessions, self.job_id = sessions, job_id
        self.rows: dict[tuple[str, tuple[str, ...], int], int] = {}

    def record(self, attempt: Attempt) -> None:
        key = (attempt.task, attempt.rungs, attempt.retry)
        with self.sessions.begin() as session:
            if attempt.outcome == "running":
                new = JobAttempt(job_id=self.job_id, task=attempt.task, retry=attempt.retry)
                session.add(new)
                session.flush()
                self.rows[key] = new.id
                return
            row = session.get(JobAttempt, self.rows.get(key, -1))
            if row is None:  # started before a restart of the actor: record the end alone
                row = JobAttempt(job_id=self.job_id, task=attempt.task, retry=attempt.retry)
                session.add(row)
            row.outcome, row.error, row.finished_at = attempt.outcome, attempt.error, utcnow()
            row.node_id = attempt.node_id or row.node_id
            row.worker_id = attempt.worker_id or row.worker_id
            row.output = attempt.output


def open_run(
    sessions: sessionmaker[Session], *, job_id: str, retry: int, node_id: str | None
) -> int:
    """The row of one run of the whole job (on the actor's node). Rows an earlier run
    left open ended with the actor that ran them (it was restarted, or its node died)."""
    with sessions.begin() as session:
        close_runs(
            session,
            job_id,
            outcome="lost",
            error="the job actor stopped during this run (restarted, or its node died)",
        )
        row = JobAttempt(job_id=job_id, task=JOB_TASK, retry=retry, node_id=node_id)
        session.add(row)
        session.flush()
        return row.id


def close_runs(session: Session, job_id: str, *, outcome: str, error: str | None = None) -> None:
    """End whatever is still marked running for the job: its run, and the chunk tries a
    dead actor left open (they ended with it)."""
    rows = session.scalars(
        select(JobAttempt).where(JobAttempt.job_id == job_id, JobAttempt.outcome == "running")
    ).all()
    for row in rows:
        own = row.task == JOB_TASK
        row.outcome = outcome if own else "lost"
        row.error = error if own else "the job's run ended before this try reported back"
        row.finished_at = utcnow()


def done_chunks(
    sessions: sessionmaker[Session], job_id: str, store: ObjectStore, prefix: str
) -> dict[ChunkKey, dict[str, Any]]:
    """Chunks a previous run finished whose segments are all still in the store."""
    with sessions() as session:
        outputs = session.scalars(
            select(JobAttempt.output).where(
                JobAttempt.job_id == job_id,
                JobAttempt.outcome == "done",
                JobAttempt.output.is_not(None),
            )
        ).all()
    found: dict[ChunkKey, dict[str, Any]] = {}
    for output in outputs:
        if output is None:
            continue
        paths = [s["path"] for r in output["rungs"] for s in r["segments"]]
        if all(store.exists(prefix + path) for path in paths):
            found[output["chunk"], tuple(r["name"] for r in output["rungs"])] = output
    return found


def eta(job: Job, percent: float, *, now: datetime) -> float | None:
    """Seconds left at the pace so far; None before 2% or for a job not running."""
    if job.state != JobState.RUNNING or job.started_at is None or percent < 2:
        return None
    started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
    elapsed = (now - started).total_seconds()
    return max(0.0, elapsed * (100.0 - percent) / percent)


def board(
    sessions: sessionmaker[Session],
    *,
    live: Callable[[str], JobView | None],
    status: str | None,
    owner_id: str | None,
    video_id: str | None,
    first: int,
    after: str | None,
) -> list[BoardJob]:
    """One page of jobs, newest first, with their attempts; `live` gives the progress
    the actor holds in memory (fresher than the row, written a few times a second)."""
    query = select(Job).order_by(Job.created_at.desc(), Job.id.desc())
    if status is not None:
        query = query.where(Job.state == JobState(status))
    if owner_id is not None:
        query = query.where(Job.owner_id == owner_id)
    if video_id is not None:
        query = query.where(Job.video_id == video_id)
    now = utcnow()
    with sessions() as session:
        if after is not None:
            last = session.get(Job, after)
            if last is not None:
                query = query.where(
                    or_(
                        Job.created_at < last.created_at,
                        (Job.created_at == last.created_at) & (Job.id < last.id),
                    )
                )
        jobs = session.scalars(query.limit(max(1, min(first, MAX_PAGE)))).all()
        tries = _attempts(session, [job.id for job in jobs])
        return [_board_job(job, live(job.id), tries.get(job.id, ()), now=now) for job in jobs]


def one(sessions: sessionmaker[Session], job_id: str, *, view: JobView | None) -> BoardJob | None:
    """One job as the board shows it, or None."""
    with sessions() as session:
        job = session.get(Job, job_id)
        if job is None:
            return None
        tries = _attempts(session, [job_id]).get(job_id, ())
        return _board_job(job, view, tries, now=utcnow())


def _attempts(session: Session, job_ids: list[str]) -> Mapping[str, tuple[AttemptView, ...]]:
    rows = session.scalars(
        select(JobAttempt)
        .where(JobAttempt.job_id.in_(job_ids))
        .order_by(JobAttempt.started_at, JobAttempt.id)
    ).all()
    found: dict[str, list[AttemptView]] = {}
    for row in rows:
        found.setdefault(row.job_id, []).append(
            AttemptView(
                task=row.task,
                retry=row.retry,
                outcome=row.outcome,
                node_id=row.node_id,
                worker_id=row.worker_id,
                error=row.error,
                started_at=row.started_at,
                finished_at=row.finished_at,
            )
        )
    return {key: tuple(value) for key, value in found.items()}


def _board_job(
    job: Job, view: JobView | None, tries: tuple[AttemptView, ...], *, now: datetime
) -> BoardJob:
    fresh = view is not None and view.state == job.state.value
    percent = view.percent if fresh and view is not None else float(job.percent or 0.0)
    return BoardJob(
        id=job.id,
        video_id=job.video_id,
        owner_id=job.owner_id,
        state=job.state.value,
        stage=view.stage if fresh and view is not None else job.stage,
        percent=percent,
        error=job.error,
        notes=tuple(job.notes or ()),
        runs=job.attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        eta_s=eta(job, percent, now=now),
        attempts=tries,
    )
