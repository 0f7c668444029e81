"""The job actor's board and watchdog: what an admin sees and does to jobs (list, retry,
cancel, bulk retry), and the stall watch that keeps every job moving. A part of `Jobs`
(`actors/jobs.py`), kept here so that each file holds one concern; it shares the actor's
state and is never used alone."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from actors import job_ledger as ledger
from actors.jobs_client import BoardJob, JobView
from cluster.config import Settings
from cluster.db.models import Job, JobState, Video, VideoStatus, utcnow
from cluster.errors import InvalidInput

log = logging.getLogger(__name__)

UNFINISHED = (JobState.QUEUED, JobState.RUNNING)
RETRYABLE = (JobState.FAILED, JobState.CANCELLED)
# A stalled job is started again this many times before it fails with "stalled".
STALL_RETRIES = 1


class JobBoard:
    """Board and watchdog methods of the job actor (mixed into `Jobs`)."""

    settings: Settings
    sessions: sessionmaker[Session]
    _lock: threading.Condition
    _running: dict[str, str]
    _cancel: set[str]
    _views: dict[str, JobView]
    _progress_at: dict[str, float]
    _stalled: set[str]

    if TYPE_CHECKING:  # provided by `Jobs`

        def _publish(self, job: Job, *, playable: bool = False) -> None: ...
        def _schedule(self) -> None: ...
        def recover(self) -> int: ...
        def _finish(
            self, job_id: str, state: JobState, *, error: str | None, reason: str | None = None
        ) -> None: ...

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
        if status is not None and status not in {s.value for s in JobState}:
            states = ", ".join(s.value for s in JobState)
            raise InvalidInput("status", f"{status!r} is not a job state: use one of {states}")

        with self._lock:
            views = dict(self._views)
        return ledger.board(
            self.sessions,
            live=views.get,
            status=status,
            owner_id=owner_id,
            video_id=video_id,
            first=first,
            after=after,
        )

    def retry(self, job_id: str) -> BoardJob:
        """Queue a failed or cancelled job again, with a fresh allowance of stalls."""
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise InvalidInput(
                    "id", f"there is no job {job_id}: list them with vidray jobs list"
                )
            if job.state not in RETRYABLE:
                raise InvalidInput(
                    "id", f"job {job_id} is {job.state.value}: only failed or cancelled jobs retry"
                )
            self._requeue(session, job)
        self._publish(job)
        self._schedule()
        return self._board_one(job_id)

    def retry_failed(self, *, owner_id: str | None = None) -> list[str]:
        """Queue every failed job again (one owner's, or everyone's); their ids."""
        with self.sessions.begin() as session:
            query = select(Job).where(Job.state == JobState.FAILED)
            if owner_id is not None:
                query = query.where(Job.owner_id == owner_id)
            jobs = session.scalars(query).all()
            for job in jobs:
                self._requeue(session, job)
        for job in jobs:
            self._publish(job)
        self._schedule()
        return [job.id for job in jobs]

    def cancel(self, job_id: str) -> BoardJob:
        """Cancel a queued or running job (a running one stops within a second)."""
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise InvalidInput(
                    "id", f"there is no job {job_id}: list them with vidray jobs list"
                )
            if job.state not in UNFINISHED:
                raise InvalidInput("id", f"job {job_id} is {job.state.value} already")
            if job.id in self._running:
                self._cancel.add(job.id)
            else:
                job.state, job.stage, job.finished_at = JobState.CANCELLED, "cancelled", utcnow()
        self._publish(job)
        return self._board_one(job_id)

    def _requeue(self, session: Any, job: Job) -> None:
        job.state, job.stage, job.percent, job.error = JobState.QUEUED, "queued", 0.0, None
        job.finished_at = None
        job.params = {key: v for key, v in job.params.items() if key != "stalls"}
        video = session.get(Video, job.video_id)
        if video is not None and video.status == VideoStatus.FAILED:
            video.status, video.failure_reason = VideoStatus.PROCESSING, None

    def _board_one(self, job_id: str) -> BoardJob:
        with self._lock:
            view = self._views.get(job_id)
        found = ledger.one(self.sessions, job_id, view=view)
        assert found is not None  # the caller has just seen it
        return found

    def _stall(self, job_id: str, *, stalls: int) -> None:
        """A run that made no progress for `job_stall_s` was cancelled: start the job
        again, or fail it with the reason "stalled" once it has stalled before."""
        self._stalled.discard(job_id)
        error = f"stalled: no progress for {self.settings.job_stall_s:g} s"
        if stalls >= STALL_RETRIES:
            self._finish(job_id, JobState.FAILED, error=error, reason="stalled")
            return
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            if job is None:
                return
            ledger.close_runs(session, job_id, outcome="stalled", error=error)
            job.state, job.stage, job.percent = JobState.QUEUED, "queued", 0.0
            job.params = {**job.params, "stalls": stalls + 1}
        self._publish(job)

    def _watch_stalls(self) -> None:
        """Cancel runs that stopped moving, and make sure nothing waits forever: a job
        marked running that no thread runs (its run died with an error no handler saw)
        is queued again, and the queue is looked at even when nothing finishes."""
        while True:
            time.sleep(min(5.0, self.settings.job_stall_s / 4))
            now = time.monotonic()
            with self._lock:
                for job_id in list(self._running):
                    moved = self._progress_at.get(job_id, now)
                    if now - moved > self.settings.job_stall_s and job_id not in self._stalled:
                        log.warning("job %s made no progress: cancelling it", job_id)
                        self._stalled.add(job_id)
                        self._cancel.add(job_id)
            try:
                self.recover()
            except Exception as exc:  # the database is away: try again next turn
                log.warning("job sweep failed: %s", exc)
