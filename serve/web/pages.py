"""The web pages the gateway serves: `/` (the public library), `/watch/{id}` (hls.js,
quality and captions menus, chapters, storyboard previews, likes and comments),
`/signin`, `/upload`, `/record`, `/studio` and, in dev mode, GraphiQL at `GET /graphql`.

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
from serve.library.views import Sort, VideoFilter, VideoView
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
    storyboard_url: str | None
    duration: str
    created: str


def _clock(seconds: float | None) -> str:
    if not seconds:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


SORTS: dict[str, Sort] = {"newest": "recent", "popular": "popular"}


def library_cards(
    *, library: Library, stream: Stream, after: str | None, sort: Sort = "recent"
) -> tuple[list[Card], str | None]:
    """A page of public, ready videos, newest first (or most popular first), with signed
    poster and storyboard URLs."""
    page = library.list_videos(
        viewer_id=None, first=LIBRARY_PAGE, after=after, filter=VideoFilter(sort=sort)
    )

    def card(video: VideoView) -> Card:
        try:
            playback: Playback | None = stream.grant(video, viewer_id=None)
        except VideoUnavailable:  # its files went away meanwhile: show no poster
            playback = None
        return Card(
            id=video.id,
            title=video.title,
            poster_url=playback.poster_url if playback else None,
            storyboard_url=playback.storyboard_url if playback else None,
            duration=_clock(video.duration),
            created=video.created_at.strftime("%Y-%m-%d"),
        )

    cards = [card(video) for video in page.items]
    return cards, page.cursors[-1] if page.has_next and page.cursors else None


# Pages whose content a script fills in for the signed-in user: the server sends the
# same HTML to everyone.
APP_PAGES = {"signin": "Sign in", "upload": "Upload", "record": "Record", "studio": "Studio"}


def create_router(
    *, library: Library, stream: Stream, assets_dir: Path, part_bytes: int
) -> APIRouter:
    """`/`, `/watch/{video_id}`, the app pages, `/static/...` and `/assets/...`
    (`serve/web/assets.py`). `part_bytes`: the size of the tus PATCHes pages send (the
    upload edge's part size, so a part is one PATCH)."""
    router = APIRouter()

    def app_page(name: str) -> None:
        async def show(request: Request) -> Response:
            return templates.TemplateResponse(
                request,
                f"{name}.html",
                {"part_bytes": part_bytes},
                headers={"cache-control": "no-store"},
            )

        router.add_api_route(f"/{name}", show, methods=["GET"], response_class=HTMLResponse)

    for name in APP_PAGES:
        app_page(name)

    @router.get("/", response_class=HTMLResponse)
    async def index(request: Request, after: str | None = None, sort: str = "newest") -> Response:
        order = SORTS.get(sort)
        if order is None:
            return PlainTextResponse(f"sort is newest or popular, not {sort!r}", status_code=400)
        try:
            cards, next_cursor = await run_in_threadpool(
                library_cards, library=library, stream=stream, after=after, sort=order
            )
        except InvalidInput as exc:  # a cursor someone edited by hand
            return PlainTextResponse(f"{exc}: start again from /", status_code=400)
        return templates.TemplateResponse(
            request,
            "index.html",
            {"cards": cards, "next_cursor": next_cursor, "sort": sort},
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
            # The same answer for a private video and a missing one, so a stranger
            # learns nothing; the page asks GraphQL as the signed-in viewer, and the
            # owner's private video plays from the URLs signed for them.
            return templates.TemplateResponse(
                request,
                "watch.html",
                unavailable_context(video_id, str(exc)),
                status_code=404,
                headers={"cache-control": "private, no-store"},
            )
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

    @router.get("/library/cards", response_class=HTMLResponse)
    async def more_cards(request: Request, after: str, sort: str = "newest") -> Response:
        """The next cards of `/`, as HTML for its infinite scroll to append."""
        try:
            cards, next_cursor = await run_in_threadpool(
                library_cards, library=library, stream=stream, after=after, sort=SORTS[sort]
            )
        except (InvalidInput, KeyError):
            return PlainTextResponse("bad cursor or sort: start again from /", status_code=400)
        return templates.TemplateResponse(
            request,
            "cards.html",
            {"cards": cards, "next_cursor": next_cursor, "sort": sort},
            headers={"cache-control": "no-store"},
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


def unavailable_context(video_id: str, reason: str) -> dict[str, object]:
    """The watch page for a video a stranger may not play (yet)."""
    return {
        "title": "Video unavailable",
        "poster_url": None,
        "config": {
            "video": video_id,
            "master": None,
            "storyboard": None,
            "expiresAt": 0,
            "processing": False,
            "unavailable": reason,
        },
    }


def graphiql_page() -> str:
    """GraphiQL for `GET /graphql` in dev mode: strawberry's page loads its scripts from
    unpkg.com, this one only from this server (`/assets/graphiql/...`, `vidray assets`)."""
    return (HERE / "templates" / "graphiql.html").read_text()
