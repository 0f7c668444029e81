"""The checked-in GraphQL schema is the one the gateway serves, and its limits hold."""

from __future__ import annotations

from pathlib import Path

from serve.gateway.schema import MAX_DEPTH, build_schema

SCHEMA_FILE = Path(__file__).parents[4] / "serve" / "gateway" / "schema.graphql"


def test_the_checked_in_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == build_schema(dev=True).as_str() + "\n", (
        "serve/gateway/schema.graphql is stale: run "
        "`python -m serve.gateway.schema > serve/gateway/schema.graphql` and commit it"
    )


def test_the_contract_frontends_build_on_is_there() -> None:
    text = SCHEMA_FILE.read_text()
    for operation in (
        "me: User",
        "video(id: ID!): Video",
        "videos(first: Int! = 20, after: String = null, filter: VideoFilter = null)",
        "comments(videoId: ID!, first: Int! = 20, after: String = null)",
        "createUpload(input: CreateUploadInput!): CreateUploadPayload!",
        "updateVideo(id: ID!, input: UpdateVideoInput!): Video!",
        "deleteVideo(id: ID!): Boolean!",
        "likeVideo(id: ID!): Video!",
        "unlikeVideo(id: ID!): Video!",
        "addComment(",
        "editComment(id: ID!, body: String!): Comment!",
        "deleteComment(id: ID!): Comment!",
        "setChapters(videoId: ID!, chapters: [ChapterInput!]!): Video!",
        "setThumbnail(",
        "transcodeProgress(videoId: ID!): TranscodeProgress!",
        "storyboardVttUrl: String",
    ):
        assert operation in text, operation


def _run(query: str, *, dev: bool) -> list[str]:
    result = build_schema(dev=dev).execute_sync(query)
    return [e.message for e in result.errors or ()]


def test_introspection_is_off_in_prod_only() -> None:
    query = "{ __schema { queryType { name } } }"
    assert _run(query, dev=True) == []
    assert any("introspection" in m.lower() for m in _run(query, dev=False))


def test_a_query_nested_past_the_depth_limit_is_refused_before_it_runs() -> None:
    inner = "id"
    for _ in range(MAX_DEPTH):
        inner = f"replies {{ edges {{ node {{ {inner} }} }} }}"
    query = f'{{ comments(videoId: "x") {{ edges {{ node {{ {inner} }} }} }} }}'
    errors = _run(query, dev=True)
    assert any("exceeds maximum operation depth" in m for m in errors), errors
