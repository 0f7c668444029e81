"""The sink: dedup, durability before the answer, crash recovery, late events."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from actors.analytics_sink import AnalyticsSink
from cluster.config import Settings
from pipelines.event_files import EventFiles
from tests.support.analytics import event_row
from tests.support.clock import FakeClock

DAY_MS = 86_400_000
# 2027-01-15 00:00:05 UTC, in ms
MIDNIGHT_MS = 1_800_000_000_000 - (1_800_000_000_000 % DAY_MS) + DAY_MS


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, analytics_compact_files=4)


def _sink(tmp_path: Path, clock: FakeClock) -> AnalyticsSink:
    return AnalyticsSink(_settings(tmp_path), clock=clock, background=False)


def _event_ids(sink: AnalyticsSink) -> list[str]:
    return sorted(sink.files.dataset().to_table(columns=["event_id"]).column(0).to_pylist())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MIDNIGHT_MS / 1000 + 5)


def test_a_resent_batch_adds_nothing(tmp_path: Path, clock: FakeClock) -> None:
    sink = _sink(tmp_path, clock)
    batch = [event_row(ts_ms=MIDNIGHT_MS) for _ in range(3)]
    assert sink.append(batch).accepted == 3
    clock.advance(23 * 3600)
    again = sink.append([*batch, event_row(ts_ms=MIDNIGHT_MS)])
    assert (again.accepted, again.duplicates) == (1, 3)
    sink.flush()
    assert len(_event_ids(sink)) == 4


def test_dedup_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    sink = _sink(tmp_path, clock)
    flushed = [event_row(ts_ms=MIDNIGHT_MS) for _ in range(2)]
    sink.append(flushed)
    sink.flush()
    in_wal = [event_row(ts_ms=MIDNIGHT_MS)]
    sink.append(in_wal)
    sink.stop()
    restarted = _sink(tmp_path, clock)  # replays the WAL, remembers the Parquet's ids
    assert restarted.append([*flushed, *in_wal]).accepted == 0
    assert _event_ids(restarted) == sorted(r["event_id"] for r in [*flushed, *in_wal])


def test_acknowledged_events_are_in_the_wal_before_any_flush(
    tmp_path: Path, clock: FakeClock
) -> None:
    sink = _sink(tmp_path, clock)
    rows = [event_row(ts_ms=MIDNIGHT_MS) for _ in range(5)]
    sink.append(rows)
    # No flush, no stop: a process killed now leaves exactly what was acknowledged.
    restarted = _sink(tmp_path, clock)
    assert _event_ids(restarted) == sorted(r["event_id"] for r in rows)


def test_killed_after_writing_parquet_before_dropping_the_wal(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = _sink(tmp_path, clock)
    rows = [event_row(ts_ms=MIDNIGHT_MS - 1000), event_row(ts_ms=MIDNIGHT_MS + 1000)]
    sink.append(rows)

    def killed(self: Path, missing_ok: bool = False) -> None:
        raise SystemExit("killed mid-flush")

    monkeypatch.setattr(Path, "unlink", killed)
    with pytest.raises(SystemExit):
        sink.flush()
    monkeypatch.undo()
    restarted = _sink(tmp_path, clock)
    assert _event_ids(restarted) == sorted(r["event_id"] for r in rows)  # once each


def test_killed_between_two_partitions_of_one_flush(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = _sink(tmp_path, clock)
    rows = [event_row(ts_ms=MIDNIGHT_MS - 1000), event_row(ts_ms=MIDNIGHT_MS + 1000)]
    sink.append(rows)
    writes = {"n": 0}
    real_write = AnalyticsSink._write

    def write_once(self: AnalyticsSink, table: pa.Table, *, directory: str, name: str) -> None:
        writes["n"] += 1
        if writes["n"] > 1:
            raise SystemExit("killed mid-flush")
        real_write(self, table, directory=directory, name=name)

    monkeypatch.setattr(AnalyticsSink, "_write", write_once)
    with pytest.raises(SystemExit):
        sink.flush()
    monkeypatch.undo()
    restarted = _sink(tmp_path, clock)
    assert _event_ids(restarted) == sorted(r["event_id"] for r in rows)


def test_late_events_land_in_the_day_they_happened(tmp_path: Path, clock: FakeClock) -> None:
    sink = _sink(tmp_path, clock)
    before, after = MIDNIGHT_MS - 2000, MIDNIGHT_MS + 2000
    sink.append([event_row(ts_ms=before, received_at=after), event_row(ts_ms=after)])
    sink.flush()
    table = sink.files.dataset().to_table(columns=["date", "ts"]).to_pylist()
    days = {row["date"] for row in table}
    assert len(days) == 2
    for row in table:
        assert row["date"] == row["ts"].strftime("%Y-%m-%d")


def test_compaction_merges_files_and_a_crash_leaves_no_duplicates(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = _sink(tmp_path, clock)
    ids = []
    for _ in range(4):
        rows = [event_row(ts_ms=MIDNIGHT_MS) for _ in range(10)]
        ids += [r["event_id"] for r in rows]
        sink.append(rows)
        sink.flush()
    files = sink.files
    (date,) = files.dates()
    assert len(files.live_files(date)) == 4
    # Killed after the compacted file is in place, before the small ones are deleted.
    monkeypatch.setattr(EventFiles, "dead_files", lambda self, date: [])
    assert sink.compact() == 1
    monkeypatch.undo()
    assert len(files.live_files(date)) == 1
    assert _event_ids(sink) == sorted(ids)
    sink.compact(force=True)  # nothing more to merge; the leftovers are cleaned up later
    sink.append([event_row(ts_ms=MIDNIGHT_MS)])
    sink.flush()
    sink.compact(force=True)
    (merged,) = files.live_files(date)
    assert merged.base_name.startswith("compact-")
    assert len(_event_ids(sink)) == 41


def test_live_viewers_counts_views_heard_in_the_last_30_seconds(
    tmp_path: Path, clock: FakeClock
) -> None:
    sink = _sink(tmp_path, clock)
    now = int(clock() * 1000)
    sink.append([event_row(ts_ms=now - 40_000, view_id="old"), event_row(ts_ms=now, view_id="a")])
    sink.append([event_row(ts_ms=now - 1000, view_id="b")])
    assert sink.live_viewers("v1") == 2
