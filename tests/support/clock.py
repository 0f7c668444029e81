"""Clocks that tests move by hand: the one fake that vidray's tests allow themselves."""

from __future__ import annotations

import time


class FakeClock:
    """Wall-clock time that stands still until a test moves it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class OffsetClock:
    """Real time plus an offset a test moves by hand.

    For code whose output is checked by a server that reads the real clock (a signed URL
    that nginx or a CDN verifies): time moves on, and a test can still jump ahead.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset
