"""HLS delivery over real HTTP on every byte path: the stream app (embedded), nginx with
secure_link in front of it, S3 (moto) through presigned redirects, and a CDN through
CloudFront-signed redirects.

One small ladder is transcoded once per module with the pure media library; the stream
app runs under uvicorn in this process, nginx once per module on a free port. CloudFront
is outside this machine, so a small stand-in plays its part: it checks a canned-policy
signature with the key pair's public key, as CloudFront does, and serves the store.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import posixpath
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from PIL import Image

from cluster.config import load_settings
from cluster.db.models import Role, User, Video, Visibility
from cluster.errors import ObjectNotFound
from cluster.kv import KV
from cluster.nginx import NginxOptions, render
from cluster.storage import LocalStore, ObjectStore, S3Store
from cluster.url_signing import UrlSigner
from serve.accounts.service import Accounts
from serve.accounts.views import AuthSession
from serve.platform import Platform
from serve.stream.errors import VideoUnavailable
from serve.stream.service import Stream, parse_range
from tests.support.clock import OffsetClock
from tests.support.servers import free_port, serving
from tests.support.services import require
from tests.support.stream import (
    DOOMED,
    NEIGHBOUR,
    OTHER,
    OWNER,
    PRIVATE,
    PUBLIC,
    SECRET,
    make_stream,
    stream_settings,
)
from tests.support.waiting import eventually

BYTE_PATHS = ["embedded", "nginx", "s3", "cdn"]
CDN_KEY_ID = "K2JCJMDEHXQW5F"
PASSWORD = "correct horse battery staple"


@dataclass
class Site:
    """One byte path: where players connect, and the stream that signs for it."""

    name: str
    base: str
    stream: Stream
    clock: OffsetClock
    store: ObjectStore

    def url(self, video_id: str = PUBLIC, *, viewer: str | None = None, **kw: object) -> str:
        return (
            self.base + self.stream.playback(video_id=video_id, viewer_id=viewer, **kw).master_url
        )  # type: ignore[arg-type]

    def signed(self, video_id: str, *, ttl: float = 600, ip: str | None = None) -> str:
        token = self.stream.signer.token(video_id=video_id, ttl=ttl, ip=ip)
        return f"{self.base}/hls/{video_id}/{token}/"


def cloudfront_expiry(url: str, public_key: rsa.RSAPublicKey) -> int:
    """What CloudFront checks of a canned-policy URL: the RSA-SHA1 signature over the
    policy it rebuilds from the URL and `Expires`. Returns `Expires`; raises
    `InvalidSignature` when the URL was not signed by the key pair."""
    resource, _, query = url.partition("?")
    params = dict(parse_qsl(query))
    assert set(params) == {"Expires", "Signature", "Key-Pair-Id"}, params
    expires = int(params["Expires"])
    condition = {"DateLessThan": {"AWS:EpochTime": expires}}
    policy = json.dumps(
        {"Statement": [{"Resource": resource, "Condition": condition}]}, separators=(",", ":")
    )
    signature = base64.b64decode(params["Signature"].translate(str.maketrans("-_~", "+=/")))
    public_key.verify(signature, policy.encode(), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    return expires


class FakeCloudFront:
    """CloudFront in front of the store: 403 unless the URL verifies and has not expired
    (by real time, as a CDN's clock is not ours), else the object with Range and ETag."""

    def __init__(self, *, public_key: rsa.RSAPublicKey, store: ObjectStore) -> None:
        self.public_key = public_key
        self.store = store
        self.hits: list[str] = []  # the cache keys: paths only, as CloudFront's default

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        url = f"{scope['scheme']}://{headers['host']}{scope['raw_path'].decode()}"
        query = scope["query_string"].decode()
        status, out, body = self.answer(url + (f"?{query}" if query else ""), headers)
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body})

    def answer(
        self, url: str, headers: dict[str, str]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        try:
            if cloudfront_expiry(url, self.public_key) <= time.time():
                return 403, [], b""
        except (InvalidSignature, AssertionError, ValueError):
            return 403, [], b""
        key = unquote(urlsplit(url).path).lstrip("/")
        self.hits.append(key)
        try:
            info = self.store.stat(key)
        except ObjectNotFound:
            return 404, [], b""
        etag = f'"{info.etag}"'.encode()
        common = [(b"etag", etag), (b"accept-ranges", b"bytes")]
        if posixpath.splitext(key)[1] == ".ts":
            common.append((b"content-type", b"video/mp2t"))
        if headers.get("if-none-match", "").encode() == etag:
            return 304, common, b""
        wanted = parse_range(headers.get("range"), info.size)
        if wanted is False:
            return 416, common, b""
        if wanted is None:
            return 200, common, self.store.get_bytes(key)
        start, end = wanted
        span = f"bytes {start}-{end - 1}/{info.size}".encode()
        return (
            206,
            [*common, (b"content-range", span)],
            self.store.get_bytes(key, start=start, end=end),
        )


@pytest.fixture(scope="module")
def cdn_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def sites(data_dir: Path, s3_server: str, cdn_key: rsa.RSAPrivateKey) -> Iterator[dict[str, Site]]:
    """The four byte paths, each with its own stream app (and clock) on a free port."""
    nginx = shutil.which("nginx")
    if nginx is None:
        require("nginx", "install nginx (with the secure_link module)")
    local = LocalStore(stream_settings(data_dir).objects_dir)
    s3 = S3Store(
        bucket="vidray-stream-test",
        endpoint_url=s3_server,
        access_key_id="testing",
        secret_access_key="testing",
        create_bucket=True,
    )
    for info in local.list(""):
        if not info.key.endswith(".db"):
            s3.put_file(info.key, local.root / info.key)
    found: dict[str, Site] = {}
    with contextlib.ExitStack() as stack:
        cdn_port = free_port()
        stack.enter_context(
            serving(FakeCloudFront(public_key=cdn_key.public_key(), store=local), cdn_port)
        )
        cdn = {
            "cdn_base_url": f"http://127.0.0.1:{cdn_port}",
            "cdn_key_id": CDN_KEY_ID,
            "cdn_private_key": _pem(cdn_key),
        }
        for name, store, path in [
            ("embedded", local, "embedded"),
            ("nginx", local, "nginx"),
            ("s3", s3, "s3"),
            ("cdn", local, "cdn"),
        ]:
            clock = OffsetClock()
            extra = cdn if path == "cdn" else {}
            stream = make_stream(stream_settings(data_dir, stream_path=path, **extra), store, clock)
            port = free_port()
            stack.enter_context(serving(stream.asgi, port))
            found[name] = Site(name, f"http://127.0.0.1:{port}", stream, clock, store)
        # nginx in front of the "nginx" site's stream app, serving segments itself.
        upstream = found["nginx"].base.removeprefix("http://")
        port = free_port()
        prefix = data_dir / "nginx"
        prefix.mkdir(exist_ok=True)
        conf = prefix / "nginx.conf"
        options = NginxOptions(
            listen=f"127.0.0.1:{port}", upstream=upstream, standalone=True, prefix=prefix, workers=1
        )
        conf.write_text(render(stream_settings(data_dir), options))
        process = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
            stderr=subprocess.PIPE,
        )
        stack.callback(process.wait, 5)
        stack.callback(process.terminate)
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            httpx.get(base + "/hls/", timeout=1)  # any answer: nginx listens
            return True

        eventually(answers, timeout=10, ignoring=(httpx.TransportError,), what="nginx's start")
        found["nginx"].base = base
        yield found


