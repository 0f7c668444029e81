"""`vidray bench analytics`: each part of the analytics path beside its anchor.

- ingest: `POST /collect` (the collector's ASGI app, enrichment, an in-process sink with
  its fsynced WAL) under uvicorn in its own process, beside a bare uvicorn app in the
  same kind of process that only parses the same JSON; events/s and p99 from an async
  httpx load generator on loopback;
- sink: rows/s through `AnalyticsSink` (append + fsync, flush to zstd Parquet) beside
  `pyarrow.Table.from_pylist` + `pyarrow.parquet.write_table` (zstd) of the same rows;
- queries: a one-day, one-video `videoStats` through `Analytics` (p95 of repeated runs)
  and exact uniques over every seeded event, beside the same SQL run by DuckDB directly
  on the same files (`read_parquet`).

Everything shares the machine's cores: read the ratios.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from cluster.config import Settings

Say = Callable[[str], None]
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)


@dataclass(frozen=True)
class Row:
    part: str
    metric: str
    vidray: float
    anchor: float
    unit: str


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


# -- ingest --------------------------------------------------------------------------


class BareParse:
    """The anchor: read the body, parse the JSON, answer."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":  # the readiness probe
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        events = json.loads(body)["events"]
        reply = json.dumps({"accepted": len(events)}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": reply})


def _serve(kind: str, settings: Settings, port: int) -> None:
    """A child process: uvicorn with the collector (or the bare parser) on `port`."""
    import uvicorn

    app: Any = BareParse()
    if kind == "collector":
        from actors.analytics_sink import AnalyticsSink, LocalSink
        from serve.analytics.app import CollectorApp
        from serve.platform import Platform

        sink = AnalyticsSink(settings)
        app = CollectorApp(
            Platform(settings, sink=LocalSink(sink)).collector, trusted_proxies=frozenset()
        )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(
    url: str, *, video_id: str, seconds: float, conns: int, per_batch: int
) -> tuple[int, list[float]]:
    latencies: list[float] = []
    events = 0
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal events
        view = uuid.uuid4().hex
        seq = 0
        while time.monotonic() < deadline:
            now = int(time.time() * 1000)
            batch = []
            for _ in range(per_batch):
                batch.append({"event_id": uuid.uuid4().hex, "view_id": view, "seq": seq,
                              "event": "heartbeat", "video_id": video_id, "playhead_ms": seq,
                              "viewer_time": now, "rendition": "720p"})  # fmt: skip
                seq += 1
            body = json.dumps({"sent_at": now, "events": batch})
            started = time.perf_counter()
            reply = await client.post(url, content=body, headers={"user-agent": CHROME})
            latencies.append((time.perf_counter() - started) * 1000)
            if reply.status_code == 200:
                events += per_batch

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(conns)))
    return events, latencies


