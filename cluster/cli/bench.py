"""`vidray bench`: vidray beside its anchor, on the same input (code in cluster/bench/)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cluster.cli.console import console, read_settings, say
from cluster.cli.transcode import parse_ladder

if TYPE_CHECKING:
    from rich.table import Table

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
