"""`vidray bench` for the platform's services beside their anchors: pages, events and
notifications, analytics, search, and scale-out (the media and byte paths are in
`bench.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cluster.cli.console import console, read_settings, say
from cluster.cli.transcode import parse_ladder

if TYPE_CHECKING:
    from cluster.bench.notify_email import EmailResult


def bench_web(
    rounds: Annotated[int, typer.Option(min=1, help="Page loads of each; medians shown.")] = 5,
) -> None:
    """Largest Contentful Paint of `/` and `/watch/{id}` in Chromium, beside a static HTML
    file of the same size served by the same server."""
    from rich.table import Table

    from cluster.bench import web as bench

    rows = bench.bench(settings=read_settings(), rounds=rounds, say=say)
    table = Table(title=f"web: Largest Contentful Paint, medians of {rounds} first visits")
    for column in ("page", "HTML bytes", "vidray ms", "static ms", "vidray / static"):
        table.add_column(column, justify="right" if column != "page" else "left")
    for r in rows:
        ratio = f"{r.vidray_ms / r.static_ms:.2f}x" if r.static_ms else "-"
        table.add_row(r.page, str(r.size), f"{r.vidray_ms:.0f}", f"{r.static_ms:.0f}", ratio)
    console.print(table)


def bench_notify(
    events: Annotated[int, typer.Option(min=1, help="Events for the throughput run.")] = 20_000,
    quiet: Annotated[int, typer.Option(min=1, help="Single events for the lag run.")] = 50,
    emails: Annotated[
        int, typer.Option(min=0, help="video.ready events timed to their email (0: skip).")
    ] = 50,
    recipients: Annotated[
        int, typer.Option(min=0, help="Opted-in users a campaign mails (0: skip).")
    ] = 10_000,
    rate: Annotated[float, typer.Option(min=0.1, help="The campaign rate limit, msg/s.")] = 200.0,
    postgres: Annotated[
        bool, typer.Option(help="On VIDRAY_DATABASE_URL instead of a fresh SQLite file.")
    ] = False,
) -> None:
    """The dispatcher, an event to its email, and a campaign's rate, beside targets."""
    from rich.table import Table

    from cluster.bench import notify as bench
    from cluster.bench import notify_email

    settings = read_settings()
    result = bench.bench_dispatch(
        settings=settings, events=events, quiet=quiet, postgres=postgres, say=say
    )
    table = Table(title=f"dispatcher: {result.events} events to a no-op subscriber")
    for column in ("metric", "vidray", "target", "vidray / target"):
        table.add_column(column, justify="right" if column != "metric" else "left")

    def row(metric: str, ours: float, target: float, unit: str) -> None:
        table.add_row(metric, f"{ours:.3f}{unit}", f"{target:g}{unit}", f"{ours / target:.2f}x")

    row("throughput", result.events_per_s, bench.THROUGHPUT_TARGET, " ev/s")
    row("wait in the burst p50", result.lag_p50_s, bench.LAG_TARGET_S, " s")
    row("wait in the burst p95", result.lag_p95_s, bench.LAG_TARGET_S, " s")
    row("lag, quiet, p50", result.quiet_p50_s, bench.LAG_TARGET_S, " s")
    row("lag, quiet, p95", result.quiet_p95_s, bench.LAG_TARGET_S, " s")
    console.print(table)
    if emails:
        _notify_email(
            notify_email.bench_email(settings=settings, samples=emails, postgres=postgres, say=say)
        )
    if recipients:
        _notify_campaign(recipients, rate)


