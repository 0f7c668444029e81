"""What the search index holds for one video, and how text becomes its terms.

Shared by the one writer (`actors/search_index.py`) and the readers in the gateway
(`serve/search/`), so a word is analysed the same way when it is indexed and when it
is looked up. Whoosh here is the `whoosh-reloaded` fork (see the README).

Analysis: words (`\\w+`, so accents and CJK runs stay whole), lowercased, accents
folded (é -> e), English stop words dropped, then stemmed ("running" -> "run").
`exact` keeps the unstemmed words of title and tags for prefix matching
(search as you type: "runn" must find "running", whose stem is "run").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from whoosh.analysis import (
    Analyzer,
    CharsetFilter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
)
from whoosh.codec import whoosh3
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.support.charset import accent_map

from cluster.db.models import Caption, Video


def _remember_missing_columns() -> None:
    """Whoosh's per-document reader caches a field's lengths column once found, but
    not its absence: every posting of an unscored field (id, tag, numbers...) asks the
    file system again, a `stat` per posting when a segment is written. A segment's
    files never change once it is written, so the absence is remembered too."""
    reader_class: Any = whoosh3.W3PerDocReader
    if getattr(reader_class, "_vidray_remembers_missing", False):
        return
    found_column = reader_class._cached_reader

    def cached_reader(self: Any, fieldname: str, column: Any) -> Any:
        readers = self._readers
        if fieldname in readers:
            return readers[fieldname]
        reader = found_column(self, fieldname, column)
        if reader is None:
            readers[fieldname] = None
        return reader

    reader_class._cached_reader = cached_reader
    reader_class._vidray_remembers_missing = True


_remember_missing_columns()

# Words of up to 40 characters: a longer "word" is noise (a URL, a hash) and costs
# fuzzy matching dearly.
_TOKENS = r"\w{1,40}"


def _plain() -> Analyzer:
    return RegexTokenizer(_TOKENS) | LowercaseFilter() | CharsetFilter(accent_map)


def stemmed_analyzer() -> Analyzer:
    """Index and query analysis of the full-text fields."""
    # Snowball's English stemmer: whoosh's default Porter stems "running" to "runn".
    return _plain() | StopFilter(minsize=1) | StemFilter(lang="en", cachesize=50000)


def plain_analyzer() -> Analyzer:
    """Words as typed, lowercased and accent-folded: for prefixes and cue lookups."""
    return _plain()


STEMMED = stemmed_analyzer()
PLAIN = plain_analyzer()


def build_schema() -> Schema:
    return Schema(
        id=ID(stored=True, unique=True),
        # The outbox id of the newest event applied: an older one is skipped.
        version=STORED(),
        # No positions (`phrase=False`): no query is a phrase, snippets re-read the
        # stored text, and positions were a third of a rebuild's time.
        title=TEXT(analyzer=STEMMED, stored=True, phrase=False),
        tags=TEXT(analyzer=STEMMED, stored=False, phrase=False),
        description=TEXT(analyzer=STEMMED, stored=True, phrase=False),
        transcript=TEXT(analyzer=STEMMED, stored=False, phrase=False),
        exact=TEXT(analyzer=PLAIN, stored=False, phrase=False),
        tag=KEYWORD(commas=True, lowercase=True, stored=True, vector=True),
        category=ID(stored=True, sortable=True),
        creator=ID(stored=True, sortable=True),
        creator_handle=ID(stored=True),
        language=KEYWORD(commas=True, lowercase=True, stored=True),
        visibility=STORED(),  # kept for `vidray search check`; queries use `audience`
        status=STORED(),
        # Who may find it: "public" (public and ready) and "owner:{id}". Queries filter
        # on a set of the public documents built once per generation (`Allowed`), plus
        # the viewer's own.
        audience=KEYWORD(commas=True),
        # Milliseconds: whoosh's sortable float columns do not write (a NaN default).
        duration=NUMERIC(int, bits=64, stored=True, sortable=True),
        published=DATETIME(stored=True, sortable=True),
        # Sorted on (a column), never searched by range: one term each.
        views=NUMERIC(int, bits=64, shift_step=0, stored=True, sortable=True),
        likes=NUMERIC(int, bits=64, shift_step=0, stored=True, sortable=True),
        poster=STORED(),
        # [[start_s, text], ...] of every caption language: hits' deep links.
        cues=STORED(),
    )


SCHEMA = build_schema()
WEIGHTS: dict[str, float] = {"title": 4.0, "tags": 3.0, "description": 2.0, "transcript": 1.0}


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff]")
_SPACES = re.compile(r"[\t\n\r]")


def clean_text(text: str) -> str:
    """NFC, without NUL and other control characters (tabs and newlines become spaces):
    whoosh stores text as UTF-8 and must never see a lone NUL or surrogate."""
    return _CONTROLS.sub("", _SPACES.sub(" ", unicodedata.normalize("NFC", text)))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True)
class VideoDocument:
    """One video as the index holds it (`fields()` is what whoosh writes)."""

    id: str
    title: str
    description: str
    tags: tuple[str, ...]
    category: str
    creator: str
    creator_handle: str
    visibility: str
    status: str
    duration: float
    published: datetime
    views: int
    likes: int
    poster: str | None
    languages: tuple[str, ...]
    cues: tuple[tuple[float, str], ...]

    def fields(self, *, version: int) -> dict[str, Any]:
        title, description = clean_text(self.title), clean_text(self.description)
        tags = [clean_text(tag) for tag in self.tags]
        transcript = " ".join(text for _, text in self.cues)
        return {
            "id": self.id,
            "version": version,
            "title": title,
            "tags": " ".join(tags),
            "description": description,
            "transcript": transcript,
            "exact": " ".join([title, *tags]),
            "tag": ",".join(t.replace(",", " ").lower() for t in tags),
            "category": self.category,
            "creator": self.creator,
            "creator_handle": self.creator_handle.lower(),
            "language": ",".join(self.languages),
            "visibility": self.visibility,
            "status": self.status,
            "audience": ",".join(
                (["public"] if self.visibility == "public" and self.status == "ready" else [])
                + [f"owner:{self.creator}"]
            ),
            "duration": max(round(self.duration * 1000), 0),
            "published": _aware(self.published).replace(tzinfo=None),  # whoosh: naive UTC
            "views": int(self.views),
            "likes": int(self.likes),
            "poster": self.poster,
            "cues": [[start, text] for start, text in self.cues],
        }


def _document(video: Video, captions: Sequence[Caption]) -> VideoDocument:
    cues = sorted(
        (float(cue[0]), clean_text(str(cue[2])))
        for caption in captions
        for cue in caption.cues or []
    )
    return VideoDocument(
        id=video.id,
        title=video.title or "",
        description=video.description or "",
        tags=tuple(video.tags or ()),
        category=video.category or "",
        creator=video.owner_id,
        creator_handle=video.owner.handle if video.owner is not None else "",
        visibility=str(video.visibility),
        status=str(video.status),
        duration=float(video.duration or 0.0),
        published=video.created_at,
        views=int(video.view_count or 0),
        likes=int(video.like_count or 0),
        poster=video.poster_key,
        languages=tuple(sorted(caption.language.lower() for caption in captions)),
        cues=tuple(cues),
    )


def load_documents(session: Session, video_ids: Iterable[str]) -> dict[str, VideoDocument]:
    """The documents of those videos that still exist (a missing id: deleted)."""
    ids = sorted(set(video_ids))
    if not ids:
        return {}
    videos = session.scalars(
        select(Video).where(Video.id.in_(ids)).options(selectinload(Video.owner))
    ).all()
    captions: dict[str, list[Caption]] = {}
    for caption in session.scalars(select(Caption).where(Caption.video_id.in_(ids))):
        captions.setdefault(caption.video_id, []).append(caption)
    return {video.id: _document(video, captions.get(video.id, [])) for video in videos}


def all_video_ids(session: Session, *, after: str = "", limit: int = 1000) -> list[str]:
    """Every video id, in pages (a rebuild walks the table without holding it all)."""
    return list(
        session.scalars(select(Video.id).where(Video.id > after).order_by(Video.id).limit(limit))
    )
