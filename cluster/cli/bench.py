"""`vidray bench`: vidray beside its anchor, on the same input (code in cluster/bench/)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cluster.cli.console import console, read_settings, say
from cluster.cli.transcode import parse_ladder

if TYPE_CHECKING:
    from cluster.bench.notify_email import EmailResult


def bench_transcode(
    input_path: Annotated[
        Path | None, typer.Option("--input", exists=True, dir_okay=False, help="Source video.")
    ] = None,
    seconds: Annotated[float, typer.Option(help="Length of the generated 1080p30 source.")] = 60,
    ladder: Annotated[str | None, typer.Option(help="Rung heights (default: auto).")] = None,
    preset: Annotated[str, typer.Option(help="x264 preset for both.")] = "veryfast",
    cpus: Annotated[int | None, typer.Option(help="Cores for both (default: all).")] = None,
    keep: Annotated[Path | None, typer.Option(help="Keep both outputs in this folder.")] = None,
) -> None:
    """The full ladder through vidray's Ray pipeline and through one ffmpeg process."""
    import os

    from rich.table import Table

    from cluster.bench import transcode as bench

    settings = read_settings()
    cores = cpus or len(os.sched_getaffinity(0))
    ours, anchor, plan = bench.bench(
        settings=settings,
        input_path=input_path,
        seconds=seconds,
        ladder=parse_ladder(ladder),
        preset=preset,
        cpus=cores,
        keep=keep,
        say=say,
    )
    table = Table(title=f"transcode: {plan.duration:.1f} s source, {cores} cores, {preset}")
    for column in ("metric", "vidray", "ffmpeg", "vidray / ffmpeg"):
        table.add_column(column, justify="right" if column != "metric" else "left")

    def row(metric: str, a: float, b: float, unit: str = "") -> None:
        ratio = f"{a / b:.2f}x" if b else "-"
        table.add_row(metric, f"{a:.2f}{unit}", f"{b:.2f}{unit}", ratio)

    row("wall time", ours.wall_s, anchor.wall_s, " s")
    row("CPU time", ours.cpu_s, anchor.cpu_s, " s")
    row("first playable", ours.first_playable_s, anchor.first_playable_s, " s")
    row("fully ready", ours.wall_s, anchor.wall_s, " s")
    row("wall / duration", ours.wall_s / plan.duration, anchor.wall_s / plan.duration)
    for rung in plan.rungs:
        name = rung.name
        row(f"{name} PSNR", ours.psnr_db[name], anchor.psnr_db[name], " dB")
        row(f"{name} bitrate", ours.kbps[name], anchor.kbps[name], " kb/s")
    console.print(table)


def bench_upload(
    size_mb: Annotated[int, typer.Option(help="MiB to upload.")] = 1024,
    chunks: Annotated[str, typer.Option(help="PATCH sizes in MiB, comma-separated.")] = "16,64",
    s3: Annotated[
        bool, typer.Option(help="Also on S3: VIDRAY_S3_* if set, else a local moto server.")
    ] = True,
    gateway: Annotated[
        bool, typer.Option(help="Also through the gateway alone, as without the upload edge.")
    ] = True,
    rounds: Annotated[int, typer.Option(min=1, help="Runs of each; medians are shown.")] = 3,
) -> None:
    """1 GiB through tus into vidray, beside a bare uvicorn writer and a plain file copy.

    Memory of the process the bytes reach (the upload edge, or the gateway replica):
    "private" is its own heap (RssAnon); "RSS" also counts the pages of Ray's shared
    object store it has touched, through which Serve's proxy passes bodies."""
    from rich.table import Table

    from cluster.bench import upload as bench

    settings = read_settings()
    sizes = [int(c) for c in chunks.split(",") if c.strip()]
    rows = bench.bench(
        settings=settings,
        size=size_mb * 1024 * 1024,
        chunk_sizes=[c * 1024 * 1024 for c in sizes],
        with_s3=s3,
        paths=("edge", "gateway") if gateway else ("edge",),
        rounds=rounds,
        say=say,
    )
    table = Table(title=f"upload: {size_mb} MiB, medians of {rounds}")
    for column in (
        "path",
        "store",
        "chunk",
        "vidray MB/s",
        "uvicorn MB/s",
        "copy MB/s",
        "vs uvicorn",
        "vs copy",
        "private growth",
        "RSS growth",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r.path,
            r.store,
            f"{r.chunk_mb} MiB",
            f"{r.vidray_mbps:.0f}",
            f"{r.bare_mbps:.0f}",
            f"{r.copy_mbps:.0f}" if r.copy_mbps else "-",
            f"{r.vidray_mbps / r.bare_mbps:.2f}x",
            f"{r.vidray_mbps / r.copy_mbps:.2f}x" if r.copy_mbps else "-",
            f"{r.private_growth_mb:.0f} MiB",
            f"{r.rss_growth_mb:.0f} MiB",
        )
    console.print(table)


