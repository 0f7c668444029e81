"""The GraphQL schema served at /graphql."""

from __future__ import annotations

from importlib.metadata import version

import strawberry
from strawberry.types import Info

from serve.gateway.context import GatewayContext


@strawberry.type
class Component:
    name: str
    ok: bool
    detail: str


@strawberry.type
class Health:
    ok: bool
    version: str
    components: list[Component]


@strawberry.type
class Query:
    @strawberry.field(description="Readiness of the platform and each service it stands on.")
    async def health(self, info: Info[GatewayContext, None]) -> Health:
        components = await info.context.health()
        return Health(
            ok=all(c.ok for c in components),
            version=version("vidray"),
            components=[Component(name=c.name, ok=c.ok, detail=c.detail) for c in components],
        )


schema = strawberry.Schema(query=Query)
