"""Queries and mutations of follows: `follow`, `unfollow`, `followers`, `following`."""

from __future__ import annotations

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info

from serve.gateway.context import GatewayContext
from serve.gateway.video_types import Creator

Ctx = Info[GatewayContext, None]


@strawberry.type
class FollowQueries:
    @strawberry.field(description="Who follows this user, newest first.")
    async def followers(self, info: Ctx, user_id: strawberry.ID, first: int = 50) -> list[Creator]:
        info.context.refuse_bad_token()
        users = await run_in_threadpool(
            info.context.follows.followers, creator_id=str(user_id), first=first
        )
        return [Creator.of(user) for user in users]

    @strawberry.field(description="Whom this user (default: the signed-in one) follows.")
    async def following(
        self, info: Ctx, user_id: strawberry.ID | None = None, first: int = 50
    ) -> list[Creator]:
        context = info.context
        follower = str(user_id) if user_id is not None else context.require_viewer().id
        context.refuse_bad_token()
        users = await run_in_threadpool(
            context.follows.following, follower_id=follower, first=first
        )
        return [Creator.of(user) for user in users]


@strawberry.type
class FollowMutations:
    @strawberry.mutation(description="Follow a creator: hear of their new videos. Idempotent.")
    async def follow(self, info: Ctx, user_id: strawberry.ID) -> bool:
        viewer = info.context.require_viewer()
        await run_in_threadpool(
            info.context.follows.follow, follower_id=viewer.id, creator_id=str(user_id)
        )
        return True

    @strawberry.mutation(description="Stop following a creator. Idempotent.")
    async def unfollow(self, info: Ctx, user_id: strawberry.ID) -> bool:
        viewer = info.context.require_viewer()
        await run_in_threadpool(
            info.context.follows.unfollow, follower_id=viewer.id, creator_id=str(user_id)
        )
        return True