def _ingest(settings: Settings, *, seconds: float, conns: int, say: Say) -> list[Row]:
    from cluster import db
    from cluster.db.models import User, Video, VideoStatus

    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    with db.session_factory(engine).begin() as session:
        session.add(User(id="benchowner000000", email="bench@example.com", handle="bench"))
        session.add(Video(id="benchvideo000000", owner_id="benchowner000000",
                          status=VideoStatus.READY))  # fmt: skip
    engine.dispose()
    results: dict[str, tuple[float, float]] = {}
    for kind in ("collector", "bare"):
        port = _free_port()
        process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(kind, settings, port), daemon=True
        )
        process.start()
        url = f"http://127.0.0.1:{port}/collect"
        for _ in range(300):
            try:
                httpx.options(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        say(f"ingest through {kind} for {seconds:.0f} s")
        try:
            events, latencies = asyncio.run(
                _load(url, video_id="benchvideo000000", seconds=seconds, conns=conns, per_batch=50)
            )
        finally:
            process.terminate()
            process.join(10)
        results[kind] = (events / seconds, _p(latencies, 0.99))
    (ours, ours_p99), (bare, bare_p99) = results["collector"], results["bare"]
    return [
        Row("ingest", "events/s", ours, bare, ""),
        Row("ingest", "p99 per batch of 50", ours_p99, bare_p99, " ms"),
    ]


# -- sink ----------------------------------------------------------------------------


def _sink(settings: Settings, rows: list[dict[str, Any]], say: Say) -> list[Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from actors.analytics_sink import AnalyticsSink
    from pipelines.event_files import EVENTS_SCHEMA

    say(f"sink: {len(rows)} rows")
    sink = AnalyticsSink(settings.model_copy(update={"analytics_flush_rows": 10**9}),
                         background=False)  # fmt: skip
    started = time.perf_counter()
    for start in range(0, len(rows), 10_000):
        sink.append(rows[start : start + 10_000])
    sink.flush()
    ours = time.perf_counter() - started
    sink.stop()
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        table = pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA)
        pq.write_table(table, f"{scratch}/anchor.parquet", compression="zstd")
        anchor = time.perf_counter() - started
    return [Row("sink", "rows/s", len(rows) / ours, len(rows) / anchor, "")]


# -- queries -------------------------------------------------------------------------


def _queries(settings: Settings, *, rounds: int, say: Say) -> list[Row]:
    import duckdb

    from cluster import db
    from pipelines.event_files import EventFiles
    from pipelines.rollups import FIGURES_SQL, plays_sql
    from serve.analytics.queries import Analytics

    files = EventFiles.from_settings(settings)
    analytics = Analytics(
        sessions=db.session_factory(db.make_engine(settings.resolved_database_url)), files=files
    )
    direct = duckdb.connect()
    glob = f"{files.events_dir()}/*/*.parquet"
    direct.execute(
        f"CREATE VIEW events AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true)"  # noqa: S608 - our path
    )
    top = direct.execute(
        "SELECT video_id, date FROM events GROUP BY ALL ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    assert top is not None
    video_id, day = top
    start = datetime.fromisoformat(str(day)).replace(tzinfo=UTC)
    end = start + timedelta(days=1)
    say(f"queries: video {video_id} on {day}, {rounds} rounds")
    ours, anchor = [], []
    first, last = (start - timedelta(days=1)).date(), end.date()
    where = f"video_id = '{video_id}' AND date BETWEEN '{first}' AND '{last}'"
    sql = f"WITH p AS ({plays_sql(where)}) SELECT {FIGURES_SQL} FROM p"  # noqa: S608
    for _ in range(rounds):
        t = time.perf_counter()
        analytics.video_stats(video_id=video_id, start=start, end=end, granularity="hour")
        ours.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        direct.execute(sql).fetchall()
        anchor.append((time.perf_counter() - t) * 1000)
    cursor = analytics._cursor(("0000-00-00", "9999-99-99"))
    t = time.perf_counter()
    cursor.execute("SELECT count(DISTINCT viewer_key), count(*) FROM events").fetchone()
    uniques_ours = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    direct.execute("SELECT count(DISTINCT viewer_key), count(*) FROM events").fetchone()
    uniques_direct = (time.perf_counter() - t) * 1000
    return [
        Row("query", "one-day one-video stats p95", _p(ours, 0.95), _p(anchor, 0.95), " ms"),
        Row("query", "exact uniques, every event", uniques_ours, uniques_direct, " ms"),
    ]


def bench(*, events: int, seconds: float, conns: int, rounds: int, say: Say) -> list[Row]:
    from pipelines.synthetic_views import generate

    with tempfile.TemporaryDirectory(prefix="vidray-bench-analytics-") as scratch:
        settings = Settings(data_dir=Path(scratch), analytics_ip_batches_per_minute=10**9)
        now_ms = int(time.time() * 1000)
        rows = [r for batch in generate(events=events, end_ms=now_ms) for r in batch]
        results = _ingest(settings, seconds=seconds, conns=conns, say=say)
        fresh = settings.model_copy(update={"data_dir": Path(scratch) / "sink"})
        results += _sink(fresh, rows, say)
        results += _queries(fresh, rounds=rounds, say=say)
    return results
