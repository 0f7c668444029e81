"""Nodes die under a transcode, on a cluster of several nodes on this machine: the job
still ends with every segment once, and its ledger tells what happened."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cluster.config import Settings
from cluster.db.models import JobState, VideoStatus
from pipelines.transcode.tasks import reap_orphans
from tests.support.jobs import completed_upload
from tests.support.ray_clusters import own_cluster
from tests.support.scale import (
    FAST,
    JOBS_HOME,
    actor_node,
    assert_each_segment_once,
    attempts,
    chunk_worker_pids,
    encoded_once,
    job,
    leftover_chunk_dirs,
    node_of_pid,
    start_jobs,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


def _pid(path: Path) -> int:
    return int(path.name.split("-")[2])


def test_a_worker_node_killed_mid_transcode(settings: Settings, clip: Path, namespace: str) -> None:
    with own_cluster(namespace=namespace, head={"resources": {JOBS_HOME: 1}}) as cluster:
        cluster.add_node(num_cpus=1)
        cluster.add_node(num_cpus=1)
        jobs = start_jobs(settings)
        handover = completed_upload(settings, clip)
        since = time.time() - 1
        job_id = jobs.submit_upload(**handover, params=FAST)

        # A chunk is being encoded on a worker node: that node dies. Not the first task
        # (the lowest rung of a 0.5 s first segment), which may be done before the kill.
        def busy_node() -> tuple[object, int] | None:
            if not any(
                r.task == "chunk 0" and r.outcome == "done" for r in attempts(settings, job_id)
            ):
                return None
            for pid in chunk_worker_pids(since):
                node = node_of_pid(cluster, pid)
                if node is not None:
                    return node, pid
            return None

        victim, victim_pid = eventually(busy_node, timeout=120, interval=0.02)
        victim_id = victim.node_id
        victims = {victim_pid} | {
            pid for pid in chunk_worker_pids(since) if node_of_pid(cluster, pid) is victim
        }
        cluster.remove_node(victim, allow_graceful=False)

        eventually(lambda: job(settings, job_id).state is JobState.DONE, timeout=240)
        rows = attempts(settings, job_id)
        lost = [r for r in rows if r.task.startswith("chunk") and r.outcome == "lost"]
        assert lost, [(r.task, r.retry, r.outcome, r.error) for r in rows]
        assert all(r.error for r in lost)
        for row in lost:
            again = [
                r
                for r in rows
                if r.task == row.task and r.retry == row.retry + 1 and r.outcome == "done"
            ]
            assert again, f"{row.task} was tried again and finished"
            assert all(r.node_id != victim_id for r in again)
        encoded_once(rows)
        assert_each_segment_once(settings, handover["video_id"])
        assert job(settings, job_id).attempts == 1  # the job itself ran once

        # The killed worker's work folder is removed by the next task on this machine,
        # which reaps first (the driver did at the end of the job, if the worker was
        # already gone then).
        def cleaned() -> bool:
            reap_orphans()
            return not [p for p in leftover_chunk_dirs(since) if _pid(p) in victims]

        eventually(cleaned, timeout=60)


def test_the_job_actors_node_killed(settings: Settings, clip: Path, namespace: str) -> None:
    with own_cluster(namespace=namespace) as cluster:
        homes = [cluster.add_node(num_cpus=1, resources={JOBS_HOME: 1}) for _ in range(2)]
        cluster.add_node(num_cpus=1)
        jobs = start_jobs(settings)
        handover = completed_upload(settings, clip)
        job_id = jobs.submit_upload(**handover, params=FAST)
        eventually(
            lambda: any(r.outcome == "done" for r in attempts(settings, job_id)), timeout=120
        )
        first_home = actor_node(jobs)
        [victim] = [node for node in homes if node.node_id == first_home]
        cluster.remove_node(victim, allow_graceful=False)

        eventually(lambda: job(settings, job_id).state is JobState.DONE, timeout=240)
        assert actor_node(jobs) != first_home  # restarted on the other home
        rows = attempts(settings, job_id)
        runs = [(r.retry, r.outcome) for r in rows if r.task == "job"]
        assert runs == [(0, "lost"), (1, "done")], runs
        encoded_once(rows)  # the first run's chunks were published again, not encoded
        assert_each_segment_once(settings, handover["video_id"])


def test_the_whole_cluster_stopped_then_started_again(
    settings: Settings, clip: Path, namespace: str
) -> None:
    handover = completed_upload(settings, clip)
    with own_cluster(namespace=namespace, head={"resources": {JOBS_HOME: 1}}) as cluster:
        cluster.add_node(num_cpus=1)
        jobs = start_jobs(settings)
        job_id = jobs.submit_upload(**handover, params=FAST)
        eventually(
            lambda: any(r.outcome == "done" for r in attempts(settings, job_id)), timeout=120
        )
    assert job(settings, job_id).state is JobState.RUNNING  # as the cluster left it

    with own_cluster(namespace=namespace, head={"resources": {JOBS_HOME: 1}}) as cluster:
        cluster.add_node(num_cpus=1)
        start_jobs(settings)  # what `vidray up` does: the ledger, not Ray, is the truth
        eventually(lambda: job(settings, job_id).state is JobState.DONE, timeout=240)
    rows = attempts(settings, job_id)
    assert [(r.retry, r.outcome) for r in rows if r.task == "job"] == [(0, "lost"), (1, "done")]
    encoded_once(rows)
    assert_each_segment_once(settings, handover["video_id"])


def test_a_gpu_node_without_a_gpu_encoder_falls_back_to_libx264(
    settings: Settings, clip: Path, namespace: str
) -> None:
    with own_cluster(namespace=namespace, head={"resources": {JOBS_HOME: 1}}) as cluster:
        cluster.add_node(num_cpus=1, num_gpus=1)
        jobs = start_jobs(settings)
        handover = completed_upload(settings, clip)
        job_id = jobs.submit_upload(**handover, params={**FAST, "ladder": [240]})
        eventually(lambda: job(settings, job_id).state is JobState.DONE, timeout=240)
        [board] = jobs.board(video_id=handover["video_id"])
    assert any("GPU tasks requested" in note for note in board.notes), board.notes
    assert any("used libx264" in note for note in board.notes), board.notes
    from cluster import db
    from cluster.db.models import Video

    with db.session_factory(db.make_engine(settings.resolved_database_url))() as session:
        video = session.get(Video, handover["video_id"])
        assert video is not None and video.status is VideoStatus.READY
        assert all(r.codecs.startswith("avc1") for r in video.renditions)
