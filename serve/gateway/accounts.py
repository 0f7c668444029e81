"""Queries and mutations of accounts: sign-in, sessions, profiles, tiers.

Resolvers validate, authorise through the account service and call it; they hold no
account logic. Every limit on sign-in attempts is counted by the service per attempt,
so aliases and batches gain nothing; an alias limit also keeps one request from
carrying many of them.
"""

from __future__ import annotations

import base64
import binascii

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info

from cluster.db.models import Tier as TierEnum
from cluster.errors import InvalidInput
from serve.gateway.account_types import (
    AuthPayload,
    ProfileInput,
    Tier,
    TierInfo,
    TierLimits,
    User,
)
from serve.gateway.context import GatewayContext

Ctx = Info[GatewayContext, None]


@strawberry.type
class AccountQueries:
    @strawberry.field(description="The signed-in user; null without an Authorization header.")
    async def me(self, info: Ctx) -> User | None:
        context = info.context
        if context.access_token is None:
            return None
        return User.of(context.require_viewer())

    @strawberry.field(description="What each subscription tier allows.")
    async def tiers(self, info: Ctx) -> list[TierInfo]:
        tiers = info.context.accounts.tiers()
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
        await run_in_threadpool(
            context.accounts.request_otp, email=email, phone=phone, ip=context.ip
        )
        return True

    @strawberry.mutation(description="Trade a code for a session; signs up on first use.")
    async def verify_otp(
        self, info: Ctx, code: str, email: str | None = None, phone: str | None = None
    ) -> AuthPayload | None:
        context = info.context
        session = await run_in_threadpool(
            context.accounts.verify_otp, code=code, email=email, phone=phone, ip=context.ip
        )
        return AuthPayload.of(session)

    @strawberry.mutation(description="Sign in with an email address or phone and a password.")
    async def login(self, info: Ctx, identifier: str, password: str) -> AuthPayload | None:
        context = info.context
        session = await run_in_threadpool(
            context.accounts.login, identifier=identifier, password=password, ip=context.ip
        )
        return AuthPayload.of(session)

    @strawberry.mutation(description="Trade a refresh token (once) for a new pair.")
    async def refresh_session(self, info: Ctx, refresh_token: str) -> AuthPayload | None:
        return AuthPayload.of(await run_in_threadpool(info.context.accounts.refresh, refresh_token))

    @strawberry.mutation(description="End this session, or with everywhere every session.")
    async def logout(self, info: Ctx, everywhere: bool = False) -> bool:
        context = info.context
        context.require_viewer()
        assert context.access_token is not None  # require_viewer() saw one
        await run_in_threadpool(
            context.accounts.logout, context.access_token, everywhere=everywhere
        )
        return True

    @strawberry.mutation(description="Set or change the password; a change needs the old one.")
    async def set_password(
        self, info: Ctx, password: str, current_password: str | None = None
    ) -> bool:
        context = info.context
        viewer = context.require_viewer()
        await run_in_threadpool(
            context.accounts.set_password,
            user_id=viewer.id,
            password=password,
            current_password=current_password,
            ip=context.ip,
        )
        return True

    @strawberry.mutation(description="Change display name, handle, bio or avatar.")
    async def update_profile(self, info: Ctx, input: ProfileInput) -> User:
        context = info.context
        viewer = context.require_viewer()
        view = await run_in_threadpool(
            context.accounts.update_profile,
            user_id=viewer.id,
            display_name=input.display_name,
            handle=input.handle,
            bio=input.bio,
            avatar=_avatar(input.avatar_base64),
        )
        return User.of(view)

    @strawberry.mutation(description="Admin: move a user to another subscription tier.")
    async def set_user_tier(self, info: Ctx, user_id: strawberry.ID, tier: Tier) -> User:  # type: ignore[valid-type]
        context = info.context
        viewer = context.require_viewer()
        view = await run_in_threadpool(
            context.accounts.set_tier, actor_id=viewer.id, user_id=user_id, tier=tier
        )
        return User.of(view)

    @strawberry.mutation(description="Admin: suspend (or restore) an account at once.")
    async def suspend_user(self, info: Ctx, user_id: strawberry.ID, suspended: bool = True) -> User:
        context = info.context
        viewer = context.require_viewer()
        view = await run_in_threadpool(
            context.accounts.suspend, actor_id=viewer.id, user_id=user_id, suspended=suspended
        )
        return User.of(view)
