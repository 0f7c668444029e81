"""Creator stats: DuckDB over the event Parquet, in the gateway's process.

Every figure is computed from the raw events with the one definition of a play in
`pipelines/rollups.py`, so a stats query sees events the sink flushed seconds ago, and
uniques are exact (`COUNT(DISTINCT)`, never an estimate). Only a video's owner, or an
admin, reads its stats; to anyone else a private video reads as absent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import duckdb
import pyarrow.fs as pafs
from sqlalchemy.orm import Session, sessionmaker

from cluster.db.models import Role, Video, Visibility
from cluster.errors import Forbidden, InvalidInput
from pipelines.event_files import EventFiles
from pipelines.rollups import FIGURES_SQL, plays_sql
from serve.library.errors import NotFound

Granularity = Literal["hour", "day"]
MAX_RANGE = timedelta(days=400)
RETENTION_POINTS = 100
BREAKDOWNS = ("country", "device", "browser", "os", "rendition")


class LiveViewers(Protocol):
    async def live_viewers(self, video_id: str) -> int: ...


@dataclass(frozen=True)
class Figures:
    """What a group of plays adds up to (see `pipelines/rollups.py` for definitions)."""

    plays: int = 0
    views: int = 0
    uniques: int = 0  # viewer-days over several days
    watch_ms: int = 0
    playing_ms: int = 0
    rebuffer_ms: int = 0
    failures: int = 0
    exits_before_start: int = 0
    startup_p50_ms: float | None = None
    startup_p95_ms: float | None = None

    @property
    def rebuffer_ratio(self) -> float:
        return self.rebuffer_ms / self.watch_ms if self.watch_ms else 0.0

    @property
    def failure_rate(self) -> float:
        return self.failures / self.plays if self.plays else 0.0


@dataclass(frozen=True)
class Bucket:
    start: datetime
    figures: Figures


@dataclass(frozen=True)
class Slice:
    dimension: str
    value: str
    views: int
    watch_ms: int


@dataclass(frozen=True)
class Stats:
    totals: Figures
    series: list[Bucket]
    breakdowns: list[Slice] = field(default_factory=list)


@dataclass(frozen=True)
class Retention:
    """`points[i]`: the share of views that watched the point i% into the video."""

    points: list[float]
    views: int
    chapters: list[tuple[str, float]]  # (title, share of views that reached its start)


def _figures(row: tuple[Any, ...] | None) -> Figures:
    if row is None:
        return Figures()
    values = [0 if v is None and i < 8 else v for i, v in enumerate(row)]
    return Figures(*values)


class Analytics:
    """Stats queries; each runs on its own DuckDB cursor, so threads may share one."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        files: EventFiles,
        sink: LiveViewers | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`sink`: the analytics sink's client, which counts live viewers from what it
        holds in memory (None where no sink runs: then live viewers read 0)."""
        self.sessions = sessions
        self.files = files
        self.sink = sink
        self.clock = clock
        self._db = duckdb.connect()
        self._lock = threading.Lock()

    # -- access ------------------------------------------------------------------------

    def require_stats_access(self, *, video_id: str, user_id: str, role: Role) -> Video:
        """The video, when `user_id` owns it or is an admin."""
        with self.sessions() as session:
            video = session.get(Video, video_id)
            if video is None or (
                video.visibility == Visibility.PRIVATE
                and video.owner_id != user_id
                and role != Role.ADMIN
            ):
                raise NotFound("no such video: check its id")
            if video.owner_id != user_id and role != Role.ADMIN:
                raise Forbidden("only the video's owner (or an admin) sees its stats")
            session.expunge(video)
            return video

    # -- queries -----------------------------------------------------------------------

    async def live_viewers(self, *, video_id: str) -> int:
        """Views of the video heard from in the last 30 s (a heartbeat every 10 s)."""
        return 0 if self.sink is None else await self.sink.live_viewers(video_id)

    def _cursor(self, dates: tuple[str, str]) -> duckdb.DuckDBPyConnection:
        with self._lock:
            cursor = self._db.cursor()
        first, last = dates
        wanted = [d for d in self.files.dates() if first <= d <= last]
        paths = [i.path for d in wanted for i in self.files.live_files(d)]
        if paths and isinstance(self.files.fs, pafs.LocalFileSystem):
            # DuckDB's own Parquet reader on a local folder: faster than an Arrow scan.
            listed = ", ".join("'" + path.replace("'", "''") + "'" for path in paths)
            cursor.execute(
                f"CREATE TEMP VIEW events AS SELECT * FROM read_parquet([{listed}], "  # noqa: S608 - our paths, quoted
                "hive_partitioning = true, hive_types = {'date': VARCHAR})"
            )
        else:
            cursor.register("events", self.files.dataset(wanted))
        return cursor

    def _span(self, start: datetime, end: datetime) -> tuple[str, str]:
        """The partitions that can hold plays starting in [start, end): a day either
        side, for plays that cross midnight."""
        if end <= start:
            raise InvalidInput("to", "`to` must be after `from`")
        if end - start > MAX_RANGE:
            raise InvalidInput("from", "ask for at most 400 days at a time")
        return (
            (start - timedelta(days=1)).date().isoformat(),
            (end + timedelta(days=1)).date().isoformat(),
        )

    def video_stats(
        self,
        *,
        video_id: str,
        start: datetime,
        end: datetime,
        granularity: Granularity = "day",
    ) -> Stats:
        """Plays starting in [start, end), in buckets of an hour or a day, with totals and
        breakdowns. Access is checked by the caller (`require_stats_access`)."""
        return self._stats(
            key="video_id", value=video_id, start=start, end=end, granularity=granularity
        )

    def channel_stats(self, *, owner_id: str, start: datetime, end: datetime) -> Stats:
        """Every video of `owner_id`, together, by day."""
        return self._stats(key="owner_id", value=owner_id, start=start, end=end, granularity="day")

    def _stats(
        self, *, key: str, value: str, start: datetime, end: datetime, granularity: Granularity
    ) -> Stats:
        dates = self._span(start, end)
        cursor = self._cursor(dates)
        try:
            plays = plays_sql(f"{key} = $value AND date BETWEEN $first AND $last")
            params = {
                "value": value,
                "first": dates[0],
                "last": dates[1],
                "start": int(start.timestamp() * 1000),
                "end": int(end.timestamp() * 1000),
            }
            in_range = "play_t >= $start AND play_t < $end"
            cursor.execute(
                f"CREATE TEMP TABLE p AS SELECT * FROM ({plays}) WHERE {in_range}",  # noqa: S608 - our SQL
                params,
            )
            totals = _figures(cursor.execute(f"SELECT {FIGURES_SQL} FROM p").fetchone())  # noqa: S608
            unit = "hour" if granularity == "hour" else "day"
            series = [
                Bucket(start=row[0].replace(tzinfo=UTC), figures=_figures(row[1:]))
                for row in cursor.execute(
                    f"SELECT date_trunc('{unit}', play_at) AS b, {FIGURES_SQL} "  # noqa: S608
                    "FROM p GROUP BY b ORDER BY b"
                ).fetchall()
            ]
            breakdowns = []
            for dimension in BREAKDOWNS:
                for name, views, watch in cursor.execute(
                    f"""SELECT coalesce({dimension}, 'unknown') AS v,
                        count(DISTINCT CASE WHEN qualifies THEN viewer_key || '/' || video_id
                            || '/' || (play_t // 3600000) END),
                        coalesce(sum(watch_ms), 0)::BIGINT
                    FROM p GROUP BY v ORDER BY 2 DESC, 3 DESC LIMIT 10"""  # noqa: S608
                ).fetchall():
                    breakdowns.append(
                        Slice(dimension=dimension, value=name, views=views, watch_ms=watch)
                    )
            return Stats(totals=totals, series=series, breakdowns=breakdowns)
        finally:
            cursor.close()

    def retention(
        self,
        *,
        video_id: str,
        duration_s: float,
        chapters: list[dict[str, Any]],
        start: datetime,
        end: datetime,
    ) -> Retention:
        """For 100 points along the video, the share of its views that played past it."""
        duration_ms = max(1, int(duration_s * 1000))
        dates = self._span(start, end)
        cursor = self._cursor(dates)
        try:
            plays = plays_sql("video_id = $value AND date BETWEEN $first AND $last")
            # Each playing stretch covers the playhead from its event to the next one.
            rows = cursor.execute(
                f"""
                WITH p AS ({plays}),
                viewed AS (
                    SELECT play_id FROM p
                    WHERE qualifies AND play_t >= $start AND play_t < $end
                ),
                ev AS (
                    SELECT view_id, seq, event, playhead_ms, epoch_ms(ts) AS t,
                        lead(playhead_ms) OVER (PARTITION BY view_id ORDER BY seq) AS next_ph
                    FROM events WHERE video_id = $value AND date BETWEEN $first AND $last
                ),
                stretches AS (
                    SELECT ev.view_id, playhead_ms AS lo, next_ph AS hi,
                        last_value(CASE WHEN event IN ('playing', 'rebufferend') THEN 'on'
                            WHEN event IN ('pause', 'seeking', 'rebufferstart', 'viewend',
                                'play', 'viewstart') THEN 'off' END IGNORE NULLS)
                        OVER (PARTITION BY ev.view_id ORDER BY seq
                            ROWS UNBOUNDED PRECEDING) AS state
                    FROM ev
                )
                SELECT r.i, count(DISTINCT s.view_id)
                FROM range({RETENTION_POINTS}) r(i)
                JOIN stretches s ON s.state = 'on' AND s.hi >= s.lo
                    AND r.i * {duration_ms} / {RETENTION_POINTS} BETWEEN s.lo AND s.hi
                WHERE s.view_id IN (SELECT split_part(play_id, '/', 1) FROM viewed)
                GROUP BY r.i ORDER BY r.i
                """,  # noqa: S608 - our SQL, numbers only
                {
                    "value": video_id,
                    "first": dates[0],
                    "last": dates[1],
                    "start": int(start.timestamp() * 1000),
                    "end": int(end.timestamp() * 1000),
                },
            ).fetchall()
            views_row = cursor.execute(
                f"SELECT count(*) FROM ({plays}) WHERE qualifies "  # noqa: S608
                "AND play_t >= $start AND play_t < $end",
                {
                    "value": video_id,
                    "first": dates[0],
                    "last": dates[1],
                    "start": int(start.timestamp() * 1000),
                    "end": int(end.timestamp() * 1000),
                },
            ).fetchone()
        finally:
            cursor.close()
        views = int(views_row[0]) if views_row else 0
        watched = dict(rows)
        points = [watched.get(i, 0) / views if views else 0.0 for i in range(RETENTION_POINTS)]
        marks = []
        for chapter in chapters:
            at = float(chapter.get("start", chapter.get("start_s", 0.0)))
            index = min(RETENTION_POINTS - 1, int(at * 1000 * RETENTION_POINTS / duration_ms))
            marks.append((str(chapter.get("title", "")), points[index]))
        return Retention(points=points, views=views, chapters=marks)

    def watch_by_owner(self, *, start: datetime, end: datetime) -> dict[str, int]:
        """Watch time (ms) of plays starting in [start, end), per owner of the video."""
        dates = self._span(start, end)
        cursor = self._cursor(dates)
        try:
            plays = plays_sql("date BETWEEN $first AND $last")
            rows = cursor.execute(
                f"SELECT owner_id, sum(watch_ms)::BIGINT FROM ({plays}) "  # noqa: S608
                "WHERE play_t >= $start AND play_t < $end GROUP BY owner_id",
                {
                    "first": dates[0],
                    "last": dates[1],
                    "start": int(start.timestamp() * 1000),
                    "end": int(end.timestamp() * 1000),
                },
            ).fetchall()
        finally:
            cursor.close()
        return {str(owner): int(ms) for owner, ms in rows}


def month_range(month: str) -> tuple[datetime, datetime]:
    """`2026-11` -> its first instant and the next month's, in UTC."""
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput("month", "write the month as YYYY-MM, e.g. 2026-11") from None
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end
