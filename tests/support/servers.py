"""Real servers on free ports, started in this process or beside it, and stopped after.

uvicorn in a thread (an ASGI app under test, or a stand-in for an outside service),
moto's S3 server (in a thread, or in its own process when it must check credentials),
and an aiosmtpd SMTP server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import uvicorn

from tests.support.waiting import eventually


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accepts_connections(port: int, host: str = "127.0.0.1") -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        return sock.connect_ex((host, port)) == 0


@contextmanager
def serving(app: object, port: int) -> Iterator[None]:
    """Run an ASGI app under uvicorn in a thread of this process."""
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        log_level="warning",
        interface="asgi3",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started, timeout=10, interval=0.02, what="uvicorn's start")
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@contextmanager
def moto_server() -> Iterator[str]:
    """A real S3-compatible HTTP server (moto in server mode) on a free port: its URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextmanager
def moto_server_process(**env: str) -> Iterator[str]:
    """moto's S3 server in a process of its own, with extra environment: its URL.

    moto's switches (such as checking access keys) are process-wide: a separate process
    keeps them away from the `moto_server` every other test shares.
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def listening() -> bool:
            assert process.poll() is None, "moto server exited at start"
            return accepts_connections(port)

        eventually(listening, timeout=30, interval=0.1, what="moto server's start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def serving_smtp(handler: Any, port: int) -> Iterator[int]:
    """aiosmtpd on `port`, delivering to `handler` (an object with `handle_DATA`)."""
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
