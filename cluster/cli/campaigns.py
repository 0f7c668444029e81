"""`vidray campaigns`: write, test, list and send marketing campaigns from a shell.

An operator with shell access is trusted as an admin. `send` schedules the campaign;
the running platform's notifier sends it (within VIDRAY_NOTIFY_POLL_S). `--here` sends
it from this process instead, with a progress line, which also resumes a campaign
that a stopped platform left half sent.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cluster.cli.console import clear_errors, console, read_settings
from cluster.cli.help import Command, Group

if TYPE_CHECKING:
    from serve.platform import Platform

app = typer.Typer(help="Marketing campaigns: only to users who opted in.", cls=Group)


def _campaigns() -> Platform:
    """This process's platform (imported here: the CLI starts fast without it)."""
    from serve.platform import Platform

    return Platform(read_settings())


@app.command("list", cls=Command)
def list_campaigns() -> None:
    """Every campaign, newest first, with its progress."""
    with clear_errors():
        platform = _campaigns()
        try:
            views = platform.campaigns.list(actor_id=None)
        finally:
            platform.close()
    if not views:
        console.print("no campaigns yet: `vidray campaigns create`")
    for view in views:
        p = view.progress
        counts = (
            f"{p.sent} sent, {p.suppressed} suppressed, {p.failed} failed, {p.pending} to go"
            if p is not None and p.total
            else "no recipients yet"
        )
        console.print(
            f"{view.id}  {view.state:<9}  {view.audience:<14}  {counts}  {view.subject}",
            highlight=False,
            markup=False,
        )


@app.command("create", cls=Command)
def create(
    subject: Annotated[str, typer.Option("--subject", help="One line.")],
    html: Annotated[Path, typer.Option("--html", help="The HTML body, a file.", exists=True)],
    text: Annotated[Path, typer.Option("--text", help="The text body, a file.", exists=True)],
    audience: Annotated[
        str, typer.Option("--audience", help="opted_in, or tier:NAME (of the opted in).")
    ] = "opted_in",
) -> None:
    """Write a campaign (a draft); prints its id."""
    with clear_errors():
        platform = _campaigns()
        try:
            view = platform.campaigns.create(
                actor_id=None,
                subject=subject,
                html=html.read_text(),
                text=text.read_text(),
                audience=audience,
            )
        finally:
            platform.close()
    console.print(view.id, highlight=False)


@app.command("test", cls=Command)
def send_test(
    campaign: Annotated[str, typer.Argument(help="The campaign's id.")],
    to: Annotated[str, typer.Option("--to", help="The address to send the test to.")],
) -> None:
    """Send a campaign to one address, marked [test]."""
    with clear_errors():
        platform = _campaigns()
        try:
            address = platform.campaigns.send_test(actor_id=None, campaign_id=campaign, to=to)
        finally:
            platform.close()
    console.print(f"test sent to {address}", highlight=False)


@app.command("send", cls=Command)
def send(
    campaign: Annotated[str, typer.Argument(help="The campaign's id.")],
    at: Annotated[
        datetime | None, typer.Option("--at", help="When to send (ISO 8601, UTC); default now.")
    ] = None,
    here: Annotated[
        bool, typer.Option("--here", help="Send from this process, not the platform's notifier.")
    ] = False,
) -> None:
    """Schedule a campaign (now by default), or send it from here."""
    from datetime import UTC

    with clear_errors():
        platform = _campaigns()
        try:
            when = at.replace(tzinfo=at.tzinfo or UTC) if at is not None else None
            view = platform.campaigns.schedule(actor_id=None, campaign_id=campaign, at=when)
            if not here:
                console.print(
                    f"{view.id} scheduled for {view.scheduled_at:%Y-%m-%d %H:%M:%S} UTC: the "
                    "platform's notifier sends it; follow it with `vidray campaigns list`",
                    highlight=False,
                )
                return
            done = platform.campaigns.run_here(campaign)
        finally:
            platform.close()
    if done is not None:
        console.print(
            f"{done.campaign_id} {done.state}: {done.sent} sent, {done.suppressed} suppressed, "
            f"{done.failed} failed, {done.skipped} unsubscribed meanwhile",
            highlight=False,
        )
