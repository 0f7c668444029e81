"""Captions: an owner's WebVTT or SRT files per language, served in the HLS master.

A file is checked and turned into WebVTT by `pipelines.media.subtitles`, stored under
`hls/{video}/subs/` (the WebVTT file, named by its content so a replaced file is never
served from a cache, and a one-segment media playlist), and its cues are kept in the
`captions` table, where the search index reads them as the video's transcript. The
master playlist gets a `SUBTITLES` group naming every language, so hls.js and Safari
offer them. Each change emits `captions.added` or `captions.removed`.

Automatic speech recognition plugs in at `put_cues`: it hands over cues (with
`source="asr"`) and everything after the parsing is the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cluster.db.models import Caption, Video
from cluster.errors import Forbidden, InvalidInput
from cluster.events import emit
from cluster.storage import ObjectStore
from pipelines.media import subtitles
from pipelines.media.subtitles import CaptionsRejected, Cue, Track
from serve.library.views import not_found, seen

MAX_LANGUAGES = 20


@dataclass(frozen=True)
class CaptionView:
    video_id: str
    language: str
    label: str
    source: str
    cue_count: int
    vtt_key: str


def _view(row: Caption) -> CaptionView:
    return CaptionView(
        video_id=row.video_id,
        language=row.language,
        label=row.label,
        source=row.source,
        cue_count=len(row.cues or []),
        vtt_key=row.storage_key,
    )


class Captions:
    def __init__(self, *, sessions: sessionmaker[Session], store: ObjectStore) -> None:
        self.sessions = sessions
        self.store = store

    def of_video(self, *, video_id: str, viewer_id: str | None) -> list[CaptionView]:
        with self.sessions() as session:
            seen(session, video_id, viewer_id)
            rows = session.scalars(
                select(Caption).where(Caption.video_id == video_id).order_by(Caption.language)
            )
            return [_view(row) for row in rows]

    def add(
        self, *, video_id: str, actor_id: str, language: str, data: bytes, label: str = ""
    ) -> CaptionView:
        """Check `data` (WebVTT or SRT) and publish it as the video's `language` captions,
        replacing any there were."""
        with self.sessions() as session:
            video = self._owned(session, video_id, actor_id)
            duration = video.duration
        try:
            subtitles.check_language(language)
            cues = subtitles.parse(data, duration=duration)
        except CaptionsRejected as exc:
            raise InvalidInput("file", str(exc)) from None
        return self.put_cues(
            video_id=video_id, actor_id=actor_id, language=language, cues=cues, label=label
        )

    def put_cues(
        self,
        *,
        video_id: str,
        actor_id: str,
        language: str,
        cues: Sequence[Cue],
        label: str = "",
        source: str = "upload",
    ) -> CaptionView:
        """Store checked cues as WebVTT (the seam for ASR, which makes its own cues)."""
        language = subtitles.check_language(language)
        body = subtitles.to_webvtt(cues)
        digest = hashlib.sha256(body).hexdigest()[:12]
        vtt_key = f"hls/{video_id}/subs/{language}.{digest}.vtt"
        with self.sessions.begin() as session:
            video = self._owned(session, video_id, actor_id)
            row = session.get(Caption, (video_id, language))
            if row is None and len(self._languages(session, video_id)) >= MAX_LANGUAGES:
                raise InvalidInput(
                    "language", f"a video has at most {MAX_LANGUAGES} caption languages"
                )
            old_key = row.storage_key if row is not None else None
            self.store.put_bytes(vtt_key, body)
            self.store.put_bytes(
                f"hls/{video_id}/subs/{language}.m3u8",
                subtitles.media_playlist(
                    vtt_name=vtt_key.rsplit("/", 1)[1], duration=video.duration or cues[-1].end
                ).encode(),
            )
            if row is None:
                row = Caption(video_id=video_id, language=language, storage_key=vtt_key)
                session.add(row)
            row.label = (label or language)[:80]
            row.source = source
            row.storage_key = vtt_key
            row.cues = [[c.start, c.end, c.plain] for c in cues]
            session.flush()
            self._rewrite_master(session, video_id)
            emit(session, "captions.added", video_id, language=language)
            view = _view(row)
        if old_key is not None and old_key != vtt_key:
            self.store.delete(old_key)
        return view

    def remove(self, *, video_id: str, actor_id: str, language: str) -> None:
        with self.sessions.begin() as session:
            self._owned(session, video_id, actor_id)
            row = session.get(Caption, (video_id, language))
            if row is None:
                raise not_found("captions", f"{video_id}/{language}")
            key = row.storage_key
            session.delete(row)
            session.flush()
            self._rewrite_master(session, video_id)
            emit(session, "captions.removed", video_id, language=language)
        self.store.delete(key)
        self.store.delete(f"hls/{video_id}/subs/{language}.m3u8")

    def _languages(self, session: Session, video_id: str) -> list[Caption]:
        return list(
            session.scalars(
                select(Caption).where(Caption.video_id == video_id).order_by(Caption.language)
            )
        )

    def _rewrite_master(self, session: Session, video_id: str) -> None:
        """Name every language in the master, if the video is published yet (the
        transcode's publish step does the same when it writes the master)."""
        key = f"hls/{video_id}/master.m3u8"
        if not self.store.exists(key):
            return
        tracks = tracks_of(self._languages(session, video_id))
        master = self.store.get_bytes(key).decode()
        self.store.put_bytes(key, subtitles.with_subtitles(master, tracks).encode())

    def _owned(self, session: Session, video_id: str, actor_id: str) -> Video:
        video = seen(session, video_id, actor_id)
        if video.owner_id != actor_id:
            raise Forbidden("only the video's owner can change its captions")
        return video


def tracks_of(rows: Sequence[Any]) -> list[Track]:
    """Tracks for `with_subtitles`, from caption rows."""
    return [
        Track(language=row.language, label=row.label, playlist=f"subs/{row.language}.m3u8")
        for row in rows
    ]
