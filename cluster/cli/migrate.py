"""`vidray migrate`: create or upgrade the metadata database schema."""

from __future__ import annotations

from typing import Annotated

import typer

from cluster.cli.console import clear_errors, console, read_settings
from cluster.cli.preflight import check_data_dir


def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or upgrade the metadata database schema."""
    from cluster import db

    settings = read_settings()
    with clear_errors():
        if not settings.database_url:
            check_data_dir(settings)
        engine = db.make_engine(settings.resolved_database_url)
        before = db.current_revision_safe(engine)
        db.migrate(engine, revision)
        after = db.current_revision(engine)
    label = engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"database {label} is up to date at revision {after}")
    else:
        console.print(f"database {label} migrated from {before or 'empty'} to {after}")
