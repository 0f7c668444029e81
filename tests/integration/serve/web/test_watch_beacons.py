"""The watch page's beacons, end to end: a clip plays in Chromium with a pause and a
seek, beacons.js posts to /collect, the sink writes Parquet, and the creator's stats
show one view, the playing time, the country from the trusted CDN header and the
browser "Chrome"."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from actors.analytics_sink import AnalyticsSink, LocalSink
from serve.analytics.app import CollectorApp
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from serve.web.assets import install_assets
from tests.support.clock import OffsetClock
from tests.support.servers import free_port, serving
from tests.support.services import require
from tests.support.stream import PUBLIC, make_stream, stream_settings
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ASSETS = Path(__file__).resolve().parents[4] / ".vidray" / "web"
# Headless Chromium says "HeadlessChrome", which the collector drops as a bot: the test
# browses as the desktop Chrome a viewer runs.
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="module")
def site(data_dir: Path) -> Iterator[tuple[str, AnalyticsSink, Platform]]:
    if shutil.which("npm") is None:
        require("npm", "install npm so that `vidray assets` can fetch hls.js")
    install_assets(ASSETS)
    settings = stream_settings(data_dir, web_assets_dir=ASSETS, analytics_trust_country_header=True)
    sink = AnalyticsSink(settings, background=False)
    platform = Platform(settings, sink=LocalSink(sink))
    stream = make_stream(settings, platform.store, OffsetClock())
    gateway = create_app(Gateway(platform))
    collector = CollectorApp(platform.collector, trusted_proxies=frozenset())

    async def app(scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if path.startswith("/hls/"):
            await stream.asgi(scope, receive, send)
        elif path == "/collect":
            await collector(scope, receive, send)
        else:
            await gateway(scope, receive, send)

    port = free_port()
    with serving(app, port):
        yield f"http://127.0.0.1:{port}", sink, platform
    sink.stop()


def test_a_watched_clip_shows_up_in_the_creators_stats(
    site: tuple[str, AnalyticsSink, Platform], browser: Browser
) -> None:
    base, sink, platform = site
    context = browser.new_context(user_agent=CHROME, extra_http_headers={"CF-IPCountry": "DE"})
    page = context.new_page()
    try:
        page.goto(f"{base}/watch/{PUBLIC}")
        page.evaluate(
            "() => { const v = document.getElementById('player'); v.muted = true; v.play(); }"
        )
        time_of = "() => document.getElementById('player').currentTime"
        eventually(lambda: page.evaluate(time_of) > 1.5, timeout=30, what="playback past 1.5 s")
        first = page.evaluate(
            "() => { const v = document.getElementById('player'); v.pause(); "
            "return v.currentTime; }"
        )
        page.wait_for_timeout(1000)  # paused: not watch time, not playing time
        page.evaluate(
            "() => { const v = document.getElementById('player'); v.currentTime = 0.5; v.play(); }"
        )
        eventually(
            lambda: page.evaluate("() => document.getElementById('player').ended"),
            timeout=30,
            what="the clip's end",
        )
        duration = page.evaluate("() => document.getElementById('player').duration")
        page.evaluate("() => window.vidray.beacons.end()")
        assert page.evaluate("() => window.vidray.errors") == []
    finally:
        context.close()

    def stored_viewend() -> bool:
        sink.flush()
        events = sink.files.dataset().to_table(columns=["event"]).column(0).to_pylist()
        return "viewend" in events

    eventually(stored_viewend, timeout=30, what="the beacons in the sink")
    now = datetime.now(UTC)
    stats = platform.analytics.video_stats(
        video_id=PUBLIC, start=now - timedelta(hours=1), end=now + timedelta(minutes=1)
    )
    assert (stats.totals.plays, stats.totals.views, stats.totals.uniques) == (1, 1, 1)
    expected_ms = (first + (duration - 0.5)) * 1000
    assert abs(stats.totals.playing_ms - expected_ms) <= 1000, (stats.totals, expected_ms)
    slices = {(s.dimension, s.value) for s in stats.breakdowns}
    assert ("country", "DE") in slices and ("browser", "Chrome") in slices, slices
