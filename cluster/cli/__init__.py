"""The `vidray` command: the composition root for operators.

One module per command group; this one binds them into the Typer `app` (the
`vidray` entry point). Commands import from the upper floors (serve, actors,
pipelines) inside their functions only, so `vidray version` or `vidray migrate`
start fast, and nothing imports this package.
"""

from __future__ import annotations

from importlib.metadata import version as package_version

import typer

from cluster.cli import (
    admin,
    assets,
    bench,
    jobs,
    login,
    migrate,
    nginx,
    transcode,
    up,
    upload,
)
from cluster.cli.console import console
from cluster.cli.help import Command, Group

app = typer.Typer(
    name="vidray",
    help="Self-hosted video platform on Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=Group,
)


@app.command(cls=Command)
def version() -> None:
    """Print vidray's version."""
    console.print(f"vidray {package_version('vidray')}")


app.command(cls=Command)(migrate.migrate)
app.command(cls=Command)(admin.admin)
app.command(cls=Command)(assets.assets)
app.command("nginx-config", cls=Command)(nginx.nginx_config)
app.command(cls=Command)(up.up)
app.command(cls=Command)(transcode.transcode)
app.command(cls=Command)(upload.upload)
app.command(cls=Command)(login.login)
app.command(cls=Command)(login.logout)

bench_app = typer.Typer(help="Benchmarks: vidray beside its anchor, on the same input.", cls=Group)
bench_app.command("transcode", cls=Command)(bench.bench_transcode)
bench_app.command("upload", cls=Command)(bench.bench_upload)
bench_app.command("stream", cls=Command)(bench.bench_stream)
bench_app.command("graphql", cls=Command)(bench.bench_graphql)
bench_app.command("scale", cls=Command)(bench.bench_scale)
app.add_typer(bench_app, name="bench")

jobs_app = typer.Typer(help="The job board (admins): list, retry, cancel.", cls=Group)
jobs_app.command("list", cls=Command)(jobs.list_jobs)
jobs_app.command("retry", cls=Command)(jobs.retry)
jobs_app.command("cancel", cls=Command)(jobs.cancel)
app.add_typer(jobs_app, name="jobs")


def main() -> None:
    app()
