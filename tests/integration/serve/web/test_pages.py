"""The watch page plays in headless Chromium, GraphiQL loads with no other host to reach,
a page on the gateway's origin uploads to the upload edge, and /hls/ works behind Ray
Serve's proxy.

Chromium is Debian's, driven by Playwright (the `browser` fixture in tests/conftest.py).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from cluster.storage import LocalStore
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from serve.web.assets import install_assets
from tests.support.accounts import sign_in
from tests.support.clock import OffsetClock
from tests.support.servers import free_port, serving
from tests.support.services import require
from tests.support.stream import (
    DOOMED,
    NEIGHBOUR,
    OWNER,
    PRIVATE,
    PUBLIC,
    make_audio_ladder,
    make_stream,
    publish_audio_video,
    stream_settings,
)
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# `vidray assets` installs here too: the repository's own (git-ignored) data dir.
ASSETS = Path(__file__).resolve().parents[4] / ".vidray" / "web"


def _one_origin(gateway_app: Any, stream_app: Any) -> Any:
    """/hls/ to the stream app, the rest to the gateway: what Serve's proxy does."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        target = stream_app if path.startswith("/hls/") else gateway_app
        await target(scope, receive, send)

    return app


@pytest.fixture(scope="module")
def edge_port() -> int:
    """Where the upload edge of `test_a_page_uploads_...` listens: the pages' policy lets
    scripts reach the edge the gateway names, and no other."""
    return free_port()


@pytest.fixture(scope="module")
def site(data_dir: Path, edge_port: int) -> Iterator[str]:
    if shutil.which("npm") is None:
        require("npm", "install npm so that `vidray assets` can fetch hls.js and GraphiQL")
    install_assets(ASSETS)
    settings = stream_settings(data_dir, web_assets_dir=ASSETS)
    stream = make_stream(settings, LocalStore(settings.objects_dir), OffsetClock())
    port = free_port()
    gateway = Gateway(Platform(settings), upload_base=lambda _: f"http://127.0.0.1:{edge_port}")
    with serving(_one_origin(create_app(gateway), stream.asgi), port):
        yield f"http://127.0.0.1:{port}"


SONG = "s1"


