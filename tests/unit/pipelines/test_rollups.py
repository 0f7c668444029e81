"""Plays, views and watch time against a replayed ground truth, through the sink's
Parquet, and the daily rollups."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from actors.analytics_sink import AnalyticsSink
from cluster.config import Settings
from pipelines.rollups import FIGURES_SQL, plays_sql, video_daily
from tests.support.analytics import PlayerScript
from tests.support.clock import FakeClock

DAY_MS = 86_400_000
MIDNIGHT_MS = 1_800_000_000_000 - (1_800_000_000_000 % DAY_MS) + DAY_MS


@pytest.fixture
def sink(tmp_path: Path) -> AnalyticsSink:
    return AnalyticsSink(
        Settings(data_dir=tmp_path), clock=FakeClock(MIDNIGHT_MS / 1000), background=False
    )


def _plays(sink: AnalyticsSink) -> dict[str, dict[str, object]]:
    con = duckdb.connect()
    con.register("events", sink.files.dataset())
    rows = con.sql(plays_sql()).to_arrow_table().to_pylist()
    return {str(row["play_id"]).split("/")[0]: row for row in rows}


def test_playing_and_watch_time_match_the_replayed_player(sink: AnalyticsSink) -> None:
    script = (
        PlayerScript(start_ms=MIDNIGHT_MS - 20_000)  # crosses midnight
        .start(startup_ms=700)
        .play(12_000)
        .pause(30_000)
        .play(4_000)
        .seek(40_000, took_ms=400)
        .play(8_500)
        .rebuffer(1_200)
        .play(2_000)
        .end()
    )
    short = PlayerScript(start_ms=MIDNIGHT_MS, duration_ms=8_000).start().play(4_000).end()
    never = PlayerScript(start_ms=MIDNIGHT_MS).send("viewstart").send("play").wait(5_000)
    never.send("viewend")
    for player in (script, short, never):
        sink.append(player.rows)
    sink.flush()
    plays = _plays(sink)
    played = plays[script.view_id]
    assert played["playing_ms"] == script.playing_ms == 26_500
    assert played["watch_ms"] == script.watch_ms
    assert played["rebuffer_ms"] == 1_200
    assert played["startup_ms"] == 700
    assert played["qualifies"]
    assert plays[short.view_id]["qualifies"]  # half of an 8 s video
    assert not plays[never.view_id]["qualifies"]
    assert plays[never.view_id]["first_frame_t"] is None


def test_one_view_per_viewer_and_hour_and_uniques_per_day(sink: AnalyticsSink) -> None:
    start = MIDNIGHT_MS + 3_600_000
    players = [
        PlayerScript(start_ms=start).start().play(15_000).end(),
        PlayerScript(start_ms=start + 60_000).start().play(15_000).end(),  # same hour
        PlayerScript(start_ms=start + 3_600_000).start().play(15_000).end(),  # next hour
        PlayerScript(start_ms=start, viewer_key="k2").start().play(3_000).end(),  # no view
    ]
    for player in players:
        sink.append(player.rows)
    sink.flush()
    con = duckdb.connect()
    con.register("events", sink.files.dataset())
    query = f"WITH p AS ({plays_sql()}) SELECT {FIGURES_SQL} FROM p"  # noqa: S608 - ours
    figures = con.execute(query).fetchone()
    assert figures is not None
    plays, views, uniques, watch_ms, playing_ms = figures[:5]
    assert (plays, views, uniques) == (4, 2, 2)
    assert playing_ms == sum(p.playing_ms for p in players)
    assert watch_ms == sum(p.watch_ms for p in players)


def test_a_play_crossing_midnight_counts_on_the_day_it_started(sink: AnalyticsSink) -> None:
    late = PlayerScript(start_ms=MIDNIGHT_MS - 5_000).start().play(30_000).end()
    sink.append(late.rows)
    sink.flush()
    assert len(sink.files.dates()) == 2
    con = duckdb.connect()
    con.register("events", sink.files.dataset())
    before, after = sink.files.dates()
    (row,) = video_daily(con, before).to_pylist()
    assert (row["plays"], row["views"], row["playing_ms"]) == (1, 1, late.playing_ms)
    assert video_daily(con, after).num_rows == 0
