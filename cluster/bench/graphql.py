"""`vidray bench graphql`: the GraphQL API through Ray Serve beside the same schema bare.

Two queries a frontend sends most:

- the video page: the video, its owner, its playback URLs and the first 20 comments
  with their authors;
- the library: the first 20 public videos with their owners and the page info.

Each is measured against one seeded SQLite database and object folder:

- through vidray: `vidray up`'s Serve application (gateway, users, uploads and videos
  deployments, the job actor) on a fresh local Ray cluster of its own, behind Serve's
  Python proxy and then behind HAProxy (`VIDRAY_HTTP_INGRESS=haproxy`);
- through a bare uvicorn process without Ray, serving `create_app(Gateway(settings))`:
  the same schema, resolvers and services, called in-process instead of by handle, at
  the nice level Ray gives Serve's processes (15), measured before Ray starts.

The load generator is a bounded asyncio httpx client on loopback (at most `max_requests`
requests and `duration` seconds per row). It shares the machine's cores with the
servers, so read the ratio rather than the absolute numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from cluster import runtime
from cluster.config import HttpIngress, Settings
from cluster.runtime import serve_ingress

Say = Callable[[str], None]
INGRESS_NAMES = {"serve": "Serve's proxy", "haproxy": "HAProxy"}

AUTHORS = 6
VIDEOS = 50
COMMENTS = 30

VIDEO_PAGE = """
query VideoPage($id: ID!) {
  video(id: $id) { id title owner { handle } playback { hlsUrl posterUrl } }
  comments(videoId: $id, first: 20) {
    edges { node { body author { handle displayName } } }
  }
}
"""

LIBRARY = """
query Library {
  videos(first: 20) {
    edges { node { id title likeCount owner { handle } } }
    pageInfo { endCursor hasNextPage }
  }
}
"""

PING = {"query": "{ __typename }"}


@dataclass(frozen=True, slots=True)
class Row:
    target: str  # "vidray (serve)", "vidray (haproxy)" or "bare" (uvicorn without Ray)
    query: str
    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    ratio: float | None = None  # vidray's req/s over bare's, on vidray's rows


# --- the data ---------------------------------------------------------------------------


def _seed(settings: Settings) -> str:
    """Users, READY public videos and one commented, playable video; returns its id."""
    from cluster import db
    from cluster.db.models import Comment, User, Video, VideoStatus, Visibility, new_id, utcnow
    from cluster.storage import open_store

    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    now = utcnow()
    users = [
        User(
            id=new_id(),
            email=f"bench{n}@example.com",
            handle=f"bench{n}",
            display_name=f"Bench Author {n}",
        )
        for n in range(AUTHORS)
    ]
    videos = [
        Video(
            id=new_id(),
            owner_id=users[n % AUTHORS].id,
            title=f"Bench video {n}",
            description="A seeded video for vidray bench graphql.",
            status=VideoStatus.READY,
            visibility=Visibility.PUBLIC,
            duration=60.0,
            width=1280,
            height=720,
            like_count=n,
            created_at=now - timedelta(minutes=n),
        )
        for n in range(VIDEOS)
    ]
    page = videos[0]
    page.poster_key = f"img/{page.id}/poster.jpg"
    page.comment_count = COMMENTS
    comments = [
        Comment(
            video_id=page.id,
            author_id=users[n % AUTHORS].id,
            body=f"Comment {n}: the part at {n} seconds is the best bit.",
            created_at=now - timedelta(seconds=n),
        )
        for n in range(COMMENTS)
    ]
    with db.session_factory(engine).begin() as session:
        session.add_all(users)
        session.flush()  # owners and authors first: foreign keys are on
        session.add_all(videos)
        session.flush()
        session.add_all(comments)
    engine.dispose()
    # Playback only checks that a master playlist is published: a stub is enough.
    open_store(settings).put_bytes(f"hls/{page.id}/master.m3u8", b"#EXTM3U\n")
    return page.id


def _check_page(data: dict[str, Any]) -> None:
    video, edges = data.get("video"), data["comments"]["edges"]
    if not video or not video.get("playback") or not video["owner"]:
        raise RuntimeError(f"video page: no video, owner or playback in {video!r}")
    if len(edges) != 20 or not all(e["node"]["author"] for e in edges):
        raise RuntimeError(f"video page: expected 20 comments with authors, got {edges!r}")


def _check_library(data: dict[str, Any]) -> None:
    videos = data["videos"]
    if len(videos["edges"]) != 20 or not videos["pageInfo"]["hasNextPage"]:
        raise RuntimeError(f"library: expected 20 videos and a next page, got {videos!r}")


# Each query's answer is checked once per target before it is measured, so a broken
# resolver shows up as an error here, not as a fast row of empty answers.
CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "video page": _check_page,
    "library": _check_library,
}


# --- load generation --------------------------------------------------------------------


def _percentile(sorted_ms: Sequence[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


async def _load(
    base: str, body: bytes, *, concurrency: int, duration: float, max_requests: int
) -> tuple[int, float, float, float, int]:
    """POST `body` to /graphql from `concurrency` keep-alive connections until
    `max_requests` are sent or `duration` seconds pass: (requests, req/s, p50, p99,
    errors). An error is a transport failure, a status other than 200 or a GraphQL error."""
    latencies: list[float] = []
    errors = 0
    left = max_requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(
        base_url=base, limits=limits, timeout=10, headers=headers
    ) as client:
        stop = time.monotonic() + duration

        async def worker() -> None:
            nonlocal errors, left
            while left > 0 and time.monotonic() < stop:
                left -= 1
                began = time.perf_counter()
                try:
                    response = await client.post("/graphql", content=body)
                    ok = response.status_code == 200 and b'"errors":' not in response.content
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - began) * 1000)
                errors += not ok

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    latencies.sort()
    return (
        len(latencies),
        len(latencies) / elapsed,
        _percentile(latencies, 0.5),
        _percentile(latencies, 0.99),
        errors,
    )


def _measure(
    *,
    target: str,
    base: str,
    queries: dict[str, bytes],
    concurrency: Sequence[int],
    duration: float,
    max_requests: int,
    say: Say,
    ingresses: Sequence[HttpIngress] = ("serve", "haproxy"),
) -> list[Row]:
    rows = []
    for name, body in queries.items():
        answer = httpx.post(
            f"{base}/graphql",
            content=body,
            headers={"content-type": "application/json"},
            timeout=30,
        ).json()
        if answer.get("errors"):
            raise RuntimeError(f"{target}, {name}: {answer['errors']}")
        CHECKS[name](answer["data"])
        # Warm up: imports, connection pools, the first DataLoaders, Serve's routing.
        say(f"{target}: warming up ({name})")
        asyncio.run(_load(base, body, concurrency=max(concurrency), duration=1.0, max_requests=500))
        for connections in concurrency:
            say(f"{target}: {name}, {connections} connections")
            requests, rps, p50, p99, errors = asyncio.run(
                _load(
                    base,
                    body,
                    concurrency=connections,
                    duration=duration,
                    max_requests=max_requests,
                )
            )
            rows.append(Row(target, name, connections, requests, rps, p50, p99, errors))
    return rows


# --- the two targets --------------------------------------------------------------------


def _port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(base: str, *, timeout: float, alive: Callable[[], bool]) -> None:
    # A trivial query rather than /healthz: the bare app has no Ray, so its health is 503.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server behind {base} exited before it answered")
        with contextlib.suppress(httpx.TransportError):
            if httpx.post(f"{base}/graphql", json=PING, timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{base}/graphql did not answer within {timeout:.0f} s")


def _ray_worker_niceness() -> int:
    # Ray runs every worker process (Serve's proxy and replicas among them) at nice 15
    # unless RAY_worker_niceness says otherwise. The bare server runs at the same level:
    # at nice 0 it would win every contended time slice, against the load generator
    # and anything else on the machine, and the ratio would measure the scheduler.
    return int(os.environ.get("RAY_worker_niceness", "15"))  # noqa: SIM112 - Ray spells it so


def _bare_server(settings: Settings, port: int) -> None:
    """The gateway's ASGI app with in-process services, on one uvicorn process, at the
    priority Ray gives Serve's proxy and replicas."""
    import uvicorn

    from serve.gateway.ingress import Gateway, create_app
    from serve.platform import Platform

    os.nice(_ray_worker_niceness())
    uvicorn.run(
        create_app(Gateway(Platform(settings))),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


@contextlib.contextmanager
def _bare(settings: Settings) -> Iterator[str]:
    port = _port()
    process = multiprocessing.get_context("spawn").Process(
        target=_bare_server, args=(settings, port), name="vidray-bench-bare", daemon=True
    )
    process.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, timeout=60, alive=process.is_alive)
        yield base
    finally:
        process.terminate()
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()


