"""Search queries: full text with filters, sorts, facets, snippets and deep links.

The index is read here and written only by `actors/search_index.py`. Each thread keeps
its own whoosh searcher and reopens it on the newest generation before a query when a
commit has happened since (a directory listing when nothing changed). Visibility is
decided twice: by the index (public and ready, or the viewer's own), then again by the
database for the page shown, so a private or deleted video never appears to others even
from a stale index.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from whoosh import index, sorting
from whoosh.idsets import DocIdSet
from whoosh.query import (
    And,
    DateRange,
    Every,
    NullQuery,
    NumericRange,
    Or,
    Query,
    Require,
    Term,
)
from whoosh.searching import Searcher

from actors.search_index import INDEX_NAME, index_dir
from cluster import metrics
from cluster.db.models import Video, VideoStatus, Visibility
from cluster.errors import InvalidInput, ServiceUnavailable
from serve.search import query as queries
from serve.search.query import UserQuery
from serve.search.snippets import escaped, first_cue, marked, matching_terms

log = logging.getLogger(__name__)

MAX_FIRST = 100
# Paging stops this deep: nobody reads result 1,001, and scoring it costs everyone.
MAX_DEPTH = 1000
MAX_FILTER_VALUES = 20

Sort = Literal["-match", "-publishedAt", "-views", "-likes", "duration"]
SORTS: dict[str, Any] = {
    "-match": None,
    "-publishedAt": sorting.FieldFacet("published", reverse=True),
    "-views": sorting.FieldFacet("views", reverse=True),
    "-likes": sorting.FieldFacet("likes", reverse=True),
    "duration": sorting.FieldFacet("duration"),
}
# Duration buckets, as PeerTube's search page offers them.
DURATIONS = {"short": (None, 240.0), "medium": (240.0, 1200.0), "long": (1200.0, None)}


@dataclass(frozen=True)
class SearchFilter:
    """PeerTube's search filter names, snake-cased."""

    category_one_of: tuple[str, ...] = ()
    tags_one_of: tuple[str, ...] = ()
    tags_all_of: tuple[str, ...] = ()
    duration_min: float | None = None
    duration_max: float | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    creator: str | None = None  # an id or a handle
    language: str | None = None  # of the captions


@dataclass(frozen=True)
class Hit:
    video_id: str
    score: float
    title_html: str  # escaped, matched words in <mark>
    snippet_html: str | None  # from the description or a caption cue
    moment: float | None  # a matched caption cue's start, in seconds
    cursor: str

    @property
    def link(self) -> str:
        base = f"/watch/{self.video_id}"
        return base if self.moment is None else f"{base}?t={int(self.moment)}"


@dataclass(frozen=True)
class Facets:
    category: dict[str, int] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    duration: dict[str, int] = field(default_factory=dict)
    creator: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchPage:
    hits: tuple[Hit, ...]
    total: int
    has_next: bool
    end_cursor: str | None  # after the last hit looked at, shown or not
    facets: Facets | None


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(after: str | None) -> int:
    if after is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind != "o" or not number.isdigit():
            raise ValueError(text)
        return int(number) + 1
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput(
            "after", "is not a cursor from this search: pass a hit's cursor"
        ) from None


def _values(name: str, values: tuple[str, ...]) -> list[str]:
    if len(values) > MAX_FILTER_VALUES:
        raise InvalidInput(name, f"lists {len(values)} values: give at most {MAX_FILTER_VALUES}")
    return [v.strip().lower() for v in values if v.strip()]


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def filter_query(wanted: SearchFilter) -> Query | None:
    """The filters asked for (None: none); who may see what is `Allowed`'s."""
    parts: list[Query] = []
    categories = [v.strip() for v in wanted.category_one_of if v.strip()]
    if len(categories) > MAX_FILTER_VALUES:
        raise InvalidInput("categoryOneOf", f"give at most {MAX_FILTER_VALUES} categories")
    if categories:
        parts.append(Or([Term("category", c) for c in categories]))
    if one_of := _values("tagsOneOf", wanted.tags_one_of):
        parts.append(Or([Term("tag", t) for t in one_of]))
    if all_of := _values("tagsAllOf", wanted.tags_all_of):
        parts.extend(Term("tag", t) for t in all_of)
    if wanted.duration_min is not None or wanted.duration_max is not None:
        low, high = wanted.duration_min, wanted.duration_max
        if low is not None and high is not None and low > high:
            raise InvalidInput("durationMin", "is above durationMax: swap them")
        parts.append(NumericRange("duration", _ms(low), _ms(high)))
    if wanted.start_date is not None or wanted.end_date is not None:
        start = _naive(wanted.start_date) if wanted.start_date else None
        end = _naive(wanted.end_date) if wanted.end_date else None
        if start is not None and end is not None and start > end:
            raise InvalidInput("startDate", "is after endDate: swap them")
        parts.append(DateRange("published", start, end))
    if wanted.creator:
        creator = wanted.creator.strip()
        parts.append(
            Or([Term("creator", creator), Term("creator_handle", creator.lstrip("@").lower())])
        )
    if wanted.language:
        parts.append(Term("language", wanted.language.strip().lower()))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(parts)


