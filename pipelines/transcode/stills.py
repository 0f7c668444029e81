"""The poster and storyboard of a video, gathered from its chunk tasks' results.

Each chunk task keeps the frames at the plan's sample times (`pipelines.media.stills`);
the driver collects them here as chunks arrive and writes the two images once the last
chunk is in: a few tens of milliseconds, against a second decode of the source.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cluster.storage import ObjectStore
from pipelines.media import ChunkStills, PosterPick, StillTimes, best_poster, write_storyboard


class StillsGatherer:
    def __init__(self, times: StillTimes) -> None:
        self.times = times
        self.tiles: dict[int, bytes] = {}
        self.picks: list[PosterPick] = []

    def add(self, stills: ChunkStills | None) -> None:
        if stills is None:
            return
        self.tiles.update(stills.tiles)
        if stills.poster is not None:
            self.picks.append(stills.poster)

    def publish(self, store: ObjectStore, image_prefix: str) -> tuple[str, str]:
        """Write `poster.jpg`, `storyboard.jpg` and `storyboard.vtt`; return the keys of
        the poster and of the storyboard's cues."""
        work = Path(tempfile.mkdtemp(prefix="vidray-stills-"))
        try:
            best_poster(self.picks, work / "poster.jpg")
            write_storyboard(self.tiles, self.times, work)
            for name in ("poster.jpg", "storyboard.jpg", "storyboard.vtt"):
                store.put_file(image_prefix + name, work / name)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return f"{image_prefix}poster.jpg", f"{image_prefix}storyboard.vtt"
