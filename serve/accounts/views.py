"""What the rest of vidray sees of an account: plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cluster.db.models import Role, Tier
from cluster.tiers import TierLimits


@dataclass(frozen=True, slots=True)
class UserView:
    """What the rest of vidray sees of an account (plain data: it crosses Ray)."""

    id: str
    handle: str
    display_name: str
    bio: str
    email: str | None
    phone: str | None
    avatar_key: str | None
    tier: Tier
    role: Role
    suspended: bool
    created_at: datetime
    limits: TierLimits


@dataclass(frozen=True, slots=True)
class AuthSession:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token lives
    user: UserView