@contextlib.contextmanager
def _vidray(settings: Settings, ingress: HttpIngress) -> Iterator[str]:
    import ray
    from ray import serve
    from ray.serve.config import HTTPOptions

    from actors.jobs import start as start_jobs
    from serve.app import APP_NAME, build_app

    logging.getLogger("ray.serve").setLevel(logging.WARNING)  # no line per Serve step
    # A local cluster of our own, never RAY_ADDRESS's; Ray picks free ports for it, so
    # its GCS stays off Redis's 6379.
    with serve_ingress(ingress):
        ray.init(
            address="local",
            num_cpus=len(os.sched_getaffinity(0)),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            namespace=settings.ray_namespace,
        )
    try:
        start_jobs(settings)  # as `vidray up` does: the gateway finds it when it starts
        serve.start(http_options=HTTPOptions(host="127.0.0.1", port=settings.http_port))
        serve.run(build_app(settings), name=APP_NAME, route_prefix="/")
        base = f"http://127.0.0.1:{settings.http_port}"
        _wait_ready(base, timeout=60, alive=lambda: True)
        yield base
    finally:
        # Stopping the local cluster ends the proxy and replicas at once (see `vidray up`).
        runtime.stop()  # also ends Serve's HAProxy ingress, which Ray leaves behind


