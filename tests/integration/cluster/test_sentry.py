"""Sentry through sentry-sdk's Ray integration: with a DSN, a Ray worker's exception
reaches the Sentry endpoint (here a local HTTP server that records envelopes); without
one, no worker even imports sentry-sdk."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.servers import free_port, serving
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[3]


class Envelopes:
    """What a Sentry server would have received: every item of every envelope."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.app = Starlette(
            routes=[Route("/api/{project}/envelope/", self.receive, methods=["POST"])]
        )

    async def receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        encoding = request.headers.get("content-encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli  # only if sentry-sdk chose it, which it does when brotli is there

            body = brotli.decompress(body)
        for line in body.splitlines()[1:]:  # the first line is the envelope's header
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and "exception" in item:
                self.items.append(item)
        return JSONResponse({"id": "0" * 32})


def _run(data_dir: Path, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VIDRAY_", "RAY_"))}
    clean.pop("SENTRY_DSN", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.sentried", str(data_dir)],
        cwd=ROOT,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    answer: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_a_worker_exception_reaches_sentry_only_with_a_dsn(tmp_path: Path) -> None:
    envelopes = Envelopes()
    port = free_port()
    with serving(envelopes.app, port):
        quiet = _run(tmp_path / "quiet")
        assert quiet == {"error": "a transcode worker broke", "worker_has_sentry": False}

        dsn = f"http://public@127.0.0.1:{port}/42"
        loud = _run(tmp_path / "loud", SENTRY_DSN=dsn)
        assert loud == {"error": "a transcode worker broke", "worker_has_sentry": True}

        def reported() -> list[dict]:
            return [
                item
                for item in envelopes.items
                if any(
                    value.get("value") == "a transcode worker broke"
                    for value in item["exception"]["values"]
                )
            ]

        [event] = eventually(reported, timeout=30, what="the worker's exception at Sentry")
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert "user" not in event or not event["user"].get("ip_address")
