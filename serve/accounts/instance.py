"""Who owns this instance: the first account to sign up, made its admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Insert, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cluster.db.models import InstanceOwner, Role, User, utcnow

# The conditional insert of each database: of concurrent inserts of the one row, the
# first to commit wins and the others insert nothing (no error, no retry).
_INSERT_IF_ABSENT: dict[str, Callable[[dict[str, Any]], Insert]] = {
    "postgresql": lambda row: postgresql.insert(InstanceOwner).values(row).on_conflict_do_nothing(),
    "sqlite": lambda row: sqlite.insert(InstanceOwner).values(row).on_conflict_do_nothing(),
}


def claim_instance(session: Session, user_id: str) -> bool:
    """Make `user_id`, just inserted in `session`'s transaction, the instance's owner if
    no one is: on a self-hosted platform the first account runs the place (as on
    PeerTube), so it must not start as a `free` stranger to its own server.

    Decided inside the sign-up's transaction: no admin may exist yet, and the single
    `instance_owner` row must still be free. The row's primary key is what makes two
    first sign-ups racing produce one admin: PostgreSQL makes the second insert wait for
    the first transaction and then skip; SQLite lets one writer in at a time.
    """
    if session.scalar(select(exists().where(User.role == Role.ADMIN))):
        return False  # an operator already made one with `vidray admin`
    insert = _INSERT_IF_ABSENT[session.get_bind().dialect.name]
    row = {"id": 1, "user_id": user_id, "created_at": utcnow()}
    # RETURNING, not rowcount: drivers may report -1 rows for a skipped insert.
    claimed = session.scalar(insert(row).returning(InstanceOwner.user_id))
    return claimed == user_id
