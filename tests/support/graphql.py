"""One GraphQL operation over HTTP, as any frontend sends it."""

from __future__ import annotations

from typing import Any

import httpx


def _request(query: str, token: str | None, variables: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return {"json": {"query": query, "variables": variables}, "headers": headers}


def _body(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def graphql(base: str, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    """POST one operation to a running platform at `base`; the whole response body."""
    return _body(httpx.post(f"{base}/graphql", timeout=60, **_request(query, token, variables)))


async def graphql_async(
    client: httpx.AsyncClient, query: str, token: str | None = None, **variables: Any
) -> dict[str, Any]:
    """The same through an async client (an ASGI app in the test's process)."""
    return _body(await client.post("/graphql", **_request(query, token, variables)))
