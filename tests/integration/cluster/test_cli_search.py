"""`vidray search rebuild` and `vidray search check` on a SQLite data dir."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cluster import db
from cluster.cli import app
from cluster.db.models import Video
from tests.support.search import add_user, add_video


def test_rebuild_then_check_then_drift(tmp_path: Path) -> None:
    env = {"VIDRAY_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    engine = db.make_engine(f"sqlite:///{(tmp_path / 'vidray.db').resolve()}")
    db.migrate(engine)
    sessions = db.session_factory(engine)
    add_user(sessions, "owner00000000000", "owner")
    video = add_video(sessions, owner="owner00000000000", title="Lathe safety")

    rebuilt = CliRunner().invoke(app, ["search", "rebuild"], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "indexed 1 videos" in rebuilt.output
    checked = CliRunner().invoke(app, ["search", "check"], env=env)
    assert checked.exit_code == 0, checked.output
    assert "no drift" in checked.output

    with sessions.begin() as session:
        row = session.get(Video, video)
        assert row is not None
        row.title = "Lathe tool sharpening"
    drifted = CliRunner().invoke(app, ["search", "check"], env=env)
    assert drifted.exit_code == 1
    assert f"stale: 1: {video}" in drifted.output
    assert "vidray search rebuild" in drifted.output
    engine.dispose()
