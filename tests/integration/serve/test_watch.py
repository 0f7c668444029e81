"""The watch page plays in headless Chromium, a page on the gateway's origin uploads to
the upload edge, and /hls/ works behind Ray Serve's proxy.

Chromium is driven over the DevTools protocol with a few lines of websocket JSON: no
browser-automation package to keep in step with the browser.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve.gateway.watch import install_hls_js
from websockets.sync.client import connect

from cluster.storage import LocalStore
from serve.gateway.ingress import Gateway, create_app
from tests.conftest import free_port, require
from tests.integration.serve.test_stream import (  # noqa: F401 - fixtures
    PUBLIC,
    Clock,
    _serve,
    _settings,
    _stream,
    data_dir,
    ladder_dir,
)

# `vidray assets` installs here too: the repository's own (git-ignored) data dir.
ASSETS = Path(__file__).resolve().parents[3] / ".vidray" / "web"


def _one_origin(gateway_app: Any, stream_app: Any) -> Any:
    """/hls/ to the stream app, the rest to the gateway: what Serve's proxy does."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        target = stream_app if path.startswith("/hls/") else gateway_app
        await target(scope, receive, send)

    return app


@pytest.fixture(scope="module")
def site(data_dir: Path) -> Iterator[str]:  # noqa: F811
    if shutil.which("npm") is None:
        require("npm", "install npm so that `vidray assets` can fetch hls.js")
    install_hls_js(ASSETS)
    settings = _settings(data_dir, web_assets_dir=ASSETS)
    stream = _stream(settings, LocalStore(settings.objects_dir), Clock())
    port = free_port()
    with _serve(_one_origin(create_app(Gateway(settings)), stream.asgi), port):
        yield f"http://127.0.0.1:{port}"


