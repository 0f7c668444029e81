"""Per-request context handed to GraphQL resolvers, with fresh DataLoaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from actors.jobs_client import JobsClient
from cluster.errors import AccountError, Unauthenticated
from cluster.health import ComponentHealth
from serve.accounts.follows import Follows
from serve.accounts.service import Accounts
from serve.accounts.views import UserView
from serve.analytics.queries import Analytics
from serve.analytics.usage import Usage
from serve.library.captions import Captions
from serve.library.comments import Comments
from serve.library.videos import Library
from serve.library.views import PublicUser
from serve.notifications.campaigns import Campaigns
from serve.notifications.inbox import Inbox
from serve.notifications.webhooks.registry import Webhooks
from serve.search.service import Search
from serve.search.trending import Trending
from serve.stream.service import Stream
from serve.uploads.routes import Files


class Loaders:
    """One request's batches: every `load` in one tick of the event loop becomes a
    single call to the library. Fresh per request, so nothing is cached between
    viewers."""

    def __init__(self, library: Library, viewer_id: Callable[[], str | None]) -> None:
        async def users(ids: list[str]) -> list[PublicUser | None]:
            return await run_in_threadpool(library.users_by_id, ids)

        async def liked(ids: list[str]) -> list[bool]:
            viewer = viewer_id()
            if viewer is None:
                return [False] * len(ids)
            return await run_in_threadpool(library.liked, ids, viewer_id=viewer)

        self.users: DataLoader[str, PublicUser | None] = DataLoader(load_fn=users)
        self.liked: DataLoader[str, bool] = DataLoader(load_fn=liked)


@dataclass
class GatewayContext(BaseContext):
    """The services of this process (`serve.platform.Platform`), called in-process;
    their methods block, so resolvers run them with `run_in_threadpool`."""

    health: Callable[[], Awaitable[list[ComponentHealth]]]
    accounts: Accounts
    library: Library
    comments: Comments
    stream: Stream
    files: Files
    follows: Follows
    webhooks: Webhooks
    ip: str
    # The job actor's client, for transcodeProgress; None where no Ray cluster runs.
    jobs: JobsClient | None = None
    inbox: Inbox | None = None
    campaigns: Campaigns | None = None
    analytics: Analytics | None = None
    usage: Usage | None = None
    # Search and trending (#16); None in contexts built without them.
    search: Search | None = None
    trending: Trending | None = None
    captions: Captions | None = None
    access_token: str | None = None
    # Who sent the request, checked once per request; or why the token was refused.
    viewer: UserView | None = None
    auth_error: AccountError | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        super().__init__()
        self.loaders = Loaders(self.library, lambda: self.viewer_id)

    @property
    def viewer_id(self) -> str | None:
        """The signed-in user's id, or None for an anonymous (or refused) request."""
        return self.viewer.id if self.viewer is not None else None

    def refuse_bad_token(self) -> None:
        """Anonymous requests may read public things; a bad token is still an error."""
        if self.auth_error is not None:
            raise self.auth_error

    def require_viewer(self) -> UserView:
        """The signed-in user, or the error that says why there is none."""
        if self.auth_error is not None:
            raise self.auth_error
        if self.viewer is None:
            raise Unauthenticated(
                "sign in first: send 'Authorization: Bearer <access token>' from verifyOtp"
            )
        return self.viewer

    async def authenticate(self, header: str | None) -> None:
        """Check an `Authorization` value (from the HTTP request, or from a websocket's
        `connection_init` payload) and remember who it names, or why it was refused."""
        if header is None:
            return
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.auth_error = Unauthenticated(
                "the Authorization header must read 'Bearer <access token>'"
            )
            return
        self.access_token = token.strip()
        # Checked on every request, so a suspension or logout takes effect at once.
        try:
            self.viewer = await run_in_threadpool(self.accounts.authenticate, self.access_token)
        except AccountError as exc:
            self.auth_error = exc
