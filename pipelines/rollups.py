"""Plays and views from raw beacon events (one SQL definition), and the scheduled rollups.

Definitions (Mux Data's, and PeerTube's for views and viewers):

- A *play* starts at the first `play` (or autoplay) of a `view_id` and ends at
  `viewend`, a fatal error, or 60 min without events (a longer gap starts a new play).
- *Playing time*: the wall time spent in the playing state (the playhead advancing).
  *Watch time*: from the play request to the end, with startup, seeking and rebuffering,
  without pauses.
- A *view*: a play with at least 10 s of playing time (half the duration for a video
  under 20 s); at most one per viewer key, video and hour.
- *Startup time*: from `play` to the first `playing`; a play that never gets there is
  an "exit before video start". *Rebuffer ratio*: rebuffering / watch time.
  *Playback failure %*: plays ending in a fatal error / plays.
- *Unique viewers*: distinct viewer keys per UTC day (see `serve/analytics/viewers.py`).

The player state after each event is carried forward over the events of a play in
`seq` order; each event's share of time is the gap to the next event of its play.

`run_rollups` (run by the scheduler) rewrites `analytics/rollups/video_daily/date=D/`
for every date whose events changed since its rollup was written, then writes each
video's total views to `videos.view_count`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import update

from cluster import db
from cluster.config import Settings
from cluster.db.models import Video
from pipelines.event_files import EventFiles

log = logging.getLogger(__name__)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PLAY_GAP_MS = 3_600_000
VIEW_MIN_PLAYING_MS = 10_000
SHORT_VIDEO_MS = 20_000

# What each event does to the player's state; NULL keeps the state it had.
_STATE = """CASE event
    WHEN 'viewstart' THEN 'idle' WHEN 'play' THEN 'starting' WHEN 'playing' THEN 'playing'
    WHEN 'rebufferend' THEN 'playing' WHEN 'pause' THEN 'paused' WHEN 'seeking' THEN 'seeking'
    WHEN 'rebufferstart' THEN 'rebuffering' WHEN 'viewend' THEN 'ended'
    WHEN 'error' THEN CASE WHEN fatal THEN 'ended' END
    ELSE NULL END"""


def plays_sql(where: str = "TRUE") -> str:
    """A query with one row per play of the events in `events` that match `where` (SQL
    written by vidray, never by a user: values go in as parameters)."""
    return f"""
WITH ev AS (
    SELECT *, epoch_ms(ts) AS t, {_STATE} AS sets FROM events WHERE {where}
), gaps AS (
    SELECT *, CASE WHEN t - lag(t) OVER (PARTITION BY view_id ORDER BY seq) > {PLAY_GAP_MS}
        THEN 1 ELSE 0 END AS new_play
    FROM ev
), parts AS (
    SELECT *, sum(new_play) OVER (PARTITION BY view_id ORDER BY seq
        ROWS UNBOUNDED PRECEDING) AS part
    FROM gaps
), stated AS (
    SELECT *,
        coalesce(last_value(sets IGNORE NULLS) OVER w, 'idle') AS state,
        lead(t) OVER (PARTITION BY view_id, part ORDER BY seq) - t AS dt
    FROM parts WINDOW w AS (PARTITION BY view_id, part ORDER BY seq ROWS UNBOUNDED PRECEDING)
), plays AS (
    SELECT
        view_id || '/' || part AS play_id,
        any_value(video_id) AS video_id,
        any_value(owner_id) AS owner_id,
        any_value(viewer_key) AS viewer_key,
        min(t) FILTER (WHERE event IN ('play', 'playing')) AS play_t,
        min(t) FILTER (WHERE event = 'playing') AS first_frame_t,
        coalesce(sum(dt) FILTER (WHERE state = 'playing'), 0) AS playing_ms,
        coalesce(sum(dt) FILTER (
            WHERE state IN ('starting', 'playing', 'seeking', 'rebuffering')), 0) AS watch_ms,
        coalesce(sum(dt) FILTER (WHERE state = 'rebuffering'), 0) AS rebuffer_ms,
        coalesce(bool_or(event = 'error' AND fatal), FALSE) AS failed,
        max(duration_ms) AS duration_ms,
        any_value(country) AS country,
        any_value(browser) AS browser,
        any_value(os) AS os,
        any_value(device) AS device,
        mode(rendition) AS rendition
    FROM stated GROUP BY view_id, part
)
SELECT *,
    make_timestamp(play_t * 1000) AS play_at,
    first_frame_t - play_t AS startup_ms,
    (playing_ms >= {VIEW_MIN_PLAYING_MS} OR (duration_ms > 0 AND duration_ms < {SHORT_VIDEO_MS}
        AND playing_ms * 2 >= duration_ms)) AS qualifies