class Allowed(DocIdSet):
    """The documents a viewer may find, as whoosh's search `filter`: the public ones
    (one set per searcher, built once per generation) and the viewer's own (a short
    posting list). Whoosh checks each match against it; intersecting a `Require` with
    the audience's posting list instead cost as much as the search itself."""

    def __init__(self, public: set[int], own: set[int]) -> None:
        self.public = public
        self.own = own

    def __contains__(self, docnum: object) -> bool:
        return docnum in self.public or docnum in self.own

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self.public | self.own))

    def __len__(self) -> int:
        return len(self.public | self.own)

    def __bool__(self) -> bool:
        return True  # whoosh skips an empty (false) filter: none allowed is still a filter


class Search:
    """Queries over the index; one searcher per thread."""

    def __init__(
        self,
        *,
        path: Path,
        sessions: sessionmaker[Any],
        on_search: Callable[[str, str | None], None] | None = None,
    ) -> None:
        """`on_search(normalised text, viewer id)`: told of each first-page search
        (trending counts them); its failures never fail a search."""
        self.path = path
        self.sessions = sessions
        self.on_search = on_search
        self._index: index.Index | None = None
        self._opening = threading.Lock()
        self._local = threading.local()

    @classmethod
    def for_settings(cls, settings: Any, **kwargs: Any) -> Search:
        return cls(path=index_dir(settings), **kwargs)

    def searcher(self) -> Searcher:
        """This thread's searcher, at the newest committed generation."""
        current: Searcher | None = getattr(self._local, "searcher", None)
        if current is None:
            with self._opening:
                if self._index is None:
                    try:
                        self._index = index.open_dir(str(self.path), indexname=INDEX_NAME)
                    except (index.EmptyIndexError, FileNotFoundError, OSError):
                        raise ServiceUnavailable(
                            "VIDRAY_DATA_DIR",
                            f"no search index at {self.path} yet: start vidray (the index "
                            "actor builds it) or run `vidray search rebuild`",
                        ) from None
            current = self._index.searcher()
        elif not current.up_to_date():
            # A fresh searcher, not `refresh()`: whoosh's refresh reuses the reader of
            # a segment it knew, with that segment's old deletions, so an updated or
            # deleted video would still match until segments merge.
            current.close()
            assert self._index is not None  # opened with this thread's first searcher
            current = self._index.searcher()
        if getattr(self._local, "searcher", None) is not current:
            self._local.searcher = current
            self._local.public = None  # this generation's public set, built when needed
        return current

    def allowed(self, searcher: Searcher, viewer_id: str | None) -> Allowed:
        """What the viewer may find in this thread's searcher (`searcher()` first)."""
        public: set[int] | None = self._local.public
        if public is None:
            public = self._local.public = set(searcher.docs_for_query(Term("audience", "public")))
        own: set[int] = set()
        if viewer_id is not None:
            own = set(searcher.docs_for_query(Term("audience", f"owner:{viewer_id}")))
        return Allowed(public, own)

    def _visible(self, ids: list[str], viewer_id: str | None) -> set[str]:
        if not ids:
            return set()
        with self.sessions() as session:
            rows = session.execute(
                select(Video.id, Video.owner_id, Video.visibility, Video.status).where(
                    Video.id.in_(ids)
                )
            ).all()
        return {
            row.id
            for row in rows
            if (row.visibility == Visibility.PUBLIC and row.status == VideoStatus.READY)
            or (viewer_id is not None and row.owner_id == viewer_id)
        }

    def search(
        self,
        text: str,
        *,
        viewer_id: str | None = None,
        filter: SearchFilter | None = None,
        sort: Sort = "-match",
        first: int = 20,
        after: str | None = None,
        facets: bool = False,
    ) -> SearchPage:
        """A page of hits the viewer may see, best first (or in `sort` order)."""
        began = time.perf_counter()
        if not 1 <= first <= MAX_FIRST:
            raise InvalidInput("first", f"must be between 1 and {MAX_FIRST}")
        if sort not in SORTS:
            raise InvalidInput("sort", f"must be one of {', '.join(SORTS)}")
        offset = _offset(after)
        if offset + first > MAX_DEPTH:
            raise InvalidInput(
                "after", f"pages stop at result {MAX_DEPTH}: narrow the search with filters"
            )
        parsed = queries.parse(text)
        if text.strip() and not parsed.words:
            # Only punctuation or symbols ("*:*"): nothing to look for, not "everything".
            return SearchPage(hits=(), total=0, has_next=False, end_cursor=None, facets=None)
        wanted = queries.build(parsed) if parsed.words else None
        limits = filter_query(filter or SearchFilter())
        searcher = self.searcher()
        # No words: browse everything the filters allow, newest first by default. With
        # words, the limits are required (they filter without scoring).
        full = _required(wanted, limits)
        sortedby = SORTS[sort] if wanted is not None or sort != "-match" else SORTS["-publishedAt"]
        results = searcher.search(
            full,
            limit=offset + first + 1,
            sortedby=sortedby,
            groupedby=_facets() if facets else None,
            filter=self.allowed(searcher, viewer_id),
            # Whoosh's block-quality skipping trips an assertion under `Require`; and
            # without it every match is counted, so the total is exact.
            optimize=False,
        )
        window = list(results)[offset : offset + first + 1]
        shown = window[:first]
        visible = self._visible([hit["id"] for hit in shown], viewer_id)
        hits = tuple(
            _hit(hit, parsed, cursor=_cursor(offset + position))
            for position, hit in enumerate(shown)
            if hit["id"] in visible
        )
        if offset == 0 and parsed.words and self.on_search is not None:
            try:
                self.on_search(queries.normalise(text), viewer_id)
            except Exception as exc:  # best effort: Redis down never fails a search
                log.warning("trending did not count a search: %s", exc)
        metrics.search_query(kind="search", seconds=time.perf_counter() - began)
        return SearchPage(
            hits=hits,
            total=len(results),
            has_next=len(window) > first,
            end_cursor=_cursor(offset + len(shown) - 1) if shown else None,
            facets=_facet_counts(results) if facets else None,
        )

    def suggest(self, prefix: str, *, viewer_id: str | None = None, first: int = 8) -> list[str]:
        """Titles for a search box as the user types: every word, the last as a prefix."""
        began = time.perf_counter()
        parsed = queries.parse(prefix)
        if not parsed.words:
            return []
        wanted = queries.build(parsed, fuzzy=False)
        if wanted is NullQuery:
            return []
        searcher = self.searcher()
        results = searcher.search(
            wanted,
            limit=first * 2,
            filter=self.allowed(searcher, viewer_id),
            optimize=False,
        )
        found = [(hit["id"], hit["title"]) for hit in results]
        visible = self._visible([video_id for video_id, _ in found], viewer_id)
        titles: list[str] = []
        for video_id, title in found:
            if video_id in visible and title not in titles:
                titles.append(title)
        metrics.search_query(kind="suggest", seconds=time.perf_counter() - began)
        return titles[:first]


