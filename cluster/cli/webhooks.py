"""`vidray webhooks deliveries`: the webhook delivery log, for an operator."""

from __future__ import annotations

from typing import Annotated

import typer

from cluster.cli.console import clear_errors, console, read_settings


def deliveries(
    webhook: Annotated[str | None, typer.Option(help="Only this webhook's.")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only pending, delivered or failed ones.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many, newest first.")] = 20,
) -> None:
    """The newest webhook deliveries of every owner, with their last attempt."""
    from rich.table import Table

    from cluster import db
    from serve.platform import Platform

    if status is not None and status not in {"pending", "delivered", "failed"}:
        raise typer.BadParameter("choose pending, delivered or failed", param_hint="--status")
    settings = read_settings()
    with clear_errors():
        platform = Platform(settings)
        try:
            db.check(platform.engine)
            rows = platform.webhooks.deliveries(
                owner_id=None, webhook_id=webhook, status=status, first=limit
            )
        finally:
            platform.close()
    table = Table(title="webhook deliveries, newest first")
    for column in ("webhook-id", "webhook", "event", "status", "attempts", "last", "next"):
        table.add_column(column)
    for row in rows:
        last = row.log[-1] if row.log else None
        outcome = "-" if last is None else (last.error or str(last.status_code))
        next_at = row.next_attempt_at.isoformat(timespec="seconds") if row.next_attempt_at else "-"
        table.add_row(
            row.id,
            row.webhook_id,
            f"{row.event_type} #{row.event_id}",
            row.status,
            str(row.attempts),
            outcome,
            next_at if row.status == "pending" else "-",
        )
    console.print(table)
