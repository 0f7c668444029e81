"""A video's figures over GraphQL: its stats, retention and live viewers, for its owner
(or an admin) only, and the types they come in.

One code path serves both ways in: the `stats`, `retention` and `liveViewers` fields on
`Video` and the top-level `videoStats`, `videoRetention` and `videoLiveViewers` the
studio asks. Definitions are Mux Data's and PeerTube's (README, "Analytics"); the figures
come from `serve.analytics.queries.Analytics`, DuckDB over the event Parquet, in this
process. This module imports nothing of the video types, so `Video` can import it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum

import strawberry
from starlette.concurrency import run_in_threadpool

from cluster.db.models import Video as VideoRow
from serve.analytics import queries
from serve.analytics.queries import Analytics
from serve.gateway.context import GatewayContext

Ctx = strawberry.Info[GatewayContext, None]

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


def analytics_of(info: Ctx) -> Analytics:
    analytics = info.context.analytics
    if analytics is None:
        raise RuntimeError("analytics is not wired into this gateway")
    return analytics


def window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """[start, end) in UTC; the last 28 days unless said."""
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_RANGE
    return start.astimezone(UTC), end.astimezone(UTC)


async def _require_access(info: Ctx, video_id: str) -> VideoRow:
    """The video, when the signed-in viewer owns it or is an admin; UNAUTHENTICATED,
    FORBIDDEN or NOT_FOUND (a private video of someone else) otherwise."""
    viewer = info.context.require_viewer()
    return await run_in_threadpool(
        analytics_of(info).require_stats_access,
        video_id=video_id,
        user_id=viewer.id,
        role=viewer.role,
    )


async def video_stats(
    info: Ctx,
    video_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    granularity: Granularity,
) -> Stats:
    await _require_access(info, video_id)
    first, last = window(start, end)
    stats = await run_in_threadpool(
        analytics_of(info).video_stats,
        video_id=video_id,
        start=first,
        end=last,
        granularity="hour" if granularity == Granularity.HOUR else "day",
    )
    return Stats.of(stats)


async def video_retention(
    info: Ctx, video_id: str, *, start: datetime | None, end: datetime | None
) -> RetentionCurve:
    video = await _require_access(info, video_id)
    first, last = window(start, end)
    curve = await run_in_threadpool(
        analytics_of(info).retention,
        video_id=video_id,
        duration_s=video.duration or 0.0,
        chapters=list(video.chapters or []),
        start=first,
        end=last,
    )
    return RetentionCurve(
        points=curve.points,
        views=curve.views,
        chapters=[ChapterDropOff(title=t, share=s) for t, s in curve.chapters],
    )


async def video_live_viewers(info: Ctx, video_id: str) -> int:
    await _require_access(info, video_id)
    return await analytics_of(info).live_viewers(video_id=video_id)
