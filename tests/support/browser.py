"""Debian's Chromium under Playwright, for tests that need a real browser.

The browser is the distribution's (`apt-get install chromium`), never one Playwright
downloads: `playwright install` is not part of setting up vidray's tests, and the
package installs with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.services import require

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in CI containers
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Media tests play video without a user's click, and without a sound card.
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]


# A camera, a microphone and a screen to share, all synthetic, accepted without a prompt:
# what the record page's tests need.
FAKE_MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--auto-select-desktop-capture-source=Entire screen",
]


@contextmanager
def launch_chromium(extra_args: list[str] | None = None) -> Iterator[Browser]:
    """Headless Chromium from /usr/bin/chromium; skips (or, in CI, fails) without it."""
    if not CHROMIUM.is_file():
        require("Chromium", f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("Playwright", "pip install -e '.[test]' (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1)")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *(extra_args or [])]
        )
        try:
            yield browser
        finally:
            browser.close()
