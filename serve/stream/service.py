"""HLS delivery: signed playback URLs, playlists and segment bytes under `/hls/`.

`Stream` is a plain class built by `serve.platform.Platform`. `serve/app.py` deploys it
(through `serve/stream/app.py`) as the ingress of its own Serve application at the route
prefix `/hls`, so a segment request goes from Serve's proxy straight to a stream replica:
one hop, with no gateway replica copying the bytes again. The gateway calls `playback()`
and `grant()` in-process, to sign the URLs for a page or a query.

Who sends the bytes depends on `VIDRAY_STREAM_PATH` (one table, `_SEGMENT_SENDERS`):

- `embedded`: this class reads the store and answers with Range, ETag and caching headers;
- `nginx`: the same here, but nginx in front answers segment requests itself from the
  store folder, checking the same tokens with `secure_link` (`vidray nginx-config`);
- `s3`: playlists come from here, segments are redirected to presigned S3 URLs;
- `cdn`: playlists come from here, segments and images are redirected to CloudFront
  URLs signed with a canned policy (`cluster/cdn.py`), whose query string CloudFront
  leaves out of its cache key: every viewer's request hits the same cached object.

Access is decided when a URL is signed (`playback`): public and unlisted videos for
anyone, private ones for their owner. Requests under `/hls/` then check only the token,
so a video made private stops playing when the URLs already handed out expire, on every
byte path alike; a deleted video's files are gone and answer 404 at once.

One thing is read at request time: a private video's URL carries its owner's session
generation, and every request that reaches this class with such a URL reads the current
one from the KV store (one read) and refuses it ("revoked") once "log out everywhere"
or a suspension has moved it on. Anonymous, public and unlisted URLs carry none and
cost no read. Segments that nginx serves itself are not checked (nginx cannot read
the KV store); their playlists are.
"""

from __future__ import annotations

import asyncio
import functools
import posixpath
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy.orm import Session, sessionmaker

from cluster import metrics
from cluster.cdn import CdnSigner
from cluster.config import Settings
from cluster.db.models import Video, VideoStatus, Visibility
from cluster.errors import InvalidKey, ObjectNotFound, UrlRefused
from cluster.kv import KV, session_generation
from cluster.security import Clock
from cluster.storage import LocalStore, ObjectStore, validate_key
from cluster.url_signing import UrlGrant, UrlSigner, parse_hls_path
from serve.stream.errors import VideoUnavailable

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

REFUSAL_HEADER = "x-vidray-refused"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
MIME_TYPES = {
    ".m3u8": PLAYLIST_TYPE,
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".aac": "audio/aac",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt; charset=utf-8",
}
# Segments and images never change under a name; playlists grow while a video is still
# transcoding, so players must see new segments within a couple of seconds.
IMMUTABLE = "public, max-age=31536000, immutable"
PLAYLIST_CACHE = "public, max-age=2"
# Signed URLs are capabilities, not cookies: any origin may fetch with one.
CORS = [
    (b"access-control-allow-origin", b"*"),
    (
        b"access-control-expose-headers",
        b"content-length, content-range, etag, " + REFUSAL_HEADER.encode(),
    ),
]
PLAYABLE = frozenset({VideoStatus.READY, VideoStatus.PROCESSING})
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class Watchable(Protocol):
    """What signing needs to know of a video: a database row or a `VideoView`."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def owner_id(self) -> str: ...
    @property
    def visibility(self) -> Visibility: ...
    @property
    def status(self) -> VideoStatus: ...
    @property
    def poster_key(self) -> str | None: ...
    @property
    def storyboard_key(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Playback:
    """What a page needs to play one video; URLs are paths on the public origin."""

    video_id: str
    title: str
    master_url: str
    poster_url: str | None
    storyboard_url: str | None
    expires_at: int
    # Still transcoding: the master lists only the rungs done so far, and grows.
    processing: bool = False


@dataclass(slots=True)
class Reply:
    """One HTTP answer, built without any web framework (they cost time per request)."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


def object_key(video_id: str, rest: str) -> str:
    """The store key behind `rest` in a video's signed prefix.

    Images live beside the HLS tree (`img/{video_id}/`) but are reached under the same
    token as `.../{token}/img/poster.jpg`, so one signed prefix covers the whole page.
    """
    if rest.startswith("img/"):
        return validate_key(f"img/{video_id}/{rest[4:]}")
    return validate_key(f"hls/{video_id}/{rest}")


def render_playlist(text: str, *, playlist: str) -> str:
    """Check that every URI in a stored playlist stays relative and inside the video.

    Tokens travel in the path, so the URIs need no rewriting: the player resolves them
    under the token of the playlist it fetched. A URI that is absolute or climbs out of
    the video's folder would lead a player elsewhere, so it fails loudly instead.
    """
    base = posixpath.dirname(playlist)
    for line in text.splitlines():
        uris = re.findall(r'URI="([^"]*)"', line) if line.startswith("#") else [line.strip()]
        for uri in uris:
            if not uri:
                continue
            target = posixpath.normpath(posixpath.join(base, uri))
            if ":" in uri or uri.startswith("/") or target.startswith(".."):
                raise InvalidKey(
                    f"playlist {playlist!r} names {uri!r} outside its video: re-package it"
                )
    return text


