"""A user's in-app notifications and notification preferences, and unsubscribing
from a signed link (no session: the link is the credential)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from cluster.config import Settings
from cluster.db.models import Notification, User
from cluster.errors import InvalidInput
from cluster.notifications.kinds import KINDS, Preference, opt_out, preferences, set_preference
from cluster.notifications.unsubscribe import BadToken, read_token
from cluster.security import Clock

MAX_PAGE = 100


@dataclass(frozen=True)
class NotificationView:
    id: int
    kind: str
    title: str
    body: str
    link: str
    created_at: datetime
    read: bool


@dataclass(frozen=True)
class InboxPage:
    items: tuple[NotificationView, ...]
    cursors: tuple[str, ...]
    has_next: bool
    unread: int


def _view(row: Notification) -> NotificationView:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return NotificationView(
        id=row.id,
        kind=row.kind,
        title=row.title,
        body=row.body,
        link=row.link,
        created_at=created,
        read=row.read_at is not None,
    )


def _cursor(notification_id: int) -> str:
    return base64.urlsafe_b64encode(f"n:{notification_id}".encode()).decode()


def _after(cursor: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "n":
            raise ValueError(kind)
        return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(
            "after", "is not a cursor from this list: pass a `cursor` back as is"
        ) from None


class Inbox:
    def __init__(
        self, *, settings: Settings, sessions: sessionmaker[Session], clock: Clock
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock

    def page(
        self, *, user_id: str, first: int = 20, after: str | None = None, unread_only: bool = False
    ) -> InboxPage:
        """Newest first."""
        if not 1 <= first <= MAX_PAGE:
            raise InvalidInput("first", f"ask for 1 to {MAX_PAGE} notifications at a time")
        query = select(Notification).where(Notification.user_id == user_id)
        if unread_only:
            query = query.where(Notification.read_at.is_(None))
        if after is not None:
            query = query.where(Notification.id < _after(after))
        with self.sessions() as session:
            rows = list(session.scalars(query.order_by(Notification.id.desc()).limit(first + 1)))
            unread = session.scalar(
                select(func.count()).where(
                    Notification.user_id == user_id, Notification.read_at.is_(None)
                )
            )
        shown = rows[:first]
        return InboxPage(
            items=tuple(_view(r) for r in shown),
            cursors=tuple(_cursor(r.id) for r in shown),
            has_next=len(rows) > first,
            unread=int(unread or 0),
        )

    def newer_than(self, *, user_id: str, after_id: int) -> list[NotificationView]:
        """What arrived after `after_id`, oldest first (the `notificationAdded` feed)."""
        with self.sessions() as session:
            rows = session.scalars(
                select(Notification)
                .where(Notification.user_id == user_id, Notification.id > after_id)
                .order_by(Notification.id)
                .limit(MAX_PAGE)
            )
            return [_view(r) for r in rows]

    def latest_id(self, *, user_id: str) -> int:
        with self.sessions() as session:
            found = session.scalar(
                select(func.max(Notification.id)).where(Notification.user_id == user_id)
            )
            return int(found or 0)

    def mark_read(self, *, user_id: str, ids: list[int] | None = None) -> int:
        """Mark some (or, with `ids` None, all) of the user's notifications read."""
        query = update(Notification).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)
        )
        if ids is not None:
            query = query.where(Notification.id.in_(ids))
        with self.sessions.begin() as session:
            result = session.execute(
                query.values(read_at=datetime.fromtimestamp(self.clock(), UTC))
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def preferences(self, *, user_id: str) -> list[Preference]:
        with self.sessions() as session:
            return preferences(session, user_id)

    def set_preferences(self, *, user_id: str, changes: list[Preference]) -> list[Preference]:
        for change in changes:
            if change.kind not in KINDS:
                raise InvalidInput(
                    "kind", f"{change.kind!r} is no notification type; one of {sorted(KINDS)}"
                )
        with self.sessions.begin() as session:
            for change in changes:
                set_preference(session, user_id=user_id, preference=change)
        return self.preferences(user_id=user_id)

    def check_unsubscribe(self, token: str) -> str:
        """The type of email `token` unsubscribes from (for the confirm page)."""
        try:
            found = read_token(self.settings, token)
        except BadToken as exc:
            raise InvalidInput("token", str(exc)) from None
        if found.kind not in KINDS:
            raise InvalidInput("token", "this unsubscribe link names no notification type")
        return found.kind

    def unsubscribe(self, token: str) -> str:
        """Turn off email of the token's type for the token's user; the type."""
        kind = self.check_unsubscribe(token)
        found = read_token(self.settings, token)
        with self.sessions.begin() as session:
            if session.get(User, found.user_id) is not None:
                opt_out(session, user_id=found.user_id, kind=kind)
        return kind
