"""The gateway's view of the users service, whichever form it takes.

In production the gateway holds a Ray Serve `DeploymentHandle` to the `users`
deployment; in tests and single-process use it holds a plain `Users`. `Accounts`
awaits either, so the schema never knows which.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from cluster.config import TierLimits
from cluster.db.models import Tier
from cluster.errors import VidrayError
from serve.users import AuthSession, UserView


class Accounts:
    def __init__(self, target: Any) -> None:  # Any: a Users or a DeploymentHandle
        self.target = target

    async def _call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        bound = getattr(self.target, method)
        remote = getattr(bound, "remote", None)
        try:
            if remote is not None:
                return await remote(*args, **kwargs)
            # Users blocks on the database, bcrypt and SMTP: keep it off the event loop.
            return await run_in_threadpool(bound, *args, **kwargs)
        except Exception as exc:
            # Ray wraps a deployment's exception in RayTaskError; hand on the real one.
            cause = getattr(exc, "cause", None)
            if isinstance(cause, VidrayError):
                raise cause from None
            raise

    async def request_otp(self, *, email: str | None, phone: str | None, ip: str) -> None:
        await self._call("request_otp", email=email, phone=phone, ip=ip)

    async def verify_otp(
        self, *, code: str, email: str | None, phone: str | None, ip: str
    ) -> AuthSession:
        result: AuthSession = await self._call(
            "verify_otp", code=code, email=email, phone=phone, ip=ip
        )
        return result

    async def login(self, *, identifier: str, password: str, ip: str) -> AuthSession:
        result: AuthSession = await self._call(
            "login", identifier=identifier, password=password, ip=ip
        )
        return result

    async def set_password(
        self, *, user_id: str, password: str, current_password: str | None, ip: str
    ) -> None:
        await self._call(
            "set_password",
            user_id=user_id,
            password=password,
            current_password=current_password,
            ip=ip,
        )

    async def authenticate(self, access_token: str) -> UserView:
        result: UserView = await self._call("authenticate", access_token)
        return result

    async def refresh(self, refresh_token: str) -> AuthSession:
        result: AuthSession = await self._call("refresh", refresh_token)
        return result

    async def logout(self, access_token: str, *, everywhere: bool) -> None:
        await self._call("logout", access_token, everywhere=everywhere)

    async def update_profile(
        self,
        *,
        user_id: str,
        display_name: str | None,
        handle: str | None,
        bio: str | None,
        avatar: bytes | None,
    ) -> UserView:
        result: UserView = await self._call(
            "update_profile",
            user_id=user_id,
            display_name=display_name,
            handle=handle,
            bio=bio,
            avatar=avatar,
        )
        return result

    async def tiers(self) -> dict[str, TierLimits]:
        result: dict[str, TierLimits] = await self._call("tiers")
        return result

    async def set_tier(self, *, actor_id: str, user_id: str, tier: Tier) -> UserView:
        result: UserView = await self._call(
            "set_tier", actor_id=actor_id, user_id=user_id, tier=tier
        )
        return result

    async def suspend(self, *, actor_id: str, user_id: str, suspended: bool) -> UserView:
        result: UserView = await self._call(
            "suspend", actor_id=actor_id, user_id=user_id, suspended=suspended
        )
        return result
