"""Notification types and per-user preferences: a matrix of type x channel.

Like PeerTube's notification settings: each type has a default for each channel
(in-app, email, SMS), and a user's own choice, where made, is one row of
`notification_preferences`. `newsletter` is the marketing opt-in: off until the user
turns it on, and turned off by a campaign's unsubscribe link. Every other type is
transactional: a user's newsletter choice never touches it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cluster.db.models import NotificationPreference

Channel = Literal["in_app", "email", "sms"]
CHANNELS: tuple[Channel, ...] = ("in_app", "email", "sms")


@dataclass(frozen=True)
class Kind:
    name: str
    description: str
    in_app: bool
    email: bool
    sms: bool = False
    marketing: bool = False


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("video_ready", "one of my videos finished processing and can be watched", True, True),
        Kind("video_failed", "one of my videos could not be processed", True, True),
        Kind("upload_failed", "an upload of mine was refused or expired", True, True),
        Kind("new_video", "a creator I follow published a new video", True, False),
        Kind("comment_on_my_video", "someone commented on one of my videos", True, False),
        Kind("reply_to_my_comment", "someone replied to one of my comments", True, False),
        Kind("new_follower", "someone followed me", True, False),
        Kind("webhook_disabled", "one of my webhook endpoints was disabled", True, True),
        Kind("newsletter", "news and announcements from this instance", False, False, False, True),
    )
}


@dataclass(frozen=True)
class Preference:
    """One row of the matrix: which channels a user gets one type of notification on."""

    kind: str
    in_app: bool
    email: bool
    sms: bool

    def allows(self, channel: Channel) -> bool:
        return bool(getattr(self, channel))


def default(kind: str) -> Preference:
    spec = KINDS[kind]
    return Preference(kind=kind, in_app=spec.in_app, email=spec.email, sms=spec.sms)


def preferences(session: Session, user_id: str) -> list[Preference]:
    """Every type, with the user's choice where made and the default elsewhere."""
    rows = session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user_id)
    )
    chosen = {
        row.kind: Preference(kind=row.kind, in_app=row.in_app, email=row.email, sms=row.sms)
        for row in rows
    }
    return [chosen.get(name, default(name)) for name in KINDS]


def preferences_of(session: Session, user_ids: Iterable[str], kind: str) -> dict[str, Preference]:
    """One type's preference for many users (a creator's followers) in one query."""
    ids = list(dict.fromkeys(user_ids))
    found: dict[str, Preference] = {uid: default(kind) for uid in ids}
    for start in range(0, len(ids), 500):  # keep IN lists small on both databases
        rows = session.scalars(
            select(NotificationPreference).where(
                NotificationPreference.kind == kind,
                NotificationPreference.user_id.in_(ids[start : start + 500]),
            )
        )
        for row in rows:
            found[row.user_id] = Preference(kind, row.in_app, row.email, row.sms)
    return found


def set_preference(session: Session, *, user_id: str, preference: Preference) -> Preference:
    """Store one user's choice for one type (the caller commits)."""
    row = session.get(NotificationPreference, (user_id, preference.kind))
    if row is None:
        row = NotificationPreference(user_id=user_id, kind=preference.kind)
        session.add(row)
    row.in_app, row.email, row.sms = preference.in_app, preference.email, preference.sms
    return preference


def opt_out(session: Session, *, user_id: str, kind: str) -> None:
    """Stop email of one type (what an unsubscribe link does); other channels stay."""
    current = {p.kind: p for p in preferences(session, user_id)}[kind]
    set_preference(session, user_id=user_id, preference=replace(current, email=False))
