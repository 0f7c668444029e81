"""`vidray upload`: a video over tus, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cluster.cli.console import console, err_console, fail, progress_bar, read_settings
from cluster.errors import VidrayError


def upload(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Video file.")
    ],
    title: Annotated[str | None, typer.Option(help="Title (default: the file name).")] = None,
    private: Annotated[bool, typer.Option("--private", help="Only you can watch it.")] = False,
    server: Annotated[
        str | None, typer.Option(help="vidray's URL (default: this machine's VIDRAY_HTTP_PORT).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="VIDRAY_TOKEN", help="Access token (verifyOtp / login)."),
    ] = None,
    chunk_mb: Annotated[int, typer.Option(min=1, max=1024, help="MiB per PATCH.")] = 16,
) -> None:
    """Upload a video over tus; run it again after an interruption to resume."""
    import httpx
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from cluster.upload_client import UrlStore, upload_file

    settings = read_settings()
    if not token:
        err_console.print(
            "[bold red]error:[/] no access token: pass --token or set VIDRAY_TOKEN "
            "(the accessToken from the verifyOtp or login mutation)"
        )
        raise typer.Exit(2)
    base = server or f"http://{settings.http_host}:{settings.http_port}"
    metadata = {"filename": file.name, "title": title or file.stem}
    if private:
        metadata["visibility"] = "private"
    try:
        with progress_bar(
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        ) as bar:
            task = bar.add_task("upload", total=file.stat().st_size)
            url = upload_file(
                server=base,
                path=file,
                token=token,
                metadata=metadata,
                chunk_size=chunk_mb * 1024 * 1024,
                urls=UrlStore(settings.data_dir / "upload-urls.json"),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except httpx.TransportError as exc:
        err_console.print(
            f"[bold red]error:[/] lost the connection to {base} ({exc}): "
            "run the same command again to resume"
        )
        raise typer.Exit(1) from None
    except VidrayError as exc:
        fail(exc)
    console.print(f"[bold green]uploaded[/] {file.name}: {url}")
    console.print("the video is being processed; it appears in your library when ready")
