"""The upload edge: tus at /files/ on a plain uvicorn server, beside Serve's HTTP path.

Why a server of its own: a PATCH body is the one large request vidray takes, and Serve's
HTTP path costs it dearly. Measured on 2 cores with 16 MiB PATCHes, `Uploads.write`
alone stores 487 MB/s and a bare uvicorn writer 510-633 MB/s, but the same routes in
the gateway replica reach 344-364 MB/s on its own port, 254-300 MB/s behind HAProxy and
150 MB/s behind Serve's Python proxy. Serve's replica drains each body into a queue
without back-pressure, so a slow disk also grows the replica's memory by up to one PATCH.
Here uvicorn reads the socket only as fast as `Uploads.write` takes the bytes.

What runs here is the gateway's own tus router (`serve/gateway/files.py`) over the same
`Uploads`: the upload's state is its database row and its stored bytes, so the edge and
the gateway can take turns on one upload. Creation answers with a `Location` on the
edge; the gateway's creation (and `createUpload`) points there too (`Files.url`).
Completed uploads are finished by the `uploads` deployment, as from the gateway.

`UploadEdge` is a plain class that runs the server on a thread of its own; `serve/app.py`
makes it an actor on each node.
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

from cluster.config import Settings
from cluster.errors import ConfigError
from serve.gateway.accounts import Accounts
from serve.gateway.files import Files, allow_browsers, create_router
from serve.uploads import Uploads
from serve.users import Users

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

    def __init__(self, settings: Settings, *, finisher: Any = None) -> None:
        """`finisher`: the uploads deployment's handle; without one, finish in-process."""
        self.settings = settings
        keep_heap_pages()
        users = Users.from_settings(settings)
        self.files = Files(
            uploads=Uploads.from_settings(settings), accounts=Accounts(users), finisher=finisher
        )
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

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
