"""Follows: a user follows a creator, to hear of their new videos.

Following twice is one follow (and one `user.followed` event); unfollowing someone not
followed changes nothing. The notifier reads `follower_ids` to tell followers of a
creator's new ready public video.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cluster.db.models import Follow, User
from cluster.errors import Forbidden, InvalidInput
from cluster.events import emit
from serve.library.views import PublicUser, public_user

MAX_PAGE = 100


class Follows:
    def __init__(self, *, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def follow(self, *, follower_id: str, creator_id: str) -> bool:
        """Follow `creator_id`; True if this is a new follow."""
        if follower_id == creator_id:
            raise InvalidInput("userId", "you cannot follow yourself: pick another creator")
        with self.sessions.begin() as session:
            self._creator(session, creator_id)
            if session.get(Follow, (follower_id, creator_id)) is not None:
                return False
            session.add(Follow(follower_id=follower_id, creator_id=creator_id))
            emit(session, "user.followed", creator_id, follower_id=follower_id)
            try:
                session.flush()
            except IntegrityError:  # the same follow, committed by a concurrent request
                session.rollback()
                return False
        return True

    def unfollow(self, *, follower_id: str, creator_id: str) -> bool:
        """Stop following; True if there was a follow to end."""
        with self.sessions.begin() as session:
            gone = cast(
                CursorResult[Any],
                session.execute(
                    delete(Follow).where(
                        Follow.follower_id == follower_id, Follow.creator_id == creator_id
                    )
                ),
            ).rowcount
            if gone:
                emit(session, "user.unfollowed", creator_id, follower_id=follower_id)
        return bool(gone)

    def followers(self, *, creator_id: str, first: int = 50) -> list[PublicUser]:
        """Who follows `creator_id`, newest first."""
        query = (
            select(User)
            .join(Follow, Follow.follower_id == User.id)
            .where(Follow.creator_id == creator_id)
            .order_by(Follow.created_at.desc(), User.id)
            .limit(_page(first))
        )
        with self.sessions() as session:
            return [public_user(user) for user in session.scalars(query)]

    def following(self, *, follower_id: str, first: int = 50) -> list[PublicUser]:
        """Whom `follower_id` follows, newest first."""
        query = (
            select(User)
            .join(Follow, Follow.creator_id == User.id)
            .where(Follow.follower_id == follower_id)
            .order_by(Follow.created_at.desc(), User.id)
            .limit(_page(first))
        )
        with self.sessions() as session:
            return [public_user(user) for user in session.scalars(query)]

    def follower_ids(self, creator_id: str) -> list[str]:
        """Every follower's id (the notifier's audience for a new video)."""
        with self.sessions() as session:
            return list(
                session.scalars(select(Follow.follower_id).where(Follow.creator_id == creator_id))
            )

    def is_following(self, *, follower_id: str, creator_id: str) -> bool:
        with self.sessions() as session:
            return session.get(Follow, (follower_id, creator_id)) is not None

    @staticmethod
    def _creator(session: Session, creator_id: str) -> User:
        creator = session.get(User, creator_id)
        if creator is None:
            raise InvalidInput("userId", "no such user: check the id")
        if creator.suspended_at is not None:
            raise Forbidden("this account is suspended: it cannot be followed")
        return creator


def _page(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise InvalidInput("first", f"must be between 1 and {MAX_PAGE}")
    return first
