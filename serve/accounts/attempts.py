"""Sign-in attempts counted in the KV store per fixed window, per contact and per
network (both as keyed hashes), so that no shape of request gets more tries than one
client sending one request at a time."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.errors import RateLimited
from cluster.kv import KV


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Counted per fixed window; the defaults stop guessing long before it pays off."""

    window_s: int = 3600
    otp_requests_per_contact: int = 5
    otp_requests_per_ip: int = 30
    tries_per_code: int = 5
    failures_per_contact: int = 10  # the account lockout
    failures_per_ip: int = 100


class Attempts:
    def __init__(self, kv: KV, limits: RateLimits) -> None:
        self.kv = kv
        self.limits = limits

    def count(self, key: str, limit: int, message: str) -> None:
        """Count one more request under `key`; `RateLimited` past `limit` in the window."""
        if self.kv.incr(key, ttl=self.limits.window_s) > limit:
            raise RateLimited(message, retry_after=self.kv.ttl(key) or self.limits.window_s)

    def refuse_if_locked(self, cid: str, ipid: str) -> None:
        """`RateLimited` while the contact or the network has failed too often."""
        for key, limit in (
            (f"auth:fail:c:{cid}", self.limits.failures_per_contact),
            (f"auth:fail:ip:{ipid}", self.limits.failures_per_ip),
        ):
            count = self.kv.get(key)
            if count is not None and int(count) >= limit:
                wait = self.kv.ttl(key) or self.limits.window_s
                raise RateLimited(
                    f"too many failed attempts: sign-in is locked for {round(wait / 60) or 1} "
                    "more minutes",
                    retry_after=wait,
                )

    def failed(self, cid: str, ipid: str) -> None:
        """One more failed code or password, for the contact and for the network."""
        self.kv.incr(f"auth:fail:c:{cid}", ttl=self.limits.window_s)
        self.kv.incr(f"auth:fail:ip:{ipid}", ttl=self.limits.window_s)
