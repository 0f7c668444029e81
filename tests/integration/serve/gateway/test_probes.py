"""/livez and /readyz: liveness is the process alone; readiness is every component, the
job actor and the scheduler included where the gateway hands uploads to them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from actors.jobs_client import JobsClient
from cluster.config import Settings, load_settings
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from tests.support.actors import Standing


def _client(settings: Settings, *, jobs: JobsClient | None = None) -> httpx.AsyncClient:
    app = create_app(Gateway(Platform(settings, jobs=jobs)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vidray")


@pytest.mark.usefixtures("ray_cluster")
async def test_livez_answers_while_readyz_names_what_is_down(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:9/0")
    async with _client(settings) as client:
        live = await client.get("/livez")
        ready = await client.get("/readyz")
        health = await client.get("/healthz")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["components"]["kv"]["ok"] is False
    assert health.status_code == 503  # /healthz keeps its meaning: readiness


@pytest.mark.usefixtures("ray_cluster")
async def test_readyz_waits_for_the_job_actor_and_the_scheduler(tmp_path: Path) -> None:
    import ray

    namespace = f"probes-{uuid.uuid4().hex[:8]}"
    settings = load_settings(data_dir=tmp_path, ray_namespace=namespace)
    stand: Any = ray.remote(num_cpus=0)(Standing)
    jobs = stand.options(name="jobs", namespace=namespace).remote()
    ray.get(jobs.__ray_ready__.remote())
    async with _client(settings, jobs=JobsClient(jobs)) as client:
        missing = await client.get("/readyz")
        assert missing.status_code == 503
        assert (
            "'scheduler' actor is not running" in missing.json()["components"]["actors"]["detail"]
        )
        scheduler = stand.options(name="scheduler", namespace=namespace).remote()
        # A starting actor is rightly "not ready": wait for it as a rollout would.
        ray.get(scheduler.__ray_ready__.remote())
        ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["components"]["actors"] == {"ok": True, "detail": "jobs, scheduler"}
    for actor in (jobs, scheduler):
        ray.kill(actor)
