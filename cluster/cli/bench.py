"""`vidray bench`: vidray beside its anchor, on the same input (code in cluster/bench/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cluster.cli.console import console, read_settings, say
from cluster.cli.transcode import parse_ladder


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
