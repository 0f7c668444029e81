"""The GraphQL schema served at /graphql: each noun's resolvers merged, with the
protections every request goes through.

`schema.graphql` beside this file is exported from `build_schema(dev=True)`, and a test
fails when the two differ. Refresh it with:

    python -m serve.gateway.schema > serve/gateway/schema.graphql
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import strawberry
from graphql import ASTValidationRule
from graphql.error import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_limit
from strawberry.extensions.query_depth_limiter import create_validator as depth_limit
from strawberry.tools import merge_types
from strawberry.types import Info

from cluster.errors import VidrayError
from serve.gateway.accounts import AccountMutations, AccountQueries
from serve.gateway.analytics import AnalyticsQueries
from serve.gateway.captions import CaptionMutations, CaptionQueries
from serve.gateway.context import GatewayContext
from serve.gateway.errors import ErrorCodes
from serve.gateway.follows import FollowMutations, FollowQueries
from serve.gateway.jobs import JobMutations, JobQueries
from serve.gateway.notifications import (
    NotificationMutations,
    NotificationQueries,
    NotificationSubscription,
)
from serve.gateway.search import SearchQueries
from serve.gateway.uploads import UploadMutations, UploadQueries
from serve.gateway.videos import Subscription as VideoSubscription
from serve.gateway.videos import VideoMutations, VideoQueries
from serve.gateway.webhooks import WebhookMutations, WebhookQueries

MAX_ALIASES = 15
MAX_TOKENS = 5000
# The video page (video, owner, comments, their replies and authors) is 6 deep.
MAX_DEPTH = 10

Ctx = Info[GatewayContext, None]


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
class PlatformQueries:
    @strawberry.field(description="Readiness of the platform and each service it stands on.")
    async def health(self, info: Ctx) -> Health:
        components = await info.context.health()
        return Health(
            ok=all(c.ok for c in components),
            version=version("vidray"),
            components=[Component(name=c.name, ok=c.ok, detail=c.detail) for c in components],
        )


Query = merge_types(
    "Query",
    (
        PlatformQueries,
        AccountQueries,
        UploadQueries,
        VideoQueries,
        FollowQueries,
        WebhookQueries,
        NotificationQueries,
        AnalyticsQueries,
        SearchQueries,
        CaptionQueries,
        JobQueries,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        AccountMutations,
        UploadMutations,
        VideoMutations,
        FollowMutations,
        WebhookMutations,
        NotificationMutations,
        CaptionMutations,
        JobMutations,
    ),
)
Subscription = merge_types(
    "Subscription",
    (
        VideoSubscription,
        NotificationSubscription,
    ),
)


def _unexpected(error: GraphQLError) -> bool:
    """Mask what vidray did not raise on purpose: a bug's message may name internals.
    Syntax and validation errors (no original error) speak of the query, not of us."""
    original = error.original_error
    return original is not None and not isinstance(original, VidrayError)


def build_schema(*, dev: bool, max_depth: int = MAX_DEPTH) -> strawberry.Schema:
    """The schema with its protections; introspection only in dev mode."""
    # The limit rules are built once: a rule class made per request would never hit the
    # validation cache, whose key holds the rules (and validation is most of the CPU a
    # cached request costs).
    rules: list[type[ASTValidationRule]] = [alias_limit(MAX_ALIASES), depth_limit(max_depth, None)]
    extensions: list[Any] = [
        # Frontends send the same few documents over and over: parse and validate each
        # once (the caches live at module level, keyed by the document's text).
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        ErrorCodes,
        lambda: MaskErrors(
            should_mask_error=_unexpected,
            error_message="internal error: it has been logged; try again later",
        ),
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    ]
    if not dev:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )


if __name__ == "__main__":
    print(build_schema(dev=True).as_str())
