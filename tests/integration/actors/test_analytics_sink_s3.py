"""The sink on S3 (moto's server): the same files, through pyarrow's S3 filesystem."""

from __future__ import annotations

import secrets
from pathlib import Path

import duckdb

from actors.analytics_sink import AnalyticsSink
from cluster.config import Settings
from pipelines.rollups import plays_sql
from tests.support.analytics import PlayerScript

START_MS = 1_800_000_000_000


def test_events_land_in_the_bucket_and_are_queried_from_it(
    tmp_path: Path, s3_server: str, s3_credentials: dict[str, str]
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        s3_bucket=f"analytics-{secrets.token_hex(4)}",
        s3_endpoint_url=s3_server,
        s3_access_key_id=s3_credentials["access_key_id"],
        s3_secret_access_key=s3_credentials["secret_access_key"],
    )
    sink = AnalyticsSink(settings, background=False)
    players = [PlayerScript(start_ms=START_MS + i).start().play(11_000).end() for i in range(3)]
    for player in players:
        sink.append(player.rows)
    sink.flush()
    sink.append(PlayerScript(start_ms=START_MS).start().play(1_000).end().rows)
    sink.flush()
    sink.compact(force=True)
    (date,) = sink.files.dates()
    (merged,) = sink.files.live_files(date)
    assert merged.base_name.startswith("compact-")
    sink.stop()
    restarted = AnalyticsSink(settings, background=False)  # dedup memory from the bucket
    assert restarted.append(players[0].rows).accepted == 0
    con = duckdb.connect()
    con.register("events", restarted.files.dataset())
    (plays,) = con.execute(f"SELECT count(*) FROM ({plays_sql()})").fetchone() or (0,)  # noqa: S608
    assert plays == 4
