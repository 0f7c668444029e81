"""The studio's panels in Debian's Chromium: the inbox lists what the notifier really
wrote, marks it read, shows a new one as it arrives (notificationAdded over the
websocket) and saves preferences that hold across a reload; the stats panel draws
Chart.js canvases for a video whose plays went through the analytics sink. With no
CSP violation, no console error, and no serious axe-core finding.

The gateway's app under uvicorn on SQLite, in this process: no Ray cluster."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, select

from actors.analytics_sink import AnalyticsSink, LocalSink
from actors.notifier import Notifier
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import User, Video, VideoStatus
from cluster.messaging import OutboxSender
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from serve.web.assets import install_assets
from tests.support.accounts import outbox_code
from tests.support.analytics import PlayerScript
from tests.support.clock import FakeClock
from tests.support.notifications import add_video, event
from tests.support.servers import free_port, serving
from tests.support.services import require
from tests.support.waiting import eventually
from tests.support.web import SHOTS, serious_violations

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

ASSETS = Path(__file__).resolve().parents[4] / ".vidray" / "web"
EMAIL = "creator@example.com"
# Reported by the page itself: Chromium's console line for a CSP refusal is caught too,
# but this names the directive.
CSP_WATCH = """window.cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"""


@dataclass
class World:
    base: str
    settings: Settings
    engine: Engine
    sink: AnalyticsSink

    def notifier(self) -> Notifier:
        return Notifier(
            settings=self.settings,
            sessions=db.session_factory(self.engine),
            sender=OutboxSender(self.settings.outbox_dir),
            clock=FakeClock(),
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if shutil.which("npm") is None:
        require("npm", "install npm so that `vidray assets` can fetch Chart.js and axe-core")
    install_assets(ASSETS)
    settings = load_settings(data_dir=tmp_path_factory.mktemp("studio"), web_assets_dir=ASSETS)
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    sink = AnalyticsSink(settings, background=False)
    platform = Platform(settings, engine=engine, sink=LocalSink(sink))
    port = free_port()
    try:
        with serving(create_app(Gateway(platform)), port):
            yield World(f"http://127.0.0.1:{port}", settings, engine, sink)
    finally:
        sink.stop()
        engine.dispose()


def sign_in(page: Page, world: World) -> str:
    """Through /signin with the emailed code; the user's id."""
    page.goto(f"{world.base}/signin")
    page.fill("#contact", EMAIL)
    page.click("#ask button[type=submit]")
    page.wait_for_selector("#verify:not([hidden])")
    code = eventually(
        lambda: outbox_code(world.settings.outbox_dir, EMAIL), timeout=30, what="the code"
    )
    assert code is not None
    page.fill("#code", code)
    page.click("#verify button[type=submit]")
    page.wait_for_url(f"{world.base}/studio")
    with db.session_factory(world.engine)() as session:
        return session.scalars(select(User.id).where(User.email == EMAIL)).one()


def ready_video(world: World, owner: str, title: str) -> str:
    sessions = db.session_factory(world.engine)
    video = add_video(sessions, owner, title)
    with sessions.begin() as session:
        row = session.get(Video, video)
        assert row is not None
        row.status, row.duration = VideoStatus.READY, 60.0
    return video


def watched_video(world: World, owner: str) -> str:
    """A ready video with one view from France (through the sink, as beacons go)."""
    video = ready_video(world, owner, "Stats <img src=x>")
    now_ms = int(time.time() * 1000)
    script = PlayerScript(start_ms=now_ms - 120_000, video_id=video, owner_id=owner)
    world.sink.append(script.start(startup_ms=400).play(20_000).end().rows)
    world.sink.flush()
    return video


def open_studio(page: Page, world: World) -> None:
    page.goto(f"{world.base}/studio")
    page.wait_for_selector("#notifications .inbox-status:not(:empty)")


def test_the_studio_panels_show_the_inbox_preferences_and_stats(
    browser: Browser, world: World
) -> None:
    context = browser.new_context()
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        me = sign_in(page, world)
        video = watched_video(world, me)
        notifier = world.notifier()
        notifier.handle([event("video.ready", video, owner_id=me)])

        open_studio(page, world)
        unread = page.locator("#notifications .notification.unread")
        assert unread.count() == 1
        assert "Stats <img src=x>" in (unread.text_content() or "")  # text, not markup
        assert page.locator("#notifications img[src='x']").count() == 0
        assert "1 unread" in (page.text_content("#notifications .inbox-status") or "")

        page.get_by_role("button", name="Mark all read").click()
        page.wait_for_function("() => !document.querySelector('.notification.unread')")
        open_studio(page, world)  # the server kept it
        assert page.locator(".notification").count() == 1
        assert page.locator(".notification.unread").count() == 0

        # A new one arrives while the page is open: over the subscription, no reload.
        second = ready_video(world, me, "Second")
        notifier.handle([event("video.ready", second, owner_id=me)])
        page.wait_for_selector(".notification.unread >> text=Second", timeout=30_000)

        page.click("#notifications summary")
        newsletter = page.locator("tr[data-kind=newsletter] input[name=email]")
        assert not newsletter.is_checked()  # marketing waits for an opt-in
        newsletter.check()
        page.get_by_role("button", name="Save preferences").click()
        page.wait_for_selector("text=Preferences saved.")
        open_studio(page, world)
        page.wait_for_selector("tr[data-kind=newsletter]", state="attached")
        page.click("#notifications summary")
        assert page.is_checked("tr[data-kind=newsletter] input[name=email]")

        # A page holds 20: the rest come with "Load more", after the last one shown.
        notifier.handle([event("video.ready", second, owner_id=me) for _ in range(20)])
        open_studio(page, world)
        assert page.locator(".notification").count() == 20
        page.get_by_role("button", name="Load more").click()
        page.wait_for_function("() => document.querySelectorAll('.notification').length === 22")
        assert page.get_by_role("button", name="Load more").is_hidden()

        # The stats panel: the channel's totals and the picked video's charts.
        # The newest video comes first; the one watched is picked from the list.
        page.wait_for_selector("#analytics .video-stats canvas", timeout=30_000)
        assert page.input_value("#stats-video") == second
        page.select_option("#stats-video", video)
        page.wait_for_selector("#analytics figcaption >> text=Retention (1 views)")
        assert page.locator("#analytics .video-stats canvas").count() >= 2
        totals = page.text_content("#analytics .channel-totals") or ""
        assert "Views1" in totals.replace(" ", ""), totals
        page.wait_for_load_state("networkidle")
        assert serious_violations(page, world.base) == []
        # At a phone's width the panels fit: nothing scrolls the page sideways.
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(SHOTS / "studio-panels-phone.png"), full_page=True)
        wide = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert wide <= 0, f"the studio is {wide}px wider than a phone"
        assert page.evaluate("() => window.cspViolations") == []
        assert errors == []
    finally:
        context.close()
