"""The web pages the gateway serves: `/` (the public library, newest first),
`/watch/{id}` (hls.js, a quality menu, the poster and storyboard previews) and, in dev
mode, GraphiQL at `GET /graphql`.

Pages are Jinja2 templates (`templates/`, autoescaped) over the same services GraphQL
calls; their script is a small ES module (`static/`). Browser libraries from npm are
served from the data dir (`serve/web/assets.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount

from cluster.errors import InvalidInput
from serve.library.videos import Library
from serve.library.views import VideoView
from serve.stream.errors import VideoUnavailable
from serve.stream.service import Playback, Stream
from serve.web.assets import ASSETS, asset_path

HERE = Path(__file__).parent
LIBRARY_PAGE = 24
templates = Jinja2Templates(directory=HERE / "templates")


@dataclass(frozen=True, slots=True)
class Card:
    """One video on the library page."""

    id: str
    title: str
    poster_url: str | None
    duration: str
    created: str


def _clock(seconds: float | None) -> str:
    if not seconds:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def library_cards(
    *, library: Library, stream: Stream, after: str | None
) -> tuple[list[Card], str | None]:
    """A page of public, ready videos, newest first, with signed poster URLs."""
    page = library.list_videos(viewer_id=None, first=LIBRARY_PAGE, after=after)

    def poster(video: VideoView) -> str | None:
        try:
            return stream.grant(video, viewer_id=None).poster_url
        except VideoUnavailable:  # its files went away meanwhile: show no poster
            return None

    cards = [
        Card(
            id=video.id,
            title=video.title,
            poster_url=poster(video),
            duration=_clock(video.duration),
            created=video.created_at.strftime("%Y-%m-%d"),
        )
        for video in page.items
    ]
    return cards, page.cursors[-1] if page.has_next and page.cursors else None


def create_router(*, library: Library, stream: Stream, assets_dir: Path) -> APIRouter:
    """`/`, `/watch/{video_id}`, `/static/...` and `/assets/...` (`serve/web/assets.py`)."""
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    async def index(request: Request, after: str | None = None) -> Response:
        try:
            cards, next_cursor = await run_in_threadpool(
                library_cards, library=library, stream=stream, after=after
            )
        except InvalidInput as exc:  # a cursor someone edited by hand
            return PlainTextResponse(f"{exc}: start again from /", status_code=400)
        return templates.TemplateResponse(
            request,
            "index.html",
            {"cards": cards, "next_cursor": next_cursor},
            headers={"cache-control": "no-store"},
        )

    @router.get("/search", response_class=HTMLResponse)
    async def search(request: Request, q: str = "") -> Response:  # search.js does the rest
        return templates.TemplateResponse(request, "search.html", {"q": q[:256]})

    @router.get("/watch/{video_id}", response_class=HTMLResponse)
    async def watch(video_id: str, request: Request) -> Response:
        ip = request.client.host if request.client else None
        try:
            # Anonymous: the page has no session; private videos play from a URL that
            # the owner's client signs through the API.
            playback = await run_in_threadpool(
                stream.playback, video_id=video_id, viewer_id=None, ip=ip
            )
        except VideoUnavailable as exc:
            return PlainTextResponse(str(exc), status_code=404)
        return templates.TemplateResponse(
            request,
            "watch.html",
            watch_context(playback),
            headers={"cache-control": "private, no-store"},
        )

    @router.get("/watch/{video_id}/playback")
    async def watch_playback(video_id: str, request: Request) -> Response:
        """A fresh signed playback for the watch page, which asks again while the video
        is processing to pick up the rungs published since it loaded."""
        ip = request.client.host if request.client else None
        try:
            playback = await run_in_threadpool(
                stream.playback, video_id=video_id, viewer_id=None, ip=ip
            )
        except VideoUnavailable as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse(
            watch_context(playback)["config"], headers={"cache-control": "private, no-store"}
        )

    @router.get("/assets/{name:path}")
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            return PlainTextResponse("no such asset", status_code=404)
        path = asset_path(assets_dir, name)
        if not path.is_file():
            return PlainTextResponse(
                f"{ASSETS[name].package} is not installed: run `vidray assets`", status_code=404
            )
        return FileResponse(
            path,
            media_type=ASSETS[name].media_type,
            headers={"cache-control": "public, max-age=3600"},
        )

    router.routes.append(Mount("/static", app=StaticFiles(directory=HERE / "static")))
    return router


def watch_context(playback: Playback) -> dict[str, object]:
    """What the watch page's template needs for one signed playback."""
    return {
        "title": playback.title or playback.video_id,
        "poster_url": playback.poster_url,
        # The player reads this from a JSON script tag: `tojson` escapes `</script>`.
        "config": {
            "video": playback.video_id,
            "master": playback.master_url,
            "storyboard": playback.storyboard_url,
            "expiresAt": playback.expires_at,
            "processing": playback.processing,
        },
    }


def graphiql_page() -> str:
    """GraphiQL for `GET /graphql` in dev mode: strawberry's page loads its scripts from
    unpkg.com, this one only from this server (`/assets/graphiql/...`, `vidray assets`)."""
    return (HERE / "templates" / "graphiql.html").read_text()
