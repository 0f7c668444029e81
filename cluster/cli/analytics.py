"""`vidray usage` (metering per account and month) and `vidray analytics seed`
(synthetic events for the notebooks, demos and benchmarks)."""

from __future__ import annotations

import csv
import sys
import time
from typing import Annotated

import typer

from cluster.cli.console import clear_errors, console, read_settings, say
from cluster.errors import InvalidInput


def usage(
    month: Annotated[str, typer.Option(help="The month, as YYYY-MM.")] = time.strftime("%Y-%m"),
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (for billing).")] = False,
) -> None:
    """Minutes watched and transcoded, and bytes stored, per account for a month."""
    from rich.table import Table

    from serve.platform import Platform

    settings = read_settings()
    platform = Platform(settings)
    try:
        with clear_errors():
            rows = platform.usage.report(month=month)
    finally:
        platform.close()
    fields = ("user_id", "handle", "month", "minutes_watched", "minutes_transcoded", "bytes_stored")
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(fields)
        for row in rows:
            writer.writerow([getattr(row, f) for f in fields])
        return
    table = Table(title=f"usage, {month}")
    for name in fields:
        table.add_column(name, justify="left" if name in ("user_id", "handle") else "right")
    for row in rows:
        table.add_row(*(str(getattr(row, f)) for f in fields))
    console.print(table)


analytics_app = typer.Typer(help="Analytics data: seed synthetic events, run the rollups.")


@analytics_app.command("seed")
def seed(
    events: Annotated[int, typer.Option(min=1, help="About this many events.")] = 100_000,
    days: Annotated[int, typer.Option(min=1, max=400, help="Spread over this many days.")] = 30,
    creators: Annotated[int, typer.Option(min=1, help="Creators in the catalogue.")] = 40,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed.")] = 15,
    force: Annotated[bool, typer.Option(help="Add to events already there.")] = False,
) -> None:
    """Synthetic, realistic events into the analytics Parquet (no running sink needed)."""
    from actors.analytics_sink import AnalyticsSink
    from pipelines.event_files import EventFiles
    from pipelines.synthetic_views import generate

    settings = read_settings()
    files = EventFiles.from_settings(settings)
    with clear_errors():
        if files.dates() and not force:
            raise InvalidInput(
                "events",
                f"{files.events_dir()} already holds events: pass --force to add to them "
                "(with `vidray up` stopped: the sink's WAL is in the same data dir)",
            )
    sink = AnalyticsSink(settings, files=files, background=False)
    written = 0
    pending: list[dict[str, object]] = []
    for rows in generate(
        events=events, days=days, end_ms=int(time.time() * 1000), creators=creators,
        seed=seed_value,
    ):  # fmt: skip
        pending += rows
        if len(pending) >= 20_000:
            written += sink.append(pending).accepted
            pending = []
            sink.flush()
            say(f"{written} events")
    written += sink.append(pending).accepted
    sink.flush()
    sink.compact(force=True)
    sink.stop()
    console.print(f"{written} events in {len(files.dates())} days under {files.events_dir()}")


@analytics_app.command("rollups")
def rollups() -> None:
    """Run the rollups now (the scheduler runs them every VIDRAY_ANALYTICS_ROLLUP_INTERVAL_S)."""
    from pipelines.rollups import run_rollups

    result = run_rollups(read_settings())
    console.print(f"{result['dates']} days rolled up, {result['videos']} view counts written")
