"""`vidray search rebuild` and `vidray search check`: the search index against the
database.

Both open the index folder in the data dir directly. Whoosh's lock lets one writer in
at a time, and the index actor holds it only while it commits, so a rebuild waits for
a commit in flight instead of racing it; events after the rebuild are applied by the
actor as usual.
"""

from __future__ import annotations

import time

import typer

from cluster.cli.console import clear_errors, console, read_settings
from cluster.cli.help import Command, Group

search_app = typer.Typer(help="The search index: rebuild it, or check it for drift.", cls=Group)

SHOWN = 10


def _writer() -> object:
    from actors.search_index import IndexWriter, index_dir
    from cluster import db

    settings = read_settings()
    engine = db.make_engine(settings.resolved_database_url)
    db.check(engine)
    return IndexWriter(path=index_dir(settings), sessions=db.session_factory(engine))


def rebuild() -> None:
    """Rebuild the index from the database (readers keep the old one until it is done)."""
    from actors.search_index import IndexWriter

    with clear_errors():
        started = time.perf_counter()
        writer = _writer()
        assert isinstance(writer, IndexWriter)
        count = writer.rebuild()
        writer.close()
    elapsed = time.perf_counter() - started
    console.print(f"indexed {count} videos in {elapsed:.1f} s")


def check() -> None:
    """Compare the index with the database; exit 1 when they disagree."""
    from actors.search_index import IndexWriter

    with clear_errors():
        writer = _writer()
        assert isinstance(writer, IndexWriter)
        drift = writer.check()
        writer.close()
    console.print(f"{drift.indexed} indexed, {drift.in_database} in the database")
    for name, ids in (("missing", drift.missing), ("extra", drift.extra), ("stale", drift.stale)):
        if ids:
            more = f" (and {len(ids) - SHOWN} more)" if len(ids) > SHOWN else ""
            console.print(f"{name}: {len(ids)}: {', '.join(ids[:SHOWN])}{more}")
    if not drift.ok:
        console.print("run `vidray search rebuild` to bring the index in line")
        raise typer.Exit(1)
    console.print("no drift")


search_app.command("rebuild", cls=Command)(rebuild)
search_app.command("check", cls=Command)(check)
