"""Ray's GCS restarted mid-transcode, with its state on the local Redis (GCS fault
tolerance): chunks in flight finish (none is lost or tried again), the detached job actor
answers again, and an upload made afterwards is transcoded.

While the GCS is down, finished chunks wait to report: they do once it is back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cluster.config import Settings
from cluster.db.models import JobState
from tests.support.jobs import completed_upload
from tests.support.ray_clusters import FAST_FAILURE_DETECTION, own_cluster
from tests.support.scale import (
    FAST,
    JOBS_HOME,
    assert_each_segment_once,
    attempts,
    chunk_worker_pids,
    encoded_once,
    job,
    start_jobs,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


@pytest.fixture
def gcs_storage(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """GCS state on the test Redis, under a namespace of this test's own (as Ray's own
    fault-tolerance tests do); its keys are deleted afterwards."""
    import redis

    address = urlsplit(redis_url)
    monkeypatch.setenv("RAY_REDIS_ADDRESS", f"{address.hostname}:{address.port or 6379}")
    storage = f"vidray-gcs-{uuid.uuid4().hex[:8]}"
    yield storage
    # Ray writes to database 0 of that server, whatever database the URL names.
    client = redis.Redis(host=address.hostname or "127.0.0.1", port=address.port or 6379)
    for key in client.scan_iter(match=f"RAY{storage}@*"):
        client.delete(key)


def test_gcs_restarted_mid_transcode(
    settings: Settings, clip: Path, namespace: str, gcs_storage: str
) -> None:
    system = {
        **FAST_FAILURE_DETECTION,
        "external_storage_namespace": gcs_storage,
        "gcs_rpc_server_reconnect_timeout_s": 120,
    }
    head = {"resources": {JOBS_HOME: 1}, "_system_config": system}
    with own_cluster(namespace=namespace, head=head) as cluster:
        cluster.add_node(num_cpus=1)
        cluster.add_node(num_cpus=1)
        jobs = start_jobs(settings)
        first = completed_upload(settings, clip)
        since = time.time() - 1
        job_id = jobs.submit_upload(**first, params=FAST)
        eventually(lambda: chunk_worker_pids(since), timeout=120, interval=0.02)

        gcs = cluster.head_node.all_processes["gcs_server"][0].process
        cluster.head_node.kill_gcs_server()
        gcs.wait()  # gone: the chunks in flight run on without it
        cluster.head_node.start_gcs_server()

        eventually(lambda: job(settings, job_id).state is JobState.DONE, timeout=240)
        rows = attempts(settings, job_id)
        assert not [r for r in rows if r.outcome in {"lost", "failed"}], rows
        encoded_once(rows)
        assert_each_segment_once(settings, first["video_id"])

        # The detached actor answers, found by name as every process finds it.
        import ray

        from actors.jobs import JobsClient

        found = JobsClient(ray.get_actor("jobs", namespace=settings.ray_namespace))
        assert [j.state for j in found.board(video_id=first["video_id"])] == ["done"]
        second = completed_upload(settings, clip)
        again = found.submit_upload(**second, params=FAST)
        eventually(lambda: job(settings, again).state is JobState.DONE, timeout=240)
        assert_each_segment_once(settings, second["video_id"])
