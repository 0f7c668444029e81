"""Synthetic but realistic beacon events, for the notebooks' CI data, demos and benchmarks
(`vidray analytics seed --events 100000`).

Creators join over the period; their videos get a Zipf-like share of plays; viewers
come from a weighted mix of countries, browsers and devices, mostly in the evening of
their day; each play has a lognormal startup, a Beta-shaped share of the video
watched, heartbeats every 10 s, and now and then a pause, a seek, a rebuffer (more on
mobile and low renditions), an exit before the first frame or a fatal error.
Deterministic for a given seed.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DAY_MS = 86_400_000
COUNTRIES = (("US", 30), ("IN", 14), ("BR", 9), ("DE", 8), ("FR", 7), ("GB", 7), ("JP", 6),
             ("NG", 5), ("MX", 5), ("CA", 5), ("ES", 4))  # fmt: skip
BROWSERS = (("Chrome", 62), ("Safari", 20), ("Firefox", 8), ("Edge", 7), ("Samsung Internet", 3))
DEVICES = (("desktop", 45), ("mobile", 45), ("tablet", 7), ("tv", 3))
OS_BY_DEVICE = {
    "desktop": (("Windows", 60), ("Mac OS X", 30), ("Linux", 10)),
    "mobile": (("Android", 60), ("iOS", 40)),
    "tablet": (("iOS", 55), ("Android", 45)),
    "tv": (("Tizen", 50), ("Android", 50)),
}
RENDITIONS = {
    "desktop": (("1080p", 50), ("720p", 35), ("480p", 15)),
    "mobile": (("720p", 40), ("480p", 35), ("360p", 25)),
    "tablet": (("1080p", 30), ("720p", 50), ("480p", 20)),
    "tv": (("1080p", 80), ("720p", 20)),
}
REBUFFER_CHANCE = {"1080p": 0.04, "720p": 0.06, "480p": 0.1, "360p": 0.15}


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    names, weights = zip(*weighted, strict=True)
    return rng.choices(names, weights)[0]


@dataclass(frozen=True)
class Catalogue:
    """Creators and their videos: (video_id, owner_id, duration_ms, published_ms)."""

    videos: list[tuple[str, str, int, int]]


def catalogue(rng: random.Random, *, start_ms: int, days: int, creators: int) -> Catalogue:
    videos = []
    for c in range(creators):
        owner = f"creator{c:09d}"
        joined = start_ms + int(rng.random() ** 2 * days * DAY_MS * 0.8)  # more join early
        for v in range(rng.randint(1, 8)):
            duration = int(rng.choice((15, 45, 120, 300, 600, 1200)) * 1000 * rng.uniform(0.7, 1.3))
            published = joined + int(rng.random() * (start_ms + days * DAY_MS - joined))
            videos.append((f"v{c:06d}x{v:02d}zzzzzz"[:16], owner, duration, published))
    return Catalogue(videos=videos)


def generate(
    *, events: int, days: int = 30, end_ms: int, creators: int = 40, seed: int = 15
) -> Iterator[list[dict[str, Any]]]:
    """Batches of enriched event rows (as the collector makes them) until `events`."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    start_ms = end_ms - days * DAY_MS
    videos = catalogue(rng, start_ms=start_ms, days=days, creators=creators).videos
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(videos))]
    rng.shuffle(weights)
    viewers = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(max(50, events // 40))]
    made = 0
    while made < events:
        video_id, owner, duration, published = rng.choices(videos, weights)[0]
        begin = rng.randint(max(published, start_ms), end_ms - 60_000)
        # Evenings are busier: move a share of plays to 18:00-23:00 of their day.
        if rng.random() < 0.4:
            day = begin - begin % DAY_MS
            begin = min(end_ms - 60_000, day + rng.randint(18 * 3_600_000, 23 * 3_600_000))
        rows = list(_play(rng, video_id=video_id, owner=owner, duration=duration,
                          begin=begin, viewer=rng.choice(viewers)))  # fmt: skip
        made += len(rows)
        yield rows


def _play(
    rng: random.Random, *, video_id: str, owner: str, duration: int, begin: int, viewer: str
) -> Iterator[dict[str, Any]]:
    device = _pick(rng, DEVICES)
    rendition = _pick(rng, RENDITIONS[device])
    common = {
        "view_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "video_id": video_id,
        "owner_id": owner,
        "viewer_key": viewer,
        "duration_ms": duration,
        "player_width": 1280 if device != "mobile" else 390,
        "player_height": 720 if device != "mobile" else 220,
        "country": _pick(rng, COUNTRIES),
        "browser": _pick(rng, BROWSERS),
        "os": _pick(rng, OS_BY_DEVICE[device]),
        "device": device,
        "error_code": None,
        "fatal": None,
    }
    t, playhead, seq = begin, 0, 0

    def event(name: str, **extra: Any) -> dict[str, Any]:
        nonlocal seq
        seq += 1
        return {
            **common,
            "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "seq": seq - 1,
            "event": name,
            "ts": t,
            "received_at": t + rng.randint(50, 10_000),
            "playhead_ms": playhead,
            "rendition": rendition,
            **extra,
        }

    yield event("viewstart")
    yield event("play")
    startup = int(rng.lognormvariate(6.4, 0.6))  # median ~600 ms
    if rng.random() < 0.03:  # gave up before the first frame
        t += startup * 4
        yield event("viewend")
        return
    t += startup
    yield event("playing")
    target = int(duration * min(1.0, rng.betavariate(1.2, 1.6) * 1.3))
    since_beat = 0
    while playhead < target:
        step = min(1_000, target - playhead)
        t += step
        playhead += step
        since_beat += step
        if since_beat >= 10_000:
            since_beat = 0
            yield event("heartbeat")
        roll = rng.random()
        if roll < REBUFFER_CHANCE[rendition] / 30:
            yield event("rebufferstart")
            t += int(rng.expovariate(1 / 1_500))
            yield event("rebufferend")
        elif roll < 0.002:
            yield event("pause")
            t += int(rng.expovariate(1 / 20_000))
            yield event("play")
            yield event("playing")
        elif roll < 0.003:
            yield event("seeking")
            playhead = min(duration, playhead + rng.randint(5_000, 60_000))
            t += rng.randint(200, 1_500)
            yield event("seeked")
            yield event("playing")
        elif roll < 0.0032:  # a fatal error now and then
            yield event("error", error_code="MEDIA_ERR_NETWORK", fatal=True)
            return
    yield event("viewend")