@pytest.fixture(scope="module")
def song(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An audio-only video (its waveform as the poster) beside the module's videos."""
    publish_audio_video(data_dir, make_audio_ladder(tmp_path_factory.mktemp("song")), SONG)
    return SONG


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab with its own cookies and storage: tests do not see each other's."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


PLAY = "() => { const v = document.getElementById('player'); v.muted = true; v.play(); }"
PLAYER_STATE = """() => ({
  time: document.getElementById('player').currentTime, hls: !!window.Hls,
  errors: window.vidray.errors, levels: window.vidray.levels,
  storyboard: window.vidray.storyboard || 0,
  poster: document.getElementById('player').poster,
  audioOnly: !!window.vidray.audioOnly,
  qualityShown: document.getElementById('quality').checkVisibility(),
  options: document.getElementById('quality').options.length})"""


def test_watch_page_plays_in_headless_chromium(site: str, page: Page) -> None:
    page.goto(f"{site}/watch/{PUBLIC}")  # returns once the page has loaded
    page.evaluate(PLAY)

    def played_or_failed() -> dict[str, Any] | None:
        state: dict[str, Any] = page.evaluate(PLAYER_STATE)
        return state if state["errors"] or state["time"] > 1.5 else None

    state = eventually(played_or_failed, timeout=30, what="playback past 1.5 s")
    assert state["hls"], "hls.js did not load from /assets/hls.min.js"
    assert state["errors"] == [], state
    assert state["time"] > 1.5, f"playback did not advance: {state}"
    assert sorted(state["levels"]) == [240, 360]
    assert state["options"] == 3  # Auto and one per rung
    assert state["qualityShown"] and not state["audioOnly"]
    assert state["storyboard"] == 2
    assert "/img/poster.jpg" in state["poster"]


def test_audio_only_page_shows_its_waveform_and_no_quality_menu(
    site: str, song: str, page: Page
) -> None:
    page.goto(f"{site}/watch/{song}")
    page.evaluate(PLAY)

    def played_or_failed() -> dict[str, Any] | None:
        state: dict[str, Any] = page.evaluate(PLAYER_STATE)
        return state if state["errors"] or state["time"] > 1.0 else None

    state = eventually(played_or_failed, timeout=30, what="audio playback past 1 s")
    assert state["errors"] == [], state
    assert not state["qualityShown"], f"an audio-only video offers a quality menu: {state}"
    assert state["audioOnly"], state
    assert all(not height for height in state["levels"]), state["levels"]
    assert state["options"] == 1  # no "0p": only Auto, and that is hidden
    assert "/img/poster.jpg" in state["poster"]
    poster = httpx.get(state["poster"])
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    # The poster is what the viewer sees while it plays: the box is not left black.
    shown = page.locator("#player").screenshot()
    assert _not_black(shown), "the player shows a black box instead of the waveform"


def _not_black(png: bytes) -> bool:
    from io import BytesIO

    from PIL import Image, ImageStat

    picture = Image.open(BytesIO(png)).convert("RGB")
    return max(ImageStat.Stat(picture).extrema[c][1] for c in range(3)) > 128


GROWING = "g1"


def test_a_viewer_who_came_early_gets_the_whole_ladder(
    site: str, page: Page, data_dir: Path, ladder_dir: Path
) -> None:
    """A video still transcoding first publishes its lowest rung; a viewer who opened it
    then gets the higher rungs once they land, without reloading the page."""
    from cluster import db
    from cluster.db.models import Video, VideoStatus, Visibility

    settings = stream_settings(data_dir)
    engine = db.make_engine(settings.resolved_database_url)
    with db.session_factory(engine).begin() as session:
        session.add(
            Video(
                id=GROWING,
                owner_id=OWNER,
                title="still transcoding",
                visibility=Visibility.PUBLIC,
                status=VideoStatus.PROCESSING,
            )
        )
    engine.dispose()
    store = LocalStore(settings.objects_dir)
    hls = ladder_dir / "hls"

    def put(folder: str) -> None:
        for path in sorted((hls / folder).iterdir()):
            store.put_file(f"hls/{GROWING}/{folder}/{path.name}", path)

    # What publish.py has written after the first chunk's lowest rung: 240p alone.
    put("audio")
    put("240p")
    full = (hls / "master.m3u8").read_text()
    header, low, high = full.split("#EXT-X-STREAM-INF")
    assert "240p/" in low and "360p/" in high
    store.put_bytes(f"hls/{GROWING}/master.m3u8", f"{header}#EXT-X-STREAM-INF{low}".encode())

    page.goto(f"{site}/watch/{GROWING}")
    page.evaluate("() => { window.openedOnce = true; }")  # gone if the page reloads
    page.wait_for_function("() => window.vidray.levels.length === 1", timeout=30_000)
    assert page.evaluate("() => window.vidray.levels") == [240]

    # The next rung lands: its media playlist first, then the master naming it.
    put("360p")
    store.put_bytes(f"hls/{GROWING}/master.m3u8", full.encode())
    page.wait_for_function("() => window.vidray.levels.length === 2", timeout=30_000)
    state = page.evaluate(PLAYER_STATE)
    assert sorted(state["levels"]) == [240, 360]
    assert state["options"] == 3  # Auto and one per rung, the menu rebuilt
    assert state["errors"] == [], state
    assert page.evaluate("() => window.openedOnce") is True, "the page was reloaded"


ATTRIBUTE_URLS = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def test_graphiql_page_references_only_this_server(site: str) -> None:
    """Dev mode's GraphiQL must load on a machine without internet: every script and
    style it names is on this origin, and answers."""
    with httpx.Client(base_url=site, timeout=10) as client:
        page = client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        urls = ATTRIBUTE_URLS.findall(page.text)
        assert any("graphiql.min.js" in url for url in urls), urls
        foreign = [url for url in urls if re.match(r"(?:[a-z]+:)?//", url)]
        assert foreign == [], f"GraphiQL loads from other hosts: {foreign}"
        for url in urls:
            if url.startswith("/"):
                answer = client.get(url)
                assert answer.status_code == 200, (url, answer.text[:200])
                assert answer.content, url


def test_graphiql_renders_its_editor_offline(site: str, page: Page) -> None:
    """In Chromium with every other host cut off, GraphiQL still draws its editor and
    reads the schema from this server."""
    from playwright.sync_api import Route

    elsewhere: list[str] = []

    def local_only(route: Route) -> None:
        url = route.request.url
        if url.startswith((site, site.replace("http", "ws", 1), "data:")):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    page.route("**/*", local_only)
    page.goto(f"{site}/graphql")
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    editor.wait_for(state="visible", timeout=30_000)
    # The schema came in by introspection: the documentation explorer opens on Query.
    page.locator("button[aria-label*='Documentation Explorer']").first.click()
    page.get_by_text("Query", exact=True).first.wait_for(state="visible", timeout=30_000)
    assert elsewhere == [], f"GraphiQL tried to reach other hosts: {elsewhere}"


def test_hls_behind_ray_serves_proxy(ray_cluster: None, data_dir: Path) -> None:
    """The stream app at route prefix /hls on Serve: signed master, playlist and segment."""
    from ray import serve
    from ray.serve.config import HTTPOptions

    from serve.app import STREAM_APP_NAME, STREAM_ROUTE_PREFIX, build_stream_app

    settings = stream_settings(data_dir)
    port = free_port()
    serve.start(http_options=HTTPOptions(host="127.0.0.1", port=port))
    try:
        serve.run(
            build_stream_app(settings), name=STREAM_APP_NAME, route_prefix=STREAM_ROUTE_PREFIX
        )
        # Two replicas by default, so playlists and segments use both cores of a node.
        states = serve.status().applications[STREAM_APP_NAME].deployments["stream"]
        assert states.replica_states.get("RUNNING") == settings.stream_replicas == 2
        stream = make_stream(settings, LocalStore(settings.objects_dir), OffsetClock())
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
    site: str, page: Page, data_dir: Path, edge_port: int
) -> None:
    """What tus-js-client does from vidray's pages: the edge is another origin (its own
    port), so every tus request and header it reads must pass the browser's CORS."""
    from serve.uploads.edge import UploadEdge

    settings = stream_settings(data_dir, upload_port=edge_port)
    token = sign_in(Platform(settings).accounts, settings, "page@example.com")
    edge = UploadEdge(settings)
    try:
        edge_url = edge.ready()
        page.goto(f"{site}/watch/{PUBLIC}")  # the gateway's origin
        text = "uploaded from a web page"
        script = UPLOAD_FROM_PAGE % {"token": token, "text": text, "edge": edge_url}
        # A CORS refusal rejects the fetch, and Playwright raises the page's error here.
        result = page.evaluate(script)
        assert (result["created"], result["patched"]) == (201, 204)
        assert result["location"].startswith(f"{edge_url}/files/")
        assert result["offset"] == str(len(text))
        upload_id = result["location"].rsplit("/", 1)[-1]
        assert LocalStore(settings.objects_dir).get_bytes(f"raw/{upload_id}") == text.encode()
    finally:
        edge.stop()


