"""The HTTP ingress: /healthz, /graphql and the tus uploads at /files/ on one FastAPI app.

`Gateway` is a plain class; `serve/app.py` makes it the ingress deployment and hands it
the `users` and `uploads` deployments' handles. Tests build it directly, with a plain
`Users`, and talk to `create_app(gateway)` over ASGI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp
from strawberry.fastapi import GraphQLRouter

from cluster import db
from cluster.config import Settings
from cluster.health import ComponentHealth, check_all
from cluster.kv import open_kv
from cluster.storage import open_store
from cluster.url_signing import UrlSigner
from serve.gateway.accounts import Accounts, Service
from serve.gateway.context import GatewayContext
from serve.gateway.files import Files, allow_browsers, create_router
from serve.gateway.limits import BodyLimit
from serve.gateway.schema import build_schema
from serve.gateway.watch import create_router as create_watch_router
from serve.stream import Stream
from serve.upload_edge import local_edge_url
from serve.uploads import Uploads
from serve.users import Users
from serve.videos import Videos


class Gateway:
    """Holds the connections one ingress replica shares between requests."""

    def __init__(
        self,
        settings: Settings,
        users: Any = None,
        uploads: Any = None,
        videos: Any = None,
        jobs: Any = None,
        upload_base: Callable[[HTTPConnection], str] | None = None,
    ) -> None:
        """`users`, `videos`: the deployments' handles, or plain `Users` and `Videos`;
        without one (a single process, as in tests) the gateway builds its own from the
        settings. `uploads`: the uploads deployment's handle (it finishes completed
        uploads), or an `Uploads` to do everything in this process. `jobs`: the job
        actor's handle, for transcode progress; None where no Ray cluster runs.
        `upload_base`: where clients write the uploads created here (the upload edge,
        serve/upload_edge.py); by default, this gateway."""
        self.settings = settings
        self.engine = db.make_engine(settings.resolved_database_url)
        self.store = open_store(settings)
        self.kv = open_kv(settings)
        local_users = users if isinstance(users, Users) else Users.from_settings(settings)
        self.accounts = Accounts(users if users is not None else local_users, verifier=local_users)
        # Reads of the library are one indexed query each: answered here, in-process,
        # they cost a fraction of a hop to the `videos` deployment (a page makes two or
        # three in a row). Changes go to the deployment, which also cancels jobs. Both
        # are the same class, so every access rule still lives in serve/videos.py.
        library = (
            videos
            if isinstance(videos, Videos)
            else Videos(
                settings=settings, sessions=db.session_factory(self.engine), store=self.store
            )
        )
        self.library = Service(library)
        self.videos = Service(videos if videos is not None else library)
        self.jobs = jobs
        # tus runs here too, for clients that send it here: see serve/uploads.py.
        local = uploads if isinstance(uploads, Uploads) else Uploads.from_settings(settings)
        finisher = None if isinstance(uploads, Uploads) else uploads
        self.files = Files(
            uploads=local, accounts=self.accounts, finisher=finisher, upload_base=upload_base
        )
        # This node's upload edge, for /healthz: there is one wherever uploads go there.
        self.edge_url = local_edge_url(settings) if upload_base else None
        # Signing a playback URL is a database read and one hash: done here, for the
        # watch page; the bytes under /hls/ are the stream application's (serve/app.py).
        self.stream = Stream(
            settings=settings,
            store=self.store,
            sessions=db.session_factory(self.engine),
            signer=UrlSigner.from_settings(settings),
            kv=self.kv,
        )

    async def health(self) -> list[ComponentHealth]:
        # The probes block on sockets and files: keep them off the event loop.
        return await run_in_threadpool(
            check_all, engine=self.engine, store=self.store, kv=self.kv, upload_edge=self.edge_url
        )

    def __serve_build_asgi_app__(self) -> ASGIApp:
        return create_app(self)


def create_app(gateway: Gateway) -> ASGIApp:
    dev = gateway.settings.mode == "dev"
    app = FastAPI(title="vidray", docs_url=None, redoc_url=None, openapi_url=None)
    allow_browsers(app, list(gateway.settings.cors_origins))
    app.include_router(create_router(gateway.files, max_size=gateway.settings.upload_max_bytes))
    app.include_router(
        create_watch_router(gateway.stream, assets_dir=gateway.settings.resolved_web_assets_dir)
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
        ip = connection.client.host if connection.client else "unknown"
        context = GatewayContext(
            health=gateway.health,
            accounts=gateway.accounts,
            videos=gateway.videos,
            library=gateway.library,
            stream=gateway.stream,
            ip=ip,
            files=gateway.files,
            jobs=gateway.jobs,
        )
        # A websocket may carry the token here too; browsers send it in connection_init.
        await context.authenticate(connection.headers.get("authorization"))
        return context

    router: GraphQLRouter[GatewayContext, None] = GraphQLRouter(
        build_schema(dev=dev),
        context_getter=context_getter,
        graphql_ide="graphiql" if dev else None,
    )
    app.include_router(router, prefix="/graphql")
    return BodyLimit(app, path="/graphql", limit=gateway.settings.graphql_max_body_bytes)
