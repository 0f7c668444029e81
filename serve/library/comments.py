"""Comments: threads under a video, with timestamps; they follow the video's visibility.

A comment is edited by its author and removed by its author or the video's owner;
replies keep their place under a removed comment. Every change writes its domain
event to the outbox in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from cluster.db.models import Comment, Video, utcnow
from cluster.errors import Forbidden, InvalidInput
from cluster.events import emit
from serve.library.pagination import Page, page_size, past_cursor
from serve.library.views import CommentView, comment_view, not_found, seen, visible
from serve.text import clean_text

MAX_COMMENT_CHARS = 5000


class Comments:
    def __init__(self, *, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def page(
        self,
        *,
        video_id: str,
        viewer_id: str | None,
        first: int = 20,
        after: str | None = None,
        parent_id: str | None = None,
    ) -> Page[CommentView]:
        """Top-level comments newest first, or the replies to `parent_id` oldest first."""
        first = page_size(first)
        with self.sessions() as session:
            if not visible(session.get(Video, video_id), viewer_id):
                raise not_found("video", video_id)
            keys = [Comment.created_at, Comment.id]
            # Authors come with their comments (one more query, no hop to a loader).
            query = (select(Comment).options(selectinload(Comment.author))).where(
                Comment.video_id == video_id,
                Comment.parent_id == parent_id
                if parent_id is not None
                else Comment.parent_id.is_(None),
            )
            newest_first = parent_id is None
            query = past_cursor(query, keys, after, descending=newest_first)
            query = query.order_by(*(k.desc() if newest_first else k.asc() for k in keys))
            rows = session.scalars(query.limit(first + 1)).all()
            replies = dict(
                session.execute(
                    select(Comment.parent_id, func.count())
                    .where(
                        Comment.parent_id.in_([c.id for c in rows[:first]]),
                        Comment.deleted_at.is_(None),
                    )
                    .group_by(Comment.parent_id)
                ).all()
            )
            return Page.of(
                rows, first=first, keys=keys, view=lambda c: comment_view(c, replies.get(c.id, 0))
            )

    def add_comment(
        self,
        *,
        video_id: str,
        author_id: str,
        body: str,
        parent_id: str | None = None,
        timestamp_s: float | None = None,
    ) -> CommentView:
        text = self._body(body)
        with self.sessions.begin() as session:
            video = seen(session, video_id, author_id)
            parent_author_id = None  # whom a reply notifies
            if parent_id is not None:
                parent = session.get(Comment, parent_id)
                if parent is None or parent.video_id != video_id or parent.deleted_at:
                    raise InvalidInput("parentId", "is not a comment on this video: reply to one")
                parent_author_id = parent.author_id
            if timestamp_s is not None and (
                timestamp_s < 0 or (video.duration is not None and timestamp_s > video.duration)
            ):
                raise InvalidInput("timestampSeconds", "must fall inside the video")
            comment = Comment(
                video_id=video_id,
                author_id=author_id,
                parent_id=parent_id,
                body=text,
                timestamp_s=timestamp_s,
            )
            session.add(comment)
            session.execute(
                update(Video)
                .where(Video.id == video_id)
                .values(comment_count=Video.comment_count + 1)
            )
            session.flush()
            emit(
                session,
                "comment.added",
                video_id,
                comment_id=comment.id,
                author_id=author_id,
                owner_id=video.owner_id,
                parent_id=parent_id,
                parent_author_id=parent_author_id,
            )
            return comment_view(comment, 0)

    def edit_comment(self, *, comment_id: str, author_id: str, body: str) -> CommentView:
        text = self._body(body)
        with self.sessions.begin() as session:
            comment = self._comment(session, comment_id, author_id)
            if comment.author_id != author_id:
                raise Forbidden("only its author can edit a comment")
            comment.body, comment.edited_at = text, utcnow()
            session.flush()
            emit(session, "comment.edited", comment.video_id, comment_id=comment.id)
            return comment_view(comment, self._replies(session, comment.id))

    def delete_comment(self, *, comment_id: str, actor_id: str) -> CommentView:
        """Its author, or the video's owner, removes a comment; replies stay in place."""
        with self.sessions.begin() as session:
            comment = self._comment(session, comment_id, actor_id)
            video = session.get(Video, comment.video_id)
            assert video is not None  # comments go with their video
            if actor_id not in (comment.author_id, video.owner_id):
                raise Forbidden("only its author or the video's owner can delete a comment")
            comment.deleted_at = utcnow()
            session.execute(
                update(Video)
                .where(Video.id == video.id)
                .values(comment_count=Video.comment_count - 1)
            )
            session.flush()
            emit(session, "comment.deleted", video.id, comment_id=comment.id, by=actor_id)
            return comment_view(comment, self._replies(session, comment.id))

    def _comment(self, session: Session, comment_id: str, viewer_id: str) -> Comment:
        comment = session.get(Comment, comment_id)
        if comment is None or comment.deleted_at is not None:
            raise not_found("comment", comment_id)
        seen(session, comment.video_id, viewer_id)
        return comment

    def _replies(self, session: Session, comment_id: str) -> int:
        return (
            session.scalar(
                select(func.count()).where(
                    Comment.parent_id == comment_id, Comment.deleted_at.is_(None)
                )
            )
            or 0
        )

    @staticmethod
    def _body(body: str) -> str:
        text = clean_text("body", body, limit=MAX_COMMENT_CHARS, lines=True)
        if not text:
            raise InvalidInput("body", "cannot be empty: write something")
        return text
