"""Analytics test data: enriched event rows as the collector hands them to the sink,
and raw beacon events as a player sends them."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from actors.analytics_sink import AnalyticsSink
    from serve.library.videos import Library

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


class PlayerScript:
    """A player's session written step by step, with the ground truth kept beside it:
    the events it sends, and the playing and watch time they must add up to."""

    def __init__(
        self,
        *,
        start_ms: int,
        video_id: str = "v1",
        view_id: str | None = None,
        viewer_key: str = "k1",
        duration_ms: int = 60_000,
        **fields: Any,
    ) -> None:
        self.t = start_ms
        self.video_id = video_id
        self.view_id = view_id or uuid.uuid4().hex
        self.viewer_key = viewer_key
        self.duration_ms = duration_ms
        self.fields = fields
        self.playhead = 0
        self.seq = 0
        self.rows: list[dict[str, Any]] = []
        self.playing_ms = 0
        self.watch_ms = 0
        self.rebuffer_ms = 0

    def send(self, event: str, **fields: Any) -> PlayerScript:
        self.rows.append(
            event_row(
                ts_ms=self.t,
                video_id=self.video_id,
                view_id=self.view_id,
                event=event,
                seq=self.seq,
                viewer_key=self.viewer_key,
                playhead_ms=self.playhead,
                duration_ms=self.duration_ms,
                **{**self.fields, **fields},
            )
        )
        self.seq += 1
        return self

    def wait(self, ms: int, *, playing: bool = False, watching: bool = True) -> PlayerScript:
        self.t += ms
        if playing:
            self.playing_ms += ms
            self.playhead = min(self.duration_ms, self.playhead + ms)
        if watching:
            self.watch_ms += ms
        return self

    def play(self, ms: int, *, heartbeat_every: int = 10_000) -> PlayerScript:
        """Playing for `ms`, with heartbeats as the player sends them."""
        left = ms
        while left > heartbeat_every:
            self.wait(heartbeat_every, playing=True).send("heartbeat")
            left -= heartbeat_every
        return self.wait(left, playing=True)

    def start(self, startup_ms: int = 500) -> PlayerScript:
        self.send("viewstart").send("play").wait(startup_ms)
        return self.send("playing")

    def pause(self, ms: int) -> PlayerScript:
        return self.send("pause").wait(ms, watching=False).send("play").send("playing")

    def seek(self, to_ms: int, took_ms: int = 300) -> PlayerScript:
        self.send("seeking")
        self.playhead = to_ms
        return self.wait(took_ms).send("seeked").send("playing")

    def rebuffer(self, ms: int) -> PlayerScript:
        self.rebuffer_ms += ms
        return self.send("rebufferstart").wait(ms).send("rebufferend")

    def end(self) -> PlayerScript:
        return self.send("viewend")


@dataclass
class Beacons:
    """A running `/collect`, its sink, and a public video to send beacons about."""

    url: str
    sink: AnalyticsSink
    library: Library
    video_id: str
    client: httpx.Client

    def post(self, payload: object, **headers: str) -> httpx.Response:
        return self.client.post(self.url, json=payload, headers=headers)