# --- the run ----------------------------------------------------------------------------


def bench(
    *,
    settings: Settings,
    concurrency: Sequence[int],
    duration: float,
    max_requests: int,
    say: Say,
    ingresses: Sequence[HttpIngress] = ("serve", "haproxy"),
) -> list[Row]:
    """Bare rows first (Ray not yet started), then vidray's; returned side by side per
    query and concurrency, each vidray row with its ratio to the bare one."""
    with tempfile.TemporaryDirectory(prefix="vidray-bench-graphql-") as tmp:
        work = Path(tmp)
        run_settings = settings.model_copy(
            update={
                "data_dir": work,
                "database_url": f"sqlite:///{work / 'bench.db'}",
                "redis_url": None,
                "s3_bucket": None,
                "stream_path": "embedded",
                "http_port": _port(),
                "ray_address": None,
                "ray_namespace": "vidray-bench-graphql",
            }
        )
        say(f"seeding {AUTHORS} users, {VIDEOS} videos and {COMMENTS} comments")
        video_id = _seed(run_settings)
        queries = {
            "video page": json.dumps({"query": VIDEO_PAGE, "variables": {"id": video_id}}).encode(),
            "library": json.dumps({"query": LIBRARY}).encode(),
        }
        measure = functools.partial(
            _measure,
            queries=queries,
            concurrency=concurrency,
            duration=duration,
            max_requests=max_requests,
            say=say,
        )
        say("starting the bare uvicorn app (no Ray)")
        with _bare(run_settings) as base:
            bare = measure(target="bare", base=base)
        ours: list[list[Row]] = []
        for ingress in ingresses:
            say(f"starting Ray Serve behind {INGRESS_NAMES[ingress]}")
            with _vidray(run_settings, ingress) as base:
                ours.append(measure(target=f"vidray ({ingress})", base=base))
    rows = []
    for anchor, *runs in zip(bare, *ours, strict=True):
        rows.append(anchor)
        rows += [replace(r, ratio=r.rps / anchor.rps if anchor.rps else None) for r in runs]
    return rows
