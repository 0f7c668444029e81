"""The upload edge: tus at /files/ on a plain uvicorn server, beside Serve's HTTP path.

Why a server of its own: a PATCH body is the one large request vidray takes, and Serve's
HTTP path costs it dearly. Measured on 2 cores with 16 MiB PATCHes, `Uploads.write`
alone stores 487 MB/s and a bare uvicorn writer 510-633 MB/s, but the same routes in
the gateway replica reach 344-364 MB/s on its own port, 254-300 MB/s behind HAProxy and
150 MB/s behind Serve's Python proxy. Serve's replica drains each body into a queue
without back-pressure, so a slow disk also grows the replica's memory by up to one PATCH.
Here uvicorn reads the socket only as fast as `Uploads.write` takes the bytes.

What runs here is the gateway's own tus router (`serve/uploads/routes.py`) over the same
`Uploads`: the upload's state is its database row and its stored bytes, so the edge and
the gateway can take turns on one upload. Creation answers with a `Location` on the
edge; the gateway's creation (and `createUpload`) points there too (`Files.url`).
Completed uploads go to the job actor, as from the gateway.

`UploadEdge` is a plain class that runs the server on a thread of its own, over a
`Platform` of its own; `start_upload_edges` makes it an actor on each node (and the
scheduler's `reconcile_upload_edges` on each node that joins later), and
`UploadEdgeClient` is how the gateway's /healthz asks this node's edge.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from actors.jobs_client import JobsClient
from cluster.config import Settings
from cluster.errors import ConfigError, VidrayError
from serve.platform import Platform
from serve.uploads.routes import Files, allow_browsers, create_router

# glibc's mallopt parameters, and the largest mmap threshold it takes on 64-bit.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
HEAP_KEEP_BYTES = 32 * 1024 * 1024


def keep_heap_pages() -> None:
    """Let glibc reuse the pages of freed request chunks instead of returning them.

    uvicorn hands the body over in chunks of 64 KiB and more, which glibc serves from
    fresh `mmap`s and gives back on `free`: every chunk's pages were faulted in anew,
    about 150,000 page faults per GiB, which cost the edge a fifth of its throughput.
    With both thresholds at 32 MiB the chunks come from the heap, and the pages stay
    mapped while the edge holds at most a few MiB of body at a time. Elsewhere (musl,
    macOS) this does nothing.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, HEAP_KEEP_BYTES)
    mallopt(M_TRIM_THRESHOLD, HEAP_KEEP_BYTES)


def edge_base(settings: Settings) -> Callable[[HTTPConnection], str]:
    """Where clients of the platform reach the upload edge, seen from one request:
    `upload_url` if set, else the request's own scheme and host on `upload_port`."""
    if settings.upload_url is not None:
        fixed = settings.upload_url

        def configured(request: HTTPConnection) -> str:
            return fixed

        return configured

    def same_host(request: HTTPConnection) -> str:
        return str(request.base_url.replace(port=settings.upload_port)).rstrip("/")

    return same_host


def local_edge_url(settings: Settings) -> str:
    """The upload edge of this node, as a process on the node reaches it."""
    host = settings.http_host
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_unspecified:  # listening on every address
            host = "127.0.0.1"
    return f"http://{host}:{settings.upload_port}"


def create_edge_app(files: Files, settings: Settings) -> FastAPI:
    app = FastAPI(title="vidray uploads", docs_url=None, redoc_url=None, openapi_url=None)
    allow_browsers(app, list(settings.cors_origins))
    app.include_router(create_router(files, max_size=settings.upload_max_bytes))

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app