CARDS = """() => [...document.querySelectorAll('.card')].map((card) => ({
  title: card.querySelector('.title').textContent,
  href: card.querySelector('a').getAttribute('href'),
  poster: card.querySelector('img') ? card.querySelector('img').naturalWidth : 0}))"""


def test_the_front_page_is_the_public_library(site: str, page: Page) -> None:
    response = page.goto(f"{site}/")
    assert response is not None and response.status == 200
    assert page.title() == "Library · vidray"
    # Every poster has loaded (a signed URL under /hls/, answered by the stream app).
    page.wait_for_function("() => [...document.images].every((i) => i.complete)")
    cards = page.evaluate(CARDS)
    titles = {card["title"] for card in cards}
    assert {f"video {PUBLIC}", f"video {DOOMED}"} <= titles
    # Public videos only: the unlisted and the private one are never listed.
    assert not {f"video {NEIGHBOUR}", f"video {PRIVATE}"} & titles
    assert all(card["poster"] > 0 for card in cards), cards
    # Hovering a thumbnail scrubs its storyboard: a tile of the sheet replaces the poster.
    thumb = f"a[href='/watch/{PUBLIC}'] .thumb"
    box = page.locator(thumb).bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    page.wait_for_function(
        f"() => document.querySelector({thumb!r}).style.backgroundImage.includes('storyboard')"
    )
    assert "previewing" in (page.get_attribute(thumb, "class") or "")
    page.click(f"a[href='/watch/{PUBLIC}']")
    page.wait_for_url(f"{site}/watch/{PUBLIC}")
    assert page.text_content("h1") == f"video {PUBLIC}"


def test_an_empty_library_says_how_to_fill_it_and_a_bad_cursor_is_400(tmp_path: Path) -> None:
    from cluster import db

    settings = stream_settings(tmp_path)
    db.migrate(db.make_engine(settings.resolved_database_url))
    port = free_port()
    with serving(create_app(Gateway(Platform(settings))), port):
        empty = httpx.get(f"http://127.0.0.1:{port}/")
        assert empty.status_code == 200
        assert "No public videos yet" in empty.text and "vidray upload" in empty.text
        edited = httpx.get(f"http://127.0.0.1:{port}/", params={"after": "not-a-cursor"})
    assert edited.status_code == 400
    assert "start again from /" in edited.text


def test_the_library_loads_more_cards_as_the_reader_scrolls(tmp_path: Path, page: Page) -> None:
    """Past one page of cards, the end of the list fetches the next page (the same
    cursor as `?after=`) and appends it; the last page has no link for more."""
    from cluster import db
    from cluster.db.models import User, Video, VideoStatus, Visibility
    from serve.web.pages import LIBRARY_PAGE

    settings = stream_settings(tmp_path, web_assets_dir=ASSETS)
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    count = LIBRARY_PAGE + 6
    with db.session_factory(engine).begin() as session:
        session.add(User(id=OWNER, email="owner@example.com", handle="owner"))
        session.flush()
        session.add_all(
            Video(
                id=f"many{n:04d}",
                owner_id=OWNER,
                title=f"card {n}",
                visibility=Visibility.PUBLIC,
                status=VideoStatus.READY,
            )
            for n in range(count)
        )
    engine.dispose()
    port = free_port()
    with serving(create_app(Gateway(Platform(settings))), port):
        page.goto(f"http://127.0.0.1:{port}/")
        assert page.locator(".card").count() == LIBRARY_PAGE
        page.locator("a.more").scroll_into_view_if_needed()
        page.wait_for_function(f"() => document.querySelectorAll('.card').length === {count}")
        titles = page.eval_on_selector_all(".card .title", "ts => ts.map((t) => t.textContent)")
    assert sorted(titles) == sorted(f"card {n}" for n in range(count))
    assert page.locator("a.more").count() == 0
