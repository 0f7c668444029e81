"""The HTTP ingress: /healthz, /graphql, the web pages and tus at /files/ on one app.

`Gateway` is a plain class over one `Platform`; `serve/app.py` makes it the `gateway`
deployment, and tests build it directly and talk to `create_app(gateway)` over ASGI.
Every service is called in-process: no request crosses to another deployment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp
from strawberry.fastapi import GraphQLRouter

from actors.jobs_client import ACTOR_NAME as JOBS_ACTOR
from actors.scheduler import ACTOR_NAME as SCHEDULER_ACTOR
from cluster.errors import VidrayError
from cluster.health import ComponentHealth, actors_reachable, check_all
from serve.gateway.context import GatewayContext
from serve.gateway.limits import BodyLimit
from serve.gateway.schema import build_schema
from serve.notifications.routes import create_router as create_unsubscribe_router
from serve.platform import Platform
from serve.uploads.edge import UploadEdgeClient
from serve.uploads.routes import Files, allow_browsers, create_router
from serve.web.pages import create_router as create_pages_router
from serve.web.pages import graphiql_page
from serve.web.policy import PageHeaders, origin
from serve.web.session import create_router as create_session_router


class Gateway:
    """What one ingress replica shares between requests: its platform and schema."""

    def __init__(
        self,
        platform: Platform,
        *,
        upload_base: Callable[[HTTPConnection], str] | None = None,
        edge: UploadEdgeClient | None = None,
    ) -> None:
        """`upload_base`: where clients write the uploads created here (the upload edge,
        `serve/uploads/edge.py`); by default, this gateway. `edge`: this node's upload
        edge, reported by /healthz; None where none runs."""
        self.platform = platform
        self.settings = platform.settings
        self.files = Files(
            uploads=platform.uploads, accounts=platform.accounts, upload_base=upload_base
        )
        self.edge = edge
        self.schema = build_schema(dev=self.settings.mode == "dev")

    async def health(self, *, actors: Sequence[str] = ()) -> list[ComponentHealth]:
        """Every component's state; `actors`: named actors that must answer too."""
        more: list[tuple[str, Callable[[], str]]] = []
        if self.edge is not None:
            edge = self.edge

            def uploads() -> str:
                problem = edge.health()
                if problem is not None:
                    raise VidrayError(problem)
                return f"upload edge on port {self.settings.upload_port}"

            more.append(("uploads", uploads))
        if actors:
            namespace = self.settings.ray_namespace
            more.append(("actors", lambda: actors_reachable(actors, namespace=namespace)))
        platform = self.platform
        # The probes block on sockets and files: keep them off the event loop.
        return await run_in_threadpool(
            check_all, engine=platform.engine, store=platform.store, kv=platform.kv, more=more
        )

    def context(self, ip: str) -> GatewayContext:
        platform = self.platform
        return GatewayContext(
            health=self.health,
            accounts=platform.accounts,
            library=platform.library,
            comments=platform.comments,
            stream=platform.stream,
            files=self.files,
            follows=platform.follows,
            webhooks=platform.webhooks,
            jobs=platform.jobs,
            inbox=platform.inbox,
            campaigns=platform.campaigns,
            search=platform.search,
            trending=platform.trending,
            captions=platform.captions,
            ip=ip,
            analytics=platform.analytics,
            usage=platform.usage,
        )

    def __serve_build_asgi_app__(self) -> ASGIApp:
        return create_app(self)


class LocalGraphiQL(GraphQLRouter[GatewayContext, None]):
    """strawberry's router with a GraphiQL page whose scripts come from this server, so
    it loads where the public CDN cannot be reached."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_page())


def create_app(gateway: Gateway) -> ASGIApp:
    settings = gateway.settings
    app = FastAPI(title="vidray", docs_url=None, redoc_url=None, openapi_url=None)
    allow_browsers(app, list(settings.cors_origins))
    app.include_router(create_router(gateway.files, max_size=settings.upload_max_bytes))
    app.include_router(create_unsubscribe_router(gateway.platform.inbox))
    app.include_router(
        create_pages_router(
            library=gateway.platform.library,
            stream=gateway.platform.stream,
            assets_dir=settings.resolved_web_assets_dir,
            part_bytes=settings.upload_part_bytes,
        )
    )
    app.include_router(
        create_session_router(
            accounts=gateway.platform.accounts,
            secure=settings.mode == "prod",
            refresh_ttl_s=settings.refresh_ttl_s,
        )
    )

    @app.get("/livez")
    async def livez() -> JSONResponse:
        # Liveness: this process answers. Nothing else, so a database outage restarts no pod.
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        # Readiness: everything a request may touch, the job actor and scheduler included
        # where this gateway hands uploads to them.
        actors = (JOBS_ACTOR, SCHEDULER_ACTOR) if gateway.platform.jobs is not None else ()
        return health_response(await gateway.health(actors=actors))

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return health_response(await gateway.health())

    def health_response(components: list[ComponentHealth]) -> JSONResponse:
        ok = all(c.ok for c in components)
        body = {
            "status": "ok" if ok else "unavailable",
            "components": {c.name: {"ok": c.ok, "detail": c.detail} for c in components},
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    async def context_getter(connection: HTTPConnection) -> GatewayContext:
        # Behind a proxy this is the proxy's address; see uvicorn's --forwarded-allow-ips.
        context = gateway.context(connection.client.host if connection.client else "unknown")
        # A websocket may carry the token here too; browsers send it in connection_init.
        await context.authenticate(connection.headers.get("authorization"))
        return context

    router: GraphQLRouter[GatewayContext, None] = LocalGraphiQL(
        gateway.schema,
        context_getter=context_getter,
        graphql_ide="graphiql" if settings.mode == "dev" else None,
    )
    app.include_router(router, prefix="/graphql")
    # Segments and images come from this origin unless a CDN or S3 sends them.
    media = [origin(url) for url in (settings.cdn_base_url, settings.s3_endpoint_url) if url]
    if settings.stream_path == "s3" and not settings.s3_endpoint_url:
        media.append("https://*.amazonaws.com")
    pages = PageHeaders(
        app,
        upload_base=gateway.files.upload_base,
        media_origins=media,
        secure=settings.mode == "prod",
    )
    return BodyLimit(pages, path="/graphql", limit=settings.graphql_max_body_bytes)
