"""Wiring of the whole application: the one place that binds deployments.

`vidray up` starts the actors (`start_actors`), runs `build_app(settings)` at `/` and
`build_stream_app(settings)` at `/hls`, then starts an upload edge on each node
(`serve.uploads.edge.start_upload_edges`). Two deployments only, where the network comes
in and scaling differs: `gateway` (GraphQL, pages, tus creation) and `stream` (HLS
bytes). Each replica builds one `Platform` and calls every service in-process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ray import serve
from ray.serve import Application

from actors import scheduler
from actors.jobs import start as start_jobs
from actors.jobs_client import JobsClient
from actors.scheduler import Periodic, SchedulerClient
from actors.search_index import SearchIndexClient
from actors.search_index import start as start_search_index
from cluster.config import Settings
from serve.gateway.ingress import Gateway
from serve.platform import Platform
from serve.search.trending import fold_trending
from serve.stream.app import StreamApp
from serve.uploads.edge import UploadEdgeClient, edge_base
from serve.uploads.sweep import sweep_uploads

log = logging.getLogger(__name__)

APP_NAME = "vidray"
# HLS is its own Serve application: Serve's proxy matches the longest route prefix, so
# `/hls/...` goes straight to a stream replica instead of through the gateway.
STREAM_APP_NAME = "stream"
STREAM_ROUTE_PREFIX = "/hls"


class GatewayReplica(Gateway):
    """The ingress replica: a platform with the job actor's client (uploads are handed to
    it, transcodeProgress follows it), and uploads written through the upload edge."""

    def __init__(self, settings: Settings) -> None:
        jobs = JobsClient.connect(settings)
        if jobs is None:  # a benchmark of the request path runs no job actor
            log.warning("no job actor is running: uploads wait in 'processing'")
        super().__init__(
            Platform(settings, jobs=jobs),
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


@dataclass(frozen=True)
class Actors:
    """The cluster's detached actors, as `vidray up` started (or found) them."""

    jobs: JobsClient
    scheduler: SchedulerClient
    # The dispatcher's `search_index` subscriber (#16).
    search_index: SearchIndexClient


def periodic_work(settings: Settings) -> list[Periodic]:
    """What the scheduler runs, each as a Ray task, every `every_s` seconds."""
    return [
        Periodic(name="upload-sweep", every_s=settings.upload_sweep_interval_s, run=sweep_uploads),
        Periodic(name="search-trending", every_s=300.0, run=fold_trending),
    ]


def start_actors(settings: Settings) -> Actors:
    """The job actor and the scheduler: created if missing, found if running."""
    jobs = start_jobs(settings)
    return Actors(
        jobs=jobs,
        scheduler=scheduler.start(settings, periodic_work(settings)),
        search_index=start_search_index(settings),
    )
