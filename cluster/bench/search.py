"""`vidray bench search`: vidray's search beside bare whoosh on the same index.

A generated library (titles, tags, descriptions and caption transcripts drawn from a
fixed vocabulary, so every run indexes the same text) is written to a fresh SQLite
database and indexed by the index writer's rebuild (documents per second). Then the
same queries, exact, misspelt and typed-as-you-go, run warm through vidray's `Search`
(query building, visibility filter, database re-check, snippets) and through bare
whoosh in the same process (the query `Search` builds, `searcher.search(q, limit=20)`),
p50 and p95 each. Freshness: a title changed in the database, its event handed to the
index actor's logic, until a reader finds the new title.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_VOCABULARY = (
    "guitar piano violin drums lesson tutorial beginner advanced cooking recipe bread "
    "sourdough pasta travel japan tokyo kyoto hiking mountain river camping photography "
    "camera lens portrait landscape editing physics lecture quantum chemistry biology "
    "history ancient rome empire documentary football training fitness yoga running "
    "marathon garden tomato compost woodworking chisel dovetail pottery glaze painting "
    "watercolor sketch programming python rust database server cloud kubernetes music "
    "concert festival interview podcast review unboxing smartphone laptop keyboard "
    "astronomy telescope galaxy planet rocket launch weather storm ocean sailing"
)
WORDS = tuple(_VOCABULARY.split())
_FILLER = "the a of and to in for with on how why what my your this that from"
FILLER = tuple(_FILLER.split())
CATEGORIES = ("music", "education", "food", "travel", "science", "sports", "howto", "tech")
QUERIES = {
    "exact": ["guitar lesson", "sourdough bread", "quantum physics", "tokyo travel"],
    "fuzzy": ["guitr lessn", "sourdugh", "photograpy camera", "kubernetis"],
    "prefix": ["wood", "astron", "marathon trai", "watercol"],
}


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(
        rng.choice(FILLER) if rng.random() < 0.3 else rng.choice(WORDS) for _ in range(words)
    )


def seed(sessions: Any, *, videos: int, seed: int = 7) -> None:
    """`videos` public, ready videos from 100 creators; one in three has captions."""
    from sqlalchemy import insert

    from cluster.db.models import Caption, User, Video, VideoStatus, Visibility, new_id, utcnow

    rng = random.Random(seed)  # noqa: S311 (repeatable text, not secrets)
    now = utcnow()
    with sessions.begin() as session:
        session.execute(
            insert(User),
            [
                {"id": f"u{n:015d}", "email": f"u{n}@example.com", "handle": f"u{n}"}
                for n in range(100)
            ],
        )
    for start in range(0, videos, 2000):
        rows: list[dict[str, Any]] = []
        captions: list[dict[str, Any]] = []
        for _ in range(start, min(videos, start + 2000)):
            video_id = new_id()
            rows.append(
                {
                    "id": video_id,
                    "owner_id": f"u{rng.randrange(100):015d}",
                    "title": _sentence(rng, rng.randint(3, 8)).capitalize(),
                    "description": _sentence(rng, rng.randint(10, 40)),
                    "tags": rng.sample(WORDS, 3),
                    "category": rng.choice(CATEGORIES),
                    "visibility": Visibility.PUBLIC,
                    "status": VideoStatus.READY,
                    "duration": rng.uniform(30, 3600),
                    "view_count": rng.randrange(100_000),
                    "like_count": rng.randrange(5_000),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if rng.random() < 1 / 3:
                cues = [[n * 5.0, n * 5.0 + 4, _sentence(rng, 10)] for n in range(6)]
                captions.append(
                    {
                        "video_id": video_id,
                        "language": "en",
                        "label": "English",
                        "source": "upload",
                        "storage_key": "x",
                        "cues": cues,
                        "created_at": now,
                    }
                )
        with sessions.begin() as session:
            session.execute(insert(Video), rows)
            if captions:
                session.execute(insert(Caption), captions)


@dataclass(frozen=True)
class Timing:
    p50_ms: float
    p95_ms: float
    # The process's CPU time per query: on a shared, loaded machine the wall clock
    # mostly measures the wait for a core.
    cpu_p95_ms: float = 0.0


def _p95(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _timing(samples: list[float], cpu: list[float] | None = None) -> Timing:
    ordered = sorted(samples)
    return Timing(
        p50_ms=statistics.median(ordered) * 1000,
        p95_ms=_p95(ordered) * 1000,
        cpu_p95_ms=_p95(sorted(cpu)) * 1000 if cpu else 0.0,
    )


def _measure(run: Callable[[str], Any], queries: list[str], *, rounds: int) -> Timing:
    for text in queries:  # warm: caches, stems, automata
        run(text)
    samples: list[float] = []
    cpu: list[float] = []
    for _ in range(rounds):
        for text in queries:
            started, started_cpu = time.perf_counter(), time.process_time()
            run(text)
            samples.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    return _timing(samples, cpu)


@dataclass(frozen=True)
class Report:
    videos: int
    rebuild_s: float
    rebuild_cpu_s: float
    queries: dict[str, tuple[Timing, Timing]]  # kind: (vidray, bare whoosh)
    freshness: Timing


def bench(*, videos: int, rounds: int, say: Callable[[str], None]) -> Report:
    from actors.search_index import SearchIndex
    from cluster import db
    from cluster.config import load_settings
    from cluster.events import Event
    from serve.search import query as queries
    from serve.search.service import Search

    with tempfile.TemporaryDirectory(prefix="vidray-bench-search-") as tmp:
        settings = load_settings(data_dir=Path(tmp))  # the default commit window
        engine = db.make_engine(settings.resolved_database_url)
        db.migrate(engine)
        sessions = db.session_factory(engine)
        say(f"writing {videos} videos to the database")
        seed(sessions, videos=videos)
        say("indexing them (rebuild)")
        started, started_cpu = time.perf_counter(), time.process_time()
        actor = SearchIndex(settings)  # no index yet: rebuilt from the database
        rebuild_s = time.perf_counter() - started
        rebuild_cpu_s = time.process_time() - started_cpu
        search = Search.for_settings(settings, sessions=sessions)
        searcher = search.searcher()

        def bare(text: str) -> Any:
            return list(searcher.search(queries.build(queries.parse(text)), limit=20))

        results: dict[str, tuple[Timing, Timing]] = {}
        for kind, texts in QUERIES.items():
            say(f"{kind} queries")
            ours = _measure(lambda text: search.search(text, first=20), texts, rounds=rounds)
            anchor = _measure(bare, texts, rounds=rounds)
            results[kind] = (ours, anchor)

        say("freshness")
        from sqlalchemy import select

        from cluster.db.models import OutboxEvent, Video
        from cluster.events import emit

        with sessions() as session:
            ids = list(session.scalars(select(Video.id).limit(20)))
        samples: list[float] = []
        for n, video_id in enumerate(ids):
            word = f"zqxfresh{n}"
            with sessions.begin() as session:
                row = session.get(Video, video_id)
                assert row is not None
                row.title = f"{row.title} {word}"
                event = emit(session, "video.updated", video_id, fields=["title"])
                session.flush()
                event_id = event.id
            committed = time.perf_counter()
            with sessions() as session:
                outbox = session.get(OutboxEvent, event_id)
                assert outbox is not None
                asyncio.run(actor.handle([Event.from_row(outbox)]))
            while not search.search(word).hits:
                time.sleep(0.001)
            samples.append(time.perf_counter() - committed)
        actor.writer.close()
        engine.dispose()
        return Report(
            videos=videos,
            rebuild_s=rebuild_s,
            rebuild_cpu_s=rebuild_cpu_s,
            queries=results,
            freshness=_timing(samples),
        )
