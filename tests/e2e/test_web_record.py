"""/record in Chromium with a synthetic screen, camera and microphone: 10 s recorded and
uploaded while recording (tus, deferred length), then transcoded from Chrome's live
WebM (no duration in its header) to a video that plays and lasts 10 s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.browser import FAKE_MEDIA_ARGS, launch_chromium
from tests.support.web import Site, running_site, sign_up

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.timeout(900)
STOP_AT_TEN = """() => new Promise((resolve) => {
  const left = 10000 - (performance.now() - window.vidray.startedAt);
  setTimeout(() => { document.getElementById('rec-stop').click(); resolve(); }, Math.max(0, left));
})"""
DURATION = """async (id) => {
  const { gql } = await import('/static/session.js');
  return (await gql('query($id: ID!) { video(id: $id) { status duration } }', { id })).video;
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("record")) as running:
        yield running


@pytest.fixture(scope="module")
def camera_browser() -> Iterator[Browser]:
    """Module-scoped like `browser`, with fake capture devices that need no prompt."""
    with launch_chromium(FAKE_MEDIA_ARGS) as chromium:
        yield chromium


def test_a_ten_second_recording_becomes_a_ten_second_video(
    camera_browser: Browser, site: Site
) -> None:
    context = camera_browser.new_context()
    try:
        page = context.new_page()
        sign_up(page, site, "recorder@example.com")
        page.goto(f"{site.base}/record")
        page.wait_for_selector("#recorder:not([hidden])")
        page.fill("#rec-title", "Ten seconds")
        page.click("#rec-start")
        page.wait_for_function("() => window.vidray.events.includes('recording')", timeout=60_000)
        # Stop is pressed 10 s after recording began, timed in the page itself: a round
        # trip from the test would add whatever delay a busy machine has.
        page.evaluate(STOP_AT_TEN)
        page.wait_for_function("() => window.vidray.events.includes('uploaded')", timeout=60_000)
        link = page.get_attribute("#rec-href", "href")
        assert link and link.startswith("/watch/")
        page.wait_for_function(
            "() => window.vidray.events.some((e) => e === 'done' || e === 'failed')",
            timeout=300_000,
        )
        assert "done" in page.evaluate("() => window.vidray.events"), page.text_content(
            "#rec-state"
        )
        video: dict[str, Any] = page.evaluate(DURATION, link.rsplit("/", 1)[-1])
        assert video["status"] == "READY"
        assert abs(video["duration"] - 10.0) <= 1.0, video

        page.goto(f"{site.base}{link}")
        page.evaluate(
            "() => { const v = document.getElementById('player'); v.muted = true; v.play(); }"
        )
        page.wait_for_function(
            "() => document.getElementById('player').currentTime > 2", timeout=60_000
        )
        played = page.evaluate("() => document.getElementById('player').duration")
        assert abs(played - 10.0) <= 1.0, played
        assert page.evaluate("() => window.vidray.errors") == []
    finally:
        context.close()
