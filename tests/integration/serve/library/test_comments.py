"""Comment threads on real databases: who may write, edit and remove what."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cluster.db.models import OutboxEvent
from cluster.errors import Forbidden, InvalidInput
from serve.library.comments import Comments
from serve.library.videos import Library
from tests.support.library import OTHER, OWNER, PRO, add_video, topics


def test_threaded_comments_and_who_may_edit_or_remove_them(
    library: Library, comments: Comments
) -> None:
    video = add_video(library, duration=30.0)
    first = comments.add_comment(video_id=video, author_id=OTHER, body="Nice!", timestamp_s=12.5)
    reply = comments.add_comment(video_id=video, author_id=OWNER, body="Thanks", parent_id=first.id)
    comments.add_comment(video_id=video, author_id=PRO, body="Second")
    top = comments.page(video_id=video, viewer_id=None).items
    assert [c.body for c in top] == ["Second", "Nice!"]  # newest first
    assert top[1].reply_count == 1 and top[1].timestamp_s == 12.5
    replies = comments.page(video_id=video, viewer_id=None, parent_id=first.id).items
    assert [(c.body, c.author and c.author.handle) for c in replies] == [("Thanks", "owner")]
    with pytest.raises(InvalidInput):
        comments.add_comment(video_id=video, author_id=OTHER, body="late", timestamp_s=99.0)
    with pytest.raises(InvalidInput):
        comments.add_comment(video_id=video, author_id=OTHER, body="   ")

    with pytest.raises(Forbidden):
        comments.edit_comment(comment_id=first.id, author_id=OWNER, body="changed")
    edited = comments.edit_comment(comment_id=first.id, author_id=OTHER, body="Very nice!")
    assert edited.body == "Very nice!" and edited.edited_at is not None
    with pytest.raises(Forbidden):
        comments.delete_comment(comment_id=reply.id, actor_id=PRO)
    # The video's owner removes a stranger's comment; its reply keeps its place.
    removed = comments.delete_comment(comment_id=first.id, actor_id=OWNER)
    assert removed.deleted and removed.body == "" and removed.author is None
    after = comments.page(video_id=video, viewer_id=None).items
    assert [c.deleted for c in after] == [False, True]
    assert library.video(video_id=video, viewer_id=None).comment_count == 2  # type: ignore[union-attr]
    assert topics(library, video).count("comment.added") == 3


def test_a_reply_names_its_parent_and_whom_to_tell(library: Library, comments: Comments) -> None:
    video = add_video(library)
    first = comments.add_comment(video_id=video, author_id=OTHER, body="Question?")
    reply = comments.add_comment(video_id=video, author_id=PRO, body="Answer", parent_id=first.id)
    with library.sessions() as session:
        payloads = session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.aggregate_id == video, OutboxEvent.topic == "comment.added")
            .order_by(OutboxEvent.id)
        ).all()
    assert payloads == [
        {
            "comment_id": first.id,
            "author_id": OTHER,
            "owner_id": OWNER,
            "parent_id": None,
            "parent_author_id": None,
        },
        {
            "comment_id": reply.id,
            "author_id": PRO,
            "owner_id": OWNER,
            "parent_id": first.id,
            "parent_author_id": OTHER,
        },
    ]