def parse_range(header: str | None, size: int) -> tuple[int, int] | Literal[False] | None:
    """The [start, end) a Range header asks for; None for the whole object; False when
    nothing of the object is in it (416). Several ranges are answered whole, as RFC
    9110 allows."""
    if header is None:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        return (max(0, size - length), size) if length and size else False
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return False
    return start, end


class Stream:
    """Signs playback URLs and answers requests under `/hls/`."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: ObjectStore,
        sessions: sessionmaker[Session],
        signer: UrlSigner,
        kv: KV,
        cdn: CdnSigner | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.sessions = sessions
        self.signer = signer
        self.kv = kv
        self.clock = clock
        if cdn is None and settings.stream_path == "cdn":
            cdn = CdnSigner.from_settings(settings)
        self.cdn = cdn
        self.trusted_proxies = frozenset(settings.stream_trusted_proxies)
        # A local file answers in microseconds: read it on the event loop. A store across
        # the network would block it, so those reads go to a thread.
        self.blocking = not isinstance(store, LocalStore)
        self._send_segment = _SEGMENT_SENDERS[settings.stream_path]

    # -- signing: the only place that looks at the database ------------------------

    def playback(self, *, video_id: str, viewer_id: str | None, ip: str | None = None) -> Playback:
        """A signed master URL for `viewer_id` (None: anonymous), if they may watch."""
        with self.sessions() as session:
            video = session.get(Video, video_id)
            if video is None:
                raise VideoUnavailable(
                    f"no video {video_id!r} is visible to you: check the link, or sign in "
                    "as its owner if it is private"
                )
            return self.grant(video, viewer_id=viewer_id, ip=ip)

    def grant(self, video: Watchable, *, viewer_id: str | None, ip: str | None = None) -> Playback:
        """`playback` for a video already read (the gateway has it in hand): no query,
        and a store lookup only to check that the master playlist is published."""
        if video.visibility == Visibility.PRIVATE and video.owner_id != viewer_id:
            metrics.playback_refused(reason="not-visible")
            raise VideoUnavailable(
                f"no video {video.id!r} is visible to you: check the link, or sign in "
                "as its owner if it is private"
            )
        if video.status not in PLAYABLE or not self.store.exists(f"hls/{video.id}/master.m3u8"):
            metrics.playback_refused(reason="not-playable")
            raise VideoUnavailable(
                f"video {video.id!r} is not playable yet ({video.status.value}): "
                "try again once it has been transcoded"
            )
        ttl = self.settings.stream_url_ttl_s
        bound_ip = ip if self.settings.stream_bind_ip else None
        # Only a private video's access depends on who is signed in: its URL lives only as
        # long as the owner's sessions do. Anyone may ask for a public one again.
        generation = (
            session_generation(self.kv, viewer_id)
            if video.visibility == Visibility.PRIVATE and viewer_id
            else None
        )
        token = self.signer.token(
            video_id=video.id, ttl=ttl, viewer_id=viewer_id, ip=bound_ip, generation=generation
        )
        base = f"/hls/{video.id}/{token}/"
        images = f"img/{video.id}/"

        def url(key: str | None) -> str | None:
            # Images are reached under the same token: `{token}/img/{name}` (object_key).
            return base + "img/" + key.removeprefix(images) if key else None

        metrics.playback_granted(visibility=video.visibility.value)
        return Playback(
            video_id=video.id,
            title=video.title,
            master_url=base + "master.m3u8",
            poster_url=url(video.poster_key),
            storyboard_url=url(video.storyboard_key),
            expires_at=int(self.clock()) + ttl,
            processing=video.status == VideoStatus.PROCESSING,
        )

    # -- the request path: token, then bytes ----------------------------------------

    def handle(self, *, method: str, path: str, headers: dict[str, str], peer: str | None) -> Reply:
        """Answer one request under /hls/ (the path as sent, still percent-encoded)."""
        if method == "OPTIONS":
            return Reply(
                204,
                [
                    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
                    (b"access-control-allow-headers", b"range"),
                    (b"access-control-max-age", b"86400"),
                ],
            )
        if method not in {"GET", "HEAD"}:
            return Reply(405, [(b"allow", b"GET, HEAD, OPTIONS")])
        try:
            where = parse_hls_path(path)
            grant = self.signer.verify(
                video_id=where.video_id, token=where.token, ip=self.client_ip(peer, headers)
            )
            key = object_key(where.video_id, where.rest)
            if grant.generation is not None:
                self._require_session(grant)
        except UrlRefused as exc:
            metrics.playback_refused(reason=exc.reason)
            return refusal(exc.reason)
        except InvalidKey:
            return Reply(404, [(b"cache-control", b"no-store")])
        try:
            if key.endswith(".m3u8"):
                return self._playlist(key, headers)
            return self._send_segment(self, key=key, grant=grant, headers=headers)
        except ObjectNotFound:
            return Reply(404, [(b"cache-control", b"no-store")])

    def _require_session(self, grant: UrlGrant) -> None:
        # A generation is only ever signed with a viewer (UrlSigner.token).
        if session_generation(self.kv, grant.viewer_id or "") != grant.generation:
            raise UrlRefused("revoked")

    def client_ip(self, peer: str | None, headers: dict[str, str]) -> str | None:
        # Behind nginx every request comes from nginx: its X-Real-IP names the viewer.
        if peer in self.trusted_proxies and "x-real-ip" in headers:
            return headers["x-real-ip"].strip()
        return peer

    def _playlist(self, key: str, headers: dict[str, str]) -> Reply:
        info = self.store.stat(key)
        etag = f'"{info.etag}"'
        common = [(b"etag", etag.encode()), (b"cache-control", PLAYLIST_CACHE.encode())]
        if headers.get("if-none-match") == etag:
            return Reply(304, common)
        text = render_playlist(self.store.get_bytes(key).decode(), playlist=key)
        return Reply(200, [(b"content-type", PLAYLIST_TYPE.encode()), *common], text.encode())

    def _bytes(self, *, key: str, grant: UrlGrant, headers: dict[str, str]) -> Reply:
        info = self.store.stat(key)
        etag = f'"{info.etag}"'
        suffix = posixpath.splitext(key)[1]
        common = [
            (b"etag", etag.encode()),
            (b"cache-control", IMMUTABLE.encode()),
            (b"accept-ranges", b"bytes"),
            (b"content-type", MIME_TYPES.get(suffix, "application/octet-stream").encode()),
        ]
        if headers.get("if-none-match") == etag:
            return Reply(304, common)
        wanted = parse_range(headers.get("range"), info.size)
        if wanted is False:
            return Reply(416, [*common, (b"content-range", f"bytes */{info.size}".encode())])
        if wanted is None:
            return Reply(200, common, self.store.get_bytes(key))
        start, end = wanted
        body = self.store.get_bytes(key, start=start, end=end)
        span = f"bytes {start}-{end - 1}/{info.size}".encode()
        return Reply(206, [*common, (b"content-range", span)], body)

    def _redirect(self, *, key: str, grant: UrlGrant, headers: dict[str, str]) -> Reply:
        # The presigned URL lives no longer than the token that asked for it.
        left = max(1, min(grant.expires_at - int(self.clock()), 7 * 24 * 3600))
        mime = MIME_TYPES.get(posixpath.splitext(key)[1], "application/octet-stream")
        url = self.store.presigned_url(key, expires=left, content_type=mime)
        if url is None:
            return self._bytes(key=key, grant=grant, headers=headers)
        # Cacheable for as long as the presigned URL works, by this token's URL only.
        return Reply(
            302,
            [(b"location", url.encode()), (b"cache-control", f"private, max-age={left}".encode())],
        )

    def _cdn_redirect(self, *, key: str, grant: UrlGrant, headers: dict[str, str]) -> Reply:
        assert self.cdn is not None  # built in __init__ whenever stream_path is "cdn"
        # Signed for the token's own expiry: the CDN URL outlives no token.
        url = self.cdn.url(key, expires_at=grant.expires_at)
        left = max(1, grant.expires_at - int(self.clock()))
        return Reply(
            302,
            [(b"location", url.encode()), (b"cache-control", f"private, max-age={left}".encode())],
        )

    # -- ASGI ------------------------------------------------------------------------

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app Serve runs: no framework, a segment costs one `handle` call."""
        if scope["type"] == "lifespan":
            await receive()  # startup: nothing to open, the constructor did it
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        raw = scope.get("raw_path") or scope["path"].encode()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        answer = functools.partial(
            self.handle,
            method=scope["method"],
            path=raw.decode("latin-1"),
            headers=headers,
            peer=client[0] if client else None,
        )
        reply = await asyncio.to_thread(answer) if self.blocking else answer()
        out = [*CORS, *reply.headers]
        if reply.status != 304:
            out.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": out})
        body = b"" if scope["method"] == "HEAD" else reply.body
        await send({"type": "http.response.body", "body": body})


def refusal(reason: str) -> Reply:
    """403 with the reason in a header only: the body of a refusal tells a scraper nothing."""
    return Reply(403, [(REFUSAL_HEADER.encode(), reason.encode()), (b"cache-control", b"no-store")])


_SEGMENT_SENDERS: dict[str, Callable[..., Reply]] = {
    "embedded": Stream._bytes,
    # nginx answers segment requests itself; any that reach us are served the same way.
    "nginx": Stream._bytes,
    "s3": Stream._redirect,
    "cdn": Stream._cdn_redirect,
}
