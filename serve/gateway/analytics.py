"""GraphQL side of analytics: a video's stats, retention and live viewers, a channel's
stats, and usage; each for the owner (or an admin) only.

Definitions are Mux Data's and PeerTube's (README, "Analytics"); the figures come from
`serve.analytics.queries.Analytics`, DuckDB over the event Parquet, in this process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated

import strawberry
from starlette.concurrency import run_in_threadpool

from cluster.db.models import Role
from cluster.errors import Forbidden
from serve.analytics import queries
from serve.analytics.queries import Analytics
from serve.analytics.usage import Usage
from serve.gateway.video_types import Ctx

DEFAULT_RANGE = timedelta(days=28)


@strawberry.enum
class Granularity(Enum):
    HOUR = "hour"
    DAY = "day"


@strawberry.type(description="Plays, views and QoE of a group of plays (Mux definitions).")
class StatsFigures:
    plays: int
    views: int = strawberry.field(
        description="Plays with 10 s of playing time (half a video under 20 s), at most one "
        "per viewer and hour."
    )
    uniques: int = strawberry.field(
        description="Distinct viewers per UTC day; over several days: viewer-days."
    )
    watch_time_seconds: float
    playing_time_seconds: float
    rebuffer_ratio: float
    playback_failure_rate: float
    exits_before_video_start: int
    startup_p50_ms: float | None
    startup_p95_ms: float | None

    @classmethod
    def of(cls, figures: queries.Figures) -> StatsFigures:
        return cls(
            plays=figures.plays,
            views=figures.views,
            uniques=figures.uniques,
            watch_time_seconds=figures.watch_ms / 1000,
            playing_time_seconds=figures.playing_ms / 1000,
            rebuffer_ratio=figures.rebuffer_ratio,
            playback_failure_rate=figures.failure_rate,
            exits_before_video_start=figures.exits_before_start,
            startup_p50_ms=figures.startup_p50_ms,
            startup_p95_ms=figures.startup_p95_ms,
        )


@strawberry.type
class StatsBucket:
    start: datetime
    figures: StatsFigures


@strawberry.type(description="Views and watch time by country, device, browser, OS, rendition.")
class StatsSlice:
    dimension: str
    value: str
    views: int
    watch_time_seconds: float


@strawberry.type
class Stats:
    totals: StatsFigures
    series: list[StatsBucket]
    breakdowns: list[StatsSlice]

    @classmethod
    def of(cls, stats: queries.Stats) -> Stats:
        return cls(
            totals=StatsFigures.of(stats.totals),
            series=[
                StatsBucket(start=b.start, figures=StatsFigures.of(b.figures)) for b in stats.series
            ],
            breakdowns=[
                StatsSlice(
                    dimension=s.dimension,
                    value=s.value,
                    views=s.views,
                    watch_time_seconds=s.watch_ms / 1000,
                )
                for s in stats.breakdowns
            ],
        )


@strawberry.type
class ChapterDropOff:
    title: str
    share: float = strawberry.field(description="Share of views that reached its start.")


@strawberry.type
class RetentionCurve:
    points: list[float] = strawberry.field(
        description="100 shares: views that watched the point i% into the video."
    )
    views: int
    chapters: list[ChapterDropOff]


@strawberry.type
class UsageReport:
    user_id: strawberry.ID
    handle: str
    month: str
    minutes_watched: float
    minutes_transcoded: float
    bytes_stored: float


def _services(info: Ctx) -> tuple[Analytics, Usage]:
    context = info.context
    if context.analytics is None or context.usage is None:
        raise RuntimeError("analytics is not wired into this gateway")
    return context.analytics, context.usage


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_RANGE
    return start.astimezone(UTC), end.astimezone(UTC)


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
        analytics, _ = _services(info)
        viewer = info.context.require_viewer()
        await run_in_threadpool(
            analytics.require_stats_access,
            video_id=str(video_id),
            user_id=viewer.id,
            role=viewer.role,
        )
        start, end = _window(from_, to)
        stats = await run_in_threadpool(
            analytics.video_stats,
            video_id=str(video_id),
            start=start,
            end=end,
            granularity="hour" if granularity == Granularity.HOUR else "day",
        )
        return Stats.of(stats)

    @strawberry.field(description="Retention over 100 points and chapter drop-off.")
    async def video_retention(
        self,
        info: Ctx,
        video_id: strawberry.ID,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> RetentionCurve:
        analytics, _ = _services(info)
        viewer = info.context.require_viewer()
        video = await run_in_threadpool(
            analytics.require_stats_access,
            video_id=str(video_id),
            user_id=viewer.id,
            role=viewer.role,
        )
        start, end = _window(from_, to)
        curve = await run_in_threadpool(
            analytics.retention,
            video_id=str(video_id),
            duration_s=video.duration or 0.0,
            chapters=list(video.chapters or []),
            start=start,
            end=end,
        )
        return RetentionCurve(
            points=curve.points,
            views=curve.views,
            chapters=[ChapterDropOff(title=t, share=s) for t, s in curve.chapters],
        )

    @strawberry.field(description="Views of the video heard from in the last 30 seconds.")
    async def video_live_viewers(self, info: Ctx, video_id: strawberry.ID) -> int:
        analytics, _ = _services(info)
        viewer = info.context.require_viewer()
        await run_in_threadpool(
            analytics.require_stats_access,
            video_id=str(video_id),
            user_id=viewer.id,
            role=viewer.role,
        )
        return await analytics.live_viewers(video_id=str(video_id))

    @strawberry.field(description="The signed-in creator's videos together, by day.")
    async def channel_stats(
        self,
        info: Ctx,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> Stats:
        analytics, _ = _services(info)
        viewer = info.context.require_viewer()
        start, end = _window(from_, to)
        stats = await run_in_threadpool(
            analytics.channel_stats, owner_id=viewer.id, start=start, end=end
        )
        return Stats.of(stats)

    @strawberry.field(description="Minutes watched and transcoded, bytes stored, for a month.")
    async def usage(
        self, info: Ctx, month: str, user_id: strawberry.ID | None = None
    ) -> UsageReport:
        _, usage = _services(info)
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
