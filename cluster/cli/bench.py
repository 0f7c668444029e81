"""`vidray bench`: vidray beside its anchor, on the same input (code in cluster/bench/)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cluster.cli.console import console, read_settings, say
from cluster.cli.transcode import parse_ladder

if TYPE_CHECKING:
    from rich.table import Table

    from cluster.bench.notify_email import EmailResult
    from cluster.bench.transcode import Comparison


def bench_transcode(
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="clean, noisy or a file; repeat for several (default: clean and noisy).",
        ),
    ] = None,
    input_path: Annotated[
        Path | None, typer.Option("--input", exists=True, dir_okay=False, help="Source video.")
    ] = None,
    seconds: Annotated[float, typer.Option(help="Length of the generated sources.")] = 30,
    ladder: Annotated[str | None, typer.Option(help="Rung heights (default: auto).")] = (
        "1080,720,480,360"
    ),
    preset: Annotated[str, typer.Option(help="x264 preset for both.")] = "veryfast",
    cpus: Annotated[int | None, typer.Option(help="Cores for both (default: all).")] = None,
    keep: Annotated[Path | None, typer.Option(help="Keep both outputs in this folder.")] = None,
) -> None:
    """The full ladder through vidray's Ray pipeline and through one ffmpeg process, per
    source, back to back; then where vidray's CPU went, by stage."""
    import os

    from rich.table import Table

    from cluster.bench import transcode as bench

    settings = read_settings()
    cores = cpus or len(os.sched_getaffinity(0))
    specs = list(source or []) + ([str(input_path)] if input_path else [])
    results = bench.bench(
        settings=settings,
        sources=specs or ["clean", "noisy"],
        seconds=seconds,
        ladder=parse_ladder(ladder),
        preset=preset,
        cpus=cores,
        keep=keep,
        say=say,
    )
    for c in results:
        ours, anchor, plan = c.vidray, c.ffmpeg, c.plan
        table = Table(
            title=f"transcode, {c.source}: {plan.duration:.1f} s source, {cores} cores, {preset}"
        )
        for column in ("metric", "vidray", "ffmpeg", "vidray / ffmpeg"):
            table.add_column(column, justify="right" if column != "metric" else "left")

        def row(metric: str, a: float, b: float, unit: str = "", table: Table = table) -> None:
            ratio = f"{a / b:.2f}x" if b else "-"
            table.add_row(metric, f"{a:.2f}{unit}", f"{b:.2f}{unit}", ratio)

        row("wall time (fully ready)", ours.wall_s, anchor.wall_s, " s")
        job = sum(ours.stages.values()) + ours.driver_cpu_s
        row("CPU, Ray job (every task + driver)", job, anchor.cpu_s, " s")
        row("CPU, with Ray's daemons", ours.cpu_s, anchor.cpu_s, " s")
        row("first playable", ours.first_playable_s, anchor.first_playable_s, " s")
        for rung in plan.rungs:
            name = rung.name
            if name in ours.psnr_db:
                row(f"{name} PSNR", ours.psnr_db[name], anchor.psnr_db[name], " dB")
            row(f"{name} bitrate", ours.kbps[name], anchor.kbps[name], " kb/s")
        console.print(table)
        console.print(_stage_table(c))


def _stage_table(c: Comparison) -> Table:
    """vidray's CPU by stage: the tasks' own accounts, the driver, and Ray's share."""
    from rich.table import Table

    ours, anchor = c.vidray, c.ffmpeg
    table = Table(title=f"vidray CPU by stage, {c.source} (ffmpeg: {anchor.cpu_s:.1f} CPU-s)")
    for column in ("stage", "CPU-s", "share of vidray", "of ffmpeg's total"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    tasks = sum(ours.stages.values())
    rest = max(0.0, ours.cpu_s - tasks - ours.driver_cpu_s)
    rows = [*sorted(ours.stages.items(), key=_stage_order)]
    rows += [("driver (graph, publish)", ours.driver_cpu_s)]
    # GCS, raylet, dashboard, idle workers: a cluster's upkeep, paid per second of wall
    # time whether or not a job runs (so it grows with a busy machine's longer runs).
    rows += [("Ray daemons, idle workers", rest)]
    for name, seconds in rows:
        table.add_row(
            name,
            f"{seconds:.2f}",
            f"{seconds / ours.cpu_s:.0%}" if ours.cpu_s else "-",
            f"{seconds / anchor.cpu_s:.0%}" if anchor.cpu_s else "-",
        )
    table.add_row("total", f"{ours.cpu_s:.2f}", "100%", f"{ours.cpu_s / anchor.cpu_s:.0%}")
    return table


_STAGE_ORDER = ("probe", "decode", "scale", "x264", "mux", "audio", "stills", "waveform")


def _stage_order(item: tuple[str, float]) -> tuple[int, int, str]:
    name = item[0]
    kind = name.split(" ")[0]
    rank = _STAGE_ORDER.index(kind) if kind in _STAGE_ORDER else len(_STAGE_ORDER)
    size = -int(name.split(" ")[1].rstrip("p")) if kind == "x264" else 0
    return rank, size, name


def bench_ladder(
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="slides, talking, clean, noisy or a file; repeat (default: all four).",
        ),
    ] = None,
    seconds: Annotated[float, typer.Option(help="Length of the generated sources.")] = 6,
    ladder: Annotated[str, typer.Option(help="Rung heights.")] = "720,480,360",
    preset: Annotated[str, typer.Option(help="x264 preset.")] = "veryfast",
) -> None:
    """Fixed ladder beside per-title ladder: each rung's bits, PSNR and SSIM (FFmpeg's
    filters against the source scaled to the rung), and the bits saved."""
    from rich.table import Table

    from cluster.bench import ladder as bench

    settings = read_settings()
    results = bench.bench(
        settings=settings,
        sources=list(source or ["slides", "talking", "clean", "noisy"]),
        seconds=seconds,
        ladder=parse_ladder(ladder),
        preset=preset,
        say=say,
    )
    for r in results:
        fixed_total = sum(x.kbps for x in r.fixed)
        title_total = sum(x.kbps for x in r.per_title)
        saved = 1 - title_total / fixed_total if fixed_total else 0.0
        table = Table(
            title=(
                f"ladder, {r.source}: per-title saves {saved:.0%} of the bits "
                f"(probe {r.probe_cpu_s:.1f} CPU-s; fixed encode {r.encode_cpu_s:.1f} CPU-s)"
            )
        )
        for column in ("rung", "fixed kb/s", "PSNR", "SSIM", "per-title kb/s", "PSNR ", "SSIM "):
            table.add_column(column, justify="right")
        for a, b in zip(r.fixed, r.per_title, strict=True):
            table.add_row(
                a.name,
                f"{a.kbps:.0f}",
                f"{a.psnr:.2f}",
                f"{a.ssim:.4f}",
                f"{b.kbps:.0f}",
                f"{b.psnr:.2f}",
                f"{b.ssim:.4f}",
            )
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
