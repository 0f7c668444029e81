"""The sink as Ray runs it: a detached actor whose process is killed with acknowledged
events still in its WAL; Ray restarts it, and every event lands in Parquet once. The
rollups then run through the scheduler, as `serve/app.py` wires them."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import pytest
import ray

from actors import analytics_sink
from actors.analytics_sink import SinkClient
from actors.scheduler import Periodic, Scheduler, SchedulerClient
from cluster import db
from cluster.config import Settings, load_settings
from pipelines.event_files import EventFiles
from pipelines.rollups import run_rollups
from tests.support.analytics import PlayerScript
from tests.support.waiting import eventually

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A namespace of its own: the sink is a named, detached actor.
    settings = load_settings(data_dir=tmp_path, ray_namespace=f"sink-{secrets.token_hex(4)}")
    db.migrate(db.make_engine(settings.resolved_database_url))
    return settings


def _event_ids(settings: Settings) -> list[str]:
    dataset = EventFiles.from_settings(settings).dataset()
    return sorted(dataset.to_table(columns=["event_id"]).column(0).to_pylist())


def test_a_killed_sink_loses_and_doubles_nothing(settings: Settings) -> None:
    client = analytics_sink.start(settings)
    player = PlayerScript(start_ms=int(time.time() * 1000) - 60_000).start().play(15_000).end()
    try:
        result = asyncio.run(client.append(player.rows))
        assert result.accepted == len(player.rows)
        # Killed before its flush, with the events only in the WAL; Ray restarts it.
        ray.kill(client.actor, no_restart=False)

        def answers() -> SinkClient | None:
            found = SinkClient.connect(settings)
            if found is not None:
                ray.get(found.actor.live_viewers.remote("any"), timeout=5)
            return found

        restarted = eventually(
            answers,
            timeout=60,
            interval=0.5,
            ignoring=(ray.exceptions.RayError,),
            what="the sink's restart",
        )
        assert asyncio.run(restarted.append(player.rows)).duplicates == len(player.rows)
        restarted.flush()
        assert _event_ids(settings) == sorted(r["event_id"] for r in player.rows)
    finally:
        ray.kill(client.actor, no_restart=True)


def test_the_scheduler_runs_the_rollups(settings: Settings) -> None:
    scheduler = (
        ray.remote(Scheduler)
        .options(name="scheduler", namespace=settings.ray_namespace, max_concurrency=4, num_cpus=0)
        .remote(settings, [Periodic(name="rollups", every_s=3600, run=run_rollups)])
    )
    client = SchedulerClient(scheduler)
    try:
        view = eventually(
            lambda: (v := client.status("rollups")).finished_at and v,
            timeout=120,
            what="the first rollup run",
        )
        assert view.error is None, view.error
        assert view.result == {"dates": 0, "videos": 0}
    finally:
        ray.kill(scheduler)
