"""`vidray admin`: the one way to make the first admin."""

from __future__ import annotations

from typing import Annotated

import typer

from cluster.cli.console import clear_errors, console, read_settings


def admin(
    account: Annotated[
        str, typer.Argument(help="The account's email address or phone number (E.164).")
    ],
    revoke: Annotated[bool, typer.Option("--revoke", help="Take the admin role away.")] = False,
) -> None:
    """Give an account the admin role (setUserTier, suspendUser), or take it away.

    The first admin can only be made here: the API lets admins make no one else one.
    """
    from sqlalchemy import select

    from cluster import db
    from cluster.db.models import Role, User
    from cluster.errors import InvalidInput
    from serve.users import parse_contact

    settings = read_settings()
    with clear_errors():
        kind = "email" if "@" in account else "phone"
        contact = parse_contact(**{kind: account})
        engine = db.make_engine(settings.resolved_database_url)
        db.check(engine)
        column = User.email if contact.kind == "email" else User.phone
        with db.session_factory(engine)() as session:
            user = session.scalar(select(User).where(column == contact.value))
            if user is None:
                raise InvalidInput(
                    kind, f"no account uses {contact.value}: sign in once with a code first"
                )
            user.role = Role.USER if revoke else Role.ADMIN
            session.commit()
            handle = user.handle
        engine.dispose()
    role = "an ordinary user" if revoke else "an admin"
    console.print(f"{contact.value} (@{handle}) is now {role}")
