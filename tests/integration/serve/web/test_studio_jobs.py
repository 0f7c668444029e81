"""The studio's job board in Debian's Chromium: the instance's admin sees a job the job
actor really refused (an upload that is not a video, so no encode), retries it from the
row, and the row follows the job to its second run; a member never sees the panel. With
no CSP violation, no console error, and no serious axe-core finding.

The gateway's app under uvicorn on SQLite in this process, with a real job actor on the
session's Ray cluster."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
import ray

from actors.jobs import Jobs, JobsClient
from cluster import db
from cluster.config import Settings, load_settings
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from serve.web.assets import install_assets
from tests.support.accounts import latest_code
from tests.support.graphql import graphql
from tests.support.jobs import completed_upload
from tests.support.servers import free_port, serving
from tests.support.services import require
from tests.support.web import ASSETS, SHOTS, Site, serious_violations, sign_up

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

pytestmark = pytest.mark.usefixtures("ray_cluster")

ADMIN = "admin@example.com"
REQUEST = "mutation($email: String) { requestOtp(email: $email) }"
VERIFY = """mutation($email: String, $code: String!) {
  verifyOtp(email: $email, code: $code) { accessToken } }"""

# Reported by the page itself, naming the directive a CSP refusal broke.
CSP_WATCH = """window.cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"""


@dataclass
class World:
    site: Site
    settings: Settings
    jobs: JobsClient


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if shutil.which("npm") is None:
        require("npm", "install npm so that `vidray assets` can fetch axe-core")
    install_assets(ASSETS)
    settings = load_settings(data_dir=tmp_path_factory.mktemp("board"), web_assets_dir=ASSETS)
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    jobs = JobsClient(ray.remote(Jobs).options(max_concurrency=16, num_cpus=0).remote(settings))
    platform = Platform(settings, engine=engine, jobs=jobs)
    port = free_port()
    try:
        with serving(create_app(Gateway(platform)), port):
            site = Site(f"http://127.0.0.1:{port}", settings.outbox_dir)
            # The instance's first account, hence its admin, whichever test runs first.
            graphql(site.base, REQUEST, email=ADMIN)
            graphql(site.base, VERIFY, email=ADMIN, code=latest_code(site.outbox, ADMIN))
            # A used code must not be read back when the browser signs in later.
            for message in site.outbox.glob("*.json"):
                message.unlink()
            yield World(site, settings, jobs)
    finally:
        ray.kill(jobs.actor)
        engine.dispose()


class Watched:
    """A browser context that records console errors and CSP violations."""

    def __init__(self, browser: Browser) -> None:
        self.context: BrowserContext = browser.new_context()
        self.context.add_init_script(CSP_WATCH)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self.console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def clean(self) -> None:
        assert self.page.evaluate("() => window.cspViolations") == []
        assert self.errors == []


def test_an_admin_retries_a_failed_job_from_the_board(browser: Browser, world: World) -> None:
    admin = Watched(browser)
    try:
        sign_up(admin.page, world.site, ADMIN)
        handover = completed_upload(world.settings, b"\x00\x01not a video" * 100)
        job = world.jobs.submit_upload(**handover, params={})
        assert world.jobs.wait_idle(timeout=120)

        page = admin.page
        page.goto(f"{world.site.base}/studio")
        row = page.locator(f"#jobs tr[data-id='{job}']")
        row.wait_for()
        assert row.get_attribute("data-state") == "failed"
        assert "unsupported_format" in (row.locator(".error").text_content() or "")
        assert "1 run, 1 attempt" in (row.text_content() or "")
        page.select_option("#jobs-filter", "failed")
        page.wait_for_selector(f"#jobs tr[data-id='{job}'][data-state=failed]")

        page.get_by_role("button", name=f"Retry job {job}").click()
        # The refused bytes are gone, so the second run fails too: the row shows it queued
        # by the retry, then (asked again while it moves) failed with two runs.
        page.wait_for_selector(
            f"#jobs tr[data-id='{job}'][data-runs='2'][data-state=failed]", timeout=60_000
        )
        page.select_option("#jobs-filter", "")
        page.wait_for_selector(f"#jobs tr[data-id='{job}']")
        page.get_by_role("button", name="Retry all failed").click()
        page.wait_for_selector("#jobs .jobs-status >> text=1 failed job queued again.")

        page.wait_for_load_state("networkidle")
        assert serious_violations(page, world.site.base) == []
        # At a phone's width the table scrolls inside its box: the page does not.
        page.set_viewport_size({"width": 390, "height": 844})
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "studio-jobs-phone.png"), full_page=True)
        wide = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert wide <= 0, f"the studio is {wide}px wider than a phone"
        admin.clean()
    finally:
        admin.context.close()
    assert world.jobs.wait_idle(timeout=120)


def test_a_member_does_not_see_the_job_board(browser: Browser, world: World) -> None:
    member = Watched(browser)
    try:
        sign_up(member.page, world.site, "ana@example.com")
        member.page.goto(f"{world.site.base}/studio")
        member.page.wait_for_selector("#notifications .inbox-status:not(:empty)")
        assert member.page.locator("#jobs").is_hidden()
        assert member.page.locator("#jobs table").count() == 0
        member.clean()
    finally:
        member.context.close()
