"""`vidray bench web`: Largest Contentful Paint of `/` and `/watch/{id}` in Chromium,
each beside a static HTML file of the same size served by the same server.

The anchor is the page's own HTML with its scripts taken out and padded back to the
same number of bytes, served from a folder by the same uvicorn process: what a page of
that weight costs when nothing runs. The gateway (with its in-process services) and the
stream app answer on one origin, as behind Serve's proxy, over a seeded SQLite database
(`cluster.bench.graphql`'s seed, plus a real poster for the watch page and the library).

Chromium is Debian's (/usr/bin/chromium) under Playwright; a fresh profile per load, so
every round is a first visit.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import re
import statistics
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cluster.bench.graphql import _port, _seed, _wait_ready
from cluster.config import Settings

Say = Callable[[str], None]
CHROMIUM = Path("/usr/bin/chromium")
LCP = """() => new Promise((resolve) => {
  new PerformanceObserver((list) => {
    const entries = list.getEntries();
    resolve(entries[entries.length - 1].startTime);
  }).observe({ type: 'largest-contentful-paint', buffered: true });
})"""
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)


@dataclass(frozen=True, slots=True)
class Row:
    page: str
    size: int  # bytes of HTML
    vidray_ms: float  # median LCP
    static_ms: float


def _poster(settings: Settings, video_id: str) -> None:
    from PIL import Image

    from cluster.storage import open_store

    picture = Image.linear_gradient("L").resize((1280, 720)).convert("RGB")
    data = io.BytesIO()
    picture.save(data, "JPEG", quality=80)
    open_store(settings).put_bytes(f"img/{video_id}/poster.jpg", data.getvalue())


def _server(settings: Settings, port: int, static_dir: Path) -> None:
    import uvicorn
    from starlette.staticfiles import StaticFiles

    from serve.gateway.ingress import Gateway, create_app
    from serve.platform import Platform

    platform = Platform(settings)
    gateway = create_app(Gateway(platform))
    files = StaticFiles(directory=static_dir)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if path.startswith("/hls/"):
            await platform.stream.asgi(scope, receive, send)
        elif path.startswith("/bench-static/"):
            await files({**scope, "path": path.removeprefix("/bench-static")}, receive, send)
        else:
            await gateway(scope, receive, send)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextlib.contextmanager
def _serving(settings: Settings, static_dir: Path) -> Iterator[str]:
    port = _port()
    process = multiprocessing.get_context("spawn").Process(
        target=_server, args=(settings, port, static_dir), name="vidray-bench-web", daemon=True
    )
    process.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, timeout=60, alive=process.is_alive)
        yield base
    finally:
        process.terminate()
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()


def _static_twin(html: str) -> str:
    """The page without its scripts, padded with a comment back to its size."""
    bare = SCRIPT.sub("", html)
    missing = len(html.encode()) - len(bare.encode()) - len("<!---->")
    return bare + "<!--" + "x" * max(0, missing) + "-->"


def _lcp(browser: Any, url: str, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            page = context.new_page()
            page.goto(url, wait_until="load")
            times.append(float(page.evaluate(LCP)))
        finally:
            context.close()
    return statistics.median(times)


def bench(*, settings: Settings, rounds: int, say: Say) -> list[Row]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError(
            "vidray bench web needs Playwright: pip install 'playwright>=1.50,<2' "
            "(PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1) and apt-get install chromium"
        ) from None
    if not CHROMIUM.is_file():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="vidray-bench-web-") as scratch:
        root = Path(scratch)
        seeded = settings.model_copy(
            update={
                "data_dir": root / "data",
                "database_url": None,
                "web_assets_dir": settings.resolved_web_assets_dir,
            }
        )
        say("seeding videos, comments and a poster")
        video = _seed(seeded)
        _poster(seeded, video)
        static_dir = root / "static"
        static_dir.mkdir()
        rows: list[Row] = []
        with _serving(seeded, static_dir) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                for name, path in (("library /", "/"), ("watch /watch/{id}", f"/watch/{video}")):
                    html = httpx.get(f"{base}{path}", timeout=30).text
                    twin = static_dir / f"{len(rows)}.html"
                    twin.write_text(_static_twin(html))
                    say(f"{name}: {rounds} loads each")
                    ours = _lcp(browser, f"{base}{path}", rounds)
                    static = _lcp(browser, f"{base}/bench-static/{twin.name}", rounds)
                    rows.append(Row(name, len(html.encode()), ours, static))
            finally:
                browser.close()
        return rows
