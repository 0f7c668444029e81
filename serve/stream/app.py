"""The stream application's ASGI entry: `/hls/...` straight into `Stream.asgi`."""

from __future__ import annotations

from serve.stream.service import Receive, Scope, Send, Stream


class StreamApp:
    """`Stream.asgi` as an object whose `__call__` is the coroutine: uvicorn (and Serve's
    lifespan runner, built on it) takes a bound method for an ASGI 2 app."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.stream.asgi(scope, receive, send)