@pytest.fixture(params=BYTE_PATHS)
def site(request: pytest.FixtureRequest, sites: dict[str, Site]) -> Iterator[Site]:
    chosen = sites[request.param]
    chosen.clock.offset = 0.0
    yield chosen
    chosen.clock.offset = 0.0


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, follow_redirects=True) as c:
        yield c


def _refused(response: httpx.Response, reason: str | None = None) -> None:
    assert response.status_code == 403, (response.status_code, response.headers)
    if reason is not None:
        assert response.headers.get("x-vidray-refused") == reason
    assert "signature" not in response.text and "expired" not in response.text


def _segments(client: httpx.Client, master: str) -> list[str]:
    """Every segment URL a player would fetch from this master, resolved as a player does."""
    urls = []
    text = client.get(master).raise_for_status().text
    playlists = [line for line in text.splitlines() if line and not line.startswith("#")]
    playlists += [p.split('URI="')[1].split('"')[0] for p in text.splitlines() if 'URI="' in p]
    for playlist in playlists:
        media_url = httpx.URL(master).join(playlist)
        media = client.get(media_url).raise_for_status().text
        urls += [
            str(media_url.join(line))
            for line in media.splitlines()
            if line and not line.startswith("#")
        ]
    return urls


# --- what a player sees -------------------------------------------------------------


