"""The scheduled rollups on SQLite and PostgreSQL: daily files, and view counts on the
video rows that `videos(sort: POPULAR)` and search ranking read."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import Engine, delete

from actors.analytics_sink import AnalyticsSink
from cluster import db
from cluster.config import Settings
from cluster.db.models import User, Video, VideoStatus
from pipelines.rollups import run_rollups
from tests.support.analytics import PlayerScript


def test_rollups_write_daily_files_and_view_counts(engine: Engine, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=engine.url.render_as_string(hide_password=False)
    )
    with db.session_factory(engine).begin() as session:
        session.add(User(id="creator000000000", email="c@example.com", handle="creator"))
        session.add(
            Video(id="rolledup00000000", owner_id="creator000000000", status=VideoStatus.READY)
        )
    try:
        sink = AnalyticsSink(settings, background=False)
        now = int(time.time() * 1000) - 3_600_000
        for key in ("k1", "k2", "k3"):
            player = PlayerScript(start_ms=now, video_id="rolledup00000000", viewer_key=key)
            sink.append(player.start().play(12_000).end().rows)
        sink.append(
            PlayerScript(start_ms=now, video_id="rolledup00000000").start().play(2_000).end().rows
        )
        sink.flush()
        sink.stop()
        assert run_rollups(settings)["videos"] == 1
        with db.session_factory(engine)() as session:
            video = session.get(Video, "rolledup00000000")
            assert video is not None and video.view_count == 3
        (date,) = sink.files.dates()
        table = pq.read_table(
            f"{sink.files.rollups_dir('video_daily', date)}/part.parquet"
        ).to_pylist()
        assert [(r["video_id"], r["plays"], r["views"], r["uniques"]) for r in table] == [
            ("rolledup00000000", 4, 3, 3)
        ]
        # Nothing new: nothing rewritten, and the counts stay.
        assert run_rollups(settings)["dates"] == 0
    finally:
        with engine.begin() as conn:
            conn.execute(delete(Video))
            conn.execute(delete(User))