def bench_stream(
    concurrency: Annotated[
        str, typer.Option(help="Concurrent connections, comma-separated.")
    ] = "1,8,16,64",
    duration: Annotated[float, typer.Option(help="Seconds per measurement.")] = 4.0,
    seconds: Annotated[float, typer.Option(help="Length of the generated 720p source.")] = 12.0,
    haproxy: Annotated[bool, typer.Option(help="Also behind Serve's HAProxy ingress.")] = True,
) -> None:
    """Segments through plain nginx, nginx secure_link, Serve's proxy and HAProxy; and
    signed playlists. Loopback only; prints req/s, MB/s, p50, p99, ratio to plain nginx."""
    from rich.table import Table

    from cluster.bench import stream as bench

    settings = read_settings()
    levels = [int(c) for c in concurrency.split(",") if c.strip()]
    rows = bench.bench(
        settings=settings,
        concurrency=levels,
        duration=duration,
        seconds=seconds,
        with_haproxy=haproxy,
        say=say,
    )
    table = Table(title=f"stream: {duration:.0f} s per row, load generator {rows[0].tool}")
    for column in ("target", "conns", "req/s", "MB/s", "p50 ms", "p99 ms", "errors", "vs nginx"):
        table.add_column(column, justify="right" if column != "target" else "left", no_wrap=True)
    for r in rows:
        table.add_row(
            r.target,
            str(r.concurrency),
            f"{r.rps:.0f}",
            f"{r.mbps:.1f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            str(r.errors),
            f"{r.ratio:.2f}x" if r.ratio is not None else "-",
        )
    console.print(table)


def bench_graphql(
    concurrency: Annotated[
        str, typer.Option(help="Concurrent connections, comma-separated.")
    ] = "1,8",
    duration: Annotated[float, typer.Option(help="Seconds per measurement.")] = 4.0,
    max_requests: Annotated[
        int, typer.Option(min=1, help="At most this many requests per measurement.")
    ] = 20_000,
    haproxy: Annotated[bool, typer.Option(help="Also behind Serve's HAProxy ingress.")] = True,
) -> None:
    """A video-page query and a library query through Ray Serve, beside the same schema
    on a bare uvicorn app without Ray. Loopback only; prints req/s, p50, p99 and the ratio."""
    from rich.table import Table

    from cluster.bench import graphql as bench

    settings = read_settings()
    levels = [int(c) for c in concurrency.split(",") if c.strip()]
    rows = bench.bench(
        settings=settings,
        concurrency=levels,
        duration=duration,
        max_requests=max_requests,
        ingresses=("serve", "haproxy") if haproxy else ("serve",),
        say=say,
    )
    table = Table(title=f"graphql: {duration:.0f} s per row, load generator httpx")
    for column in (
        "target",
        "query",
        "conns",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "vidray / bare",
    ):
        table.add_column(column, justify="right" if column not in {"target", "query"} else "left")
    for r in rows:
        table.add_row(
            r.target,
            r.query,
            str(r.concurrency),
            f"{r.rps:.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            str(r.errors),
            f"{r.ratio:.2f}x" if r.ratio is not None else "-",
        )
    console.print(table)


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