def test_ffprobe_and_ffmpeg_read_every_rung_from_the_master_url_alone(site: Site) -> None:
    master = site.url()
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", master],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    streams = json.loads(probe.stdout)["streams"]
    heights = sorted({s["height"] for s in streams if s["codec_type"] == "video"})
    assert heights == [240, 360]
    assert any(s["codec_type"] == "audio" for s in streams)
    # Decode every stream of every variant to the end: one refused or missing file fails
    # this. (Not -xerror: the packager's audio TS draws a "corrupt packet" warning from
    # disk too, which is no concern of delivery.)
    decode = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", master, "-map", "0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert decode.returncode == 0, decode.stderr
    assert "HTTP error" not in decode.stderr and "Server returned" not in decode.stderr


def test_playlists_and_segments_carry_caching_cors_and_types(
    site: Site, client: httpx.Client
) -> None:
    master = site.url()
    response = client.get(master)
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert response.headers["cache-control"] == "public, max-age=2"
    assert response.headers["access-control-allow-origin"] == "*"
    segment = _segments(client, master)[0]
    response = client.get(segment)
    assert response.status_code == 200
    assert response.content[0] == 0x47  # an MPEG-TS sync byte
    assert response.headers["content-type"] == "video/mp2t"
    if site.name not in {"s3", "cdn"}:  # they answer the redirected request themselves
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["access-control-allow-origin"] == "*"
        assert int(response.headers["content-length"]) == len(response.content)


def test_range_and_etag_on_segments(site: Site, client: httpx.Client) -> None:
    segment = _segments(client, site.url())[0]
    whole = client.get(segment)
    part = client.get(segment, headers={"range": "bytes=188-375"})
    assert part.status_code == 206
    assert part.content == whole.content[188:376]
    assert part.headers["content-range"] == f"bytes 188-375/{len(whole.content)}"
    tail = client.get(segment, headers={"range": "bytes=-188"})
    assert tail.content == whole.content[-188:]
    beyond = client.get(segment, headers={"range": f"bytes={len(whole.content)}-"})
    assert beyond.status_code == 416
    etag = whole.headers["etag"]
    assert client.get(segment, headers={"if-none-match": etag}).status_code == 304


def test_poster_and_storyboard_under_the_same_token(site: Site, client: httpx.Client) -> None:
    playback = site.stream.playback(video_id=PUBLIC, viewer_id=None)
    assert playback.poster_url and playback.storyboard_url
    poster = client.get(site.base + playback.poster_url)
    assert poster.status_code == 200
    assert Image.open(io.BytesIO(poster.content)).size == (640, 360)
    vtt = client.get(site.base + playback.storyboard_url)
    assert vtt.text.startswith("WEBVTT")
    tile = httpx.URL(site.base + playback.storyboard_url).join("storyboard.jpg")
    assert client.get(tile).status_code == 200


# --- what an attacker sees ----------------------------------------------------------


def _mutate(url: str, index: int) -> str:
    """`url` with the character at `index` replaced by another valid one."""
    char = url[index]
    other = "0" if char != "0" else "1"
    if char.isalpha():
        other = "b" if char != "b" else "c"
    return url[:index] + other + url[index + 1 :]


