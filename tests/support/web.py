"""What the web app's browser tests share: a running `vidray up` with the npm assets,
signing up through /signin with the outbox's code, axe-core, screenshots."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.accounts import outbox_code
from tests.support.launch import Launch
from tests.support.servers import free_port
from tests.support.services import require
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

ROOT = Path(__file__).resolve().parents[2]
# `vidray assets` installs here too: the repository's own (git-ignored) data dir.
ASSETS = ROOT / ".vidray" / "web"
# Screenshots, kept by CI as artefacts.
SHOTS = ROOT / "build" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PAYLOAD = "<img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Site:
    base: str
    outbox: Path


@contextmanager
def running_site(tmp_path: Path, **env: str) -> Iterator[Site]:
    """`vidray up` on free ports, serving the npm assets from the repository's data dir."""
    from serve.web.assets import install_assets

    if shutil.which("npm") is None:
        require("npm", "install npm so that `vidray assets` can fetch the pages' libraries")
    install_assets(ASSETS)
    launch = Launch(tmp_path, free_port())
    try:
        base = launch(VIDRAY_WEB_ASSETS_DIR=str(ASSETS), **env)
        yield Site(base, tmp_path / "data" / "outbox")
    finally:
        launch.stop_all()


def sign_up(page: Page, site: Site, email: str) -> None:
    """Through /signin: ask for a code, read it from the outbox, type it in."""
    page.goto(f"{site.base}/signin")
    page.fill("#contact", email)
    page.click("#ask button[type=submit]")
    page.wait_for_selector("#verify:not([hidden])")
    code = eventually(lambda: outbox_code(site.outbox, email), timeout=30, what="the code")
    page.fill("#code", code)
    page.click("#verify button[type=submit]")
    page.wait_for_url(f"{site.base}/studio")
    page.wait_for_selector("#account .who")


def serious_violations(page: Page, base: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it stands."""
    page.add_script_tag(url=f"{base}/assets/axe.min.js")
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document)).violations
             .filter((v) => v.impact === 'serious' || v.impact === 'critical')
             .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                           nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5)}))"""
    )
    return found


def screenshot(context: BrowserContext, url: str, name: str, ready: str = "main") -> None:
    """The page at desktop and phone widths, into build/screenshots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page = context.new_page()
        try:
            page.set_viewport_size(size)
            page.goto(url)
            page.wait_for_selector(ready)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
        finally:
            page.close()


def padded_mp4(source: Path, path: Path, *, extra: int) -> Path:
    """`source` with a `free` box of `extra` bytes appended: the same media, a bigger
    file, so an upload spans several tus PATCHes (players and probes skip `free`)."""
    data = source.read_bytes()
    path.write_bytes(data + struct.pack(">I4s", extra + 8, b"free") + bytes(extra))
    return path
