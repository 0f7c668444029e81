"""Trending searches: what many people searched for lately.

Each search's normalised text (`serve.search.query.normalise`) is counted once per user
per hour, in an hourly sorted set of the KV (Redis, or the embedded store). Signed-in
searches only: an anonymous caller could otherwise push a term by repeating it. A
periodic job (`fold_trending`, run by the scheduler) folds the last 24 hours with
exponential decay (a 6-hour half-life) into a cached top 10. A term trends only once at
least `VIDRAY_SEARCH_TRENDING_MIN_USERS` distinct users searched for it within 24 hours,
and never when it holds a blocked word (`VIDRAY_SEARCH_TRENDING_BLOCKLIST`).

The KV failing never fails a search (the count is skipped), and `top()` then answers the
last list this process read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from cluster.config import Settings
from cluster.kv import KV, open_kv
from cluster.security import Clock

log = logging.getLogger(__name__)

HOUR = 3600
WINDOW_HOURS = 24
HALF_LIFE_HOURS = 6.0
TOP = 10
# Members read from each hourly set when folding: the long tail never trends.
READ_PER_HOUR = 500
CACHE_KEY = "trending"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class TrendingTerm:
    text: str
    score: float
    users: int


class Trending:
    def __init__(
        self,
        *,
        kv: KV,
        min_users: int = 3,
        blocklist: Iterable[str] = (),
        clock: Clock = time.time,
        namespace: str = "search",
    ) -> None:
        """`namespace`: the prefix of every key (tests sharing one Redis use their own)."""
        self.kv = kv
        self.namespace = namespace
        self.min_users = min_users
        self.blocked = frozenset(word.strip().lower() for word in blocklist if word.strip())
        self.clock = clock
        self._last: list[str] = []

    @classmethod
    def for_settings(cls, settings: Settings, *, kv: KV, clock: Clock = time.time) -> Trending:
        return cls(
            kv=kv,
            min_users=settings.search_trending_min_users,
            blocklist=settings.search_trending_blocklist,
            clock=clock,
        )

    def _key(self, *parts: object) -> str:
        return ":".join([self.namespace, *map(str, parts)])

    def _hour(self) -> int:
        return int(self.clock() // HOUR)

    def record(self, text: str, viewer_id: str | None) -> None:
        """Count `text` (already normalised) for this user, once per hour."""
        if not text or viewer_id is None:
            return
        hour = self._hour()
        who = _digest(viewer_id, text)
        if self.kv.set(self._key("seen", hour, who), b"1", ttl=2 * HOUR, only_new=True):
            self.kv.zincrby(self._key("hits", hour), text, 1.0)
        # Distinct users over the window: each user adds to a term once per 24 hours.
        if self.kv.set(self._key("seen24", who), b"1", ttl=WINDOW_HOURS * HOUR, only_new=True):
            self.kv.zincrby(self._key("users", hour), text, 1.0)

    def is_blocked(self, text: str) -> bool:
        return any(word in self.blocked for word in text.split()) or text in self.blocked

    def fold(self) -> list[TrendingTerm]:
        """Fold the last 24 hours into the cached top 10, and drop older hours."""
        now = self._hour()
        scores: dict[str, float] = {}
        users: dict[str, int] = {}
        for age in range(WINDOW_HOURS):
            weight = math.pow(0.5, age / HALF_LIFE_HOURS)
            for text, count in self.kv.ztop(self._key("hits", now - age), READ_PER_HOUR):
                scores[text] = scores.get(text, 0.0) + weight * count
            for text, count in self.kv.ztop(self._key("users", now - age), READ_PER_HOUR):
                users[text] = users.get(text, 0) + int(count)
        for age in range(WINDOW_HOURS, WINDOW_HOURS + 24):
            self.kv.delete(self._key("hits", now - age), self._key("users", now - age))
        ranked = sorted(
            (
                TrendingTerm(text=text, score=round(score, 6), users=users.get(text, 0))
                for text, score in scores.items()
                if users.get(text, 0) >= self.min_users and not self.is_blocked(text)
            ),
            key=lambda term: (-term.score, term.text),
        )[:TOP]
        self.kv.set(self._key(CACHE_KEY), json.dumps([term.text for term in ranked]))
        self._last = [term.text for term in ranked]
        return ranked

    def top(self) -> list[str]:
        """The cached top 10; the last list read when the KV cannot be reached."""
        try:
            raw = self.kv.get(self._key(CACHE_KEY))
        except Exception as exc:  # Redis down: answer from memory
            log.warning("trending searches from memory, the KV failed: %s", exc)
            return list(self._last)
        if raw is not None:
            self._last = [str(text) for text in json.loads(raw)]
        return list(self._last)


def fold_trending(settings: Settings) -> list[str]:
    """The scheduler's periodic work (a Ray task): refresh the cached top 10."""
    kv = open_kv(settings)
    try:
        return [term.text for term in Trending.for_settings(settings, kv=kv).fold()]
    finally:
        kv.close()