def test_every_one_character_change_to_the_token_is_refused(
    site: Site, client: httpx.Client
) -> None:
    master = site.url()
    segment = _segments(client, master)[0]
    token = master.split("/")[5]
    start = segment.index(token)
    for offset in range(len(token)):
        if token[offset] == ".":
            continue
        response = client.get(_mutate(segment, start + offset), follow_redirects=False)
        assert response.status_code == 403, (offset, token)
        assert response.headers["x-vidray-refused"] in {"tampered", "malformed", "unknown-key"}
    # The last character carries padding bits: nginx would decode "B" like "A".
    last = start + len(token) - 1
    response = client.get(segment[:last] + chr(ord(segment[last]) + 1) + segment[last + 1 :])
    _refused(response)


def test_expired_urls_are_refused_everywhere(site: Site, client: httpx.Client) -> None:
    site.clock.offset = -3600  # signed an hour ago, for 10 minutes
    master = site.signed(PUBLIC, ttl=600) + "master.m3u8"
    segment = master.replace("master.m3u8", "240p/seg_00000.ts")
    site.clock.offset = 0
    _refused(client.get(master), "expired")
    _refused(client.get(segment), "expired")


def test_expiry_allows_the_skew_window_and_not_more(site: Site, client: httpx.Client) -> None:
    signed = site.signed(PUBLIC, ttl=60)
    # The token's own expiry (a whole second), not "now + 60": timed from that, the test
    # holds however long the request takes.
    expires = int(signed.rstrip("/").rsplit("/", 1)[-1].split(".")[2])
    last_good = expires + site.stream.settings.stream_skew_s - 0.5
    master = signed + "master.m3u8"
    site.clock.offset = last_good - time.time() - 2  # the request has 2 s to arrive
    assert client.get(master).status_code == 200
    site.clock.offset = last_good + 1 - time.time()
    _refused(client.get(master), "expired")


def test_not_yet_valid_urls_are_refused(site: Site, client: httpx.Client) -> None:
    site.clock.offset = 3600  # a replica whose clock runs an hour fast
    master = site.signed(PUBLIC) + "master.m3u8"
    site.clock.offset = 0
    # Playlists come from Serve on every path, so a player cannot start.
    _refused(client.get(master), "not-yet-valid")


def test_a_token_never_opens_another_videos_path(site: Site, client: httpx.Client) -> None:
    prefix = site.signed(PUBLIC)  # .../hls/12/{token}/
    token = prefix.rstrip("/").rsplit("/", 1)[1]
    base = site.base
    for path in [
        f"/hls/{NEIGHBOUR}/{token}/master.m3u8",
        f"/hls/{NEIGHBOUR}/{token}/240p/seg_00000.ts",
        f"/hls/{PUBLIC}/{token}/../../{NEIGHBOUR}/{token}/240p/seg_00000.ts",
        f"/hls/{PUBLIC}/{token}/%2e%2e/%2E%2E/{NEIGHBOUR}/{token}/240p/seg_00000.ts",
        f"/hls/{PUBLIC}/{token}/..%2f..%2f{NEIGHBOUR}/{token}/240p/seg_00000.ts",
        f"/hls//{NEIGHBOUR}/{token}/240p/seg_00000.ts",
    ]:
        response = client.get(base + path, follow_redirects=False)
        assert response.status_code in {403, 404}, (path, response.status_code)
        assert response.status_code == 403 or "ts" not in response.headers.get("content-type", "")
    # The neighbour's files exist: its own token opens them.
    assert client.get(site.signed(NEIGHBOUR) + "240p/seg_00000.ts").status_code == 200
    # Encoded but canonical paths are the same file.
    assert client.get(prefix + "240p/%73eg_00000.ts").status_code == 200


def test_ip_bound_urls_open_only_from_that_address(site: Site, client: httpx.Client) -> None:
    assert client.get(site.signed(PUBLIC, ip="127.0.0.1") + "240p/seg_00000.ts").status_code == 200
    _refused(client.get(site.signed(PUBLIC, ip="10.9.8.7") + "240p/seg_00000.ts"), "tampered")


