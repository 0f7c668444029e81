"""Wiring of the whole application: the one place that binds deployments.

`vidray up` runs `build_app(settings)` at `/` and `build_stream_app(settings)` at
`/hls`, then `start_upload_edges(settings)`: the tus byte path on each node, beside
Serve. Each deployment gets its settings and the handles it needs through its
constructor.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ray import serve
from ray.serve import Application

from cluster.config import Settings
from cluster.errors import VidrayError
from serve.gateway.app import Gateway
from serve.stream import Stream, StreamApp
from serve.upload_edge import UploadEdge, edge_base
from serve.uploads import Uploads
from serve.users import Users
from serve.videos import Videos

log = logging.getLogger(__name__)

APP_NAME = "vidray"
# HLS is its own Serve application: Serve's proxy matches the longest route prefix, so
# `/hls/...` goes straight to a stream replica instead of through the gateway.
STREAM_APP_NAME = "stream"
STREAM_ROUTE_PREFIX = "/hls"


class UsersReplica(Users):
    """Accounts and sessions. Its methods are synchronous (database, bcrypt, SMTP);
    Serve runs them in the replica's thread pool, so they do not block each other."""

    def __init__(self, settings: Settings) -> None:
        local = Users.from_settings(settings)
        super().__init__(
            settings=settings,
            sessions=local.sessions,
            kv=local.kv,
            store=local.store,
            sender=local.sender,
        )


# Sync services run in the replica's thread pool: let a few dozen calls overlap, since
# each waits mostly on the database (Serve's default would queue the sixth).
SERVICE_CONCURRENCY = 32

UsersDeployment = serve.deployment(
    name="users", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=SERVICE_CONCURRENCY
)(UsersReplica)


class JobActor:
    """The detached job actor, found by name when first needed (`vidray up` starts it
    before deploying), called synchronously from a replica's worker threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def handle(self) -> Any:
        import ray

        from actors.jobs import ACTOR_NAME

        return ray.get_actor(ACTOR_NAME, namespace=self.settings.ray_namespace)

    def submit(
        self, *, video_id: str, owner_id: str, source_key: str, params: dict[str, Any]
    ) -> Any:
        import ray

        return ray.get(
            self.handle().submit.remote(
                video_id=video_id, owner_id=owner_id, source_key=source_key, params=params
            )
        )

    def cancel_video(self, video_id: str) -> int:
        import ray

        cancelled: int = ray.get(self.handle().cancel_video.remote(video_id))
        return cancelled


class UploadsReplica(Uploads):
    """Finishes completed uploads (probe, video row, transcode job) and sweeps expired
    ones every `upload_sweep_interval_s`. Its methods block on the database, the store
    and PyAV; Serve runs them in the replica's thread pool. Several replicas may sweep
    at once: every step takes the upload's lock or is idempotent."""

    def __init__(self, settings: Settings) -> None:
        local = Uploads.from_settings(settings, jobs=JobActor(settings))
        super().__init__(
            settings=settings,
            sessions=local.sessions,
            store=local.store,
            kv=local.kv,
            jobs=local.jobs,
        )
        self._stop = threading.Event()
        threading.Thread(target=self._sweep_forever, name="upload-sweep", daemon=True).start()

    def _sweep_forever(self) -> None:
        while not self._stop.wait(self.settings.upload_sweep_interval_s):
            try:
                reclaimed = self.sweep()
                if reclaimed:
                    log.info("upload sweep reclaimed %d expired uploads", reclaimed)
            except Exception:  # the next round retries; a sweep must never kill the replica
                log.exception("upload sweep failed")

    def __del__(self) -> None:
        self._stop.set()


UploadsDeployment = serve.deployment(name="uploads", ray_actor_options={"num_cpus": 0})(
    UploadsReplica
)


class VideosReplica(Videos):
    """The library: reads, edits, likes, comments. Blocking database calls, run in the
    replica's thread pool; deleting a video cancels its jobs through the job actor."""

    def __init__(self, settings: Settings) -> None:
        local = Videos.from_settings(settings, jobs=JobActor(settings))
        super().__init__(
            settings=settings, sessions=local.sessions, store=local.store, jobs=local.jobs
        )


VideosDeployment = serve.deployment(
    name="videos", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=SERVICE_CONCURRENCY
)(VideosReplica)


class GatewayReplica(Gateway):
    """The ingress, with the job actor's handle for transcode progress subscriptions."""

    def __init__(self, settings: Settings, users: Any, uploads: Any, videos: Any) -> None:
        try:
            jobs = JobActor(settings).handle()
        except ValueError:  # no job actor in this cluster (a benchmark): no progress feed
            log.warning("no job actor is running: transcodeProgress is unavailable")
            jobs = None
        super().__init__(
            settings,
            users=users,
            uploads=uploads,
            videos=videos,
            jobs=jobs,
            # Uploads it creates are written through the upload edge.
            upload_base=edge_base(settings) if settings.upload_edge else None,
        )


# The ingress does little CPU work per request (leave the cores to transcoding), and
# awaits the services: it interleaves many requests, which Serve's default of 5 queues.
GatewayDeployment = serve.deployment(
    name="gateway", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=128
)(serve.ingress()(GatewayReplica))


def build_app(settings: Settings) -> Application:
    return GatewayDeployment.bind(
        settings,
        UsersDeployment.bind(settings),
        UploadsDeployment.bind(settings),
        VideosDeployment.bind(settings),
    )


class StreamReplica(Stream):
    """Playlists and segment bytes under /hls/. Its ASGI app is `Stream.asgi`, with no
    web framework: a segment request costs a path parse, an MD5 and a file read."""

    def __init__(self, settings: Settings) -> None:
        local = Stream.from_settings(settings)
        super().__init__(
            settings=settings,
            store=local.store,
            sessions=local.sessions,
            signer=local.signer,
            kv=local.kv,
            cdn=local.cdn,
        )

    def __serve_build_asgi_app__(self) -> StreamApp:
        return StreamApp(self)


# Many players fetch at once and each request is short: let one replica interleave them
# (Serve's default of 5 in flight would queue segment fetches behind each other).
StreamDeployment = serve.deployment(
    name="stream", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256
)(serve.ingress()(StreamReplica))


def build_stream_app(settings: Settings) -> Application:
    return StreamDeployment.options(num_replicas=settings.stream_replicas).bind(settings)


class UploadEdgeActor(UploadEdge):
    """The upload edge on one node; completed uploads go to the `uploads` deployment."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings, finisher=serve.get_deployment_handle("uploads", app_name=APP_NAME)
        )


def start_upload_edges(settings: Settings) -> list[Any]:
    """One upload edge on each live node, on `settings.upload_port`, once `build_app`
    runs (the edges hand completed uploads to its `uploads` deployment). Returns the
    actors: they belong to the caller's Ray job and stop with it. A crashed edge
    restarts; a node that joins later gets none until the next `vidray up`."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(num_cpus=0, max_restarts=-1)(UploadEdgeActor)
    edges: list[Any] = [
        remote.options(
            name=f"upload-edge-{node['NodeID'][:16]}",
            namespace=settings.ray_namespace,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
        ).remote(settings)
        for node in ray.nodes()
        if node["Alive"]
    ]
    try:
        ray.get([edge.ready.remote() for edge in edges])
    except ray.exceptions.RayTaskError as exc:  # a taken port: the edge's own error
        raise exc.cause if isinstance(exc.cause, VidrayError) else exc from None
    return edges
