"""The collector as `vidray up` deploys it: its own Serve application at /collect, in
front of the detached sink actor, its events durable before the 200."""

from __future__ import annotations

import secrets
import time
import uuid
from pathlib import Path

import httpx
import ray

from actors import analytics_sink
from cluster import db
from cluster.config import load_settings
from cluster.db.models import User, Video, VideoStatus
from pipelines.event_files import EventFiles
from tests.support.servers import free_port

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)


def test_collect_behind_ray_serves_proxy(ray_cluster: None, tmp_path: Path) -> None:
    from ray import serve
    from ray.serve.config import HTTPOptions

    from serve.app import COLLECTOR_APP_NAME, COLLECTOR_ROUTE_PREFIX, build_collector_app

    settings = load_settings(data_dir=tmp_path, ray_namespace=f"collect-{secrets.token_hex(4)}")
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    with db.session_factory(engine).begin() as session:
        session.add(User(id="deployowner00000", email="d@example.com", handle="deploy"))
        session.add(
            Video(id="deployvideo00000", owner_id="deployowner00000", status=VideoStatus.READY)
        )
    sink = analytics_sink.start(settings)
    port = free_port()
    serve.start(http_options=HTTPOptions(host="127.0.0.1", port=port))
    try:
        serve.run(
            build_collector_app(settings),
            name=COLLECTOR_APP_NAME,
            route_prefix=COLLECTOR_ROUTE_PREFIX,
        )
        now = int(time.time() * 1000)
        events = [
            {"event_id": uuid.uuid4().hex, "view_id": "deployview0001", "seq": i,
             "event": name, "video_id": "deployvideo00000", "playhead_ms": 0,
             "viewer_time": now}
            for i, name in enumerate(("viewstart", "play", "playing"))
        ]  # fmt: skip
        reply = httpx.post(
            f"http://127.0.0.1:{port}/collect",
            json={"sent_at": now, "events": events},
            headers={"user-agent": CHROME},
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["accepted"] == 3
        sink.flush()
        stored = EventFiles.from_settings(settings).dataset().to_table(columns=["event"])
        assert sorted(stored.column(0).to_pylist()) == ["play", "playing", "viewstart"]
    finally:
        serve.shutdown()
        ray.kill(sink.actor, no_restart=True)