def test_rotated_keys_keep_old_urls_until_they_expire(
    site: Site, client: httpx.Client, data_dir: Path
) -> None:
    new = load_settings(
        data_dir=data_dir, signing_secret="rotated-" + SECRET, signing_previous_secrets=[SECRET]
    )
    rotated = UrlSigner.from_settings(new, clock=site.clock)
    old_url = site.signed(PUBLIC) + "master.m3u8"
    verifier = site.stream.signer
    try:
        site.stream.signer = rotated
        assert client.get(old_url).status_code == 200
        fresh = rotated.sign(video_id=PUBLIC, ttl=60)
        if site.name != "nginx":  # nginx's config names the keys it was written with
            assert client.get(site.base + fresh).status_code == 200
        site.stream.signer = UrlSigner.from_settings(
            new.model_copy(update={"signing_previous_secrets": []}), clock=site.clock
        )
        _refused(client.get(old_url), "unknown-key")
    finally:
        site.stream.signer = verifier


# --- access rules -------------------------------------------------------------------


def test_private_videos_play_for_their_owner_only(site: Site, client: httpx.Client) -> None:
    with pytest.raises(VideoUnavailable):
        site.stream.playback(video_id=PRIVATE, viewer_id=None)
    with pytest.raises(VideoUnavailable):
        site.stream.playback(video_id=PRIVATE, viewer_id=OTHER)
    master = site.url(PRIVATE, viewer=OWNER)
    assert f".a{OWNER}-" in master  # the URL names its viewer and their session
    assert len(_segments(client, master)) >= 4


def test_unlisted_videos_play_with_a_url(site: Site, client: httpx.Client) -> None:
    assert client.get(site.url(NEIGHBOUR)).status_code == 200


def test_made_private_plays_until_its_urls_expire(site: Site, client: httpx.Client) -> None:
    master = site.url(PUBLIC)
    with site.stream.sessions.begin() as session:
        session.get(Video, PUBLIC).visibility = Visibility.PRIVATE  # type: ignore[union-attr]
    try:
        with pytest.raises(VideoUnavailable):
            site.stream.playback(video_id=PUBLIC, viewer_id=None)
        assert client.get(master).status_code == 200  # the URL already handed out
        site.clock.offset = site.stream.settings.stream_url_ttl_s + 3600
        _refused(client.get(master), "expired")
    finally:
        with site.stream.sessions.begin() as session:
            session.get(Video, PUBLIC).visibility = Visibility.PUBLIC  # type: ignore[union-attr]


def test_deleted_videos_stop_at_once(sites: dict[str, Site], client: httpx.Client) -> None:
    masters = {name: site.url(DOOMED) for name, site in sites.items()}
    segments = {name: _segments(client, url)[0] for name, url in masters.items()}
    for store in {id(s.store): s.store for s in sites.values()}.values():
        store.delete_prefix(f"hls/{DOOMED}/")
    for name in sites:
        assert client.get(masters[name]).status_code == 404
        assert client.get(segments[name]).status_code in {403, 404}
    with sites["embedded"].stream.sessions.begin() as session:
        session.delete(session.get(Video, DOOMED))
    with pytest.raises(VideoUnavailable):
        sites["embedded"].stream.playback(video_id=DOOMED, viewer_id=None)


# --- sessions: private playback ends with the owner's sessions -----------------------


@pytest.fixture(scope="module")
def users(data_dir: Path) -> Accounts:
    """The accounts service on the same database and KV store as the stream apps."""
    accounts = Platform(stream_settings(data_dir)).accounts
    accounts.set_password(user_id=OWNER, password=PASSWORD)
    with accounts.sessions.begin() as session:
        session.get(User, OTHER).role = Role.ADMIN  # type: ignore[union-attr]
    return accounts


def _sign_in(users: Accounts) -> AuthSession:
    return users.login(identifier="owner@example.com", password=PASSWORD)


def _token(master: str) -> str:
    return urlsplit(master).path.split("/")[3]


