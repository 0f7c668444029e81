"""Publishing a growing ladder: staged segments move to their final keys, then the
playlists that name them are rewritten, media playlists first and the master last, so a
player never reads a playlist naming a segment that is not there yet."""

from __future__ import annotations

import posixpath
import tempfile
from pathlib import Path
from typing import Any

from cluster.storage import ObjectStore
from pipelines.media import (
    AAC_CODECS,
    AudioOutput,
    ChunkOutput,
    Segment,
    TranscodePlan,
    package,
    subtitles,
)


class Publisher:
    """Collects task results, publishes segments in order and rewrites the playlists."""

    def __init__(
        self, *, store: ObjectStore, plan: TranscodePlan, prefix: str, staging: str
    ) -> None:
        self.store, self.plan, self.prefix, self.staging = store, plan, prefix, staging
        self.chunks: list[ChunkOutput] = []
        self.audio_segments: list[Segment] = []
        self.audio_complete = False
        self.published: set[str] = set()
        self.playlists: dict[str, bytes] = {}  # what each published playlist says now

    def publish_segments(self, paths: list[str]) -> None:
        for rel in paths:
            self.store.move(self.staging + rel, self.prefix + rel)
            self.published.add(self.prefix + rel)

    def remove_published(self) -> None:
        """Delete exactly what this run published (the prefix may hold other files)."""
        for key in self.published:
            self.store.delete(key)

    def add_chunk(self, output: ChunkOutput) -> None:
        self.publish_segments([s.path for r in output.rungs for s in r.segments])
        self.chunks.append(output)

    def adopt_chunk(self, output: ChunkOutput) -> None:
        """A chunk an earlier run of the job published: its segments are at their final
        keys already, and are this run's to remove if it fails."""
        self.published.update(self.prefix + s.path for r in output.rungs for s in r.segments)
        self.chunks.append(output)

    def add_audio_segment(self, segment: Segment) -> None:
        """Publish the next segment of the audio task's stream."""
        self.publish_segments([segment.path])
        self.audio_segments.append(segment)

    def finish_audio(self) -> None:
        """The audio stream has ended: the playlists may end (VOD) once the video has."""
        self.audio_complete = True

    @property
    def audio(self) -> AudioOutput | None:
        """The audio published so far; None for a source without sound."""
        if self.plan.audio is None:
            return None
        return AudioOutput(
            codecs=AAC_CODECS,
            channels=self.plan.audio.channels,
            bitrate=self.plan.audio.bitrate,
            segments=tuple(self.audio_segments),
            complete=self.audio_complete,
        )

    def write_playlists(self) -> bool:
        """Rewrite the playlists that changed since the last call; True once they play.

        Unchanged ones are skipped: while the audio runs ahead of the video, each of its
        segments changes nothing a player can see, and a long source has hundreds.
        """
        with tempfile.TemporaryDirectory(prefix="vidray-pkg-") as tmp:
            result = package(plan=self.plan, chunks=self.chunks, audio=self.audio, out_dir=tmp)
            local = Path(tmp)
            # Media playlists first, master last: the master only names what exists.
            for path in sorted(local.rglob("*.m3u8"), key=lambda p: p.name == "master.m3u8"):
                key = self.prefix + path.relative_to(local).as_posix()
                text = path.read_bytes()
                if path.name == "master.m3u8":
                    text = self._with_captions(key, text)
                if self.playlists.get(key) != text:
                    self.store.put_bytes(key, text)
                    self.playlists[key] = text
                    self.published.add(key)
        return result.playable

    def _with_captions(self, key: str, master: bytes) -> bytes:
        """The master with the captions added before or while it was transcoded
        (`serve/library/captions.py` writes `subs/{language}.m3u8`), labels kept."""
        languages = sorted(
            posixpath.basename(info.key)[: -len(".m3u8")]
            for info in self.store.list(self.prefix + "subs/")
            if info.key.endswith(".m3u8")
        )
        if not languages:
            return master
        labels: dict[str, str] = {}
        if self.store.exists(key):
            stored = self.store.get_bytes(key).decode()
            labels = {t.language: t.label for t in subtitles.tracks_in(stored)}
        tracks = [
            subtitles.Track(
                language=lang, label=labels.get(lang, lang), playlist=f"subs/{lang}.m3u8"
            )
            for lang in languages
        ]
        return subtitles.with_subtitles(master.decode(), tracks).encode()

    def renditions(self) -> tuple[dict[str, Any], ...]:
        """The video renditions the master lists, in ladder order, read from the outputs.

        A rung is listed once its first chunk exists, with the codecs its encoder wrote
        there, as `package` lists it; no playlist has to be written to find out.
        """
        codecs = {r.name: r.codecs for c in self.chunks if c.chunk == 0 for r in c.rungs}
        return tuple(
            {
                "name": rung.name,
                "width": rung.width,
                "height": rung.height,
                "codecs": codecs[rung.name],
                "playlist_key": f"{self.prefix}{rung.name}/index.m3u8",
            }
            for rung in self.plan.rungs
            if rung.name in codecs
        )
