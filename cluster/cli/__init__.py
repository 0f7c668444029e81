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
    bench_services,
    campaigns,
    jobs,
    login,
    migrate,
    monitoring,
    nginx,
    search,
    transcode,
    up,
    upload,
    webhooks,
)
from cluster.cli import analytics as analytics_cli
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
app.command(cls=Command)(monitoring.monitoring)
app.command(cls=Command)(analytics_cli.usage)
app.add_typer(analytics_cli.analytics_app, name="analytics", cls=Group)

bench_app = typer.Typer(help="Benchmarks: vidray beside its anchor, on the same input.", cls=Group)
bench_app.command("transcode", cls=Command)(bench.bench_transcode)
bench_app.command("upload", cls=Command)(bench.bench_upload)
bench_app.command("stream", cls=Command)(bench.bench_stream)
bench_app.command("graphql", cls=Command)(bench.bench_graphql)
bench_app.command("web", cls=Command)(bench_services.bench_web)
bench_app.command("notify", cls=Command)(bench_services.bench_notify)
bench_app.command("analytics", cls=Command)(bench_services.bench_analytics)
bench_app.command("search", cls=Command)(bench_services.bench_search)
bench_app.command("ladder", cls=Command)(bench.bench_ladder)
bench_app.command("scale", cls=Command)(bench_services.bench_scale)
app.add_typer(bench_app, name="bench")
app.add_typer(search.search_app, name="search")
app.add_typer(campaigns.app, name="campaigns")

webhooks_app = typer.Typer(help="Webhooks: what was sent where, for operators.", cls=Group)
webhooks_app.command("deliveries", cls=Command)(webhooks.deliveries)
app.add_typer(webhooks_app, name="webhooks")

jobs_app = typer.Typer(help="The job board (admins): list, retry, cancel.", cls=Group)
jobs_app.command("list", cls=Command)(jobs.list_jobs)
jobs_app.command("retry", cls=Command)(jobs.retry)
jobs_app.command("cancel", cls=Command)(jobs.cancel)
app.add_typer(jobs_app, name="jobs")


def main() -> None:
    app()
