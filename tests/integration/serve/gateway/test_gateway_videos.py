"""The video API over GraphQL: authorisation, error codes, limits and batching.

The gateway's ASGI app on SQLite and the embedded KV; the service's rules themselves are
tested on SQLite and PostgreSQL in test_videos.py.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event

from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import Tier, User, Video, VideoStatus, Visibility
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from tests.support.accounts import RESTRICTED_TIERS
from tests.support.gateway import Api, asgi_client, codes

LIBRARY = """query($first: Int!) {
  videos(first: $first) {
    edges { cursor node { id title likeCount viewerHasLiked owner { handle } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # Tiers as an operator who sells plans sets them: the free tier has no private videos.
    monkeypatch.setenv("VIDRAY_TIERS", RESTRICTED_TIERS)
    return load_settings(data_dir=tmp_path)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def queries(engine: Engine) -> list[str]:
    """Every SQL statement the videos service runs, to show that lists are batched."""
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


@pytest.fixture
async def api(settings: Settings, engine: Engine) -> AsyncIterator[Api]:
    async with asgi_client(Platform(settings, engine=engine)) as client:
        yield Api(client, settings)


def add_videos(settings: Settings, owner_id: str, count: int, **fields: Any) -> list[str]:
    sessions = db.session_factory(db.make_engine(settings.resolved_database_url))
    with sessions.begin() as session:
        rows = [
            Video(owner_id=owner_id, title=f"video {i}", status=VideoStatus.READY, **fields)
            for i in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def set_tier(settings: Settings, user_id: str, tier: Tier) -> None:
    sessions = db.session_factory(db.make_engine(settings.resolved_database_url))
    with sessions.begin() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.tier = tier


async def test_strangers_cannot_see_private_videos_or_edit_others(api: Api) -> None:
    ana, ana_id = await api.sign_in("ana@example.com")
    bob, _ = await api.sign_in("bob@example.com")
    set_tier(api.settings, ana_id, Tier.PRO)
    [video] = add_videos(api.settings, ana_id, 1, visibility=Visibility.PRIVATE)
    query = "query($id: ID!) { video(id: $id) { id title } }"
    assert (await api.gql(query, ana, id=video))["data"]["video"]["id"] == video
    assert (await api.gql(query, bob, id=video))["data"]["video"] is None
    assert (await api.gql(query, id=video))["data"]["video"] is None

    like = "mutation($id: ID!) { likeVideo(id: $id) { likeCount } }"
    assert codes(await api.gql(like, bob, id=video)) == ["NOT_FOUND"]
    assert codes(await api.gql(like, id=video)) == ["UNAUTHENTICATED"]
    [public] = add_videos(api.settings, ana_id, 1)
    rename = 'mutation($id: ID!) { updateVideo(id: $id, input: {title: "mine"}) { title } }'
    assert codes(await api.gql(rename, bob, id=public)) == ["FORBIDDEN"]
    assert codes(await api.gql("mutation($id: ID!) { deleteVideo(id: $id) }", bob, id=public)) == [
        "FORBIDDEN"
    ]
    # A bad token is an error, not a silent downgrade to anonymous.
    assert codes(await api.gql(query, "not-a-token", id=public)) == ["UNAUTHENTICATED"]


async def test_bad_input_names_its_field(api: Api) -> None:
    ana, ana_id = await api.sign_in("ana@example.com")
    [video] = add_videos(api.settings, ana_id, 1)
    chapters = """mutation($id: ID!) {
      setChapters(videoId: $id, chapters: [{startSeconds: 5, title: "late"},
                                           {startSeconds: 9, title: "later"}]) { id }
    }"""
    body = await api.gql(chapters, ana, id=video)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "chapters"
    private = "mutation($id: ID!) { updateVideo(id: $id, input: {visibility: PRIVATE}) { id } }"
    body = await api.gql(private, ana, id=video)  # the free tier has no private videos
    assert body["errors"][0]["extensions"]["field"] == "visibility"
    body = await api.gql(LIBRARY, first=1000)
    assert body["errors"][0]["extensions"]["field"] == "first"


async def test_a_library_page_costs_the_same_queries_for_five_videos_or_twenty(
    api: Api, queries: list[str]
) -> None:
    _, ana_id = await api.sign_in("ana@example.com")
    bob, bob_id = await api.sign_in("bob@example.com")
    add_videos(api.settings, ana_id, 3)
    add_videos(api.settings, bob_id, 2)

    async def cost(first: int) -> tuple[int, list[dict[str, Any]]]:
        before = len(queries)
        body = await api.gql(LIBRARY, bob, first=first)
        return len(queries) - before, body["data"]["videos"]["edges"]

    few, edges = await cost(5)
    assert {e["node"]["owner"]["handle"] for e in edges} == {"ana", "bob"}
    add_videos(api.settings, ana_id, 10)
    add_videos(api.settings, bob_id, 10)
    many, edges = await cost(20)
    assert len(edges) == 20
    assert many == few, "owners and likes must load in one batch per page"


async def test_oversized_and_overdeep_requests_are_refused(api: Api) -> None:
    huge = await api.client.post(
        "/graphql",
        content=b'{"query": "{ me { id } }", "pad": "' + b"x" * (9 * 1024 * 1024) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert huge.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"

    async def chunked() -> AsyncIterator[bytes]:
        yield b'{"query": "{ me { id } }", "pad": "'
        for _ in range(9):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    streamed = await api.client.post(
        "/graphql", content=chunked(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413

    inner = "id"
    for _ in range(12):
        inner = f"replies {{ edges {{ node {{ {inner} }} }} }}"
    deep = await api.gql(f'{{ comments(videoId: "x") {{ edges {{ node {{ {inner} }} }} }} }}')
    assert "exceeds maximum operation depth" in deep["errors"][0]["message"]


async def test_prod_mode_hides_the_schema_and_internal_errors(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        mode="prod",
        signing_secret=secrets.token_urlsafe(32),
        jwt_secret=secrets.token_urlsafe(32),
    )
    db.migrate(db.make_engine(settings.resolved_database_url))
    app = create_app(Gateway(Platform(settings)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://vidray"
    ) as client:
        response = await client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
        assert "introspection" in response.json()["errors"][0]["message"].lower()
        assert (await client.get("/graphql", headers={"accept": "text/html"})).status_code != 200


async def test_a_query_past_the_token_limit_never_runs(api: Api) -> None:
    fields = " ".join(["id title likeCount"] * 2000)
    body = await api.gql(f"{{ videos {{ edges {{ node {{ {fields} }} }} }} }}")
    assert body.get("data") is None
    assert "token" in body["errors"][0]["message"].lower()


async def test_internal_failures_are_masked(api: Api, engine: Engine) -> None:
    _, ana_id = await api.sign_in("ana@example.com")
    [video] = add_videos(api.settings, ana_id, 1)
    with engine.begin() as conn:  # a real fault: the comments table is gone
        conn.exec_driver_sql("DROP TABLE comments")
    body = await api.gql(
        "query($id: ID!) { comments(videoId: $id) { edges { cursor } } }", id=video
    )
    [error] = body["errors"]
    assert error["message"] == "internal error: it has been logged; try again later"
    leaked = json.dumps(body).lower()
    assert "no such table" not in leaked and "sqlite" not in leaked
