"""`vidray bench upload`: tus uploads into vidray beside their anchors.

For each store (the local folder, then S3) and each PATCH size, the same file goes:

- through vidray as `vidray up` runs it: created at the gateway (Serve's proxy), then
  PATCHed to the upload edge that its `Location` names (`serve/upload_edge.py`), with
  tus PATCHes from `cluster.upload_client` (no checksums, so hashing does not count),
  while a thread samples the edge's memory;
- with `gateway`, through the gateway replica alone (`VIDRAY_UPLOAD_EDGE=false`, Serve's
  proxy): the path the edge replaces, for comparison;
- through a bare uvicorn app in its own process, without Ray, that streams each PATCH
  body to the same store with the same writers (`serve/upload_writers.py`);
- and, once, through a plain file copy with fsync: the disk's limit.

vidray and the bare writer take turns, `rounds` times each, and each figure is the
median: the disk and the two shared cores make single runs wander by 30% and more.

Memory is measured from one baseline, taken after a warm-up upload, so what one run
leaves behind counts against the next. Two figures: the process's private memory
(`RssAnon`: its heaps, what a leak or a queue grows), and its whole RSS, which also
counts the pages of Ray's shared object store that it has touched. Behind Serve's proxy
every request body reaches the gateway replica through that store, in batches, and its
pages stay mapped; they belong to the store (bounded by `object_store_memory`, counted
once per node), not to the replica. The edge reads its own socket: no store involved.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
import psutil

from cluster.config import Settings
from cluster.storage import open_store
from cluster.upload_client import send_patch

if TYPE_CHECKING:
    from serve.uploads.service import Uploads

MIB = 1024 * 1024


Path_ = Literal["edge", "gateway"]
# What each path's memory is read from: the process a PATCH body reaches.
PROCESS_MARKS: dict[Path_, str] = {
    "edge": "UploadEdgeActor",
    "gateway": "ServeReplica:vidray:gateway",
}


@dataclass(frozen=True)
class Row:
    path: Path_
    store: str
    chunk_mb: int
    vidray_mbps: float
    bare_mbps: float
    copy_mbps: float | None
    private_growth_mb: float
    rss_growth_mb: float


def _port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _source(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(16 * MIB, left))
            fh.write(block)
            left -= len(block)
    return path


def _copy_mbps(source: Path, folder: Path) -> float:
    target = folder / "copy.bin"
    started = time.perf_counter()
    with source.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 16 * MIB)
        dst.flush()
        os.fsync(dst.fileno())
    seconds = time.perf_counter() - started
    target.unlink()
    return source.stat().st_size / MIB / seconds


# --- the bare uvicorn writer ---------------------------------------------------------


def _bare_server(settings: Settings, port: int) -> None:
    """A single-process ASGI app: PATCH /bare/{name} appends the body at Upload-Offset."""
    import uvicorn

    from serve.uploads.writers import Target, open_backend

    store = open_store(settings)
    backend = open_backend(
        store, part_bytes=settings.upload_part_bytes, spool_dir=settings.upload_buffer_dir
    )
    multiparts: dict[str, str | None] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "PATCH":  # the readiness probe
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        name = scope["path"].rsplit("/", 1)[-1]
        key = f"bench/{name}"
        offset, length = int(headers["upload-offset"]), int(headers["upload-length"])
        if name not in multiparts:
            multiparts[name] = backend.begin(name, key)
        writer = backend.open(
            Target(
                upload_id=name, key=key, offset=offset, length=length, multipart=multiparts[name]
            )
        )
        received = 0
        while True:
            message = await receive()
            body = message.get("body", b"")
            if body:
                writer.write(body)
                received += len(body)
            if not message.get("more_body"):
                break
        writer.commit(final=offset + received == length)
        writer.recorded()
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [(b"upload-offset", str(offset + received).encode())],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _bare_mbps(settings: Settings, source: Path, chunk: int) -> float:
    port = _port()
    process = multiprocessing.get_context("spawn").Process(
        target=_bare_server, args=(settings, port), daemon=True
    )
    process.start()
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=120) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.get(base)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            size, offset = source.stat().st_size, 0
            name = f"b{os.getpid()}{time.time_ns()}"
            started = time.perf_counter()
            with source.open("rb") as fh:
                while offset < size:
                    response = send_patch(  # as vidray's client sends its PATCHes
                        client,
                        f"{base}/bare/{name}",
                        {"Upload-Offset": str(offset), "Upload-Length": str(size)},
                        fh.read(chunk),
                    )
                    offset = int(response.headers["upload-offset"])
            mbps = size / MIB / (time.perf_counter() - started)
    finally:
        process.terminate()
        process.join(10)
    # As vidray drops its copy (random bytes are no video), and outside the timing.
    open_store(settings).delete(f"bench/{name}")
    return mbps


def _settle(uploads: Uploads, url: str) -> None:
    """Wait until vidray has finished an upload (the job actor probed it, refused it and
    deleted its bytes), so that work does not land in the next measurement."""
    from serve.uploads.tus import upload_id_from_url

    upload_id = upload_id_from_url(url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        view = uploads.view(upload_id)
        if view is None or view.status != "complete":
            return
        time.sleep(0.2)


# --- vidray ----------------------------------------------------------------------------


def _memory(pid: int) -> tuple[int, int]:
    """(private, whole) resident bytes of a process: `RssAnon` and `VmRSS` (Linux)."""
    fields = {}
    with Path(f"/proc/{pid}/status").open() as fh:
        for line in fh:
            name, _, value = line.partition(":")
            if name in ("RssAnon", "VmRSS"):
                fields[name] = int(value.split()[0]) * 1024
    return fields["RssAnon"], fields["VmRSS"]


class MemoryPeak:
    """Samples a process's memory every 20 ms; growth is the peak over `base`."""

    def __init__(self, pid: int, base: tuple[int, int]) -> None:
        self.pid, self.base = pid, base
        self.peak = _memory(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(OSError, KeyError):
                now = _memory(self.pid)
                self.peak = (max(self.peak[0], now[0]), max(self.peak[1], now[1]))

    def __enter__(self) -> MemoryPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def private_growth_mb(self) -> float:
        return (self.peak[0] - self.base[0]) / MIB

    @property
    def rss_growth_mb(self) -> float:
        return (self.peak[1] - self.base[1]) / MIB


def _pid_of(mark: str) -> int:
    # Ray started here: its workers are our descendants (other Ray instances on the
    # machine are not), and a worker's process title names its actor or replica.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if mark in " ".join(child.cmdline()):
                    return child.pid
        time.sleep(0.5)
    raise RuntimeError(f"no {mark} among this process's descendants")


def _token(settings: Settings) -> str:
    import json
    import re

    from serve.platform import Platform

    users = Platform(settings).accounts
    email = "bench@example.com"
    users.request_otp(email=email)
    for path in sorted(settings.outbox_dir.glob("*.json"), reverse=True):
        message = json.loads(path.read_text())
        found = re.search(r"\b(\d{6})\b", message["body"])
        if message["to"] == email and found:
            return users.verify_otp(email=email, code=found.group(1)).access_token
    raise RuntimeError("no sign-in code in the outbox")


@contextlib.contextmanager
def _vidray(settings: Settings) -> Iterator[str]:
    from ray import serve
    from ray.serve.config import HTTPOptions

    from actors.jobs import start as start_jobs
    from cluster import db, runtime
    from serve.app import APP_NAME, build_app
    from serve.uploads.edge import start_upload_edges

    db.migrate(db.make_engine(settings.resolved_database_url))
    runtime.start(settings)
    try:
        # The job actor refuses each benchmark upload (random bytes) and deletes it.
        start_jobs(settings)
        serve.start(http_options=HTTPOptions(host="127.0.0.1", port=settings.http_port))
        serve.run(build_app(settings), name=APP_NAME, route_prefix="/")
        # Held while the benchmark runs: the edges are this job's actors.
        _edges = start_upload_edges(settings) if settings.upload_edge else []
        yield f"http://127.0.0.1:{settings.http_port}"
    finally:
        serve.shutdown()
        runtime.stop()


def _vidray_rows(
    *,
    settings: Settings,
    path: Path_,
    store: str,
    source: Path,
    chunk_sizes: list[int],
    copy: float | None,
    rounds: int,
    say: Callable[[str], None],
) -> list[Row]:
    from cluster.upload_client import upload_file
    from serve.platform import Platform

    rows = []
    uploads = Platform(settings).uploads  # to see when each upload is finished
    run_settings = settings.model_copy(update={"upload_edge": path == "edge"})
    with _vidray(run_settings) as base:
        token = _token(settings)
        pid = _pid_of(PROCESS_MARKS[path])
        # One small upload first, so one-time imports and pools do not count as growth.
        warm = source.with_name("warm.bin")
        _source(warm, 8 * MIB)
        upload_file(server=base, path=warm, token=token, metadata={}, checksum=False)
        baseline = _memory(pid)
        for chunk in chunk_sizes:
            ours: list[float] = []
            bare: list[float] = []
            with MemoryPeak(pid, baseline) as memory:
                for turn in range(1, rounds + 1):
                    say(f"{store}: vidray ({path}), {chunk // MIB} MiB PATCHes, {turn}/{rounds}")
                    with httpx.Client(timeout=300) as client:
                        started = time.perf_counter()
                        url = upload_file(
                            server=base,
                            path=source,
                            token=token,
                            metadata={"filename": "bench.bin"},
                            chunk_size=chunk,
                            client=client,
                            checksum=False,
                        )
                        ours.append(source.stat().st_size / MIB / (time.perf_counter() - started))
                    _settle(uploads, url)
                    say(f"{store}: bare uvicorn, {chunk // MIB} MiB PATCHes, {turn}/{rounds}")
                    bare.append(_bare_mbps(settings, source, chunk))
            rows.append(
                Row(
                    path=path,
                    store=store,
                    chunk_mb=chunk // MIB,
                    vidray_mbps=statistics.median(ours),
                    bare_mbps=statistics.median(bare),
                    copy_mbps=copy,
                    private_growth_mb=memory.private_growth_mb,
                    rss_growth_mb=memory.rss_growth_mb,
                )
            )
    return rows


@contextlib.contextmanager
def _s3_settings(settings: Settings, folder: Path) -> Iterator[Settings | None]:
    if settings.s3_bucket:
        yield settings.model_copy(update={"data_dir": folder})
        return
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        yield None
        return
    import logging

    from cluster.storage import S3Store

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 call otherwise
    port = _port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    try:
        endpoint = f"http://127.0.0.1:{port}"
        S3Store(bucket="bench", endpoint_url=endpoint, create_bucket=True)
        yield settings.model_copy(
            update={"data_dir": folder, "s3_bucket": "bench", "s3_endpoint_url": endpoint}
        )
    finally:
        server.stop()


def bench(
    *,
    settings: Settings,
    size: int,
    chunk_sizes: list[int],
    with_s3: bool,
    paths: Sequence[Path_] = ("edge", "gateway"),
    rounds: int = 3,
    say: Callable[[str], None] = print,
) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="vidray-bench-upload-") as tmp:
        folder = Path(tmp)
        say(f"writing a {size // MIB} MiB source")
        source = _source(folder / "source.bin", size)
        copy = statistics.median([_copy_mbps(source, folder) for _ in range(rounds)])
        # Its own ports, the embedded database and KV: nothing of a running platform.
        isolated = {
            "http_port": _port(),
            "upload_port": _port(),
            "upload_url": None,
            "database_url": None,
            "redis_url": None,
        }
        local = settings.model_copy(
            update={"data_dir": folder / "local", "s3_bucket": None, **isolated}
        )
        stores: list[tuple[str, Settings, float | None]] = [("local", local, copy)]
        with contextlib.ExitStack() as stack:
            if with_s3:
                s3 = stack.enter_context(_s3_settings(settings, folder / "s3"))
                if s3 is None:
                    say("S3 skipped: set VIDRAY_S3_BUCKET or install moto[server]")
                else:
                    stores.append(("s3", s3.model_copy(update=isolated), None))
            return [
                row
                for store, store_settings, store_copy in stores
                for path in paths
                for row in _vidray_rows(
                    settings=store_settings,
                    path=path,
                    store=store,
                    source=source,
                    chunk_sizes=chunk_sizes,
                    copy=store_copy,
                    rounds=rounds,
                    say=say,
                )
            ]
