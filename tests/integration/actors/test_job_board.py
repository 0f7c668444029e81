"""The job board on the job actor: every try in the ledger, filters and pages, retry,
cancel, bulk retry, and a stalled run cancelled, retried once, then failed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from actors.jobs import Jobs, JobsClient
from cluster import db
from cluster.bench.sources import make_source
from cluster.config import Settings, load_settings
from cluster.db.models import Job, JobState, Video, VideoStatus
from cluster.errors import InvalidInput
from tests.support.jobs import completed_upload
from tests.support.waiting import eventually

pytestmark = pytest.mark.usefixtures("ray_cluster")
FAST = {"segment_seconds": 2.0, "ladder": [240]}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(
        tmp_path_factory.mktemp("media") / "clip.mp4", width=320, height=180, seconds=6
    )


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    settings = load_settings(data_dir=tmp_path, **overrides)
    db.migrate(db.make_engine(settings.resolved_database_url))
    return settings


def _client(settings: Settings) -> JobsClient:
    # No CPU: the actor must start while a test holds every core.
    return JobsClient(ray.remote(Jobs).options(max_concurrency=16, num_cpus=0).remote(settings))


def _state(settings: Settings, job_id: str) -> JobState:
    with db.session_factory(db.make_engine(settings.resolved_database_url))() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.state


def _submit(jobs: JobsClient, handover: dict[str, str]) -> str:
    return jobs.submit_upload(**handover, params=FAST)


class Gate:
    """Opened by a file: a task blocked in `ray.get` would hand its cores back."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def release(self) -> None:
        self.path.touch()


@pytest.fixture
def cores_taken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    """Every core of the test cluster held by a task that waits: nothing else can run."""
    gate = Gate(tmp_path_factory.mktemp("gate") / "open")

    @ray.remote(num_cpus=int(ray.cluster_resources()["CPU"]))
    def hold(path: str) -> None:
        import time

        while not Path(path).exists():
            time.sleep(0.1)

    held = hold.remote(str(gate.path))
    eventually(lambda: ray.available_resources().get("CPU", 0) == 0, timeout=60)
    yield gate
    gate.release()
    ray.get(held)


def test_the_board_shows_every_try_and_filters(tmp_path: Path, clip: Path) -> None:
    settings = _settings(tmp_path)
    jobs = _client(settings)
    first = completed_upload(settings, clip)
    second = completed_upload(settings, clip)
    one, two = _submit(jobs, first), _submit(jobs, second)
    assert jobs.wait_idle(timeout=240)

    [done] = jobs.board(video_id=first["video_id"])
    assert (done.id, done.state, done.percent, done.runs) == (one, "done", 100.0, 1)
    assert done.eta_s is None
    runs = [a for a in done.attempts if a.task == "job"]
    assert [(a.retry, a.outcome) for a in runs] == [(0, "done")]
    chunks = [a for a in done.attempts if a.task.startswith("chunk")]
    assert chunks, "each chunk's try is in the ledger"
    assert all(a.outcome == "done" and a.node_id and a.finished_at for a in chunks)

    assert [j.id for j in jobs.board(owner_id=second["owner_id"])] == [two]
    assert {j.id for j in jobs.board(status="done")} >= {one, two}
    assert jobs.board(status="failed") == []
    page = jobs.board(first=1)
    assert len(page) == 1
    assert [j.id for j in jobs.board(first=1, after=page[0].id)] != [page[0].id]
    with pytest.raises(InvalidInput, match="not a job state"):
        jobs.board(status="lost")
    with pytest.raises(InvalidInput, match="only failed or cancelled"):
        jobs.retry(one)


def test_a_queued_job_is_cancelled_then_retried(
    tmp_path: Path, clip: Path, cores_taken: Gate
) -> None:
    settings = _settings(tmp_path)
    jobs = _client(settings)
    handover = completed_upload(settings, clip)
    job_id = _submit(jobs, handover)
    assert jobs.cancel(job_id).id == job_id  # a run already begun stops at its next look
    eventually(lambda: _state(settings, job_id) is JobState.CANCELLED, timeout=60)
    cores_taken.release()
    retried = jobs.retry(job_id)
    assert retried.state in {"queued", "running"}
    eventually(lambda: _state(settings, job_id) is JobState.DONE, timeout=240)


def test_a_stalled_job_is_retried_once_then_failed_as_stalled(
    tmp_path: Path, clip: Path, cores_taken: Gate
) -> None:
    # The probe cannot start while every core is held: the run makes no progress.
    settings = _settings(tmp_path, job_stall_s=2.0)
    jobs = _client(settings)
    handover = completed_upload(settings, clip)
    job_id = _submit(jobs, handover)
    eventually(lambda: _state(settings, job_id) is JobState.FAILED, timeout=120)

    [job] = jobs.board(video_id=handover["video_id"])
    assert job.error is not None and job.error.startswith("stalled")
    runs = [(a.retry, a.outcome) for a in job.attempts if a.task == "job"]
    assert runs == [(0, "stalled"), (1, "stalled")]
    with db.session_factory(db.make_engine(settings.resolved_database_url))() as session:
        video = session.get(Video, handover["video_id"])
        assert video is not None and video.status is VideoStatus.FAILED

    # Bulk retry queues it again; an actor with a patient stall limit (the default),
    # started once the cluster has room again, finds it queued and runs it to the end.
    assert job_id in jobs.retry_failed(owner_id=handover["owner_id"])
    ray.kill(jobs.actor)
    cores_taken.release()
    patient = _client(_settings(tmp_path))
    eventually(lambda: _state(settings, job_id) is JobState.DONE, timeout=240)
    with db.session_factory(db.make_engine(settings.resolved_database_url))() as session:
        video = session.get(Video, handover["video_id"])
        assert video is not None and video.status is VideoStatus.READY
    # Two stalled runs, perhaps one the killed actor had begun, then the one that ended.
    runs = [a.outcome for a in patient.board(video_id=job.video_id)[0].attempts if a.task == "job"]
    assert runs[:2] == ["stalled", "stalled"] and runs[-1] == "done"
