"""`vidray jobs list|retry|cancel`: the job board from a terminal, for admins.

Like the other commands that talk to a server, these go through its GraphQL API
(`cluster/api_client.py`) with the `vidray login` sign-in or `--token`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cluster.cli.console import clear_errors, console, err_console
from cluster.cli.login import SERVER_HELP, signed_in

TOKEN_HELP = "Access token (default: the `vidray login` sign-in)."  # noqa: S105 (help text)
STATE_STYLE = {"done": "green", "failed": "red", "running": "cyan", "cancelled": "dim"}

Server = Annotated[str | None, typer.Option(help=SERVER_HELP)]
Token = Annotated[str | None, typer.Option(envvar="VIDRAY_TOKEN", help=TOKEN_HELP)]


def _api(server: str | None, token: str | None) -> Any:
    from cluster.api_client import Api

    session = signed_in(server=server, token=token)
    return Api(session.server, token=session.token)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _when(value: str | None) -> str:
    return "" if value is None else datetime.fromisoformat(value).strftime("%m-%d %H:%M:%S")


def _retried(job: dict[str, Any]) -> str:
    """The tries that did not end well, e.g. "chunk 3 lost on 1a2b3c4d (NodeDiedError)"."""
    bad = [a for a in job["attempts"] if a["outcome"] not in {"done", "running"}]
    return "; ".join(
        f"{a['task']} {a['outcome']}"
        + (f" on {a['nodeId'][:8]}" if a["nodeId"] else "")
        + (f" ({a['error'].split(':')[0]})" if a["error"] else "")
        for a in bad
    )


def _table(jobs: list[dict[str, Any]], *, attempts: bool) -> Table:
    table = Table(show_lines=attempts)
    for column in ("job", "video", "owner", "state", "stage", "%", "ETA", "runs", "created"):
        table.add_column(column, justify="right" if column in {"%", "runs"} else "left")
    table.add_column("error / retried tries", overflow="fold")
    for job in jobs:
        style = STATE_STYLE.get(job["state"], "")
        problem = job["error"] or _retried(job)
        if attempts:
            problem = "\n".join(
                [problem]
                + [
                    f"{a['task']} #{a['retry']} {a['outcome']}"
                    f" node {(a['nodeId'] or '?')[:8]}" + (f": {a['error']}" if a["error"] else "")
                    for a in job["attempts"]
                ]
            ).strip()
        table.add_row(
            job["id"],
            job["videoId"],
            job["ownerId"],
            f"[{style}]{job['state']}[/]" if style else job["state"],
            job["stage"],
            f"{job['percent']:.0f}",
            _eta(job["etaSeconds"]),
            str(job["runs"]),
            _when(job["createdAt"]),
            escape(problem),
        )
    return table


def list_jobs(
    status: Annotated[
        str | None, typer.Option(help="queued, running, done, failed or cancelled.")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Only this user's jobs (a user id).")] = None,
    video: Annotated[str | None, typer.Option(help="Only this video's jobs.")] = None,
    first: Annotated[int, typer.Option(min=1, max=200, help="Jobs per page.")] = 50,
    after: Annotated[str | None, typer.Option(help="The cursor a previous page printed.")] = None,
    attempts: Annotated[
        bool, typer.Option("--attempts", help="Every try of each job: node, outcome, error.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The page as JSON.")] = False,
    server: Server = None,
    token: Token = None,
) -> None:
    """List transcode jobs, newest first, with progress, ETA and retried tries."""
    api = _api(server, token)
    with clear_errors():
        jobs, cursor = api.jobs(status=status, owner=owner, video=video, first=first, after=after)
    if as_json:
        console.print_json(json.dumps({"jobs": jobs, "next": cursor}))
        return
    console.print(_table(jobs, attempts=attempts))
    if cursor is not None:
        err_console.print(f"more: vidray jobs list --after {cursor}")


def retry(
    job_id: Annotated[str | None, typer.Argument(help="The job to queue again.")] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Every failed job (of --owner, or all).")
    ] = False,
    owner: Annotated[str | None, typer.Option(help="With --failed: one user's jobs.")] = None,
    server: Server = None,
    token: Token = None,
) -> None:
    """Queue a failed or cancelled job again, or every failed job with --failed."""
    if (job_id is None) == (not failed):
        err_console.print("[bold red]error:[/] give a JOB_ID, or --failed (not both)")
        raise typer.Exit(2)
    api = _api(server, token)
    with clear_errors():
        if failed:
            ids = api.retry_failed_jobs(owner=owner)
            console.print(
                f"queued again: {len(ids)} job(s)" + (f": {' '.join(ids)}" if ids else "")
            )
            return
        job = api.retry_job(job_id)
    console.print(f"job {job['id']} is {job['state']}")


def cancel(
    job_id: Annotated[str, typer.Argument(help="The job to cancel.")],
    server: Server = None,
    token: Token = None,
) -> None:
    """Cancel a queued or running job (a running one stops within a second)."""
    api = _api(server, token)
    with clear_errors():
        job = api.cancel_job(job_id)
    # A running job stops at its next check, within a second of this answer.
    state = "being cancelled" if job["state"] == "running" else job["state"]
    console.print(f"job {job['id']} is {state}")
