"""The gateway in the test's own process, spoken to as a frontend speaks to it: GraphQL
over an ASGI client, signed in with the code the dev outbox received."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from cluster.config import Settings
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from tests.support.accounts import latest_code
from tests.support.graphql import graphql_async

REQUEST = "mutation($e: String) { requestOtp(email: $e) }"
VERIFY = """mutation($email: String!, $code: String!) {
  verifyOtp(email: $email, code: $code) { accessToken user { id } }
}"""


@asynccontextmanager
async def asgi_client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests go straight into the gateway's ASGI app."""
    transport = httpx.ASGITransport(app=create_app(Gateway(platform)))
    async with httpx.AsyncClient(transport=transport, base_url="http://vidray") as client:
        yield client


class Api:
    """GraphQL operations against the gateway, as one frontend or another signs in."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client, self.settings = client, settings

    async def gql(self, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        return await graphql_async(self.client, query, token, **variables)

    async def sign_in(self, email: str) -> tuple[str, str]:
        """(access token, user id) for `email`, signed in with its emailed code."""
        await self.gql(REQUEST, e=email)
        code = latest_code(self.settings.outbox_dir, email)
        payload = (await self.gql(VERIFY, email=email, code=code))["data"]["verifyOtp"]
        return payload["accessToken"], payload["user"]["id"]


def codes(body: dict[str, Any]) -> list[str]:
    """The `extensions.code` of each error in a GraphQL response."""
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
