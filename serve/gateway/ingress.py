"""The HTTP ingress: /healthz, /graphql, the web pages and tus at /files/ on one app.

`Gateway` is a plain class over one `Platform`; `serve/app.py` makes it the `gateway`
deployment, and tests build it directly and talk to `create_app(gateway)` over ASGI.
Every service is called in-process: no request crosses to another deployment.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp
from strawberry.fastapi import GraphQLRouter

from cluster.errors import VidrayError
from cluster.health import ComponentHealth, check_all
from serve.gateway.context import GatewayContext
from serve.gateway.limits import BodyLimit
from serve.gateway.schema import build_schema
from serve.platform import Platform
from serve.uploads.edge import UploadEdgeClient
from serve.uploads.routes import Files, allow_browsers, create_router
from serve.web.pages import create_router as create_pages_router
from serve.web.pages import graphiql_page


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

    async def health(self) -> list[ComponentHealth]:
        more: list[tuple[str, Callable[[], str]]] = []
        if self.edge is not None:
            edge = self.edge

            def uploads() -> str:
                problem = edge.health()
                if problem is not None:
                    raise VidrayError(problem)
                return f"upload edge on port {self.settings.upload_port}"

            more.append(("uploads", uploads))
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
            jobs=platform.jobs,
            search=platform.search,
            trending=platform.trending,
            captions=platform.captions,
            ip=ip,
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
    app.include_router(
        create_pages_router(
            library=gateway.platform.library,
            stream=gateway.platform.stream,
            assets_dir=settings.resolved_web_assets_dir,
        )
    )

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        components = await gateway.health()
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
    return BodyLimit(app, path="/graphql", limit=settings.graphql_max_body_bytes)
