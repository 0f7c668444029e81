"""The collector: beacon batches in, enriched events handed to the sink.

`collect` validates a batch (`beacons.py`), drops bots, enriches each event once per
batch (viewer key, country, browser, OS, device: they share a request), corrects the
player's clock, credits only videos that exist, are ready and are public or unlisted,
and answers once the sink has the events on disk. A retried batch is harmless: the
sink drops event ids it already holds.

Clock correction: a player's clock may be off by hours. The batch says when the
player sent it (`sent_at`, on the player's clock), so an event happened
`sent_at - viewer_time` before the batch left; the collector dates it that long before
the batch arrived. A time in the future is clamped to the arrival.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from actors.analytics_sink import AppendResult
from cluster import metrics
from cluster.config import Settings
from cluster.db.models import Video, VideoStatus, Visibility
from cluster.errors import RateLimited
from cluster.kv import KV
from serve.analytics.agents import parse_agent
from serve.analytics.beacons import Rejected, parse_batch
from serve.analytics.geography import Countries
from serve.analytics.viewers import ViewerKeys

MAX_AGE_MS = 7 * 86_400_000  # older events are a replay or a broken clock
VIDEO_CACHE_S = 30.0  # a video made private stops being credited within this


def dropped_key(reason: str, *, now: float) -> str:
    """The KV counter of batches dropped for `reason` on the UTC day of `now`."""
    return f"analytics:dropped:{reason}:{time.strftime('%Y-%m-%d', time.gmtime(now))}"


class EventSink(Protocol):
    """The sink actor's client (`actors.analytics_sink.SinkClient`), or a local one."""

    async def append(self, rows: list[dict[str, Any]]) -> AppendResult: ...
    async def live_viewers(self, video_id: str) -> int: ...


@dataclass
class Outcome:
    """What `/collect` answers: how many events were kept, which were refused and why."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    dropped: str | None = None  # the whole batch, as a bot's


@dataclass(frozen=True)
class Prepared:
    rows: list[dict[str, Any]]
    outcome: Outcome


class Collector:
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        kv: KV,
        sink: EventSink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.kv = kv
        self.sink = sink
        self.clock = clock
        self.viewers = ViewerKeys(kv, clock=clock)
        self.countries = Countries(
            trust_header=settings.analytics_trust_country_header,
            mmdb_path=settings.analytics_mmdb_path,
        )
        self.per_minute = settings.analytics_ip_batches_per_minute
        self._videos: dict[str, tuple[float, str | None, str | None]] = {}

    async def collect(self, *, body: bytes, ip: str, headers: Mapping[str, str]) -> Outcome:
        """Keep what is good in the batch; durable when this returns."""
        from starlette.concurrency import run_in_threadpool

        prepared = await run_in_threadpool(self.prepare, body=body, ip=ip, headers=headers)
        outcome = prepared.outcome
        if prepared.rows:
            result = await self.sink.append(prepared.rows)
            outcome.accepted = result.accepted
            outcome.duplicates = result.duplicates
            metrics.analytics_events(result="accepted", count=result.accepted)
            if result.duplicates:
                metrics.analytics_events(
                    result="dropped", reason="duplicate", count=result.duplicates
                )
        if outcome.dropped is not None:
            metrics.analytics_events(result="dropped", reason="bot")
        if outcome.rejected:  # the reasons are sentences for the sender, not tag values
            metrics.analytics_events(
                result="dropped", reason="refused", count=len(outcome.rejected)
            )
        return outcome

    def prepare(self, *, body: bytes, ip: str, headers: Mapping[str, str]) -> Prepared:
        """The blocking half of `collect`: limits, checks and enrichment."""
        now = self.clock()
        window = int(now // 60)
        sent = self.kv.incr(f"analytics:rate:{self.viewers.address_key(ip)}:{window}", ttl=60)
        if sent > self.per_minute:
            raise RateLimited(
                f"more than {self.per_minute} beacon batches a minute from one address: "
                "send batches every 10 s",
                retry_after=60 - now % 60,
            )
        batch = parse_batch(body)
        outcome = Outcome(rejected=list(batch.rejected))
        user_agent = headers.get("user-agent", "")
        agent = parse_agent(user_agent)
        if agent.bot is not None:
            self.kv.incr(dropped_key(agent.bot, now=now), ttl=8 * 86_400)
            return Prepared(rows=[], outcome=Outcome(dropped=agent.bot))
        received = int(now * 1000)
        owners = self._owners({event["video_id"] for _, event in batch.events}, now=now)
        viewer_key = self.viewers.key(ip=ip, user_agent=user_agent)
        country = self.countries.country(ip=ip, headers=headers)
        rows = []
        for index, event in batch.events:
            owner_id, refusal = owners[event["video_id"]]
            if refusal is not None:
                outcome.rejected.append(Rejected(index=index, reason=refusal))
                continue
            offset = (batch.sent_at - event["viewer_time"]) if batch.sent_at else 0
            ts = min(received, received - offset if batch.sent_at else event["viewer_time"])
            if ts < received - MAX_AGE_MS:
                outcome.rejected.append(
                    Rejected(index=index, reason="the event is over 7 days old")
                )
                continue
            rows.append(
                {
                    "event_id": event["event_id"],
                    "view_id": event["view_id"],
                    "seq": event["seq"],
                    "event": event["event"],
                    "video_id": event["video_id"],
                    "owner_id": owner_id,
                    "viewer_key": viewer_key,
                    "ts": ts,
                    "received_at": received,
                    "playhead_ms": event["playhead_ms"],
                    "duration_ms": event.get("duration_ms"),
                    "rendition": event.get("rendition"),
                    "player_width": event.get("player_width"),
                    "player_height": event.get("player_height"),
                    "country": country,
                    "browser": agent.browser,
                    "os": agent.os,
                    "device": agent.device,
                    "error_code": event.get("error_code"),
                    "fatal": event.get("fatal"),
                }
            )
        outcome.rejected.sort(key=lambda r: r.index)
        return Prepared(rows=rows, outcome=outcome)

    def _owners(
        self, video_ids: set[str], *, now: float
    ) -> dict[str, tuple[str | None, str | None]]:
        """Each video's owner, or why its events are not credited (cached briefly)."""
        found: dict[str, tuple[str | None, str | None]] = {}
        missing = []
        for video_id in video_ids:
            cached = self._videos.get(video_id)
            if cached is not None and cached[0] > now:
                found[video_id] = cached[1:]
            else:
                missing.append(video_id)
        if missing:
            with self.sessions() as session:
                rows = session.execute(
                    select(Video.id, Video.owner_id, Video.visibility, Video.status).where(
                        Video.id.in_(missing)
                    )
                ).all()
            known = {row.id: row for row in rows}
            if len(self._videos) > 100_000:
                self._videos.clear()
            for video_id in missing:
                row = known.get(video_id)
                verdict: tuple[str | None, str | None]
                if row is None:
                    verdict = (None, "no such video")
                elif row.visibility == Visibility.PRIVATE:
                    verdict = (None, "the video is private: its plays are not counted")
                elif row.status != VideoStatus.READY:
                    verdict = (None, "the video is not ready to play")
                else:
                    verdict = (row.owner_id, None)
                self._videos[video_id] = (now + VIDEO_CACHE_S, *verdict)
                found[video_id] = verdict
        return found
