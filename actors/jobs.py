"""Transcode jobs: durable state in the database, run on Ray, resumed after a restart.

One detached actor, `Jobs` (named "jobs"), is the only writer of job rows. It runs each
job's task-graph driver in a thread of its own, picks the next job fairly (the owner
with the fewest running jobs goes first, then the oldest job), publishes progress to
watchers, and on start re-queues every job a previous incarnation left queued or running.
Callers hold a `JobsClient` (typed, one actor call per method, `actors/jobs_client.py`,
exported here too), never the raw handle.

A completed upload comes in through `submit_upload`. Its job probes the file once (in a
Ray task, hardened: uploads are hostile), checks it against what the owner's tier has
left, records the video's duration and size, and hands the probe on to the transcode.
Which fields each side writes, so that each has one writer:

    serve/uploads   video row created; status UPLOADING -> PROCESSING; source_key
    jobs            duration, width, height; status -> READY or FAILED; renditions,
                    poster, storyboard; a refused upload's status and bytes
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import func, select

from actors import job_ledger as ledger
from actors.dispatcher_client import DispatcherWaker
from actors.fair_share import Queued, pick_next
from actors.job_board import JobBoard
from actors.jobs_client import ACTOR_NAME, JobsClient, JobView
from actors.singleton import start_singleton
from cluster import db, metrics
from cluster.config import Settings
from cluster.db.models import (
    Job,
    JobState,
    Rendition,
    Upload,
    UploadStatus,
    Video,
    VideoStatus,
    utcnow,
)
from cluster.errors import StorageError
from cluster.events import emit, wake_on_commit
from cluster.storage import open_store
from pipelines import transcode as graph
from pipelines.errors import SourceRejected, TranscodeCancelled, TranscodeFailed
from pipelines.media import MediaInfo

log = logging.getLogger(__name__)

UNFINISHED = (JobState.QUEUED, JobState.RUNNING)
# A refusal for one of these limits is `upload.failed` with reason "over_quota"; any
# other (a probe's reason) is "not_a_video".
QUOTA_LIMITS = frozenset(
    {"upload_minutes_per_month", "max_upload_bytes", "storage_quota_bytes", "max_duration"}
)
# VIDRAY_TRANSCODE_PER_TITLE -> Options.per_title (None: by the video's length)
_PER_TITLE: dict[str, bool | None] = {"auto": None, "on": True, "off": False}


class Refused(Exception):
    """The upload cannot become a video: not media we accept, or over the tier's limit.
    `reason` is machine-readable (a probe's reason, or the limit's name)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


