"""`vidray webhooks deliveries` on a SQLite data dir: the log an operator reads."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cluster import db
from cluster.cli import app
from cluster.config import load_settings
from cluster.db.models import User, Webhook, WebhookAttempt, WebhookDelivery, utcnow


def test_the_log_shows_each_delivery_and_its_last_attempt(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    with db.session_factory(engine).begin() as session:
        user = User(email="dev@example.com", handle="dev")
        session.add(user)
        session.flush()
        hook = Webhook(owner_id=user.id, url="https://example.com/in", events=[], secret="whsec_x")
        session.add(hook)
        session.flush()
        for msg, status in (("msg_1_a", "failed"), ("msg_2_a", "delivered")):
            session.add(
                WebhookDelivery(
                    id=msg,
                    webhook_id=hook.id,
                    event_id=int(msg[4]),
                    event_type="video.ready",
                    body="{}",
                    status=status,
                    attempts=1,
                )
            )
            session.flush()
            code = 410 if status == "failed" else 204
            session.add(WebhookAttempt(delivery_id=msg, at=utcnow(), status_code=code))
    engine.dispose()
    env = {"VIDRAY_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["webhooks", "deliveries", "--status", "failed"], env=env)
    assert result.exit_code == 0, result.output
    assert "msg_1_a" in result.output and "410" in result.output
    assert "msg_2_a" not in result.output
    wrong = CliRunner().invoke(app, ["webhooks", "deliveries", "--status", "lost"], env=env)
    assert wrong.exit_code == 2 and "choose pending, delivered or failed" in wrong.output
