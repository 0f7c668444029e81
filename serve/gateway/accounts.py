"""The gateway's view of the services (users, videos), whichever form they take.

In production the gateway holds a Ray Serve `DeploymentHandle` to the `users`
deployment; in tests and single-process use it holds a plain `Users`. `Service`
awaits either, so the schema never knows which.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from cluster.config import TierLimits
from cluster.db.models import Tier
from cluster.errors import VidrayError
from serve.users import AuthSession, UserView


class Service:
    """A plain service object or a deployment handle to it, awaited alike: a handle's
    method is called with `.remote()`, a plain method in a worker thread (the services
    block on the database and the store), and a deployment's error is re-raised as the
    vidray error it carries."""

    def __init__(self, target: Any) -> None:  # Any: a service or a DeploymentHandle
        self.target = target

    async def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        bound = getattr(self.target, method)
        remote = getattr(bound, "remote", None)
        try:
            if remote is not None:
                return await remote(*args, **kwargs)
            return await run_in_threadpool(bound, *args, **kwargs)
        except Exception as exc:
            # Ray wraps a deployment's exception in RayTaskError; hand on the real one.
            cause = getattr(exc, "cause", None)
            if isinstance(cause, VidrayError):
                raise cause from None
            raise


class Accounts(Service):
    """The users service. `verifier`, a `Users` in this process, checks access tokens:
    a signature, one row and two KV reads, which every signed-in request and every tus
    PATCH needs, and which would otherwise cost a hop to the deployment each time."""

    def __init__(self, target: Any, *, verifier: Any = None) -> None:
        super().__init__(target)
        self.local = verifier if verifier is not None else target
        self.verifier = Service(self.local)

    def authenticate_here(self, access_token: str) -> UserView:
        """`authenticate`, blocking, in the caller's thread: for a worker thread that
        has more to do in the same hop (a tus PATCH opens its upload there)."""
        result: UserView = self.local.authenticate(access_token)
        return result

    async def request_otp(self, *, email: str | None, phone: str | None, ip: str) -> None:
        await self.call("request_otp", email=email, phone=phone, ip=ip)

    async def verify_otp(
        self, *, code: str, email: str | None, phone: str | None, ip: str
    ) -> AuthSession:
        result: AuthSession = await self.call(
            "verify_otp", code=code, email=email, phone=phone, ip=ip
        )
        return result

    async def login(self, *, identifier: str, password: str, ip: str) -> AuthSession:
        result: AuthSession = await self.call(
            "login", identifier=identifier, password=password, ip=ip
        )
        return result

    async def set_password(
        self, *, user_id: str, password: str, current_password: str | None, ip: str
    ) -> None:
        await self.call(
            "set_password",
            user_id=user_id,
            password=password,
            current_password=current_password,
            ip=ip,
        )

    async def authenticate(self, access_token: str) -> UserView:
        result: UserView = await self.verifier.call("authenticate", access_token)
        return result

    async def refresh(self, refresh_token: str) -> AuthSession:
        result: AuthSession = await self.call("refresh", refresh_token)
        return result

    async def logout(self, access_token: str, *, everywhere: bool) -> None:
        await self.call("logout", access_token, everywhere=everywhere)

    async def update_profile(
        self,
        *,
        user_id: str,
        display_name: str | None,
        handle: str | None,
        bio: str | None,
        avatar: bytes | None,
    ) -> UserView:
        result: UserView = await self.call(
            "update_profile",
            user_id=user_id,
            display_name=display_name,
            handle=handle,
            bio=bio,
            avatar=avatar,
        )
        return result

    async def tiers(self) -> dict[str, TierLimits]:
        result: dict[str, TierLimits] = await self.call("tiers")
        return result

    async def set_tier(self, *, actor_id: str, user_id: str, tier: Tier) -> UserView:
        result: UserView = await self.call(
            "set_tier", actor_id=actor_id, user_id=user_id, tier=tier
        )
        return result

    async def suspend(self, *, actor_id: str, user_id: str, suspended: bool) -> UserView:
        result: UserView = await self.call(
            "suspend", actor_id=actor_id, user_id=user_id, suspended=suspended
        )
        return result
