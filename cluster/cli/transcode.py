"""`vidray transcode`: a local file into an HLS ladder, with the uploads' pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cluster.cli.console import clear_errors, console, err_console, progress_bar, read_settings


def parse_ladder(value: str | None) -> tuple[int, ...] | None:
    if not value:
        return None
    try:
        return tuple(sorted({int(part) for part in value.split(",")}, reverse=True))
    except ValueError:
        raise typer.BadParameter("give heights separated by commas, e.g. 1080,720,480") from None


def transcode(
    source: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Input video.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the HLS output.")],
    ladder: Annotated[
        str | None, typer.Option(help="Rung heights, e.g. 1080,720,480,360 (default: auto).")
    ] = None,
    segment: Annotated[float, typer.Option(min=1.0, max=30.0, help="Segment seconds.")] = 6.0,
    preset: Annotated[str, typer.Option(help="x264 preset.")] = "veryfast",
    cpus: Annotated[int | None, typer.Option(help="CPUs for a local Ray cluster.")] = None,
    per_title: Annotated[
        bool, typer.Option("--per-title", help="Pick each rung's bitrate for this video.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Transcode a local file into an HLS ladder with the same pipeline as uploads."""
    import functools
    import json

    from rich.progress import BarColumn, TaskProgressColumn, TextColumn

    from cluster import runtime
    from cluster.storage import LocalStore
    from pipelines import transcode as graph
    from pipelines.errors import TranscodeFailed

    settings = read_settings()
    options = graph.Options(
        ladder=parse_ladder(ladder), segment_seconds=segment, preset=preset, per_title=per_title
    )
    out.mkdir(parents=True, exist_ok=True)
    with clear_errors():
        runtime.start(settings, num_cpus=cpus)
    try:
        with progress_bar(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), transient=as_json
        ) as bar:
            task = bar.add_task("probing", total=100)

            def show(p: graph.Progress) -> None:
                label = f"{p.stage}{' (playable)' if p.playable else ''}"
                bar.update(task, completed=p.percent, description=label)

            result = graph.transcode(
                open_store=functools.partial(LocalStore, out.resolve()),
                source=graph.Source(path=str(source.resolve())),
                prefix="",
                image_prefix="",
                options=options,
                progress=show,
            )
    except TranscodeFailed as exc:
        err_console.print(f"[bold red]error:[/] {source}: {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        runtime.stop()
    renditions = [
        {k: r[k] for k in ("name", "width", "height", "codecs")} for r in result.renditions
    ]
    summary = {
        "master": str(out / result.master_key),
        "duration_s": result.plan.duration,
        "renditions": renditions,
        "audio": result.plan.audio is not None,
        "poster": str(out / result.poster_key) if result.poster_key else None,
        "first_playable_s": round(result.first_playable_s, 2),
        "total_s": round(result.total_s, 2),
        "notes": list(result.notes),
    }
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console.print(f"[bold green]done[/] in {summary['total_s']} s: {summary['master']}")
    for r in renditions:
        console.print(f"  {r['name']:>6}  {r['width']}x{r['height']}  {r['codecs']}")
    console.print(f"  first playable after {summary['first_playable_s']} s")
    for note in result.notes:
        console.print(f"  note: {note}")