def test_log_out_everywhere_stops_private_playback(
    site: Site, client: httpx.Client, users: Accounts
) -> None:
    session = _sign_in(users)
    master = site.url(PRIVATE, viewer=OWNER)
    segment = _segments(client, master)[0]
    media = posixpath.dirname(segment) + "/index.m3u8"
    public = site.url(PUBLIC, viewer=OWNER)
    assert "-" not in _token(public).split(".")[3]  # public playback follows no session
    users.logout(session.access_token, everywhere=True)
    _refused(client.get(master), "revoked")
    _refused(client.get(media), "revoked")
    if site.name == "nginx":
        # nginx cannot read the KV store: a segment URL already known plays until it
        # expires (README, "Streaming"); its playlists above no longer do.
        assert client.get(segment).status_code == 200
    else:
        _refused(client.get(segment, follow_redirects=False), "revoked")
    assert client.get(public).status_code == 200
    # Signing in again gives URLs that play.
    _sign_in(users)
    assert len(_segments(client, site.url(PRIVATE, viewer=OWNER))) >= 4


def test_suspension_stops_private_playback(
    sites: dict[str, Site], client: httpx.Client, users: Accounts
) -> None:
    site = sites["embedded"]
    master = site.url(PRIVATE, viewer=OWNER)
    assert client.get(master).status_code == 200
    users.suspend(actor_id=OTHER, user_id=OWNER)
    try:
        _refused(client.get(master), "revoked")
        _refused(client.get(master.replace("master.m3u8", "img/poster.jpg")), "revoked")
    finally:
        users.suspend(actor_id=OTHER, user_id=OWNER, suspended=False)
    # Lifting the suspension does not bring back the URLs it ended.
    _refused(client.get(master), "revoked")
    assert client.get(site.url(PRIVATE, viewer=OWNER)).status_code == 200


class CountingKV:
    """The stream's real KV store, counting reads."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv
        self.reads = 0

    def get(self, key: str) -> bytes | None:
        self.reads += 1
        return self.kv.get(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kv, name)


def test_only_private_playback_reads_the_session(
    sites: dict[str, Site], client: httpx.Client
) -> None:
    site = sites["embedded"]
    counting = CountingKV(site.stream.kv)
    anonymous, public = site.url(PUBLIC), site.url(PUBLIC, viewer=OTHER)
    private = site.url(PRIVATE, viewer=OWNER)
    real, site.stream.kv = site.stream.kv, counting
    try:
        for master in (anonymous, public):
            _segments(client, master)
        assert counting.reads == 0
        assert client.get(private).status_code == 200
        assert counting.reads == 1  # one read per playlist
    finally:
        site.stream.kv = real


# --- the CDN path ---------------------------------------------------------------------


def test_cdn_redirects_are_cloudfront_signed_and_share_one_cache_key(
    sites: dict[str, Site], client: httpx.Client, cdn_key: rsa.RSAPrivateKey
) -> None:
    site = sites["cdn"]
    cdn_base = site.stream.settings.cdn_base_url
    locations = []
    for viewer in (None, OTHER):
        playback = site.stream.playback(video_id=PUBLIC, viewer_id=viewer)
        master = site.base + playback.master_url
        token = _token(master)
        grant = site.stream.signer.verify(video_id=PUBLIC, token=token, ip=None)
        segment = _segments(client, master)[0]
        poster = site.base + (playback.poster_url or "")
        for url, key in [(segment, urlsplit(segment).path.split(token + "/")[1]), (poster, "")]:
            response = client.get(url, follow_redirects=False)
            assert response.status_code == 302
            location = response.headers["location"]
            assert cloudfront_expiry(location, cdn_key.public_key()) <= grant.expires_at
            assert dict(parse_qsl(urlsplit(location).query))["Key-Pair-Id"] == CDN_KEY_ID
            assert token not in location and token.split(".")[-1] not in location
            if key:
                assert location.startswith(f"{cdn_base}/hls/{PUBLIC}/{key}?")
            else:
                assert location.startswith(f"{cdn_base}/img/{PUBLIC}/poster.jpg?")
            locations.append(location.split("?")[0])
    # Two viewers' requests differ only in the query string: one CDN cache entry each.
    assert locations[:2] == locations[2:]
    # A signature for one object opens no other.
    response = client.get(segment, follow_redirects=False)
    signed = response.headers["location"]
    other = signed.replace("seg_00000", "seg_00001", 1)
    assert other != signed
    assert client.get(other).status_code == 403
    assert client.get(signed).status_code == 200
