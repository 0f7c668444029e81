"""Follows over GraphQL (the gateway's ASGI app on SQLite and the embedded KV): a
signed-in user follows and unfollows; anyone reads the lists; anonymous writes fail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cluster import db
from cluster.config import Settings, load_settings
from serve.platform import Platform
from tests.support.gateway import Api, asgi_client
from tests.support.graphql import graphql_async


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(data_dir=tmp_path)
    db.migrate(db.make_engine(settings.resolved_database_url))
    return settings


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(Platform(settings)) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, settings: Settings, email: str) -> tuple[str, str]:
    return await Api(client, settings).sign_in(email)


def ids(body: dict[str, Any], field: str) -> list[str]:
    assert "errors" not in body, body
    return [user["id"] for user in body["data"][field]]


async def test_follow_list_and_unfollow(client: httpx.AsyncClient, settings: Settings) -> None:
    creator_token, creator = await sign_in(client, settings, "creator@example.com")
    fan_token, fan = await sign_in(client, settings, "fan@example.com")
    follow = "mutation($u: ID!) { follow(userId: $u) }"
    assert (await graphql_async(client, follow, fan_token, u=creator))["data"] == {"follow": True}
    followers = "query($u: ID!) { followers(userId: $u) { id handle } }"
    assert ids(await graphql_async(client, followers, None, u=creator), "followers") == [fan]
    following = "{ following { id } }"
    assert ids(await graphql_async(client, following, fan_token), "following") == [creator]
    assert ids(await graphql_async(client, following, creator_token), "following") == []
    unfollow = "mutation($u: ID!) { unfollow(userId: $u) }"
    await graphql_async(client, unfollow, fan_token, u=creator)
    assert ids(await graphql_async(client, followers, None, u=creator), "followers") == []


async def test_anonymous_and_self_follows_are_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token, me = await sign_in(client, settings, "solo@example.com")
    follow = "mutation($u: ID!) { follow(userId: $u) }"
    anonymous = await graphql_async(client, follow, None, u=me)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    itself = await graphql_async(client, follow, token, u=me)
    assert itself["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "userId"}
