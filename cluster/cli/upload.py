"""`vidray upload`: a video over tus, resumable; then the server's verdict on it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from cluster.cli.console import console, err_console, fail, progress_bar, read_settings
from cluster.cli.login import SERVER_HELP, signed_in
from cluster.errors import VidrayError

if TYPE_CHECKING:
    from cluster.api_client import Api, Progress

# The upload is handed to the job actor a moment after its last byte; past this, the
# hand-over was lost and the server's sweep redoes it later.
HANDOVER_TIMEOUT_S = 120.0


def upload(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Video file.")
    ],
    title: Annotated[str | None, typer.Option(help="Title (default: the file name).")] = None,
    private: Annotated[bool, typer.Option("--private", help="Only you can watch it.")] = False,
    server: Annotated[str | None, typer.Option(help=SERVER_HELP)] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="VIDRAY_TOKEN", help="Access token (default: the `vidray login` sign-in)."
        ),
    ] = None,
    chunk_mb: Annotated[int, typer.Option(min=1, max=1024, help="MiB per PATCH.")] = 16,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the transcode until the video is ready.")
    ] = False,
) -> None:
    """Upload a video over tus; run it again after an interruption to resume.

    Once the last byte is in, the server checks the file: a refused one exits with
    status 2 and the reason. An accepted one prints its video id and watch URL; with
    --wait, the command follows the transcode and exits 0 when the video is ready,
    1 when the transcode fails."""
    import httpx
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from cluster.api_client import Api
    from cluster.upload_client import UrlStore, upload_file

    settings = read_settings()
    session = signed_in(server=server, token=token)
    base = session.server
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
                token=session.token,
                metadata=metadata,
                chunk_size=chunk_mb * 1024 * 1024,
                urls=UrlStore(settings.data_dir / "upload-urls.json"),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        api = Api(base, token=session.token)
        upload_id = url.rstrip("/").rsplit("/", 1)[-1]
        video_id = _video_of(api, upload_id)
        verdict = _follow(api, video_id, until_ready=wait)
        # The job actor marks a refused upload failed too; a failed transcode, never.
        refusal = api.upload(upload_id) if verdict.state == "failed" else None
    except httpx.TransportError as exc:
        err_console.print(
            f"[bold red]error:[/] lost the connection to {base} ({exc}): "
            "run the same command again to resume"
        )
        raise typer.Exit(1) from None
    except VidrayError as exc:
        fail(exc)
    if refusal is not None and refusal.status == "failed":
        _print_refused(refusal.failure_reason or verdict.error)
    if verdict.state in ("failed", "cancelled"):
        reason = escape(verdict.error or "no reason given")
        err_console.print(
            f"[bold red]transcode {verdict.state}:[/] {reason}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    console.print(f"[bold green]uploaded[/] {file.name}")
    console.print(f"video  {video_id}", highlight=False)
    console.print(f"watch  {base}/watch/{video_id}", highlight=False, soft_wrap=True)
    if verdict.state != "done":
        err_console.print("transcoding: it plays at the watch URL once ready (--wait follows it)")


def _video_of(api: Api, upload_id: str) -> str:
    """The video the server made of the finished upload (a moment after its last byte)."""
    deadline = time.monotonic() + HANDOVER_TIMEOUT_S
    with err_console.status("handing the upload over"):
        while True:
            state = api.upload(upload_id)
            if state is None:
                raise VidrayError(f"upload {upload_id} is gone: upload the file again")
            if state.video_id is not None:
                return state.video_id
            if state.status == "failed":
                _print_refused(state.failure_reason)
            if time.monotonic() > deadline:
                raise VidrayError(
                    f"upload {upload_id} is complete but no video was made of it yet: "
                    "the server retries the hand-over; look for it in your library later"
                )
            time.sleep(0.5)  # a person's terminal: twice a second is plenty


def _follow(api: Api, video_id: str, *, until_ready: bool) -> Progress:
    """The transcode's last update: once the probe has judged the file, or (with
    `until_ready`) once it is over, with a bar of stage and percent meanwhile."""
    from rich.progress import BarColumn, TaskProgressColumn, TextColumn

    last: Progress | None = None
    if not until_ready:
        with err_console.status("the server is checking the file"):
            for last in api.transcode_progress(video_id):
                if last.probed:
                    break
        assert last is not None  # the subscription always sends the current state first
        return last
    with progress_bar(
        TextColumn("{task.description:<12}"), BarColumn(), TaskProgressColumn(), transient=True
    ) as bar:
        task = bar.add_task("queued", total=100)
        for last in api.transcode_progress(video_id):
            bar.update(task, description=last.stage, completed=last.percent)
    assert last is not None
    return last


def _print_refused(reason: str | None) -> None:
    err_console.print(
        f"[bold red]refused:[/] {escape(reason or 'the server gave no reason')}",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(2)
