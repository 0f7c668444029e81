"""/healthz and /graphql on the gateway, over ASGI, with real services behind them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cluster.config import Settings, load_settings
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform

HEALTH_QUERY = "{ health { ok version components { name ok detail } } }"


def _client(settings: Settings) -> httpx.AsyncClient:
    app = create_app(Gateway(Platform(settings)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vidray")


@pytest.mark.usefixtures("ray_cluster")
async def test_healthz_lists_every_component_when_ready(tmp_path: Path) -> None:
    async with _client(load_settings(data_dir=tmp_path)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["components"]) == {"database", "storage", "kv", "ray"}
    assert body["components"]["database"]["detail"] == "sqlite"


@pytest.mark.usefixtures("ray_cluster")
async def test_healthz_reports_the_failing_component(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:9/0")
    async with _client(settings) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    components = response.json()["components"]
    assert components["kv"]["ok"] is False
    assert "VIDRAY_REDIS_URL" in components["kv"]["detail"]
    assert components["database"]["ok"] is True


@pytest.mark.usefixtures("ray_cluster")
async def test_graphql_health_query(tmp_path: Path) -> None:
    async with _client(load_settings(data_dir=tmp_path)) as client:
        response = await client.post("/graphql", json={"query": HEALTH_QUERY})
    assert response.status_code == 200
    health = response.json()["data"]["health"]
    assert health["ok"] is True
    assert {c["name"] for c in health["components"]} == {"database", "storage", "kv", "ray"}


async def test_a_query_error_is_shown_unmasked_and_without_a_code(tmp_path: Path) -> None:
    """vidray masks errors it did not raise on purpose, and gives its own errors a code;
    a validation error is neither: it speaks of the query, so the client sees it whole."""
    async with _client(load_settings(data_dir=tmp_path)) as client:
        response = await client.post("/graphql", json={"query": "{ nope }"})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "Cannot query field 'nope' on type 'Query'."
    assert "code" not in error.get("extensions", {})
