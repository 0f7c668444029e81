"""Viewer keys: who watched, counted without knowing who.

A viewer key is HMAC-SHA256(salt of the UTC day, IP address + User-Agent). The salt is
random, made by the first replica that needs it each day (00:00 UTC), kept in the KV
store and destroyed 48 h after its day began (the KV TTL), so no one, the operator
included, can link a key back to an address once it is gone, or link one day's keys
to the next. The IP address itself is never stored. This is PeerTube's and Plausible's
scheme; it makes "unique viewers" a per-day figure (several days: "viewer-days").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from cluster.kv import KV

DAY_S = 86_400
SALT_LIFETIME_S = 2 * DAY_S


def salt_key(day: int) -> str:
    return f"analytics:salt:{day}"


class ViewerKeys:
    """Keys from the day's salt; salts cached in process until they expire."""

    def __init__(self, kv: KV, *, clock: Callable[[], float] = time.time) -> None:
        self.kv = kv
        self.clock = clock
        self._salts: dict[int, bytes] = {}

    def salt(self, day: int) -> bytes:
        cached = self._salts.get(day)
        if cached is not None:
            return cached
        now = self.clock()
        ttl = (day * DAY_S + SALT_LIFETIME_S) - now
        if ttl <= 0:
            raise ValueError("that day's salt is destroyed")
        # Of two replicas racing at midnight, one value wins; both then read it back.
        self.kv.set(salt_key(day), secrets.token_bytes(32), ttl=ttl, only_new=True)
        salt = self.kv.get(salt_key(day))
        assert salt is not None  # just set, unless it expired in between
        self._salts = {d: s for d, s in self._salts.items() if d >= day - 1}
        self._salts[day] = salt
        return salt

    def key(self, *, ip: str, user_agent: str) -> str:
        day = int(self.clock() // DAY_S)
        digest = hmac.new(
            self.salt(day), f"{ip}\0{user_agent}".encode(), hashlib.sha256
        ).hexdigest()
        return digest[:32]

    def address_key(self, ip: str) -> str:
        """A stand-in for the IP address in rate-limit keys: the address never reaches
        the KV store, even for a minute."""
        day = int(self.clock() // DAY_S)
        return hmac.new(self.salt(day), ip.encode(), hashlib.sha256).hexdigest()[:24]
