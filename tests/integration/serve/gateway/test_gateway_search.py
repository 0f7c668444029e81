"""Search and captions over GraphQL: the gateway's ASGI app on SQLite and the embedded
KV, the index fed from the outbox as the dispatcher would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from actors.search_index import SearchIndex
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import Video, VideoStatus, Visibility
from serve.platform import Platform
from tests.support import gateway
from tests.support.search import Dispatch, add_video

SEARCH = """query($q: String!, $filter: SearchFilterInput, $first: Int! = 20) {
  search(query: $q, filter: $filter, first: $first) {
    total
    hits { video { id title } titleHtml snippetHtml startSeconds link }
    facets { category { value count } tags { value count } }
    pageInfo { hasNextPage endCursor }
  }
}"""
ADD = """mutation($v: ID!, $file: String!) {
  addCaptions(videoId: $v, language: "en", file: $file, label: "English") {
    language cueCount
  }
}"""
CAPTIONS = """Welcome to the workshop.

00:00:01.000 --> 00:00:03.000
Welcome to the workshop

00:00:07.250 --> 00:00:09.000
the dovetail joint needs a sharp chisel
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path, search_commit_window_s=0.05)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    yield engine
    engine.dispose()


class Api(gateway.Api):
    """With the database's sessions and the index's dispatch, to make and index videos."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings, engine: Engine) -> None:
        super().__init__(client, settings)
        self.sessions = db.session_factory(engine)
        self.dispatch = Dispatch(self.sessions, SearchIndex(settings))

    async def search(self, q: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        body = await self.gql(SEARCH, token, q=q, **variables)
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]["search"]
        return result


@pytest.fixture
async def api(settings: Settings, engine: Engine) -> AsyncIterator[Api]:
    async with gateway.asgi_client(Platform(settings, engine=engine)) as client:
        yield Api(client, settings, engine)


async def test_found_by_a_misspelt_title_a_tag_and_a_spoken_phrase(api: Api) -> None:
    token, owner = await api.sign_in("maker@example.com")
    video = add_video(
        api.sessions,
        owner=owner,
        title="Woodworking <basics>",
        tags=("carpentry",),
        category="howto",
        duration=12.0,
    )
    added = await api.gql(ADD, token, v=video, file=CAPTIONS)
    assert added["data"]["addCaptions"] == {"language": "en", "cueCount": 2}
    await api.dispatch.run()

    by_typo = await api.search("woodworkng")
    assert [hit["video"]["id"] for hit in by_typo["hits"]] == [video]
    assert by_typo["hits"][0]["titleHtml"] == "<mark>Woodworking</mark> &lt;basics&gt;"
    assert (await api.search("carpentry"))["hits"][0]["link"] == f"/watch/{video}"

    spoken = (await api.search("dovetail chisel"))["hits"][0]
    assert spoken["startSeconds"] == 7.25
    assert spoken["link"] == f"/watch/{video}?t=7"
    assert "<mark>dovetail</mark>" in spoken["snippetHtml"]

    facets = (await api.search("woodworking"))["facets"]
    assert facets["category"] == [{"value": "howto", "count": 1}]
    filtered = await api.search("woodworking", filter={"language": "en", "tagsOneOf": ["x"]})
    assert filtered["hits"] == []

    # Private: gone for others at once (checked at query time), still there for its owner.
    with api.sessions.begin() as session:
        row = session.get(Video, video)
        assert row is not None
        row.visibility = Visibility.PRIVATE
    assert (await api.search("woodworking"))["hits"] == []
    assert len((await api.search("woodworking", token))["hits"]) == 1

    removed = await api.gql(
        'mutation($v: ID!) { removeCaptions(videoId: $v, language: "en") }', token, v=video
    )
    assert removed["data"]["removeCaptions"] is True
    await api.dispatch.run()
    assert (await api.search("dovetail", token))["hits"] == []


async def test_bad_input_gets_a_code_and_the_field(api: Api) -> None:
    for variables, field in (
        ({"q": "x" * 257}, "query"),
        ({"q": "x", "first": 101}, "first"),
        ({"q": "x", "filter": {"durationMin": 10, "durationMax": 1}}, "durationMin"),
    ):
        body = await api.gql(SEARCH, **variables)
        (error,) = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, error


async def test_suggest_and_trending_answer_anonymously(api: Api) -> None:
    _, owner = await api.sign_in("maker@example.com")
    add_video(api.sessions, owner=owner, title="Sourdough starter", status=VideoStatus.READY)
    await api.dispatch.run()
    body = await api.gql('{ suggest(prefix: "sourd") trendingSearches }')
    assert body["data"] == {"suggest": ["Sourdough starter"], "trendingSearches": []}


async def test_captions_need_their_owner(api: Api) -> None:
    token, owner = await api.sign_in("maker@example.com")
    other, _ = await api.sign_in("other@example.com")
    video = add_video(api.sessions, owner=owner, title="Knots", duration=12.0)
    body = await api.gql(ADD, other, v=video, file=CAPTIONS)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await api.gql(ADD, None, v=video, file=CAPTIONS)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = await api.gql(ADD, token, v=video, file="not captions")
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "file"}
    listed = await api.gql("query($v: ID!) { captions(videoId: $v) { language } }", v=video)
    assert listed["data"]["captions"] == []


async def test_the_search_page_loads_its_module_and_escapes_the_query(api: Api) -> None:
    response = await api.client.get("/search", params={"q": '"><script>x</script>'})
    assert response.status_code == 200
    assert '<script type="module" src="/static/search.js"></script>' in response.text
    assert "<script>x</script>" not in response.text
    assert "&lt;script&gt;" in response.text
    module = await api.client.get("/static/search.js")
    assert module.status_code == 200 and "trendingSearches" in module.text
