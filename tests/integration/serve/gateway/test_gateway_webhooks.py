"""Webhooks over GraphQL (the gateway's ASGI app on SQLite): register, list, rotate,
delete, the delivery log, and the refusals a frontend branches on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cluster import db
from cluster.config import Settings, load_settings
from serve.platform import Platform
from tests.support.gateway import Api, asgi_client
from tests.support.graphql import graphql_async

CREATE = """mutation($url: String!, $events: [String!]) {
  createWebhook(url: $url, events: $events) { secret webhook { id url events enabled } }
}"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(data_dir=tmp_path, webhooks_allow_loopback=True)
    db.migrate(db.make_engine(settings.resolved_database_url))
    return settings


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(Platform(settings)) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, settings: Settings, email: str) -> str:
    token, _ = await Api(client, settings).sign_in(email)
    return token


async def test_register_list_rotate_and_delete(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token = await sign_in(client, settings, "dev@example.com")
    created = await graphql_async(
        client, CREATE, token, url="http://127.0.0.1:9/in", events=["video.ready"]
    )
    made = created["data"]["createWebhook"]
    assert made["secret"].startswith("whsec_")
    hook = made["webhook"]
    assert (hook["events"], hook["enabled"]) == (["video.ready"], True)
    listed = await graphql_async(client, "{ webhooks { id url } }", token)
    assert listed["data"]["webhooks"] == [{"id": hook["id"], "url": "http://127.0.0.1:9/in"}]
    rotate = "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }"
    rotated = await graphql_async(client, rotate, token, id=hook["id"])
    assert rotated["data"]["rotateWebhookSecret"]["secret"] not in {made["secret"], None}
    log = await graphql_async(client, "{ webhookDeliveries { id status } }", token)
    assert log["data"]["webhookDeliveries"] == []
    other = await sign_in(client, settings, "other@example.com")
    stolen = await graphql_async(client, rotate, other, id=hook["id"])
    assert stolen["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    delete = "mutation($id: ID!) { deleteWebhook(id: $id) }"
    assert (await graphql_async(client, delete, token, id=hook["id"]))["data"]["deleteWebhook"]
    assert (await graphql_async(client, "{ webhooks { id } }", token))["data"]["webhooks"] == []


async def test_forbidden_urls_and_anonymous_callers_are_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token = await sign_in(client, settings, "dev@example.com")
    metadata = await graphql_async(client, CREATE, token, url="http://169.254.169.254/latest")
    assert metadata["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "url"}
    assert "link-local" in metadata["errors"][0]["message"]
    anonymous = await graphql_async(client, CREATE, None, url="https://example.com/in")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
