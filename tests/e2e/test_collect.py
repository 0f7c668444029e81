"""`vidray up` serves /collect: the collector's own Serve application in front of the
analytics sink actor, beside the gateway on the same port."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.support.launch import Launch

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)


def test_up_answers_beacons(launch_platform: Launch) -> None:
    base = launch_platform()
    now = int(time.time() * 1000)
    event = {
        "event_id": uuid.uuid4().hex, "view_id": uuid.uuid4().hex, "seq": 0,
        "event": "viewstart", "video_id": "nosuchvideo", "playhead_ms": 0, "viewer_time": now,
    }  # fmt: skip
    reply = httpx.post(
        f"{base}/collect", json={"sent_at": now, "events": [event]},
        headers={"user-agent": CHROME}, timeout=30,
    )  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.json()["rejected"] == [{"index": 0, "reason": "no such video"}]
    bad = httpx.post(f"{base}/collect", content=b"{", headers={"user-agent": CHROME}, timeout=30)
    assert bad.status_code == 400
    stats = httpx.post(
        f"{base}/graphql", json={"query": "{ channelStats { totals { views } } }"}, timeout=30
    ).json()
    assert stats["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