class UploadEdge:
    """tus /files/ on `settings.http_host:settings.upload_port`, served from a thread."""

    def __init__(self, settings: Settings, *, jobs: JobsClient | None = None) -> None:
        """`jobs`: where completed uploads go; None leaves them in 'processing'."""
        self.settings = settings
        keep_heap_pages()
        self.platform = Platform(settings, jobs=jobs)
        self.files = Files(uploads=self.platform.uploads, accounts=self.platform.accounts)
        config = uvicorn.Config(
            create_edge_app(self.files, settings),
            host=settings.http_host,
            port=settings.upload_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # Behind nginx or a load balancer, trust its X-Forwarded-* for Location URLs.
            proxy_headers=True,
            # Between PATCHes a client may hash its next chunk; keep its connection.
            timeout_keep_alive=60,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="upload-edge", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return local_edge_url(self.settings)

    def ready(self, timeout: float = 30.0) -> str:
        """Wait until the server listens; its base URL. Raises if it could not start
        (most often: the port is taken)."""
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise ConfigError(
                    "VIDRAY_UPLOAD_PORT",
                    f"the upload edge cannot listen on {self.url}: stop the process using "
                    "the port or choose another one",
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"the upload edge did not start on {self.url} in {timeout} s")
            time.sleep(0.05)
        return self.url

    def health(self) -> bool:
        """Whether the server still runs (the gateway's /healthz asks, through Ray)."""
        return bool(self.server.started) and self._thread.is_alive()

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)


def edge_name(node_id: str) -> str:
    return f"upload-edge-{node_id[:16]}"


class UploadEdgeActor(UploadEdge):
    """The upload edge as an actor: completed uploads go to the cluster's job actor."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, jobs=JobsClient.connect(settings))


def _ensure_edges(settings: Settings) -> dict[str, Any]:
    """An upload edge actor on every live node (node id -> handle): found by name where
    one runs, created where none does. Detached, so that an edge the scheduler's task
    starts outlives that task; a crashed edge restarts on its node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(num_cpus=0, max_restarts=-1)(UploadEdgeActor)
    return {
        node["NodeID"]: remote.options(
            name=edge_name(node["NodeID"]),
            namespace=settings.ray_namespace,
            lifetime="detached",
            get_if_exists=True,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
        ).remote(settings)
        for node in ray.nodes()
        if node["Alive"]
    }


def start_upload_edges(settings: Settings) -> list[Any]:
    """One upload edge on each live node, on `settings.upload_port`; returns the actors.
    A node that joins later gets its edge from the scheduler (`reconcile_upload_edges`).
    Raises the first edge's error (most often: its port is taken)."""
    import ray

    edges = list(_ensure_edges(settings).values())
    try:
        ray.get([edge.ready.remote() for edge in edges])
    except ray.exceptions.RayTaskError as exc:  # a taken port: the edge's own error
        raise exc.cause if isinstance(exc.cause, VidrayError) else exc from None
    return edges


def reconcile_upload_edges(settings: Settings) -> dict[str, str]:
    """The scheduler's periodic work: an edge on every live node, nodes that joined since
    `vidray up` included. Returns each node's state ("ok" or what is wrong) instead of
    raising, so one node with a taken port never keeps the others from their edge."""
    import ray

    states: dict[str, str] = {}
    for node_id, edge in _ensure_edges(settings).items():
        try:
            ray.get(edge.ready.remote(), timeout=60)
            states[node_id] = "ok"
        except (ray.exceptions.RayError, TimeoutError) as exc:
            cause = getattr(exc, "cause", None)
            states[node_id] = str(cause if isinstance(cause, VidrayError) else exc)[:500]
    return states


def stop_upload_edges(settings: Settings) -> None:
    """Kill every node's upload edge (a shared cluster that `vidray up` leaves)."""
    import ray

    for node in ray.nodes():
        try:
            ray.kill(ray.get_actor(edge_name(node["NodeID"]), namespace=settings.ray_namespace))
        except ValueError:  # none runs there
            continue


class UploadEdgeClient:
    """This node's upload edge, as the gateway's /healthz sees it (through Ray)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def health(self, timeout: float = 2.0) -> str | None:
        """None when this node's edge answers; else what is wrong, for /healthz."""
        import ray

        name = edge_name(ray.get_runtime_context().get_node_id())
        try:
            edge = ray.get_actor(name, namespace=self.settings.ray_namespace)
            alive = bool(ray.get(edge.health.remote(), timeout=timeout))
        except ValueError:
            return "no upload edge runs on this node: restart `vidray up`"
        except (ray.exceptions.RayError, TimeoutError) as exc:
            return f"the upload edge does not answer: {type(exc).__name__}"
        return None if alive else "the upload edge's server has stopped"