class DevTools:
    """Just enough of the Chrome DevTools protocol: send a command, wait for its answer."""

    def __init__(self, url: str) -> None:
        self.socket = connect(url, max_size=None, open_timeout=10)
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return dict(message["result"])

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        require("Chromium", "apt-get install chromium")
    profile = tmp_path_factory.mktemp("chromium")
    process = subprocess.Popen(
        [
            str(binary),
            "--headless=new",
            "--no-sandbox",  # tests run as root in CI containers
            "--disable-gpu",
            "--mute-audio",
            "--autoplay-policy=no-user-gesture-required",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not active.is_file() or not active.read_text().strip():
            assert process.poll() is None, "Chromium exited at start"
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            time.sleep(0.1)
        port = active.read_text().split()[0]
        pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
        page = next(p for p in pages if p["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        yield tools
        with contextlib.suppress(Exception):
            tools.socket.close()
    finally:
        process.terminate()
        process.wait(10)


def test_watch_page_plays_in_headless_chromium(site: str, browser: DevTools) -> None:
    browser.call("Page.enable")
    browser.call("Page.navigate", url=f"{site}/watch/{PUBLIC}")
    deadline = time.monotonic() + 10
    while browser.evaluate("document.readyState") != "complete":
        assert time.monotonic() < deadline, "the watch page did not load"
        time.sleep(0.1)
    browser.evaluate("const v = document.getElementById('player'); v.muted = true; v.play(); 1")
    state: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = browser.evaluate(
            "({time: document.getElementById('player').currentTime, hls: !!window.Hls,"
            " errors: window.vidray.errors, levels: window.vidray.levels,"
            " storyboard: window.vidray.storyboard || 0,"
            " poster: document.getElementById('player').poster,"
            " options: document.getElementById('quality').options.length})"
        )
        if state["errors"] or state["time"] > 1.5:
            break
        time.sleep(0.25)
    assert state["hls"], "hls.js did not load from /assets/hls.min.js"
    assert state["errors"] == [], state
    assert state["time"] > 1.5, f"playback did not advance: {state}"
    assert sorted(state["levels"]) == [240, 360]
    assert state["options"] == 3  # Auto and one per rung
    assert state["storyboard"] == 2
    assert "/img/poster.jpg" in state["poster"]


def test_hls_behind_ray_serves_proxy(ray_cluster: None, data_dir: Path) -> None:  # noqa: F811
    """The stream app at route prefix /hls on Serve: signed master, playlist and segment."""
    from ray import serve
    from ray.serve.config import HTTPOptions

    from serve.app import STREAM_APP_NAME, STREAM_ROUTE_PREFIX, build_stream_app

    settings = _settings(data_dir)
    port = free_port()
    serve.start(http_options=HTTPOptions(host="127.0.0.1", port=port))
    try:
        serve.run(
            build_stream_app(settings), name=STREAM_APP_NAME, route_prefix=STREAM_ROUTE_PREFIX
        )
        # Two replicas by default, so playlists and segments use both cores of a node.
        states = serve.status().applications[STREAM_APP_NAME].deployments["stream"]
        assert states.replica_states.get("RUNNING") == settings.stream_replicas == 2
        stream = _stream(settings, LocalStore(settings.objects_dir), Clock())
        base = f"http://127.0.0.1:{port}"
        master = base + stream.playback(video_id=PUBLIC, viewer_id=None).master_url
        with httpx.Client(timeout=10) as client:
            assert client.get(master).text.startswith("#EXTM3U")
            segment = client.get(httpx.URL(master).join("240p/seg_00000.ts"))
            assert segment.status_code == 200
            assert segment.headers["content-type"] == "video/mp2t"
            moved = master.replace(f"/hls/{PUBLIC}/", "/hls/123/")
            refused = client.get(moved)
            assert refused.status_code == 403
            assert refused.headers["x-vidray-refused"] == "tampered"
    finally:
        serve.shutdown()


UPLOAD_FROM_PAGE = """(async () => {
  const auth = {"Tus-Resumable": "1.0.0", "Authorization": "Bearer %(token)s"};
  const body = new TextEncoder().encode("%(text)s");
  // Twice the length: the upload stays open, so no probe deletes the bytes under test.
  const created = await fetch("%(edge)s/files/", {
    method: "POST", headers: {...auth, "Upload-Length": String(2 * body.length)}});
  const location = created.headers.get("Location");
  const patched = await fetch(location, {method: "PATCH", body, headers: {...auth,
    "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}});
  return {created: created.status, location, patched: patched.status,
          offset: patched.headers.get("Upload-Offset")};
})()"""


def test_a_page_uploads_to_the_upload_edge_across_origins(
    site: str,
    browser: DevTools,
    data_dir: Path,  # noqa: F811
) -> None:
    """What tus-js-client does from vidray's pages: the edge is another origin (its own
    port), so every tus request and header it reads must pass the browser's CORS."""
    from serve.uploads.edge import UploadEdge
    from tests.integration.serve.conftest import sign_in

    settings = _settings(data_dir, upload_port=free_port())
    token = sign_in(Users.from_settings(settings), settings, "page@example.com")
    edge = UploadEdge(settings)
    try:
        edge_url = edge.ready()
        browser.call("Page.navigate", url=f"{site}/watch/{PUBLIC}")  # the gateway's origin
        deadline = time.monotonic() + 10
        while browser.evaluate("document.readyState") != "complete":
            assert time.monotonic() < deadline, "the watch page did not load"
            time.sleep(0.1)
        text = "uploaded from a web page"
        script = UPLOAD_FROM_PAGE % {"token": token, "text": text, "edge": edge_url}
        answer = browser.call(
            "Runtime.evaluate", expression=script, awaitPromise=True, returnByValue=True
        )
        assert "exceptionDetails" not in answer, answer  # a CORS refusal rejects the fetch
        result = answer["result"]["value"]
        assert (result["created"], result["patched"]) == (201, 204)
        assert result["location"].startswith(f"{edge_url}/files/")
        assert result["offset"] == str(len(text))
        upload_id = result["location"].rsplit("/", 1)[-1]
        assert LocalStore(settings.objects_dir).get_bytes(f"raw/{upload_id}") == text.encode()
    finally:
        edge.stop()