def _notify_email(result: EmailResult) -> None:
    from rich.table import Table

    from cluster.bench import notify_email

    target = notify_email.TARGET_P95_S
    table = Table(
        title=f"video.ready committed to its email accepted by aiosmtpd, {result.samples} events"
    )
    for column in ("metric", "vidray", "anchor (Mux webhooks: seconds)", "vidray / target"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    for metric, p50, p95 in (
        ("commit to email", result.total_p50_s, result.total_p95_s),
        ("  dispatcher lag", result.lag_p50_s, result.lag_p95_s),
        ("  delivery (render, SMTP)", result.delivery_p50_s, result.delivery_p95_s),
    ):
        table.add_row(f"{metric} p50", f"{p50:.3f} s", "", "")
        table.add_row(f"{metric} p95", f"{p95:.3f} s", f"< {target:g} s", f"{p95 / target:.2f}x")
    console.print(table)


def _notify_campaign(recipients: int, rate: float) -> None:
    from rich.table import Table

    from cluster.bench import notify_campaigns as bench

    figures = bench.bench(recipients=recipients, rate=rate, say=say)
    table = Table(title=f"campaign: {figures.recipients} recipients, limit {rate:g}/s")
    for column in ("metric", "vidray", "anchor (the limit)", "vidray / anchor"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    table.add_row(
        "messages/s",
        f"{figures.rate:.1f}",
        f"{figures.limit:.1f}",
        f"{figures.rate / figures.limit:.2f}x",
    )
    table.add_row("sent / failed", f"{figures.sent} / {figures.failed}", "", "")
    table.add_row("wall time", f"{figures.wall_s:.1f} s", f"{figures.recipients / rate:.1f} s", "")
    table.add_row(
        "RSS start / peak / end",
        f"{figures.rss_start_mib:.0f} / {figures.rss_peak_mib:.0f} / {figures.rss_end_mib:.0f} MiB",
        "flat",
        f"+{figures.rss_peak_mib - figures.rss_start_mib:.0f} MiB",
    )
    console.print(table)


def bench_analytics(
    events: Annotated[
        int, typer.Option(min=1000, help="Synthetic events for sink and queries.")
    ] = 1_000_000,
    seconds: Annotated[float, typer.Option(help="Seconds of ingest load per target.")] = 5.0,
    conns: Annotated[int, typer.Option(min=1, help="Concurrent beacon senders.")] = 16,
    rounds: Annotated[int, typer.Option(min=1, help="Runs of each query.")] = 20,
) -> None:
    """/collect beside a bare uvicorn JSON parser, the sink beside pyarrow's write_table,
    and stats queries beside the same SQL in DuckDB directly on the same files."""
    from rich.table import Table

    from cluster.bench import analytics as bench

    rows = bench.bench(events=events, seconds=seconds, conns=conns, rounds=rounds, say=say)
    table = Table(title=f"analytics: {events} synthetic events, {conns} senders")
    for column in ("part", "metric", "vidray", "anchor", "vidray / anchor"):
        table.add_column(column, justify="left" if column in ("part", "metric") else "right")
    for r in rows:
        ratio = f"{r.vidray / r.anchor:.2f}x" if r.anchor else "-"
        table.add_row(
            r.part, r.metric, f"{r.vidray:,.1f}{r.unit}", f"{r.anchor:,.1f}{r.unit}", ratio
        )
    console.print(table)


def bench_search(
    videos: Annotated[int, typer.Option(help="Generated videos to index.")] = 100_000,
    rounds: Annotated[int, typer.Option(help="Times each query is measured.")] = 20,
) -> None:
    """Search on a generated library: rebuild rate, query p50/p95 beside bare whoosh on
    the same index in one process, and freshness from commit to searchable."""
    from rich.table import Table

    from cluster.bench import search as bench

    report = bench.bench(videos=videos, rounds=rounds, say=say)
    rate = report.videos / report.rebuild_s if report.rebuild_s else 0.0
    cpu_rate = report.videos / report.rebuild_cpu_s if report.rebuild_cpu_s else 0.0
    console.print(
        f"rebuild: {report.videos} videos in {report.rebuild_s:.1f} s ({rate:.0f} docs/s; "
        f"{report.rebuild_cpu_s:.1f} s of CPU, {cpu_rate:.0f} docs/s per CPU second)"
    )
    table = Table(title=f"search: {report.videos} videos, warm, {rounds} rounds")
    columns = ("queries", "vidray p50", "vidray p95", "vidray CPU p95")
    for column in (*columns, "whoosh p50", "whoosh p95", "whoosh CPU p95", "p95 ratio"):
        table.add_column(column, justify="left" if column == "queries" else "right")
    for kind, (ours, anchor) in report.queries.items():
        ratio = f"{ours.p95_ms / anchor.p95_ms:.2f}x" if anchor.p95_ms else "-"
        table.add_row(
            kind,
            f"{ours.p50_ms:.1f} ms",
            f"{ours.p95_ms:.1f} ms",
            f"{ours.cpu_p95_ms:.1f} ms",
            f"{anchor.p50_ms:.1f} ms",
            f"{anchor.p95_ms:.1f} ms",
            f"{anchor.cpu_p95_ms:.1f} ms",
            ratio,
        )
    console.print(table)
    console.print(
        f"freshness (commit to searchable): p50 {report.freshness.p50_ms:.0f} ms, "
        f"p95 {report.freshness.p95_ms:.0f} ms"
    )
    console.print(table)


def bench_scale(
    nodes: Annotated[str, typer.Option(help="Node counts, one cluster each.")] = "1,2,4",
    seconds: Annotated[float, typer.Option(help="Length of the generated source.")] = 60,
    height: Annotated[int, typer.Option(help="Height of the generated 16:9 source.")] = 1080,
    ladder: Annotated[str | None, typer.Option(help="Rung heights (default: auto).")] = None,
    preset: Annotated[str, typer.Option(help="x264 preset.")] = "veryfast",
) -> None:
    """The same source on clusters of 1, 2, 4 ... one-core Ray nodes on this machine.

    Per step: wall time, speedup and parallel efficiency beside the one-node run, and
    Ray's cost per chunk (an empty task's round trip plus a result's way back to the
    driver) beside the chunk's own time in its worker."""
    from rich.table import Table

    from cluster.bench import scale

    counts = tuple(sorted({int(n) for n in nodes.split(",") if n.strip()}))
    if not counts or min(counts) < 1:
        raise typer.BadParameter("give node counts such as 1,2,4", param_hint="--nodes")
    steps = scale.bench(
        settings=read_settings(),
        nodes=counts,
        seconds=seconds,
        height=height,
        ladder=parse_ladder(ladder),
        preset=preset,
        say=say,
    )
    anchor = steps[0]
    title = f"scale: {seconds:g} s {height}p source, {preset}; anchor: {anchor.nodes} node(s)"
    table = Table(title=title)
    columns = ("nodes", "wall", "speedup", "efficiency", "chunks", "chunk task")
    for column in (*columns, "Ray per chunk", "Ray / chunk"):
        table.add_column(column, justify="right")
    for step in steps:
        speedup = anchor.wall_s / step.wall_s
        table.add_row(
            str(step.nodes),
            f"{step.wall_s:.2f} s",
            f"{speedup:.2f}x",
            f"{speedup * anchor.nodes / step.nodes:.2f}",
            str(step.chunks),
            f"{step.chunk_task_s:.3f} s",
            f"{step.overhead_s * 1000:.1f} ms",
            f"{step.overhead_ratio:.2%}",
        )
    console.print(table)