def _required(wanted: Query | None, limits: Query | None) -> Query:
    if wanted is None:
        return limits if limits is not None else Every()
    return wanted if limits is None else Require(wanted, limits)


def _facets() -> dict[str, Any]:
    return {
        "category": sorting.FieldFacet("category", maptype=sorting.Count),
        "creator": sorting.FieldFacet("creator", maptype=sorting.Count),
        "tags": sorting.FieldFacet("tag", allow_overlap=True, maptype=sorting.Count),
        "duration": sorting.QueryFacet(
            {
                name: NumericRange("duration", _ms(low), _ms(high), endexcl=True)
                for name, (low, high) in DURATIONS.items()
            },
            maptype=sorting.Count,
        ),
    }


def _facet_counts(results: Any) -> Facets:
    def counts(name: str) -> dict[str, int]:
        groups = results.groups(name)
        return {
            str(key): int(count)
            for key, count in sorted(groups.items(), key=lambda kv: (-kv[1], str(kv[0])))
            if key not in (None, "")
        }

    return Facets(
        category=counts("category"),
        tags=dict(list(counts("tags").items())[:20]),
        duration=counts("duration"),
        creator=dict(list(counts("creator").items())[:20]),
    )


def _hit(hit: Any, query: UserQuery, *, cursor: str) -> Hit:
    title = hit.get("title", "")
    title_html = marked(title, matching_terms(title, query), whole=True) or escaped(title)
    description = hit.get("description", "")
    snippet = marked(description, matching_terms(description, query), whole=False)
    moment: float | None = None
    cue = first_cue(hit.get("cues") or [], query)
    if cue is not None:
        moment, text, terms = cue
        if snippet is None:
            snippet = marked(text, terms, whole=True) or escaped(text)
    return Hit(
        video_id=hit["id"],
        score=float(hit.score or 0.0),
        title_html=title_html,
        snippet_html=snippet,
        moment=moment,
        cursor=cursor,
    )
