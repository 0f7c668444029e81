"""Per-request context handed to GraphQL resolvers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from strawberry.fastapi import BaseContext

from cluster.errors import AccountError, Unauthenticated
from cluster.health import ComponentHealth
from serve.gateway.accounts import Accounts
from serve.gateway.files import Files
from serve.users import UserView


@dataclass
class GatewayContext(BaseContext):
    health: Callable[[], Awaitable[list[ComponentHealth]]]
    accounts: Accounts
    ip: str
    # The /files/ service, for createUpload; None where a test builds a bare context.
    files: Files | None = None
    access_token: str | None = None
    # Who sent the request, checked once per request; or why the token was refused.
    viewer: UserView | None = None
    auth_error: AccountError | None = None

    def __post_init__(self) -> None:
        super().__init__()

    def require_viewer(self) -> UserView:
        """The signed-in user, or the error that says why there is none."""
        if self.auth_error is not None:
            raise self.auth_error
        if self.viewer is None:
            raise Unauthenticated(
                "sign in first: send 'Authorization: Bearer <access token>' from verifyOtp"
            )
        return self.viewer
