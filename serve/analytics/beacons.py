"""The beacon format: a batch `{"sent_at": ms, "events": [...]}` and its limits.

Event names are Mux Data's. Each event names its view (`view_id`, one per video load),
its place in that view (`seq`), the video and the playhead, and the player's own clock
(`viewer_time`, ms since the epoch); the collector corrects that clock with the batch's
`sent_at` (see `Collector`).

A batch that cannot be read is refused whole (`BatchRefused`); an event that breaks a
rule is refused alone, and its index is returned so a player can drop it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from serve.analytics.errors import BatchRefused, BatchTooLarge

MAX_BODY_BYTES = 500 * 1024
MAX_EVENTS = 300
MAX_EVENT_BYTES = 32 * 1024

EVENT_NAMES = frozenset(
    {
        "viewstart",
        "play",
        "playing",
        "pause",
        "seeking",
        "seeked",
        "rebufferstart",
        "rebufferend",
        "renditionchange",
        "error",
        "heartbeat",
        "viewend",
    }
)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_VIDEO_ID = re.compile(r"^[a-z0-9]{1,32}$")
_MAX_INT = 2**53  # what a browser's JSON numbers hold exactly


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class Batch:
    sent_at: int | None
    events: list[tuple[int, dict[str, Any]]]  # (index in the batch, event)
    rejected: list[Rejected]


def _int(event: dict[str, Any], name: str, *, low: int, high: int, required: bool) -> str | None:
    value = event.get(name)
    if value is None:
        return f"{name} is required" if required else None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return f"{name} must be a whole number from {low} to {high}"
    return None


def _text(event: dict[str, Any], name: str, *, limit: int) -> str | None:
    value = event.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        return f"{name} must be text of at most {limit} characters"
    return None


def check_event(event: Any, *, measure: bool) -> str | None:
    """Why `event` is refused, or None when it is well formed."""
    if not isinstance(event, dict):
        return "an event must be a JSON object"
    if measure and len(json.dumps(event, separators=(",", ":"))) > MAX_EVENT_BYTES:
        return f"the event is over {MAX_EVENT_BYTES // 1024} KB"
    if event.get("event") not in EVENT_NAMES:
        return f"event must be one of {', '.join(sorted(EVENT_NAMES))}"
    for name in ("event_id", "view_id"):
        value = event.get(name)
        if not isinstance(value, str) or not _TOKEN.match(value):
            return f"{name} must be 8 to 64 letters, digits, '-' or '_'"
    video_id = event.get("video_id")
    if not isinstance(video_id, str) or not _VIDEO_ID.match(video_id):
        return "video_id must be a video id (lowercase letters and digits)"
    return (
        _int(event, "seq", low=0, high=10**9, required=True)
        or _int(event, "viewer_time", low=0, high=_MAX_INT, required=True)
        or _int(event, "playhead_ms", low=0, high=10**11, required=True)
        or _int(event, "duration_ms", low=0, high=10**11, required=False)
        or _int(event, "player_width", low=0, high=100_000, required=False)
        or _int(event, "player_height", low=0, high=100_000, required=False)
        or _text(event, "rendition", limit=32)
        or _text(event, "error_code", limit=64)
        or (
            "fatal must be true or false"
            if event.get("fatal") is not None and not isinstance(event["fatal"], bool)
            else None
        )
    )


def parse_batch(body: bytes) -> Batch:
    """The batch in `body`, its good events kept and its bad ones listed."""
    if len(body) > MAX_BODY_BYTES:
        raise BatchTooLarge("body", f"the body is over {MAX_BODY_BYTES // 1024} KB: send less")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BatchRefused(
            "json", 'the body is not JSON: send {"sent_at": ms, "events": [...]}'
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise BatchRefused("shape", 'send a JSON object {"sent_at": ms, "events": [...]}')
    events = data["events"]
    if len(events) > MAX_EVENTS:
        raise BatchTooLarge(
            "events", f"{len(events)} events in one batch: send at most {MAX_EVENTS}"
        )
    sent_at = data.get("sent_at")
    if sent_at is not None and (
        not isinstance(sent_at, int) or isinstance(sent_at, bool) or not 0 <= sent_at < _MAX_INT
    ):
        raise BatchRefused("sent_at", "sent_at must be the player's clock in ms since the epoch")
    # No event can pass 32 KB in a body smaller than that: skip measuring each one.
    measure = len(body) > MAX_EVENT_BYTES
    kept: list[tuple[int, dict[str, Any]]] = []
    rejected: list[Rejected] = []
    for index, event in enumerate(events):
        reason = check_event(event, measure=measure)
        if reason is None:
            kept.append((index, event))
        else:
            rejected.append(Rejected(index=index, reason=reason))
    return Batch(sent_at=sent_at, events=kept, rejected=rejected)
