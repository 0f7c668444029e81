"""The web app in Debian's Chromium against a running `vidray up`, as a person uses it:
sign up with the emailed code, upload a clip through /upload (tus-js-client) across a
dropped connection and a reload, follow it to ready, play it, comment at a moment and
click that moment, like, edit the title in the studio, delete. Every page is checked
with axe-core, shown at desktop and phone widths (build/screenshots/), and shown a title
that is an XSS attempt, which must stay text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.media import Spec, make_media
from tests.support.web import (
    DESKTOP,
    PAYLOAD,
    Site,
    padded_mp4,
    running_site,
    screenshot,
    serious_violations,
    sign_up,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Route

PART = 5 * 1024**2  # the smallest part the upload edge takes: one PATCH each
EMAIL = "viewer@example.com"
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("web"), VIDRAY_UPLOAD_PART_BYTES=str(PART)) as s:
        yield s


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8 s clip padded past one part, so its upload takes two PATCHes."""
    folder = tmp_path_factory.mktemp("clip")
    media = make_media(folder / "small.mp4", Spec(seconds=8.0))
    return padded_mp4(media, folder / "clip.mp4", extra=PART)


@pytest.fixture(scope="module")
def context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """One signed-in browser profile for the module's story."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_up(page, site, EMAIL)
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    page = context.new_page()
    alerts: list[str] = []

    def dialog(box: Dialog) -> None:
        if box.type == "confirm":  # "delete for good?": yes
            box.accept()
        else:
            alerts.append(box.message)
            box.dismiss()

    page.on("dialog", dialog)
    yield page
    page.close()
    assert alerts == [], f"a script ran: {alerts}"


def test_the_refresh_token_is_a_cookie_no_script_can_read(
    context: BrowserContext, page: Page, site: Site
) -> None:
    cookies = {c["name"]: c for c in context.cookies()}
    refresh = cookies["vidray_refresh"]
    assert refresh["httpOnly"] and refresh["sameSite"] == "Strict" and refresh["path"] == "/auth"
    page.goto(f"{site.base}/studio")
    page.wait_for_selector("#account .who")
    assert page.evaluate("() => document.cookie") == ""
    assert page.evaluate("() => JSON.stringify(localStorage)").find("eyJ") < 0


PLAY = "() => { const v = document.getElementById('player'); v.muted = true; v.play(); }"
DROPPED = """() => { const data = new DataTransfer();
  data.items.add(new File(['not yet'], 'dropped.mp4', {type: 'video/mp4'})); return data; }"""
UPLOAD_STATE = (
    "() => ({events: window.vidray.events, bar: document.getElementById('upload-bar').value})"
)


def test_upload_resumes_after_a_dropped_connection_and_a_reload(
    page: Page, site: Site, clip: Path
) -> None:
    patches: list[str] = []
    cut = {"done": False}

    def files(route: Route) -> None:
        request = route.request
        if request.method == "PATCH":
            patches.append(request.headers.get("upload-offset", "?"))
            # The connection drops while the second part goes out, once.
            if request.headers.get("upload-offset") != "0" and not cut["done"]:
                cut["done"] = True
                route.abort("connectionreset")
                return
        route.continue_()

    page.route("**/files/**", files)
    page.goto(f"{site.base}/upload")
    page.wait_for_selector("#upload-form:not([hidden])")
    # A file dropped on the zone is chosen as a picked one is (then replaced by the clip).
    dropped = page.evaluate_handle(DROPPED)
    page.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
    assert "dropped.mp4" in (page.text_content("#chosen") or "")
    page.fill("#title", "")
    page.set_input_files("#file", str(clip))
    page.fill("#title", "First clip")
    page.fill("#tags", "demo, browser")
    page.click("#start")
    # Paused once the first part is in, then the page is reloaded: the same file resumes.
    page.wait_for_function("() => document.getElementById('upload-bar').value >= 50")
    page.click("#pause")
    page.reload()
    page.wait_for_selector("#upload-form:not([hidden])")
    page.set_input_files("#file", str(clip))
    assert "it will resume" in (page.text_content("#chosen") or "")
    page.click("#start")
    page.wait_for_function("() => window.vidray.events.includes('playable')", timeout=300_000)
    state: dict[str, Any] = page.evaluate(UPLOAD_STATE)
    assert state["events"][0] == "resumed" and state["bar"] == 100, state
    assert patches[0] == "0" and cut["done"]
    # Neither the reload nor the drop started again from byte 0: each later part starts
    # where the server stood (a part the pause cut mid-way keeps the bytes that arrived).
    offsets = [int(offset) for offset in patches[1:]]
    assert offsets[0] == PART and offsets == sorted(offsets), patches
    link = page.get_attribute("#watch-href", "href")
    assert link and link.startswith("/watch/")
    page.wait_for_function("() => window.vidray.events.includes('done')", timeout=300_000)
    assert "Ready" in (page.text_content("#state") or "")


def my_video(page: Page, site: Site) -> str:
    page.goto(f"{site.base}/studio")
    page.wait_for_selector(".studio-video")
    video = page.get_attribute(".studio-video", "data-video")
    assert video
    return video


def test_watch_plays_comments_seek_and_likes_count(page: Page, site: Site) -> None:
    video = my_video(page, site)
    page.goto(f"{site.base}/watch/{video}?t=1")
    page.wait_for_selector("#comment-form:not([hidden])")
    page.evaluate(PLAY)
    page.wait_for_function(
        "() => document.getElementById('player').currentTime > 5", timeout=60_000
    )
    assert page.evaluate("() => window.vidray.errors") == []
    assert len(page.evaluate("() => window.vidray.levels")) >= 1
    # The quality menu switches rungs: pick the lowest and hls.js follows.
    options = page.eval_on_selector_all("#quality option", "os => os.map((o) => o.value)")
    page.select_option("#quality", options[-1])
    page.evaluate("() => document.getElementById('player').pause()")
    at = page.evaluate("() => document.getElementById('player').currentTime")
    page.fill("#comment-body", "look at this moment")
    page.click("#comment-form button[type=submit]")
    stamp = page.locator("#comments .stamp").first
    stamp.wait_for()
    page.evaluate("() => { document.getElementById('player').currentTime = 0.2; }")
    stamp.click()
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('player').currentTime - {at}) < 1.0"
    )
    page.click("#like")
    page.wait_for_function("() => document.getElementById('like').ariaPressed === 'true'")
    assert page.text_content("#like-count") == "(1)"
    # The like and the comment are there for the next visitor too.
    page.reload()
    page.wait_for_function("() => document.getElementById('like-count').textContent === '(1)'")
    page.wait_for_selector("#comments .stamp")


def test_a_hostile_title_stays_text_on_every_page(page: Page, site: Site) -> None:
    video = my_video(page, site)
    page.click(".studio-video summary")
    title = page.locator(".studio-video input[id$='-title']")
    title.fill(f"Demo {PAYLOAD}")
    page.click(".studio-video form.editor button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('.studio-video h3').textContent.includes('onerror')"
    )
    for path, where in (
        ("/", ".card .title"),
        (f"/watch/{video}", "#video-title"),
        ("/studio", ".studio-video h3"),
    ):
        page.goto(f"{site.base}{path}")
        page.wait_for_function(
            f"() => (document.querySelector({where!r}) || {{}}).textContent?.includes('onerror')"
        )
        assert PAYLOAD in (page.text_content(where) or ""), path
        assert page.locator("img[src='x']").count() == 0, path
    # `page`'s fixture fails the test if any alert() ran.


ROUTES = ["/", "/signin", "/upload", "/record", "/studio"]


def test_every_route_passes_axe_and_is_screenshotted(
    context: BrowserContext, page: Page, site: Site
) -> None:
    video = my_video(page, site)
    findings = {}
    for path in [*ROUTES, f"/watch/{video}"]:
        page.goto(f"{site.base}{path}")
        page.wait_for_load_state("networkidle")
        findings[path] = serious_violations(page, site.base)
        name = "watch" if path.startswith("/watch") else path.strip("/") or "library"
        screenshot(context, f"{site.base}{path}", name)
    assert all(found == [] for found in findings.values()), findings


def test_a_private_video_plays_for_its_owner_alone(
    browser: Browser, page: Page, site: Site
) -> None:
    video = my_video(page, site)
    page.click(".studio-video summary")
    page.select_option(".studio-video select[id$='-visibility']", "PRIVATE")
    page.click(".studio-video form.editor button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('.studio-video [role=status][aria-live]')"
        ".textContent.includes('done')"
    )
    answer = page.goto(f"{site.base}/watch/{video}")
    assert answer is not None and answer.status == 404  # the server answers strangers
    page.evaluate(PLAY)
    page.wait_for_function(
        "() => document.getElementById('player').currentTime > 1", timeout=60_000
    )
    stranger = browser.new_context()
    try:
        other = stranger.new_page()
        other.goto(f"{site.base}/watch/{video}")
        other.wait_for_function("() => document.getElementById('player').hidden")
        assert "no video" in (other.text_content("#status") or "")
        assert PAYLOAD not in (other.content())
    finally:
        stranger.close()


def test_studio_deletes_the_video(page: Page, site: Site) -> None:
    video = my_video(page, site)
    page.click(".studio-video summary")
    page.click(".studio-video button.danger")
    page.wait_for_function("() => !document.querySelector('.studio-video')")
    answer = page.goto(f"{site.base}/watch/{video}")
    assert answer is not None and answer.status == 404