class Jobs(JobBoard):
    """The job actor's logic; `start` makes it the cluster's one detached actor."""

    def __init__(self, settings: Settings, *, max_running: int = 2) -> None:
        self.settings = settings
        self.engine = db.make_engine(settings.resolved_database_url)
        self.sessions = db.session_factory(self.engine)
        wake_on_commit(self.sessions, DispatcherWaker(settings))
        self.open_store = functools.partial(open_store, settings)
        self.max_running = max_running
        self._lock = threading.Condition()
        self._running: dict[str, str] = {}  # job id -> owner id
        self._cancel: set[str] = set()
        self._views: dict[str, JobView] = {}
        self._progress_at: dict[str, float] = {}  # job id -> when it last moved (monotonic)
        self._stalled: set[str] = set()
        self.recover()
        threading.Thread(target=self._watch_stalls, name="job-stalls", daemon=True).start()

    # -- public API (actor methods) ---------------------------------------------------

    def submit_upload(
        self,
        *,
        upload_id: str,
        video_id: str,
        owner_id: str,
        source_key: str,
        params: dict[str, Any],
    ) -> str:
        """Queue the transcode of a completed upload; returns the job id. Idempotent: a
        video that already has a job gets that job's id back (a retried completion)."""
        with self.sessions.begin() as session:
            existing = session.scalar(
                select(Job.id).where(Job.video_id == video_id).order_by(Job.created_at.desc())
            )
            if existing is not None:
                return existing
            job = Job(
                video_id=video_id,
                owner_id=owner_id,
                params={"source_key": source_key, "upload_id": upload_id, **params},
            )
            session.add(job)
            session.flush()
        metrics.job_submitted(priority=params.get("priority", "normal"))
        # Watchers hear of a change only once it is committed.
        self._publish(job)
        self._schedule()
        return job.id

    def status(self, job_id: str) -> JobView | None:
        with self._lock:
            view = self._views.get(job_id)
        if view is not None:
            return view
        with self.sessions() as session:
            job = session.get(Job, job_id)
            return None if job is None else self._view(job, playable=False, version=0)

    def watch(self, job_id: str, *, after_version: int, timeout: float = 25.0) -> JobView | None:
        """Block until the job's view is newer than `after_version` (long poll)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                view = self._views.get(job_id)
                if view is not None and view.version > after_version:
                    return view
                left = deadline - time.monotonic()
                if left <= 0:
                    return view
                self._lock.wait(left)

    def latest(self, video_id: str) -> JobView | None:
        """The newest job of a video (what its owner follows), or None."""
        with self.sessions() as session:
            job_id = session.scalar(
                select(Job.id)
                .where(Job.video_id == video_id)
                .order_by(Job.created_at.desc(), Job.id.desc())
                .limit(1)
            )
        return None if job_id is None else self.status(job_id)

    def cancel_video(self, video_id: str) -> int:
        """Cancel every unfinished job of a video (it is being deleted)."""
        with self.sessions.begin() as session:
            jobs = session.scalars(
                select(Job).where(Job.video_id == video_id, Job.state.in_(UNFINISHED))
            ).all()
            idle = [job for job in jobs if job.id not in self._running]
            self._cancel.update(job.id for job in jobs if job.id in self._running)
            for job in idle:
                job.state, job.finished_at = JobState.CANCELLED, utcnow()
                metrics.job_finished(status="cancelled", reason=None)
        for job in idle:
            self._publish(job)
        return len(jobs)

    def recover(self) -> int:
        """Re-queue what a previous incarnation left unfinished, then schedule it."""
        # Under the lock: a run leaves `_running` only after its end is committed, so a
        # job read as unfinished and not in `_running` here really has no run (read
        # without it, a run ending meanwhile would be queued again over its end).
        with self._lock, self.sessions.begin() as session:
            jobs = session.scalars(select(Job).where(Job.state.in_(UNFINISHED))).all()
            requeued = [job for job in jobs if job.id not in self._running]
            for job in requeued:
                job.state, job.stage, job.percent = JobState.QUEUED, "queued", 0.0
        for job in requeued:
            self._publish(job)
        self._schedule()
        return len(jobs)

    def wait_idle(self, timeout: float = 300.0) -> bool:
        """Wait until no job runs or waits (tests and `vidray` shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.sessions() as session:
                pending = session.scalars(
                    select(Job.id).where(Job.state.in_(UNFINISHED)).limit(1)
                ).first()
            if pending is None and not self._running:
                return True
            time.sleep(0.2)
        return False

    # -- scheduling -------------------------------------------------------------------

    def _schedule(self) -> None:
        with self._lock:
            while len(self._running) < self.max_running:
                with self.sessions() as session:
                    rows = session.execute(
                        select(Job.id, Job.owner_id, Job.created_at)
                        .where(Job.state == JobState.QUEUED)
                        .order_by(Job.created_at)
                        .limit(200)
                    ).all()
                queued = [Queued(*row) for row in rows if row[0] not in self._running]
                chosen = pick_next(queued, list(self._running.values()))
                if chosen is None:
                    break
                self._running[chosen.id] = chosen.owner_id
                threading.Thread(
                    target=self._run, args=(chosen.id,), name=f"job-{chosen.id}", daemon=True
                ).start()
            metrics.queue_depth(priority="normal", depth=self._queued())

    def _queued(self) -> int:
        with self.sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Job)
                    # Picked jobs stay queued until their thread marks them running.
                    .where(Job.state == JobState.QUEUED, Job.id.not_in(list(self._running)))
                )
                or 0
            )

    def _run(self, job_id: str) -> None:
        try:
            self._execute(job_id)
        finally:
            with self._lock:
                self._running.pop(job_id, None)
                self._cancel.discard(job_id)
                self._stalled.discard(job_id)
                self._progress_at.pop(job_id, None)
            self._schedule()

    def _execute(self, job_id: str) -> None:
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            if job is None or job.state != JobState.QUEUED:
                return
            job.state, job.stage, job.started_at = JobState.RUNNING, "probing", utcnow()
            job.attempts += 1
            params = dict(job.params)
            video_id, retry = job.video_id, job.attempts - 1
            metrics.queue_wait(priority=params.get("priority", "normal"), since=job.created_at)
        self._progress_at[job_id] = time.monotonic()
        self._publish(job)
        import ray  # the actor runs in Ray: this is where its node is known

        ledger.open_run(
            self.sessions,
            job_id=job_id,
            retry=retry,
            node_id=ray.get_runtime_context().get_node_id(),
        )
        shape = params.get("shape") or {}
        options = graph.Options(
            ladder=tuple(params["ladder"]) if params.get("ladder") else None,
            max_height=params.get("max_height"),
            segment_seconds=float(params.get("segment_seconds", 6.0)),
            segments_per_chunk=shape.get("segments_per_chunk"),
            tail_chunks=shape.get("tail_chunks"),
            per_title=_PER_TITLE[self.settings.transcode_per_title],
        )
        last_write = [0.0]
        chunks = ledger.ChunkLedger(self.sessions, job_id)

        def attempt(a: graph.Attempt) -> None:
            self._progress_at[job_id] = time.monotonic()
            chunks.record(a)

        def progress(p: graph.Progress) -> None:
            # Watchers get every update; the database a few per second at most.
            self._progress_at[job_id] = time.monotonic()
            self._publish_progress(job_id, p)
            now = time.monotonic()
            if p.stage == "encoding" and now - last_write[0] < 0.5 and p.shape is None:
                return
            last_write[0] = now
            with self.sessions.begin() as session:
                job = session.get(Job, job_id)
                if job is not None:
                    job.stage, job.percent = p.stage, round(p.percent, 1)
                    job.notes = list(p.notes)
                    if p.shape is not None and "shape" not in job.params:
                        # A resumed run must cut the source into the same chunks.
                        job.params = {**job.params, "shape": p.shape}

        source = graph.Source(key=params["source_key"])
        cancelled = lambda: job_id in self._cancel  # noqa: E731 (read by two calls)
        try:
            info = graph.probe_source(
                open_store=self.open_store, source=source, cancelled=cancelled
            )
            self._admit(video_id=video_id, info=info, params=params)
            done = (
                ledger.done_chunks(self.sessions, job_id, self.open_store(), f"hls/{video_id}/")
                if shape
                else {}
            )
            result = graph.transcode(
                open_store=self.open_store,
                source=source,
                probe=info,
                prefix=f"hls/{video_id}/",
                image_prefix=f"img/{video_id}/",
                options=options,
                progress=progress,
                cancelled=cancelled,
                on_attempt=attempt,
                done_chunks=done,
                chunk_retries=self.settings.job_chunk_retries,
            )
        except SourceRejected as exc:
            self._refuse(job_id, params, Refused(exc.reason, str(exc)))
        except Refused as exc:
            self._refuse(job_id, params, exc)
        except TranscodeCancelled:
            if job_id in self._stalled:
                self._stall(job_id, stalls=int(params.get("stalls", 0)))
            else:
                self._finish(job_id, JobState.CANCELLED, error=None)
        except TranscodeFailed as exc:
            self._finish(job_id, JobState.FAILED, error=str(exc), reason=exc.reason)
        except Exception as exc:  # a bug must fail the job, not leave it running forever
            self._finish(job_id, JobState.FAILED, error=f"internal error: {exc!r}")
        else:
            self._complete(job_id, result)

    def _admit(self, *, video_id: str, info: MediaInfo, params: dict[str, Any]) -> None:
        """Check the probed upload against the owner's monthly minutes, then record its
        duration and display size: the video shows them while it transcodes."""
        minutes_left = params.get("minutes_left")
        if minutes_left is not None and info.duration / 60 > float(minutes_left):
            raise Refused(
                "upload_minutes_per_month",
                f"this video is {info.duration / 60:.0f} minutes long and your tier has "
                f"{max(0, float(minutes_left)):.0f} upload minutes left this month: wait for "
                "next month or upgrade your plan",
            )
        with self.sessions.begin() as session:
            video = session.get(Video, video_id)
            if video is not None:
                video.duration = info.duration
                if info.video is not None:
                    video.width = info.video.display_width
                    video.height = info.video.display_height

    def _refuse(self, job_id: str, params: dict[str, Any], refused: Refused) -> None:
        """A refused upload: the job and its video fail with the reason, the upload is
        marked failed and its bytes are deleted (nothing can ever be made of them)."""
        upload_id = params.get("upload_id")
        if upload_id is not None:
            with self.sessions.begin() as session:
                upload = session.get(Upload, upload_id)
                if upload is not None:
                    upload.status, upload.failure_reason = UploadStatus.FAILED, str(refused)
                    emit(
                        session,
                        "upload.failed",
                        upload.id,
                        owner_id=upload.owner_id,
                        video_id=upload.video_id,
                        reason="over_quota" if refused.reason in QUOTA_LIMITS else "not_a_video",
                        detail=str(refused),
                    )
            try:
                self.open_store().delete(params["source_key"])
            except StorageError as exc:  # the upload sweep deletes what is left
                log.warning("could not delete refused upload %s: %s", upload_id, exc)
        self._finish(job_id, JobState.FAILED, error=str(refused), reason=refused.reason)

    def _finish(
        self, job_id: str, state: JobState, *, error: str | None, reason: str | None = None
    ) -> None:
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            if job is None:
                return
            job.state, job.error, job.finished_at = state, error, utcnow()
            job.stage = state.value
            metrics.job_finished(status=state.value, reason=reason)
            ledger.close_runs(session, job_id, outcome=reason or state.value, error=error)
            video = session.get(Video, job.video_id)
            if state == JobState.FAILED and video is not None:
                video.status, video.failure_reason = VideoStatus.FAILED, error
                emit(session, "transcode.failed", video.id, reason=reason, error=error)
                emit(
                    session,
                    "video.failed",
                    video.id,
                    owner_id=video.owner_id,
                    reason=reason or "internal",
                    detail=error,
                )
        self._publish(job)

    def _complete(self, job_id: str, result: graph.Result) -> None:
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            if job is None:
                return
            job.state, job.stage, job.percent = JobState.DONE, "done", 100.0
            ledger.close_runs(session, job_id, outcome="done")
            job.finished_at, job.notes = utcnow(), list(result.notes)
            metrics.job_finished(status="done", reason=None)
            metrics.first_playable(result.first_playable_s)
            video = session.get(Video, job.video_id)
            if video is not None:
                video.status = VideoStatus.READY
                video.poster_key, video.storyboard_key = result.poster_key, result.storyboard_key
                rungs = {rung.name: rung for rung in result.plan.rungs}
                video.renditions = [
                    Rendition(
                        name=r["name"],
                        width=r["width"],
                        height=r["height"],
                        bandwidth=rungs[r["name"]].maxrate,
                        average_bandwidth=rungs[r["name"]].bitrate,
                        codecs=r["codecs"],
                        playlist_key=r["playlist_key"],
                    )
                    for r in result.renditions
                ]
                emit(
                    session,
                    "transcode.done",
                    video.id,
                    master_key=result.master_key,
                    seconds=round(result.total_s, 2),
                )
                emit(
                    session,
                    "video.ready",
                    video.id,
                    owner_id=video.owner_id,
                    visibility=video.visibility.value,
                    title=video.title,
                )
        self._publish(job, playable=True)

    # -- views --------------------------------------------------------------------------

    def _view(self, job: Job, *, playable: bool, version: int) -> JobView:
        return JobView(
            id=job.id,
            video_id=job.video_id,
            state=job.state.value,
            stage=job.stage,
            percent=float(job.percent or 0.0),
            playable=playable,
            error=job.error,
            notes=tuple(job.notes or ()),
            version=version,
        )

    def _publish_progress(self, job_id: str, p: graph.Progress) -> None:
        with self._lock:
            view = self._views.get(job_id)
            if view is None:
                return
            self._views[job_id] = replace(
                view,
                stage=p.stage,
                percent=round(p.percent, 1),
                playable=view.playable or p.playable,
                notes=tuple(p.notes),
                version=view.version + 1,
            )
            self._lock.notify_all()

    def _publish(self, job: Job, *, playable: bool = False) -> None:
        with self._lock:
            previous = self._views.get(job.id)
            playable = playable or bool(previous and previous.playable)
            version = (previous.version if previous else 0) + 1
            self._views[job.id] = self._view(job, playable=playable, version=version)
            self._lock.notify_all()


def view_dict(view: JobView) -> dict[str, Any]:
    return asdict(view)


def start(settings: Settings) -> JobsClient:
    """The cluster's one job actor, created if missing (restarted by Ray if it dies)."""
    # Watchers long-poll; job drivers run in threads of their own.
    return JobsClient(
        start_singleton(Jobs, settings, settings=settings, name=ACTOR_NAME, max_concurrency=64)
    )


__all__ = ["ACTOR_NAME", "JobView", "Jobs", "JobsClient", "start", "view_dict"]