FROM plays WHERE play_t IS NOT NULL
"""  # noqa: S608 - `where` is vidray's own SQL


# Figures of a group of plays (`p`), shared by the rollups and the GraphQL queries.
FIGURES_SQL = """
    count(*) AS plays,
    count(DISTINCT CASE WHEN qualifies
        THEN viewer_key || '/' || video_id || '/' || (play_t // 3600000) END) AS views,
    count(DISTINCT viewer_key) AS uniques,
    sum(watch_ms)::BIGINT AS watch_ms,
    sum(playing_ms)::BIGINT AS playing_ms,
    sum(rebuffer_ms)::BIGINT AS rebuffer_ms,
    count(*) FILTER (WHERE failed) AS failures,
    count(*) FILTER (WHERE first_frame_t IS NULL) AS exits_before_start,
    quantile_cont(startup_ms, 0.5) AS startup_p50_ms,
    quantile_cont(startup_ms, 0.95) AS startup_p95_ms"""


def day_window(date: str) -> str:
    """The events that can hold plays starting on `date`: that day, and the next (a play
    that crosses midnight)."""
    if not _DATE.match(date):
        raise ValueError(f"not a YYYY-MM-DD date: {date!r}")
    return f"date BETWEEN '{date}' AND CAST(DATE '{date}' + INTERVAL 1 DAY AS DATE)::VARCHAR"


def video_daily(con: duckdb.DuckDBPyConnection, date: str) -> pa.Table:
    """One row per video that had a play starting on `date`."""
    return con.sql(
        f"""
        WITH p AS ({plays_sql(day_window(date))})
        SELECT video_id, any_value(owner_id) AS owner_id, {FIGURES_SQL}
        FROM p WHERE CAST(play_at AS DATE) = DATE '{date}'
        GROUP BY video_id ORDER BY video_id
        """  # noqa: S608 - the date is checked by day_window
    ).to_arrow_table()


def _stale_dates(files: EventFiles) -> list[str]:
    """Dates whose events (or the next day's, where its plays may end) are newer than
    their rollup."""

    def newest(infos: list[Any]) -> float:
        return max((i.mtime.timestamp() for i in infos if i.mtime), default=0.0)

    dates = files.dates()
    changed = {d: newest(files.live_files(d)) for d in dates}
    stale = []
    for date in dates:
        rollup = files.fs.get_file_info(f"{files.rollups_dir('video_daily', date)}/part.parquet")
        written = rollup.mtime.timestamp() if rollup.mtime else -1.0
        next_day = [changed[d] for d in dates if d > date][:1]
        if max([changed[date], *next_day]) >= written:
            stale.append(date)
    return stale


def run_rollups(settings: Settings, *, files: EventFiles | None = None) -> dict[str, int]:
    """Rewrite stale daily rollups, then every video's view count. Idempotent."""
    files = files or EventFiles.from_settings(settings)
    con = duckdb.connect()
    con.register("events", files.dataset())
    dates = _stale_dates(files)
    for date in dates:
        table = video_daily(con, date)
        directory = files.rollups_dir("video_daily", date)
        files.fs.create_dir(directory, recursive=True)
        pq.write_table(table, f"{directory}/.tmp-part.parquet", filesystem=files.fs)
        files.fs.move(f"{directory}/.tmp-part.parquet", f"{directory}/part.parquet")
    updated = write_view_counts(settings, files=files, con=con)
    con.close()
    return {"dates": len(dates), "videos": updated}


def write_view_counts(
    settings: Settings, *, files: EventFiles, con: duckdb.DuckDBPyConnection
) -> int:
    """Each video's total views, from the daily rollups, onto its row."""
    import pyarrow.dataset as ds

    root = files.rollups_dir("video_daily")
    if files.fs.get_file_info(root).type.name == "NotFound":
        return 0
    rollups = ds.dataset(root, filesystem=files.fs, format="parquet", partitioning="hive")
    con.register("video_daily", rollups)
    totals = con.execute(
        "SELECT video_id, sum(views)::BIGINT FROM video_daily GROUP BY video_id"
    ).fetchall()
    engine = db.make_engine(settings.resolved_database_url)
    try:
        with db.session_factory(engine).begin() as session:
            for video_id, views in totals:
                session.execute(
                    update(Video)
                    .where(Video.id == video_id, Video.view_count != views)
                    .values(view_count=views)
                )
    finally:
        engine.dispose()
    return len(totals)
