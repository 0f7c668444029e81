"""CPU seconds per stage of a media task: where a transcode's CPU goes.

Each stage is timed with `time.thread_time()`, the CPU clock of the calling thread. The
chunk encoders run decoder and x264 with one thread each (`threads=1`), so every cycle
of a stage is spent on the thread that timed it, and stage times add up to the task's.
A task also reports its whole process's CPU (`process_cpu`), which includes whatever
ran on other threads (Ray's own, an uploader); the bench prints the difference as
"other". A task whose codecs run threads of their own (the first, which a viewer waits
on) times its stages with the process's clock instead (`StageTimes(threaded=True)`):
work a codec's threads do in the background then lands on whichever stage is running,
close enough, rather than all on "other".
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager


def process_cpu() -> float:
    """User + system CPU seconds of this process so far (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class StageTimes:
    """Accumulates thread CPU seconds per stage name; cheap enough to call per frame."""

    def __init__(self, *, threaded: bool = False) -> None:
        self.seconds: dict[str, float] = {}
        self.now = time.process_time if threaded else time.thread_time

    def add(self, stage: str, since: float) -> float:
        """Charge `stage` with the CPU spent since `since` (a `now()`); return now."""
        now = self.now()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + (now - since)
        return now

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = self.now()
        try:
            yield
        finally:
            self.add(name, start)

    def merge(self, other: dict[str, float]) -> None:
        for name, seconds in other.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
