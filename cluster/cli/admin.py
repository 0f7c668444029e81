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
    from cluster import db
    from serve.platform import Platform

    settings = read_settings()
    with clear_errors():
        platform = Platform(settings)
        try:
            db.check(platform.engine)  # a clear error for a database that is down or new
            user = platform.accounts.grant_admin(account, revoke=revoke)
        finally:
            platform.close()
    role = "an ordinary user" if revoke else "an admin"
    console.print(f"{user.email or user.phone} (@{user.handle}) is now {role}")
