"""What the scale-out tests look at: the job actor placed on a chosen node, the ledger,
the published playlists, and the work folders of chunk tasks on this machine."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import psutil

from actors.jobs import Jobs, JobsClient
from cluster import db
from cluster.config import Settings
from cluster.db.models import Job, JobAttempt
from cluster.storage import LocalStore

FAST = {"segment_seconds": 2.0, "ladder": [360, 240]}
# A custom resource that says where the job actor may live.
JOBS_HOME = "jobs_home"
_CHUNK_DIR = re.compile(r"^vidray-chunk-(\d+)-")


def start_jobs(settings: Settings) -> JobsClient:
    """The job actor as `vidray up` starts it (detached, restarted whenever it dies), held
    to the nodes that offer `JOBS_HOME`."""
    import ray

    actor = (
        ray.remote(Jobs)
        .options(
            name="jobs",
            namespace=settings.ray_namespace,
            lifetime="detached",
            max_restarts=-1,
            max_concurrency=64,
            num_cpus=0,
            resources={JOBS_HOME: 0.001},
        )
        .remote(settings)
    )
    return JobsClient(actor)


def actor_node(client: JobsClient) -> str:
    """The id of the node the job actor runs on now."""
    import ray

    def where(_: Any) -> str:
        return ray.get_runtime_context().get_node_id()

    node: str = ray.get(client.actor.__ray_call__.remote(where))
    return node


def job(settings: Settings, job_id: str) -> Job:
    with db.session_factory(db.make_engine(settings.resolved_database_url))() as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def attempts(settings: Settings, job_id: str) -> list[JobAttempt]:
    from sqlalchemy import select

    with db.session_factory(db.make_engine(settings.resolved_database_url))() as session:
        return list(
            session.scalars(
                select(JobAttempt)
                .where(JobAttempt.job_id == job_id)
                .order_by(JobAttempt.started_at, JobAttempt.id)
            ).all()
        )


def encoded_once(rows: list[JobAttempt]) -> list[tuple[int, tuple[str, ...]]]:
    """Every (chunk, rungs) a done try produced; asserts none was produced twice."""
    keys = [
        (row.output["chunk"], tuple(r["name"] for r in row.output["rungs"]))
        for row in rows
        if row.outcome == "done" and row.output is not None
    ]
    assert len(keys) == len(set(keys)), f"chunks encoded twice: {sorted(keys)}"
    return keys


def assert_each_segment_once(settings: Settings, video_id: str) -> int:
    """Every media playlist names each segment once, and exactly the segments stored
    under its rung; returns how many segments there are."""
    store = LocalStore(settings.objects_dir)
    prefix = f"hls/{video_id}/"
    total = 0
    for key in [o.key for o in store.list(prefix) if o.key.endswith("/index.m3u8")]:
        rung = key.removesuffix("index.m3u8")
        text = store.get_bytes(key).decode()
        named = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert len(named) == len(set(named)), f"{key} names a segment twice"
        stored = {o.key.removeprefix(rung) for o in store.list(rung) if not o.key.endswith(".m3u8")}
        assert set(named) == stored, (key, sorted(named), sorted(stored))
        assert "#EXT-X-ENDLIST" in text
        total += len(named)
    assert total > 0
    return total


def chunk_worker_pids(since: float) -> set[int]:
    """Process ids of chunk tasks that made a work folder since `since` (epoch s)."""
    found = set()
    for path in Path(tempfile.gettempdir()).glob("vidray-chunk-*"):
        match = _CHUNK_DIR.match(path.name)
        try:
            if match and path.stat().st_mtime >= since:
                found.add(int(match.group(1)))
        except FileNotFoundError:  # finished and removed meanwhile
            continue
    return found


def leftover_chunk_dirs(since: float) -> list[Path]:
    return [
        p
        for p in Path(tempfile.gettempdir()).glob("vidray-chunk-*")
        if p.exists() and p.stat().st_mtime >= since
    ]


def node_of_pid(cluster: Any, pid: int) -> Any:
    """The `Cluster` worker node whose raylet started process `pid`, or None."""
    raylets = {node.all_processes["raylet"][0].process.pid: node for node in cluster.worker_nodes}
    try:
        process: psutil.Process | None = psutil.Process(pid)
        while process is not None:
            if process.pid in raylets:
                return raylets[process.pid]
            process = process.parent()
    except psutil.NoSuchProcess:
        return None
    return None
