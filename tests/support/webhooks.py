"""A real webhook receiver on loopback, verifying what it gets with the
`standardwebhooks` package (not vidray's own code), that misbehaves on demand by path:

    /ok        204                       /gone      410
    /fail      500                       /busy      429, Retry-After: 120
    /slow      answers after `slow_s`    /redirect  302 to /ok (must not be followed)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified_by: list[int]  # indexes of `Receiver.secrets` whose verifier accepted it
    refusal: str | None  # the verifier's error when none did


@dataclass
class Receiver:
    port: int = 0
    secrets: list[str] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    slow_s: float = 5.0
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def verify(self, body: bytes, headers: dict[str, str]) -> tuple[list[int], str | None]:
        verified, refusal = [], None
        for n, secret in enumerate(self.secrets):
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError as exc:
                refusal = str(exc)
            else:
                verified.append(n)
        return verified, refusal


ANSWERS: dict[str, tuple[int, dict[str, str]]] = {
    "/ok": (204, {}),
    "/slow": (200, {}),
    "/fail": (500, {}),
    "/gone": (410, {}),
    "/busy": (429, {"Retry-After": "120"}),
    "/redirect": (302, {"Location": "/ok"}),
}


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified, refusal = receiver.verify(body, headers)
            receiver.requests.append(Received(self.path, headers, body, verified, refusal))
            if self.path == "/slow":
                receiver.release.wait(receiver.slow_s)
            status, extra = ANSWERS.get(self.path, (404, {}))
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
