"""The analytics sink: the one writer of the event Parquet.

The collector hands it enriched events; `append` answers only once they are on disk:

1. Dedup: an `event_id` seen in the last `dedup_s` (24 h by default) adds nothing, so a
   batch the player re-sends after a timeout is counted once.
2. Write-ahead log: the new events are appended to the open WAL segment and fsynced,
   then `append` returns (the collector's 2xx).
3. Flush (every `flush_interval_s`, or once `flush_rows` are pending): the open segment
   is closed and a new one opened; the closed segment's events are written to
   `date=YYYY-MM-DD/seg-{n}.parquet` of each date they belong to (temp file, then
   rename), and only then is the segment deleted. A crash anywhere in between replays
   the segment at the next start, rewriting the same file names: nothing acknowledged
   is lost, nothing is doubled.
4. Compaction: a partition's small files are merged into one file of big row groups
   (`compact-{lo}-{hi}.parquet`); the covered files are hidden from readers the moment
   it is renamed into place (`pipelines/event_files.py`), then deleted.

The dedup memory is rebuilt at start from the WAL and the Parquet written in the last
`dedup_s`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from actors.singleton import start_singleton
from cluster.config import Settings
from pipelines.event_files import (
    EVENTS_SCHEMA,
    EventFiles,
    compact_name,
    seg_name,
    segment_of,
)

log = logging.getLogger(__name__)

ACTOR_NAME = "analytics_sink"
MIN_ROW_GROUP = 122_880  # DuckDB's row group size: fewer, fuller groups scan faster
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class AppendResult:
    accepted: int
    duplicates: int


def date_of(ts_ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts_ms / 1000))


class AnalyticsSink:
    """The sink's logic; Ray runs it as the detached `analytics_sink` actor."""

    def __init__(
        self,
        settings: Settings,
        *,
        files: EventFiles | None = None,
        clock: Callable[[], float] = time.time,
        background: bool = True,
    ) -> None:
        self.files = files or EventFiles.from_settings(settings)
        self.clock = clock
        self.flush_interval_s = settings.analytics_flush_interval_s
        self.flush_rows = settings.analytics_flush_rows
        self.dedup_ms = int(settings.analytics_dedup_s * 1000)
        self.compact_files = settings.analytics_compact_files
        self.wal_dir = Path(settings.data_dir) / "analytics" / "wal"
        self.wal_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # the open segment and the dedup memory
        self._flushing = threading.Lock()  # one flush (and compaction) at a time
        self._seen: dict[int, set[str]] = defaultdict(set)  # hour of arrival -> event ids
        self._live: dict[str, dict[str, int]] = defaultdict(dict)  # video -> view -> ms
        self._pending = 0
        closed = self._segments()
        self._segment = (closed[-1] + 1) if closed else 1
        self._wal = self._wal_path(self._segment).open("ab")
        self._remember_recent(closed)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.flush()  # what a crash left in the WAL becomes Parquet now
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._loop, name="sink-flush", daemon=True)
            self._thread.start()

    # -- the WAL ---------------------------------------------------------------------

    def _wal_path(self, segment: int) -> Path:
        return self.wal_dir / f"wal-{segment:012d}.arrows"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.wal_dir.glob("wal-*.arrows"))

    def _read_segment(self, segment: int) -> pa.Table:
        """The segment's events. Each record is a length, then an Arrow IPC stream of one
        batch; a torn last record (its append never returned) is left out."""
        batches: list[pa.RecordBatch] = []
        data = self._wal_path(segment).read_bytes()
        at = 0
        while at + 8 <= len(data):
            size = int.from_bytes(data[at : at + 8], "little")
            if at + 8 + size > len(data):
                log.warning("skipping a torn WAL record in segment %d", segment)
                break
            batches.extend(pa.ipc.open_stream(data[at + 8 : at + 8 + size]))
            at += 8 + size
        return pa.Table.from_batches(batches, schema=EVENTS_SCHEMA)

    def append(self, rows: list[dict[str, Any]]) -> AppendResult:
        """Keep the events whose id is new; durable on disk when this returns."""
        now_ms = int(self.clock() * 1000)
        with self._lock:
            fresh = []
            hour = now_ms // HOUR_MS
            for row in rows:
                event_id = row["event_id"]
                if any(event_id in ids for ids in self._seen.values()):
                    continue
                self._seen[hour].add(event_id)
                fresh.append(row)
            if fresh:
                record = _ipc(pa.RecordBatch.from_pylist(fresh, schema=EVENTS_SCHEMA))
                self._wal.write(len(record).to_bytes(8, "little") + record)
                self._wal.flush()
                os.fsync(self._wal.fileno())
                self._pending += len(fresh)
                for row in fresh:
                    self._live[row["video_id"]][row["view_id"]] = row["ts"]
            if self._pending >= self.flush_rows:
                self._wake.set()
        return AppendResult(accepted=len(fresh), duplicates=len(rows) - len(fresh))

    def live_viewers(self, video_id: str, *, window_s: float = 30.0) -> int:
        """Views of `video_id` that sent an event in the last `window_s` seconds."""
        since = int((self.clock() - window_s) * 1000)
        with self._lock:
            views = self._live.get(video_id, {})
            for view_id in [v for v, ts in views.items() if ts < since]:
                del views[view_id]
            return len(views)

    # -- flush and compaction ----------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            try:
                self.flush()
                self.compact()
            except Exception:  # the WAL keeps the events: the next round retries
                log.exception("analytics flush failed")

    def flush(self) -> int:
        """Write every closed WAL segment (and the open one) to Parquet; rows written."""
        with self._flushing:
            with self._lock:
                if self._pending or self._wal.tell():
                    self._wal.close()
                    self._segment += 1
                    self._wal = self._wal_path(self._segment).open("ab")
                    self._pending = 0
                closed = [s for s in self._segments() if s < self._segment]
                self._forget_old()
                self._forget_left_viewers()
            written = 0
            for segment in closed:
                written += self._flush_segment(segment)
            return written

    def _flush_segment(self, segment: int) -> int:
        table = self._read_segment(segment)
        if table.num_rows:
            dates = pc.strftime(table.column("ts"), format="%Y-%m-%d")
            for date in pc.unique(dates).to_pylist():
                day = table.filter(pc.equal(dates, date))
                self._write(day, directory=self.files.events_dir(date), name=seg_name(segment))
        self._wal_path(segment).unlink()
        return int(table.num_rows)

    def _write(self, table: pa.Table, *, directory: str, name: str) -> None:
        """Temp file, then rename: a reader never sees half a file."""
        fs = self.files.fs
        fs.create_dir(directory, recursive=True)
        temp = f"{directory}/.tmp-{name}"
        pq.write_table(
            table,
            temp,
            filesystem=fs,
            compression="zstd",
            row_group_size=max(MIN_ROW_GROUP, table.num_rows),
        )
        fs.move(temp, f"{directory}/{name}")

    def compact(self, *, force: bool = False) -> int:
        """Merge the small files of each partition once there are `compact_files` of
        them (any number above one when `force`); returns partitions compacted."""
        done = 0
        with self._flushing:
            for date in self.files.dates():
                live = self.files.live_files(date)
                if len(live) < (2 if force else self.compact_files):
                    continue
                spans = [_span(info.base_name) for info in live]
                lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
                table = pa.concat_tables(
                    pq.read_table(info.path, filesystem=self.files.fs, schema=EVENTS_SCHEMA)
                    for info in live
                ).sort_by([("video_id", "ascending"), ("ts", "ascending")])
                self._write(table, directory=self.files.events_dir(date), name=compact_name(lo, hi))
                for info in self.files.dead_files(date):
                    self.files.fs.delete_file(info.path)
                done += 1
        return done

    # -- dedup memory ------------------------------------------------------------------

    def _forget_old(self) -> None:
        oldest = (int(self.clock() * 1000) - self.dedup_ms) // HOUR_MS
        for hour in [h for h in self._seen if h < oldest]:
            del self._seen[hour]

    def _forget_left_viewers(self) -> None:
        """Views silent for a minute are gone: keep the live map small."""
        since = int((self.clock() - 60) * 1000)
        for video_id in list(self._live):
            views = self._live[video_id]
            for view_id in [v for v, ts in views.items() if ts < since]:
                del views[view_id]
            if not views:
                del self._live[video_id]

    def _remember_recent(self, segments: list[int]) -> None:
        now_ms = int(self.clock() * 1000)
        for segment in segments:
            table = self._read_segment(segment)
            received = table.column("received_at").cast(pa.int64()).to_pylist()
            for event_id, at in zip(table.column("event_id").to_pylist(), received, strict=True):
                self._seen[at // HOUR_MS].add(event_id)
        since = now_ms - self.dedup_ms
        # Events of the last days, and files written lately whatever their date (a
        # replayed late event may sit in an old partition).
        recent_dates = date_of(since - DAY_MS)
        written_since = time.time() - self.dedup_ms / 1000
        for date in self.files.dates():
            for info in self.files.live_files(date):
                mtime = info.mtime.timestamp() if info.mtime else written_since
                if date < recent_dates and mtime < written_since:
                    continue
                table = pq.read_table(
                    info.path, filesystem=self.files.fs, columns=["event_id", "received_at"]
                )
                received = table.column("received_at").cast(pa.int64()).to_pylist()
                for event_id, at in zip(
                    table.column("event_id").to_pylist(), received, strict=True
                ):
                    if at >= since:
                        self._seen[at // HOUR_MS].add(event_id)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
        with self._lock:
            self._wal.close()


def _ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue())


def _span(name: str) -> tuple[int, int]:
    segment = segment_of(name)
    if segment is not None:
        return segment, segment
    lo, hi = name.removeprefix("compact-").removesuffix(".parquet").split("-")
    return int(lo), int(hi)


class SinkClient:
    """Typed calls to the sink actor (the collector, the gateway, tests)."""

    def __init__(self, actor: Any) -> None:  # Any: a Ray actor handle
        self.actor = actor

    async def append(self, rows: list[dict[str, Any]]) -> AppendResult:
        result: AppendResult = await self.actor.append.remote(rows)
        return result

    async def live_viewers(self, video_id: str) -> int:
        count: int = await self.actor.live_viewers.remote(video_id)
        return count

    def flush(self) -> int:
        import ray

        written: int = ray.get(self.actor.flush.remote())
        return written

    @classmethod
    def connect(cls, settings: Settings) -> SinkClient | None:
        """The running sink's client, or None when no sink runs."""
        import ray

        try:
            return cls(ray.get_actor(ACTOR_NAME, namespace=settings.ray_namespace))
        except ValueError:
            return None


def start(settings: Settings) -> SinkClient:
    """The cluster's one sink: created if missing, restarted by Ray if it dies. Its WAL is
    on the node it runs on: a multi-node cluster pins it with a custom resource."""
    return SinkClient(
        start_singleton(
            AnalyticsSink, settings, settings=settings, name=ACTOR_NAME, max_concurrency=16
        )
    )


class LocalSink:
    """A sink in this process, with the actor client's async calls (tests, benchmarks)."""

    def __init__(self, sink: AnalyticsSink) -> None:
        self.sink = sink

    async def append(self, rows: list[dict[str, Any]]) -> AppendResult:
        return self.sink.append(rows)

    async def live_viewers(self, video_id: str) -> int:
        return self.sink.live_viewers(video_id)
