"""Analytics test data: enriched event rows as the collector hands them to the sink,
and raw beacon events as a player sends them."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

_seq = itertools.count()


def event_row(
    *,
    ts_ms: int,
    video_id: str = "v1",
    view_id: str = "view1",
    event: str = "heartbeat",
    **fields: Any,
) -> dict[str, Any]:
    """One enriched event as `AnalyticsSink.append` takes it."""
    row: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "view_id": view_id,
        "seq": next(_seq),
        "event": event,
        "video_id": video_id,
        "owner_id": "owner1",
        "viewer_key": "k1",
        "ts": ts_ms,
        "received_at": ts_ms,
        "playhead_ms": 0,
        "duration_ms": 60_000,
        "rendition": "720p",
        "player_width": 1280,
        "player_height": 720,
        "country": "FR",
        "browser": "Chrome",
        "os": "Linux",
        "device": "desktop",
        "error_code": None,
        "fatal": None,
    }
    row.update(fields)
    return row


def beacon(
    *,
    video_id: str,
    view_id: str,
    seq: int,
    event: str,
    viewer_time: int,
    playhead_ms: int = 0,
    **fields: Any,
) -> dict[str, Any]:
    """One event of a `/collect` batch, as the player's beacons.js sends it."""
    return {
        "event_id": uuid.uuid4().hex,
        "view_id": view_id,
        "seq": seq,
        "event": event,
        "video_id": video_id,
        "playhead_ms": playhead_ms,
        "viewer_time": viewer_time,
        "duration_ms": fields.pop("duration_ms", 60_000),
        "rendition": fields.pop("rendition", "720p"),
        "player_width": 1280,
        "player_height": 720,
        **fields,
    }
