"""GraphQL side of analytics, top level: a video's stats, retention and live viewers (the
studio's way in; `serve.gateway.stats` holds the one code path they share with the
fields on `Video`), a channel's stats, and usage; each for the owner (or an admin) only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from starlette.concurrency import run_in_threadpool

from cluster.db.models import Role
from cluster.errors import Forbidden
from serve.analytics.usage import Usage
from serve.gateway import stats
from serve.gateway.stats import Granularity, RetentionCurve, Stats
from serve.gateway.video_types import Ctx


@strawberry.type
class UsageReport:
    user_id: strawberry.ID
    handle: str
    month: str
    minutes_watched: float
    minutes_transcoded: float
    bytes_stored: float


def _usage(info: Ctx) -> Usage:
    usage = info.context.usage
    if usage is None:
        raise RuntimeError("analytics is not wired into this gateway")
    return usage


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(description="A video's stats, for its owner or an admin.")
    async def video_stats(
        self,
        info: Ctx,
        video_id: strawberry.ID,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        granularity: Granularity = Granularity.DAY,
    ) -> Stats:
        return await stats.video_stats(
            info, str(video_id), start=from_, end=to, granularity=granularity
        )

    @strawberry.field(description="Retention over 100 points and chapter drop-off.")
    async def video_retention(
        self,
        info: Ctx,
        video_id: strawberry.ID,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> RetentionCurve:
        return await stats.video_retention(info, str(video_id), start=from_, end=to)

    @strawberry.field(description="Views of the video heard from in the last 30 seconds.")
    async def video_live_viewers(self, info: Ctx, video_id: strawberry.ID) -> int:
        return await stats.video_live_viewers(info, str(video_id))

    @strawberry.field(description="The signed-in creator's videos together, by day.")
    async def channel_stats(
        self,
        info: Ctx,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> Stats:
        viewer = info.context.require_viewer()
        start, end = stats.window(from_, to)
        figures = await run_in_threadpool(
            stats.analytics_of(info).channel_stats, owner_id=viewer.id, start=start, end=end
        )
        return Stats.of(figures)

    @strawberry.field(description="Minutes watched and transcoded, bytes stored, for a month.")
    async def usage(
        self, info: Ctx, month: str, user_id: strawberry.ID | None = None
    ) -> UsageReport:
        usage = _usage(info)
        viewer = info.context.require_viewer()
        if user_id is not None and str(user_id) != viewer.id and viewer.role != Role.ADMIN:
            raise Forbidden("only an admin reads another account's usage")
        (row,) = await run_in_threadpool(
            usage.report, month=month, user_id=str(user_id or viewer.id)
        )
        return UsageReport(
            user_id=strawberry.ID(row.user_id),
            handle=row.handle,
            month=row.month,
            minutes_watched=row.minutes_watched,
            minutes_transcoded=row.minutes_transcoded,
            bytes_stored=float(row.bytes_stored),
        )
