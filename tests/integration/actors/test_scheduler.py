"""The scheduler actor on a real Ray cluster: periodic work runs as Ray tasks, every run
is recorded in the database, and a run missed while the cluster was down runs once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import ray
from sqlalchemy import select

from actors.scheduler import Periodic, Scheduler, SchedulerClient
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import OutboxEvent, ScheduledRun, Upload, UploadStatus, User
from cluster.storage import LocalStore
from serve.uploads.sweep import sweep_uploads
from tests.support.waiting import eventually

pytestmark = pytest.mark.usefixtures("ray_cluster")
DAY = 24 * 3600.0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(data_dir=tmp_path)
    db.migrate(db.make_engine(settings.resolved_database_url))
    return settings


def _sessions(settings: Settings) -> Any:
    return db.session_factory(db.make_engine(settings.resolved_database_url))


def _expired_upload(settings: Settings) -> str:
    """An upload whose client went away two days ago, with its bytes still stored."""
    with _sessions(settings).begin() as session:
        user = User(email="gone@example.com", handle="gone")
        session.add(user)
        session.flush()
        upload = Upload(
            owner_id=user.id,
            length=100,
            offset=10,
            storage_key="raw/abandoned",
            expires_at=datetime.now(UTC) - timedelta(days=2),
        )
        session.add(upload)
        session.flush()
        upload_id = upload.id
    LocalStore(settings.objects_dir).put_bytes("raw/abandoned", b"0123456789")
    return upload_id


def _last_run(settings: Settings, name: str, *, ago_s: float, runs: int) -> None:
    with _sessions(settings).begin() as session:
        started = datetime.now(UTC) - timedelta(seconds=ago_s)
        session.add(ScheduledRun(name=name, started_at=started, finished_at=started, runs=runs))


def _row(settings: Settings, name: str) -> ScheduledRun | None:
    with _sessions(settings)() as session:
        row: ScheduledRun | None = session.get(ScheduledRun, name)
        return row


def _start(settings: Settings, work: list[Periodic]) -> SchedulerClient:
    return SchedulerClient(ray.remote(Scheduler).options(max_concurrency=4).remote(settings, work))


def test_a_run_missed_while_down_runs_once_at_start_and_not_early_again(
    settings: Settings,
) -> None:
    upload_id = _expired_upload(settings)
    # The cluster was down for ten intervals; a sweep that ran a minute ago is not due.
    _last_run(settings, "upload-sweep", ago_s=10 * DAY, runs=3)
    _last_run(settings, "recent", ago_s=60, runs=1)
    # "recent" comes first: by the time the overdue sweep has finished, the scheduler
    # has already looked at it, so its run count below is final for this pass.
    scheduler = _start(
        settings,
        [
            Periodic(name="recent", every_s=DAY, run=sweep_uploads),
            Periodic(name="upload-sweep", every_s=DAY, run=sweep_uploads),
        ],
    )
    row = eventually(
        lambda: (r := _row(settings, "upload-sweep")) and r.finished_at and r.runs > 3 and r,
        timeout=60,
        what="the overdue sweep",
    )
    assert row.runs == 4, "ten missed runs make one run, not ten"
    assert row.error is None
    assert scheduler.status("upload-sweep").result == 1  # the task's answer: one reclaimed
    with _sessions(settings)() as session:
        assert session.get(Upload, upload_id).status is UploadStatus.EXPIRED  # type: ignore[union-attr]
        expired = session.scalars(
            select(OutboxEvent.payload).where(
                OutboxEvent.aggregate_id == upload_id, OutboxEvent.topic == "upload.failed"
            )
        ).all()
    assert [event["reason"] for event in expired] == ["expired"]
    assert not LocalStore(settings.objects_dir).exists("raw/abandoned")
    recent = _row(settings, "recent")
    assert recent is not None and recent.runs == 1, "work that is not due does not run"
    # The next sweep is a whole interval after this one, not sooner.
    due = ray.get(scheduler.actor.next_due.remote("upload-sweep"))
    assert due - datetime.now(UTC) > timedelta(seconds=DAY - 120)


def test_a_failed_run_is_recorded_and_the_scheduler_goes_on(settings: Settings) -> None:
    # `len(settings)` raises TypeError inside the Ray task, as a bug in periodic work would.
    scheduler = _start(settings, [Periodic(name="broken", every_s=DAY, run=len)])
    view = eventually(
        lambda: (v := scheduler.status("broken")).finished_at and v, timeout=60, what="a run"
    )
    assert view.runs == 1
    assert view.error is not None and "TypeError" in view.error
    again = scheduler.run_now("broken")  # the actor still answers, and runs it again
    assert again.runs == 2 and again.error is not None
