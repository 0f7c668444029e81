"""The upload edge: tus on its own uvicorn server, over real sockets.

The tus rules themselves are tested through the gateway (test_uploads.py); the edge
serves the same router. These tests check what the edge adds: a real server that
tuspy talks to, bodies cut on a real connection, `Location`s that send a gateway's
uploads to the edge, CORS for browsers, and a clear error when its port is taken.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tusclient import client as tus

from cluster import db
from cluster.bench.sources import make_source
from cluster.config import Settings, load_settings
from cluster.db.models import Upload, Video
from cluster.errors import ConfigError
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from serve.uploads.edge import UploadEdge, UploadEdgeClient, edge_base, start_upload_edges
from tests.support.accounts import sign_in
from tests.support.servers import free_port
from tests.support.tus import cut_patch
from tests.support.waiting import eventually

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(
        data_dir=tmp_path,
        signing_secret=secrets.token_urlsafe(32),
        jwt_secret=secrets.token_urlsafe(32),
        upload_part_bytes=5 * MIB,
        upload_port=free_port(),
        **overrides,
    )


class Edge:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        db.migrate(db.make_engine(settings.resolved_database_url))
        self.platform = Platform(settings)
        self.token = sign_in(self.platform.accounts, settings, "ana@example.com")
        self.server = UploadEdge(settings)
        self.url = self.server.ready()
        self.uploads = self.platform.uploads

    def auth(self, **extra: str) -> dict[str, str]:
        return {**TUS, "Authorization": f"Bearer {self.token}", **extra}

    def row(self, upload_id: str) -> Upload:
        with self.uploads.sessions() as session:
            row = session.get(Upload, upload_id)
            assert row is not None
            return row

    def offset(self, url: str) -> int:
        response = httpx.head(url, headers=self.auth())
        assert response.status_code == 200, response.text
        return int(response.headers["upload-offset"])


@pytest.fixture
def edge(tmp_path: Path, store_overrides: dict[str, Any]) -> Iterator[Edge]:
    running = Edge(_settings(tmp_path, **store_overrides))
    yield running
    running.server.stop()


def _wait_for_video(edge: Edge, upload_id: str) -> Video:
    video_id = eventually(
        lambda: edge.row(upload_id).video_id, timeout=60, what=f"upload {upload_id}'s video"
    )
    with edge.uploads.sessions() as session:
        video = session.get(Video, video_id)
        assert video is not None
        return video


def test_tuspy_uploads_through_the_edge_with_checksums(edge: Edge, tmp_path: Path) -> None:
    source = make_source(tmp_path / "clip.mp4", width=320, height=180, seconds=2)
    client = tus.TusClient(f"{edge.url}/files/", headers={"Authorization": f"Bearer {edge.token}"})
    uploader = client.uploader(
        str(source),
        chunk_size=64 * 1024,
        metadata={"filename": "clip.mp4", "title": "through the edge"},
        upload_checksum=True,
    )
    uploader.upload()
    assert uploader.url is not None and uploader.url.startswith(f"{edge.url}/files/")

    upload_id = uploader.url.rsplit("/", 1)[-1]
    stored = edge.uploads.store.get_bytes(f"raw/{upload_id}")
    assert hashlib.sha256(stored).digest() == hashlib.sha256(source.read_bytes()).digest()
    # Completed on the edge's loop: the video is created and waits for its transcode.
    video = _wait_for_video(edge, upload_id)
    assert (video.title, video.status) == ("through the edge", "processing")
    assert video.source_key == f"raw/{upload_id}"


def test_a_cut_connection_keeps_what_arrived_and_the_upload_resumes(
    edge: Edge, tmp_path: Path
) -> None:
    source = make_source(tmp_path / "clip.mp4", width=640, height=360, seconds=2)
    data = source.read_bytes()
    cut_at = 2 * MIB
    assert len(data) > cut_at + MIB
    created = httpx.post(
        f"{edge.url}/files/", headers=edge.auth(**{"Upload-Length": str(len(data))})
    )
    assert created.status_code == 201, created.text
    url = created.headers["location"]

    cut_patch(url, edge.token, data[:cut_at], declared=len(data))
    # The handler notices the cut, commits what it stored, then lets go of the lock.
    stored = eventually(lambda: edge.offset(url), timeout=20, what="the cut PATCH's commit")
    # Every byte that arrived is kept: in the file, or on S3 as a tail object.
    assert stored == cut_at

    with httpx.Client(timeout=60) as client:

        def patch_from(offset: int) -> httpx.Response | None:
            response = client.patch(
                url,
                headers={**edge.auth(), **OCTETS, "Upload-Offset": str(offset)},
                content=data[offset : offset + MIB],
            )
            # 423: the cut request still holds the lock, until it lets go.
            return None if response.status_code == 423 else response

        while stored < len(data):
            response = eventually(
                functools.partial(patch_from, stored),
                timeout=20,
                interval=0.2,
                what="the cut request's unlock",
            )
            assert response.status_code == 204, response.text
            stored = int(response.headers["upload-offset"])
    upload_id = url.rsplit("/", 1)[-1]
    assert edge.uploads.store.get_bytes(f"raw/{upload_id}") == data
    assert _wait_for_video(edge, upload_id).status == "processing"


async def test_the_gateway_sends_uploads_to_the_edge(tmp_path: Path) -> None:
    edge = Edge(_settings(tmp_path))
    try:
        port = edge.settings.upload_port
        gateway = Gateway(edge.platform, upload_base=edge_base(edge.settings))
        transport = httpx.ASGITransport(app=create_app(gateway))
        async with httpx.AsyncClient(transport=transport, base_url="http://vidray") as client:
            # Longer than what is sent: the upload stays open, and no probe deletes it.
            created = await client.post("/files/", headers=edge.auth(**{"Upload-Length": "10"}))
            location = created.headers["location"]
            assert location.startswith(f"http://vidray:{port}/files/")
            answer = await client.post(
                "/graphql",
                json={
                    "query": "mutation { createUpload(input: {size: 3}) { uploadUrl } }",
                },
                headers={"Authorization": f"Bearer {edge.token}"},
            )
            link = answer.json()["data"]["createUpload"]["uploadUrl"]
            assert link.startswith(f"http://vidray:{port}/files/") and "?token=" in link

            # The edge takes the bytes, the gateway sees them: one upload, two servers.
            path = urlsplit(location).path
            patched = httpx.patch(
                f"{edge.url}{path}",
                headers={**edge.auth(), **OCTETS, "Upload-Offset": "0"},
                content=b"hello",
            )
            assert patched.status_code == 204
            head = await client.head(path, headers=edge.auth())
            assert head.headers["upload-offset"] == "5"
            # The one-time link works on the edge, without a bearer token.
            link_parts = urlsplit(link)
            sent = httpx.patch(
                f"{edge.url}{link_parts.path}?{link_parts.query}",
                headers={**OCTETS, "Upload-Offset": "0"},
                content=b"abc",
            )
            assert sent.status_code == 204, sent.text
        await gateway.files.settle()
    finally:
        edge.server.stop()


@pytest.mark.usefixtures("ray_cluster")
async def test_health_asks_this_nodes_upload_edge_actor(tmp_path: Path) -> None:
    import ray

    settings = _settings(tmp_path)
    db.migrate(db.make_engine(settings.resolved_database_url))
    [actor] = start_upload_edges(settings)
    gateway = Gateway(
        Platform(settings), upload_base=edge_base(settings), edge=UploadEdgeClient(settings)
    )
    transport = httpx.ASGITransport(app=create_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://vidray") as client:
        try:
            healthy = (await client.get("/healthz")).json()
        finally:
            ray.kill(actor, no_restart=True)
        down = await client.get("/healthz")
    assert healthy["components"]["uploads"] == {
        "ok": True,
        "detail": f"upload edge on port {settings.upload_port}",
    }
    assert down.status_code == 503
    assert down.json()["components"]["uploads"]["ok"] is False
    assert "upload edge" in down.json()["components"]["uploads"]["detail"]


async def test_a_public_upload_url_names_the_proxy_in_front(tmp_path: Path) -> None:
    settings = _settings(tmp_path, upload_url="https://up.example.com/")
    db.migrate(db.make_engine(settings.resolved_database_url))
    platform = Platform(settings)
    token = sign_in(platform.accounts, settings, "ana@example.com")
    gateway = Gateway(platform, upload_base=edge_base(settings))
    transport = httpx.ASGITransport(app=create_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://vidray") as client:
        created = await client.post(
            "/files/",
            headers={**TUS, "Authorization": f"Bearer {token}", "Upload-Length": "5"},
        )
    assert created.headers["location"].startswith("https://up.example.com/files/")


def test_browsers_may_upload_to_the_edge_from_the_web_pages(tmp_path: Path) -> None:
    edge = Edge(_settings(tmp_path))
    try:
        origin = "http://127.0.0.1:8000"  # the gateway's pages, another origin than the edge
        preflight = httpx.options(
            f"{edge.url}/files/abc",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "upload-offset,tus-resumable,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] in {"*", origin}
        assert "PATCH" in preflight.headers["access-control-allow-methods"]
        created = httpx.post(
            f"{edge.url}/files/", headers=edge.auth(Origin=origin, **{"Upload-Length": "5"})
        )
        exposed = created.headers["access-control-expose-headers"].lower()
        assert "location" in exposed and "upload-offset" in exposed
    finally:
        edge.server.stop()


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    db.migrate(db.make_engine(settings.resolved_database_url))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", settings.upload_port))
        taken.listen()
        server = UploadEdge(settings)
        with pytest.raises(ConfigError) as caught:
            server.ready()
    assert caught.value.variable == "VIDRAY_UPLOAD_PORT"
    assert str(settings.upload_port) in str(caught.value)
