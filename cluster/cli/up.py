"""`vidray up`: Ray, migrations and the HTTP services, until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated, Any

import typer

from cluster.cli.assets import install_assets
from cluster.cli.console import clear_errors, console, read_settings
from cluster.cli.preflight import preflight


def up(
    cpus: Annotated[
        int | None, typer.Option(help="CPUs for a local Ray cluster (default: all).")
    ] = None,
) -> None:
    """Start vidray: Ray (unless RAY_ADDRESS is set), migrations, and the HTTP services."""
    from ray import serve
    from ray.serve import RunTarget
    from ray.serve.config import HTTPOptions

    from cluster import runtime
    from serve.app import (
        APP_NAME,
        COLLECTOR_APP_NAME,
        COLLECTOR_ROUTE_PREFIX,
        STREAM_APP_NAME,
        STREAM_ROUTE_PREFIX,
        build_app,
        build_collector_app,
        build_stream_app,
        start_actors,
    )
    from serve.uploads.edge import start_upload_edges, stop_upload_edges
    from serve.web.assets import missing_assets

    settings = read_settings()
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    edges: list[Any] = []  # the upload edges: our Ray job's actors, so they stop with us
    with clear_errors():
        preflight(settings)
        with console.status("starting Ray"):
            info = runtime.start(settings, num_cpus=cpus)
    try:
        with console.status("starting the job actor, the scheduler and the dispatcher"):
            # The job actor resumes jobs a previous run left unfinished; the scheduler
            # runs once whatever periodic work fell due while the cluster was down.
            start_actors(settings)
        with console.status("deploying the Serve application"):
            serve.start(http_options=HTTPOptions(host=settings.http_host, port=settings.http_port))
            # The three applications deploy side by side (one after the other, each
            # waited for, took about 10 s longer).
            serve.run_many(
                [
                    RunTarget(build_app(settings), name=APP_NAME, route_prefix="/"),
                    RunTarget(
                        build_stream_app(settings),
                        name=STREAM_APP_NAME,
                        route_prefix=STREAM_ROUTE_PREFIX,
                    ),
                    RunTarget(
                        build_collector_app(settings),
                        name=COLLECTOR_APP_NAME,
                        route_prefix=COLLECTOR_ROUTE_PREFIX,
                    ),
                ]
            )
        if settings.upload_edge:
            with console.status("starting the upload edge"), clear_errors():
                edges = start_upload_edges(settings)
        if missing_assets(settings.resolved_web_assets_dir):
            install_assets(settings)
        base = f"http://{settings.http_host}:{settings.http_port}"
        console.print(f"[bold green]vidray is up[/] ({settings.mode} mode)")
        console.print(f"  web       {base}/")
        console.print(f"  graphql   {base}/graphql")
        if settings.upload_edge:
            uploads = settings.upload_url or f"http://{settings.http_host}:{settings.upload_port}"
            console.print(f"  uploads   {uploads}/files/ (tus)")
        console.print(f"  health    {base}/healthz")
        console.print(f"  ray       {info.address}")
        if info.dashboard_url:
            console.print(f"  dashboard {info.dashboard_url}", highlight=False)
            if info.dashboard_token:
                console.print(f"            sign in with {info.dashboard_token}", highlight=False)
        console.print("Press Ctrl-C to stop.")
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with console.status("stopping"):
            if not info.started_here:
                # A shared cluster keeps running: remove only our applications, gracefully.
                serve.delete(APP_NAME)
                serve.delete(STREAM_APP_NAME)
                serve.delete(COLLECTOR_APP_NAME)
                if edges:
                    stop_upload_edges(settings)
            # A local cluster goes down whole: stopping Ray ends the proxy and replicas at
            # once, where serve.shutdown() would first drain each replica (up to a minute
            # on a loaded machine). Unfinished jobs resume on the next `vidray up`.
            runtime.stop()
        console.print("vidray stopped")
