"""The job actor on a real Ray cluster: state in the database, progress, recovery."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import ray
from sqlalchemy import select

from actors.jobs import Jobs, JobView
from cluster import db
from cluster.bench.sources import make_source
from cluster.config import Settings, load_settings
from cluster.db.models import (
    Job,
    JobState,
    OutboxEvent,
    Upload,
    UploadStatus,
    Video,
    VideoStatus,
)
from cluster.storage import LocalStore
from tests.support.jobs import completed_upload
from tests.support.waiting import eventually

pytestmark = pytest.mark.usefixtures("ray_cluster")
FAST = {"segment_seconds": 2.0, "ladder": [360, 240]}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(
        tmp_path_factory.mktemp("media") / "clip.mp4", width=480, height=270, seconds=8
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(data_dir=tmp_path)
    db.migrate(db.make_engine(settings.resolved_database_url))
    return settings


def _actor(settings: Settings, **options: Any) -> Any:
    return ray.remote(Jobs).options(max_concurrency=16, **options).remote(settings)


def _until(predicate: Callable[[], bool], timeout: float = 120) -> None:
    eventually(predicate, timeout=timeout, interval=0.2)


def _events(settings: Settings, aggregate_id: str, topic: str) -> list[dict[str, Any]]:
    sessions = db.session_factory(db.make_engine(settings.resolved_database_url))
    with sessions() as session:
        return [
            dict(payload)
            for payload in session.scalars(
                select(OutboxEvent.payload)
                .where(OutboxEvent.aggregate_id == aggregate_id, OutboxEvent.topic == topic)
                .order_by(OutboxEvent.id)
            )
        ]


def _row(settings: Settings, model: type[Any], key: str) -> Any:
    with db.session_factory(db.make_engine(settings.resolved_database_url))() as session:
        return session.get(model, key)


def test_job_runs_to_ready_with_progress(settings: Settings, clip: Path) -> None:
    handover = completed_upload(settings, clip)
    video_id = handover["video_id"]
    jobs = _actor(settings)
    job_id = ray.get(jobs.submit_upload.remote(**handover, params=FAST))
    # A retried hand-over (the sweep, a lost answer) gets the same job, not a second one.
    assert ray.get(jobs.submit_upload.remote(**handover, params=FAST)) == job_id
    seen: list[JobView] = []
    version = 0
    while not seen or seen[-1].state not in {"done", "failed"}:
        view = ray.get(jobs.watch.remote(job_id, after_version=version, timeout=30))
        assert view is not None
        version = view.version
        seen.append(view)
    assert seen[-1].state == "done", seen[-1].error
    assert any(v.playable and v.percent < 100 for v in seen), "playable before done"

    video = _row(settings, Video, video_id)
    assert video.status is VideoStatus.READY
    assert round(video.duration) == 8
    assert (video.width, video.height) == (480, 270)
    store = LocalStore(settings.objects_dir)
    assert store.exists(f"hls/{video_id}/master.m3u8")
    sessions = db.session_factory(db.make_engine(settings.resolved_database_url))
    with sessions() as session:
        renditions = session.scalars(select(Video).where(Video.id == video_id)).one().renditions
        # 480x270 sits between the 240p and 360p rungs: it keeps its own size too
        # (tallest first, as the model orders them).
        assert [(r.name, r.width, r.height) for r in renditions] == [
            ("270p", 480, 270),
            ("240p", 426, 240),
        ]
        assert renditions[1].playlist_key == f"hls/{video_id}/240p/index.m3u8"
        topics = session.scalars(
            select(OutboxEvent.topic).where(OutboxEvent.aggregate_id == video_id)
        ).all()
    assert "transcode.done" in topics
    assert _events(settings, video_id, "video.ready")[0]["owner_id"] == handover["owner_id"]


def test_a_file_that_is_not_a_video_is_refused_once_and_deleted(settings: Settings) -> None:
    handover = completed_upload(settings, b"\x00\x01garbage" * 1000)
    jobs = _actor(settings)
    job_id = ray.get(jobs.submit_upload.remote(**handover, params=FAST))
    _until(lambda: _row(settings, Job, job_id).state is JobState.FAILED)
    job = _row(settings, Job, job_id)
    assert job.attempts == 1
    video = _row(settings, Video, handover["video_id"])
    assert video.status is VideoStatus.FAILED
    assert video.failure_reason.startswith("unsupported_format")
    upload = _row(settings, Upload, handover["upload_id"])
    assert upload.status is UploadStatus.FAILED
    assert upload.failure_reason == video.failure_reason
    assert not LocalStore(settings.objects_dir).exists(handover["source_key"])
    [failed] = _events(settings, handover["upload_id"], "upload.failed")
    assert (failed["reason"], failed["owner_id"]) == ("not_a_video", handover["owner_id"])
    assert failed["detail"] == upload.failure_reason
    [video_failed] = _events(settings, handover["video_id"], "video.failed")
    assert video_failed["reason"] == "unsupported_format"


def test_a_video_longer_than_the_minutes_left_is_refused(settings: Settings, clip: Path) -> None:
    handover = completed_upload(settings, clip)
    jobs = _actor(settings)
    job_id = ray.get(jobs.submit_upload.remote(**handover, params={**FAST, "minutes_left": 0.1}))
    _until(lambda: _row(settings, Job, job_id).state is JobState.FAILED)
    video = _row(settings, Video, handover["video_id"])
    assert video.failure_reason.startswith("upload_minutes_per_month: this video is")
    assert "upgrade your plan" in video.failure_reason
    assert _row(settings, Upload, handover["upload_id"]).status is UploadStatus.FAILED
    [failed] = _events(settings, handover["upload_id"], "upload.failed")
    assert failed["reason"] == "over_quota"


def test_unfinished_jobs_resume_after_the_actor_dies(settings: Settings, clip: Path) -> None:
    handover = completed_upload(settings, clip)
    video_id = handover["video_id"]
    jobs = _actor(settings, max_restarts=1)
    job_id = ray.get(jobs.submit_upload.remote(**handover, params=FAST))
    _until(lambda: _row(settings, Job, job_id).state is JobState.RUNNING)
    ray.kill(jobs, no_restart=False)  # the actor restarts and recovers from the database
    _until(lambda: _row(settings, Job, job_id).state is JobState.DONE, timeout=180)
    assert _row(settings, Job, job_id).attempts == 2
    assert _row(settings, Video, video_id).status is VideoStatus.READY


def test_cancelling_a_video_stops_its_job_and_removes_output(
    settings: Settings, clip: Path
) -> None:
    handover = completed_upload(settings, clip)
    video_id = handover["video_id"]
    jobs = _actor(settings)
    job_id = ray.get(jobs.submit_upload.remote(**handover, params=FAST))
    _until(lambda: ray.get(jobs.status.remote(job_id)).state == "running", timeout=60)
    assert ray.get(jobs.cancel_video.remote(video_id)) == 1
    _until(lambda: _row(settings, Job, job_id).state is JobState.CANCELLED)
    store = LocalStore(settings.objects_dir)
    assert list(store.list(f"hls/{video_id}/")) == []
