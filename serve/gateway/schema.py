"""The GraphQL schema served at /graphql.

Resolvers validate, authorise through the users service and call it; they hold no
account logic. Every limit on sign-in attempts is counted by the users service per
attempt, so aliases and batches gain nothing; an alias limit also keeps one
request from carrying many of them.
"""

from __future__ import annotations

import base64
import binascii
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

from cluster.db.models import Tier as TierEnum
from cluster.errors import InvalidInput, VidrayError
from serve.gateway import upload_types as uploads
from serve.gateway.context import GatewayContext
from serve.gateway.errors import ErrorCodes
from serve.gateway.types import AuthPayload, ProfileInput, Tier, TierInfo, TierLimits, User
from serve.gateway.upload_types import CreateUploadInput, CreateUploadPayload, Upload
from serve.gateway.videos import Subscription, VideoMutations, VideoQueries

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
class AccountQueries:
    @strawberry.field(description="Readiness of the platform and each service it stands on.")
    async def health(self, info: Ctx) -> Health:
        components = await info.context.health()
        return Health(
            ok=all(c.ok for c in components),
            version=version("vidray"),
            components=[Component(name=c.name, ok=c.ok, detail=c.detail) for c in components],
        )

    @strawberry.field(description="The signed-in user; null without an Authorization header.")
    async def me(self, info: Ctx) -> User | None:
        context = info.context
        if context.access_token is None:
            return None
        return User.of(context.require_viewer())

    @strawberry.field(description="One of your uploads: progress, status, its video.")
    async def upload(self, info: Ctx, id: strawberry.ID) -> Upload | None:
        return await uploads.upload(info.context, str(id))

    @strawberry.field(description="What each subscription tier allows.")
    async def tiers(self, info: Ctx) -> list[TierInfo]:
        tiers = await info.context.accounts.tiers()
        return [TierInfo(name=TierEnum(n), limits=TierLimits.of(t)) for n, t in tiers.items()]


def _avatar(encoded: str | None) -> bytes | None:
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("avatarBase64", "is not base64: encode the image file") from None


# Sign-in mutations return nullable payloads: each aliased attempt in one request runs
# and is answered on its own, which is what the per-attempt limits are tested against.
@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="Send a 6-digit sign-in code by email or SMS.")
    async def request_otp(
        self, info: Ctx, email: str | None = None, phone: str | None = None
    ) -> bool:
        context = info.context
        await context.accounts.request_otp(email=email, phone=phone, ip=context.ip)
        return True

    @strawberry.mutation(description="Trade a code for a session; signs up on first use.")
    async def verify_otp(
        self, info: Ctx, code: str, email: str | None = None, phone: str | None = None
    ) -> AuthPayload | None:
        context = info.context
        session = await context.accounts.verify_otp(
            code=code, email=email, phone=phone, ip=context.ip
        )
        return AuthPayload.of(session)

    @strawberry.mutation(description="Sign in with an email address or phone and a password.")
    async def login(self, info: Ctx, identifier: str, password: str) -> AuthPayload | None:
        context = info.context
        session = await context.accounts.login(
            identifier=identifier, password=password, ip=context.ip
        )
        return AuthPayload.of(session)

    @strawberry.mutation(description="Trade a refresh token (once) for a new pair.")
    async def refresh_session(self, info: Ctx, refresh_token: str) -> AuthPayload | None:
        return AuthPayload.of(await info.context.accounts.refresh(refresh_token))

    @strawberry.mutation(description="End this session, or with everywhere every session.")
    async def logout(self, info: Ctx, everywhere: bool = False) -> bool:
        context = info.context
        context.require_viewer()
        assert context.access_token is not None  # require_viewer() saw one
        await context.accounts.logout(context.access_token, everywhere=everywhere)
        return True

    @strawberry.mutation(description="Set or change the password; a change needs the old one.")
    async def set_password(
        self, info: Ctx, password: str, current_password: str | None = None
    ) -> bool:
        context = info.context
        viewer = context.require_viewer()
        await context.accounts.set_password(
            user_id=viewer.id, password=password, current_password=current_password, ip=context.ip
        )
        return True

    @strawberry.mutation(description="Change display name, handle, bio or avatar.")
    async def update_profile(self, info: Ctx, input: ProfileInput) -> User:
        context = info.context
        viewer = context.require_viewer()
        view = await context.accounts.update_profile(
            user_id=viewer.id,
            display_name=input.display_name,
            handle=input.handle,
            bio=input.bio,
            avatar=_avatar(input.avatar_base64),
        )
        return User.of(view)

    @strawberry.mutation(description="Start an upload: a one-time tus URL and the new video.")
    async def create_upload(self, info: Ctx, input: CreateUploadInput) -> CreateUploadPayload:
        return await uploads.create_upload(info.context, input)

    @strawberry.mutation(description="Admin: move a user to another subscription tier.")
    async def set_user_tier(self, info: Ctx, user_id: strawberry.ID, tier: Tier) -> User:  # type: ignore[valid-type]
        context = info.context
        viewer = context.require_viewer()
        view = await context.accounts.set_tier(actor_id=viewer.id, user_id=user_id, tier=tier)
        return User.of(view)

    @strawberry.mutation(description="Admin: suspend (or restore) an account at once.")
    async def suspend_user(self, info: Ctx, user_id: strawberry.ID, suspended: bool = True) -> User:
        context = info.context
        viewer = context.require_viewer()
        view = await context.accounts.suspend(
            actor_id=viewer.id, user_id=user_id, suspended=suspended
        )
        return User.of(view)


Query = merge_types("Query", (AccountQueries, VideoQueries))
Mutation = merge_types("Mutation", (AccountMutations, VideoMutations))


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


# The schema as documented: `schema.graphql` beside this file is exported from it, and a
# test fails when the two differ. Refresh it with:
#     python -m serve.gateway.schema > serve/gateway/schema.graphql
schema = build_schema(dev=True)

if __name__ == "__main__":
    print(schema.as_str())
