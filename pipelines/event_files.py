"""Where the analytics Parquet lives, its schema, and which files a reader sees.

Events land under `analytics/events/date=YYYY-MM-DD/` of the object store (the data
dir's objects folder, or the S3 bucket), one row per beacon event, partitioned by the
UTC date of the event's corrected time (a late event goes to the day it happened).

Files in a partition are named so that a crash at any point leaves a readable, exact
set (see `live_files`):

- `seg-{n:012d}.parquet`: the events of write-ahead-log segment `n`, written by a
  flush. A flush re-run after a crash writes the same name, never a second file.
- `compact-{lo:012d}-{hi:012d}.parquet`: segments `lo..hi` merged into big row groups.
  Once it exists, the `seg-` files it covers are invisible, whether or not the
  compaction lived to delete them.
- anything starting with `.` is a temporary file being written, never read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from cluster.config import Settings

EVENTS_PREFIX = "analytics/events"
ROLLUPS_PREFIX = "analytics/rollups"

EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("view_id", pa.string()),
        ("seq", pa.int32()),
        ("event", pa.string()),
        ("video_id", pa.string()),
        ("owner_id", pa.string()),
        ("viewer_key", pa.string()),
        # The event's time on the server's clock: the client's clock corrected by the
        # batch's send time, never later than its arrival.
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("received_at", pa.timestamp("ms", tz="UTC")),
        ("playhead_ms", pa.int64()),
        ("duration_ms", pa.int64()),
        ("rendition", pa.string()),
        ("player_width", pa.int32()),
        ("player_height", pa.int32()),
        ("country", pa.string()),
        ("browser", pa.string()),
        ("os", pa.string()),
        ("device", pa.string()),
        ("error_code", pa.string()),
        ("fatal", pa.bool_()),
    ]
)
DATASET_SCHEMA = EVENTS_SCHEMA.append(pa.field("date", pa.string()))
PARTITIONING = ds.partitioning(pa.schema([("date", pa.string())]), flavor="hive")

_SEG = re.compile(r"^seg-(\d{12})\.parquet$")
_COMPACT = re.compile(r"^compact-(\d{12})-(\d{12})\.parquet$")


def seg_name(segment: int) -> str:
    return f"seg-{segment:012d}.parquet"


def compact_name(lo: int, hi: int) -> str:
    return f"compact-{lo:012d}-{hi:012d}.parquet"


@dataclass(frozen=True)
class EventFiles:
    """The filesystem and base path of the analytics folder (pyarrow's view of the
    object store: a local folder, or `bucket/analytics` on S3)."""

    fs: pafs.FileSystem
    base: str

    @classmethod
    def from_settings(cls, settings: Settings) -> EventFiles:
        if settings.s3_bucket:
            secret = settings.s3_secret_access_key
            endpoint = settings.s3_endpoint_url
            scheme = "http" if endpoint and endpoint.startswith("http://") else "https"
            fs = pafs.S3FileSystem(
                access_key=settings.s3_access_key_id,
                secret_key=secret.get_secret_value() if secret else None,
                region=settings.s3_region,
                endpoint_override=endpoint.split("://", 1)[-1] if endpoint else None,
                scheme=scheme,
                allow_bucket_creation=True,  # as S3Store does on first use
            )
            return cls(fs=fs, base=f"{settings.s3_bucket}")
        root = settings.objects_dir
        root.mkdir(parents=True, exist_ok=True)
        return cls(fs=pafs.LocalFileSystem(), base=str(root.resolve()))

    def events_dir(self, date: str | None = None) -> str:
        path = f"{self.base}/{EVENTS_PREFIX}"
        return path if date is None else f"{path}/date={date}"

    def rollups_dir(self, name: str, date: str | None = None) -> str:
        path = f"{self.base}/{ROLLUPS_PREFIX}/{name}"
        return path if date is None else f"{path}/date={date}"

    def dates(self) -> list[str]:
        """The event partitions that exist, oldest first."""
        selector = pafs.FileSelector(self.events_dir(), allow_not_found=True)
        found = [
            info.base_name.removeprefix("date=")
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.Directory and info.base_name.startswith("date=")
        ]
        return sorted(found)

    def live_files(self, date: str) -> list[pafs.FileInfo]:
        """The files of one partition a reader should see: every compacted file, and
        each flushed segment that no compacted file covers."""
        selector = pafs.FileSelector(self.events_dir(date), allow_not_found=True)
        infos = [i for i in self.fs.get_file_info(selector) if i.type == pafs.FileType.File]
        spans = {
            info.path: (int(m[1]), int(m[2]))
            for info in infos
            if (m := _COMPACT.match(info.base_name))
        }
        live = []
        for info in infos:
            if info.path in spans:
                lo, hi = spans[info.path]
                # A compaction that merged this file into a wider one may have died
                # before deleting it: the wider file holds its rows.
                wider = any(a <= lo and hi <= b and (a, b) != (lo, hi) for a, b in spans.values())
                if not wider:
                    live.append(info)
                continue
            match = _SEG.match(info.base_name)
            n = int(match[1]) if match else None
            if n is not None and not any(a <= n <= b for a, b in spans.values()):
                live.append(info)
        return sorted(live, key=lambda i: i.base_name)

    def dead_files(self, date: str) -> list[pafs.FileInfo]:
        """Files a compacted file already holds (left by a crash), and temporary files:
        safe to delete."""
        live = {i.path for i in self.live_files(date)}
        selector = pafs.FileSelector(self.events_dir(date), allow_not_found=True)
        return [
            i
            for i in self.fs.get_file_info(selector)
            if i.type == pafs.FileType.File and i.path not in live
        ]

    def dataset(self, dates: Iterable[str] | None = None) -> ds.Dataset:
        """Every live event file of `dates` (all partitions when None), as one dataset
        with the `date` column from the path."""
        existing = self.dates()
        wanted = existing if dates is None else sorted(set(dates) & set(existing))
        paths = [info.path for date in wanted for info in self.live_files(date)]
        if not paths:
            return ds.dataset(DATASET_SCHEMA.empty_table())
        return ds.dataset(
            paths,
            schema=DATASET_SCHEMA,
            format="parquet",
            filesystem=self.fs,
            partitioning=PARTITIONING,
            partition_base_dir=self.events_dir(),
        )


def segment_of(name: str) -> int | None:
    match = _SEG.match(name)
    return int(match[1]) if match else None
