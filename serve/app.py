"""Wiring of the whole application: the one place that binds deployments.

`vidray up` starts the actors (`start_actors`), runs `build_app(settings)` at `/`,
`build_stream_app(settings)` at `/hls` and `build_collector_app(settings)` at `/collect`,
then starts an upload edge on each node (`serve.uploads.edge.start_upload_edges`; the
scheduler adds one on nodes that join later). `serve run` / `serve deploy` of
`serve-config.yaml` (and KubeRay) builds the same applications through `app_from_env`
and `stream_from_env`. Three deployments only, where the network comes in and scaling
differs: `gateway` (GraphQL, pages, tus creation), `stream` (HLS bytes) and `collector`
(player beacons). Each replica builds one `Platform` and calls every service in-process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ray import serve
from ray.serve import Application

from actors import analytics_sink, scheduler, webhooks
from actors.analytics_sink import SinkClient
from actors.dispatcher import DispatcherClient
from actors.dispatcher import start as start_dispatcher
from actors.jobs import start as start_jobs
from actors.jobs_client import JobsClient
from actors.notifier import NotifierClient
from actors.notifier import deliver_due as notifier_deliver_due
from actors.scheduler import Periodic, SchedulerClient
from actors.search_index import SearchIndexClient
from actors.search_index import start as start_search_index
from cluster import db
from cluster.config import Settings, load_settings
from pipelines.rollups import run_rollups
from serve.analytics.app import CollectorApp
from serve.gateway.ingress import Gateway
from serve.notifications.webhooks.delivery import build_deliveries
from serve.platform import Platform
from serve.search.trending import fold_trending
from serve.stream.app import StreamApp
from serve.uploads.edge import UploadEdgeClient, edge_base, reconcile_upload_edges
from serve.uploads.sweep import sweep_uploads

log = logging.getLogger(__name__)

APP_NAME = "vidray"
# HLS is its own Serve application: Serve's proxy matches the longest route prefix, so
# `/hls/...` goes straight to a stream replica instead of through the gateway.
STREAM_APP_NAME = "stream"
STREAM_ROUTE_PREFIX = "/hls"
# Beacons are their own application too: a burst of players never queues GraphQL.
COLLECTOR_APP_NAME = "collector"
COLLECTOR_ROUTE_PREFIX = "/collect"


class GatewayReplica(Gateway):
    """The ingress replica: a platform with the job actor's client (uploads are handed to
    it, transcodeProgress follows it), and uploads written through the upload edge."""

    def __init__(self, settings: Settings) -> None:
        jobs = JobsClient.connect(settings)
        if jobs is None:  # a benchmark of the request path runs no job actor
            log.warning("no job actor is running: uploads wait in 'processing'")
        super().__init__(
            Platform(
                settings,
                jobs=jobs,
                notifier=NotifierClient.connect(settings),
                sink=SinkClient.connect(settings),
            ),
            upload_base=edge_base(settings) if settings.upload_edge else None,
            edge=UploadEdgeClient(settings) if settings.upload_edge else None,
        )


# The ingress does little CPU work per request (leave the cores to transcoding), and
# runs the services in its thread pool: it interleaves many requests, which Serve's
# default of 5 would queue.
GatewayDeployment = serve.deployment(
    name="gateway", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=128
)(serve.ingress()(GatewayReplica))


def build_app(settings: Settings) -> Application:
    return GatewayDeployment.bind(settings)


class StreamReplica:
    """Playlists and segment bytes under /hls/. Its ASGI app is `Stream.asgi`, with no
    web framework: a segment request costs a path parse, an MD5 and a file read."""

    def __init__(self, settings: Settings) -> None:
        self.stream = Platform(settings).stream

    def __serve_build_asgi_app__(self) -> StreamApp:
        return StreamApp(self.stream)


# Many players fetch at once and each request is short: let one replica interleave them
# (Serve's default of 5 in flight would queue segment fetches behind each other).
StreamDeployment = serve.deployment(
    name="stream", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256
)(serve.ingress()(StreamReplica))


def build_stream_app(settings: Settings) -> Application:
    return StreamDeployment.options(num_replicas=settings.stream_replicas).bind(settings)


class CollectorReplica:
    """Beacon batches under /collect, handed to the analytics sink actor. Its ASGI app is
    `CollectorApp`, with no web framework on the path."""

    def __init__(self, settings: Settings) -> None:
        sink = SinkClient.connect(settings)
        if sink is None:
            raise RuntimeError("the analytics sink is not running: start_actors first")
        # Not `self.app`: serve.ingress defines that name on the class.
        self.collector_app = CollectorApp(
            Platform(settings, sink=sink).collector,
            trusted_proxies=frozenset(settings.stream_trusted_proxies),
        )

    def __serve_build_asgi_app__(self) -> CollectorApp:
        return self.collector_app


CollectorDeployment = serve.deployment(
    name="collector", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256
)(serve.ingress()(CollectorReplica))


def build_collector_app(settings: Settings) -> Application:
    return CollectorDeployment.bind(settings)


@dataclass(frozen=True)
class Actors:
    """The cluster's detached actors, as `vidray up` started (or found) them."""

    jobs: JobsClient
    scheduler: SchedulerClient
    dispatcher: DispatcherClient
    notifier: NotifierClient
    analytics_sink: SinkClient
    # The dispatcher's `search_index` subscriber (#16).
    search_index: SearchIndexClient


