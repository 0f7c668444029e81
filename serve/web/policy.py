"""The Content-Security-Policy (and its companions) on every HTML page.

Pages run only this server's scripts: no inline script, no `eval`, no inline style
attribute; a title like `<img src=x onerror=alert(1)>` that slipped past escaping
would still run nothing. Scripts talk to this origin, to its websocket (GraphQL
subscriptions), to the upload edge (another port, so another origin) and to wherever
segments come from (a CDN or S3 when configured).

GraphiQL (dev mode, `GET /graphql`) is React with inline styles, and keeps its own page.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def policy(*, upload_origin: str, media_origins: list[str], host: str, secure: bool) -> str:
    """The policy for a page served to `host` (the request's Host header)."""
    media = " ".join(media_origins)
    sockets = f"wss://{host}" if secure else f"ws://{host} wss://{host}"
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": f"'self' data: blob: {media}",
        "media-src": f"'self' blob: {media}",
        # hls.js fetches playlists and segments; tus-js-client PATCHes the edge.
        "connect-src": f"'self' {sockets} {upload_origin} {media}",
        "worker-src": "'self' blob:",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}".strip() for name, value in directives.items())


class PageHeaders:
    """ASGI middleware: the policy and its companions on every `text/html` answer."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        upload_base: Callable[[HTTPConnection], str],
        media_origins: list[str],
        secure: bool,
        exempt: tuple[str, ...] = ("/graphql",),
    ) -> None:
        self.app = app
        self.upload_base = upload_base
        self.media_origins = media_origins
        self.secure = secure
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers["content-security-policy"] = policy(
                        upload_origin=origin(self.upload_base(connection)),
                        media_origins=self.media_origins,
                        host=connection.headers.get("host", ""),
                        secure=self.secure,
                    )
                    headers["referrer-policy"] = "same-origin"
                    headers["x-frame-options"] = "DENY"
                headers["x-content-type-options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, send_with_headers)
