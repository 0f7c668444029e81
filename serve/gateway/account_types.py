"""GraphQL object types of accounts and sessions."""

from __future__ import annotations

from datetime import datetime

import strawberry

from cluster.db.models import Role as RoleEnum
from cluster.db.models import Tier as TierEnum
from cluster.tiers import TierLimits as TierLimitsModel
from serve.accounts.views import AuthSession, UserView

Tier = strawberry.enum(TierEnum, name="Tier")
Role = strawberry.enum(RoleEnum, name="Role")


@strawberry.type
class TierLimits:
    # Byte counts are Floats: GraphQL's Int stops at 2^31, and 2 GiB is past it.
    max_upload_bytes: float
    max_output_height: int
    storage_quota_bytes: float
    upload_minutes_per_month: int
    private_videos: bool

    @classmethod
    def of(cls, limits: TierLimitsModel) -> TierLimits:
        return cls(
            max_upload_bytes=float(limits.max_upload_bytes),
            max_output_height=limits.max_output_height,
            storage_quota_bytes=float(limits.storage_quota_bytes),
            upload_minutes_per_month=limits.upload_minutes_per_month,
            private_videos=limits.private_videos,
        )


@strawberry.type
class TierInfo:
    name: Tier  # type: ignore[valid-type]
    limits: TierLimits


@strawberry.type
class User:
    id: strawberry.ID
    handle: str
    display_name: str
    bio: str
    email: str | None
    phone: str | None
    avatar_key: str | None
    tier: Tier  # type: ignore[valid-type]
    role: Role  # type: ignore[valid-type]
    suspended: bool
    created_at: datetime
    limits: TierLimits

    @classmethod
    def of(cls, view: UserView) -> User:
        return cls(
            id=strawberry.ID(view.id),
            handle=view.handle,
            display_name=view.display_name,
            bio=view.bio,
            email=view.email,
            phone=view.phone,
            avatar_key=view.avatar_key,
            tier=view.tier,
            role=view.role,
            suspended=view.suspended,
            created_at=view.created_at,
            limits=TierLimits.of(view.limits),
        )


@strawberry.type
class AuthPayload:
    access_token: str
    refresh_token: str
    expires_in: int = strawberry.field(description="Seconds until the access token expires.")
    user: User

    @classmethod
    def of(cls, session: AuthSession) -> AuthPayload:
        return cls(
            access_token=session.access_token,
            refresh_token=session.refresh_token,
            expires_in=session.expires_in,
            user=User.of(session.user),
        )


@strawberry.input
class ProfileInput:
    display_name: str | None = None
    handle: str | None = None
    bio: str | None = None
    avatar_base64: str | None = strawberry.field(
        default=None, description="A JPEG, PNG, WebP or GIF image, base64-encoded (5 MiB max)."
    )
