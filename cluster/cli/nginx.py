"""`vidray nginx-config`: nginx in front of vidray, the fast byte path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cluster.cli.console import err_console, fail, read_settings


def nginx_config(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here (default: print to stdout).")
    ] = None,
    listen: Annotated[
        str, typer.Option(help="nginx's listen address, e.g. 80 or 0.0.0.0:8080.")
    ] = "8080",
    upstream: Annotated[
        str | None, typer.Option(help="Ray Serve's address (default: VIDRAY_HTTP_HOST:PORT).")
    ] = None,
    standalone: Annotated[
        bool, typer.Option(help="A whole nginx.conf (pid, logs, temp files in --prefix).")
    ] = False,
    prefix: Annotated[
        Path | None, typer.Option(help="Standalone only: folder for pid, logs and temp files.")
    ] = None,
) -> None:
    """nginx in front of vidray: segments from the store folder checked with secure_link,
    everything else proxied to Ray Serve. Set VIDRAY_STREAM_PATH=nginx with it."""
    from cluster.errors import ConfigError
    from cluster.nginx import NginxOptions, render

    settings = read_settings()
    if settings.s3_bucket:
        fail(
            ConfigError(
                "VIDRAY_S3_BUCKET",
                "nginx serves segments from a local store folder: unset it, or use "
                "VIDRAY_STREAM_PATH=s3 without nginx",
            )
        )
    options = NginxOptions(
        listen=listen,
        upstream=upstream or f"{settings.http_host}:{settings.http_port}",
        uploads=f"{settings.http_host}:{settings.upload_port}" if settings.upload_edge else None,
        standalone=standalone,
        prefix=prefix,
    )
    text = render(settings, options)
    if out is None:
        print(text, end="")  # plain: rich would wrap and colour the config
        return
    out.write_text(text)
    out.chmod(0o600)  # it holds the URL-signing keys
    err_console.print(f"wrote {out}; check it with: nginx -t -c {out.resolve()}")