def periodic_work(settings: Settings) -> list[Periodic]:
    """What the scheduler runs, each as a Ray task, every `every_s` seconds."""
    return [
        Periodic(name="upload-sweep", every_s=settings.upload_sweep_interval_s, run=sweep_uploads),
        *(
            [Periodic("upload-edges", settings.upload_edge_check_s, reconcile_upload_edges)]
            if settings.upload_edge
            else []
        ),
        # The notifier polls on its own; this restarts its loop after Ray restarted it.
        Periodic(name="notify-retries", every_s=60.0, run=notifier_deliver_due),
        Periodic(name="rollups", every_s=settings.analytics_rollup_interval_s, run=run_rollups),
        Periodic(name="search-trending", every_s=300.0, run=fold_trending),
    ]


def start_actors(settings: Settings) -> Actors:
    """The job actor, the scheduler, the dispatcher and its subscribers (one line each
    in `actors/subscribers.py`): created if missing, found if running."""
    jobs = start_jobs(settings)
    # Subscribers first: the dispatcher's first batch finds them (else it backs off).
    webhooks.start(settings, build_deliveries)
    notifier = NotifierClient.start(settings)
    search_index = start_search_index(settings)
    return Actors(
        jobs=jobs,
        scheduler=scheduler.start(settings, periodic_work(settings)),
        dispatcher=start_dispatcher(settings),
        notifier=notifier,
        analytics_sink=analytics_sink.start(settings),
        search_index=search_index,
    )


# -- builders for a Serve config file (serve-config.yaml; KubeRay's serveConfigV2) -----


def app_from_env(args: dict[str, str]) -> Application:
    """The gateway application, from the `VIDRAY_*` environment of the process Serve
    builds it in: `serve run serve-config.yaml`, `serve deploy`, or KubeRay's RayService.

    Building it also does what `vidray up` does before deploying: migrate the database
    (idempotent) and start the detached actors (found if running). The scheduler then
    starts an upload edge on every node, as nodes come and go. `args` is unused: every
    setting comes from the environment, the one way vidray is configured.
    """
    settings = load_settings()
    engine = db.make_engine(settings.resolved_database_url)
    try:
        db.migrate(engine)
    finally:
        engine.dispose()
    start_actors(settings)
    return build_app(settings)


def stream_from_env(args: dict[str, str]) -> Application:
    """The stream application, from the environment (see `app_from_env`). Its replica
    count comes from the config file's autoscaling, not `VIDRAY_STREAM_REPLICAS`."""
    return StreamDeployment.bind(load_settings())


def collector_from_env(args: dict[str, str]) -> Application:
    """The analytics collector (`POST /collect`), from the environment (see
    `app_from_env`); its replicas come from the config file's autoscaling."""
    return build_collector_app(load_settings())
