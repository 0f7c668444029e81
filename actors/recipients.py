"""Who is told about each event, as what type of notification, with what details.

One function per topic, looked up in `RULES`; a topic without one tells nobody. Each
returns `Target`s, at most one per user (the first wins: a reply on my own video is a
reply, not also a comment on my video); the actor that caused the event is never told
about it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from cluster.db.models import Comment, Upload, UploadStatus, User, Video, Visibility
from cluster.events import Event

EXCERPT_CHARS = 140


@dataclass(frozen=True)
class Target:
    user_id: str
    kind: str
    context: dict[str, Any] = field(default_factory=dict)


def followers_of(session: Session, creator_id: str) -> list[str]:
    """The ids of the users who follow `creator_id`.

    The follows table belongs to the accounts service (`follows(follower_id,
    creator_id)`); read with plain SQL so this module does not wait on its model, and
    an instance migrated before follows existed simply has no followers.
    """
    if not inspect(session.get_bind()).has_table("follows"):
        return []
    rows = session.execute(
        text("SELECT follower_id FROM follows WHERE creator_id = :creator ORDER BY follower_id"),
        {"creator": creator_id},
    )
    return [row[0] for row in rows]


def _name(user: User | None) -> str:
    if user is None:
        return "someone"
    return user.display_name or f"@{user.handle}"


def _excerpt(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


def _video_context(video: Video | None, event: Event) -> dict[str, Any]:
    return {
        "video_id": video.id if video is not None else event.aggregate_id,
        "title": video.title if video is not None else event.data.get("title", "your video"),
    }


def video_ready(session: Session, event: Event) -> list[Target]:
    video = session.get(Video, event.aggregate_id)
    owner_id = event.data.get("owner_id") or (video.owner_id if video else None)
    if owner_id is None:
        return []
    context = _video_context(video, event)
    targets = [Target(owner_id, "video_ready", context)]
    if video is not None and video.visibility == Visibility.PUBLIC:
        actor = _name(session.get(User, owner_id))
        targets += [
            Target(follower, "new_video", {**context, "actor": actor})
            for follower in followers_of(session, owner_id)
            if follower != owner_id
        ]
    return targets


def _refused_upload(session: Session, video_id: str) -> bool:
    """Whether the video's upload was refused (not a video, over quota): the jobs actor
    commits `upload.failed` for it before `video.failed`, and the owner is told once,
    by `upload_failed`, not also that the same file "could not be processed"."""
    failed = select(Upload.id).where(
        Upload.video_id == video_id, Upload.status == UploadStatus.FAILED
    )
    return session.scalar(failed.limit(1)) is not None


def video_failed(session: Session, event: Event) -> list[Target]:
    video = session.get(Video, event.aggregate_id)
    owner_id = event.data.get("owner_id") or (video.owner_id if video else None)
    if owner_id is None or _refused_upload(session, event.aggregate_id):
        return []
    # `detail` says what went wrong in words; `reason` is a code (the jobs actor's).
    reason = (
        event.data.get("detail")
        or (video.failure_reason if video else None)
        or event.data.get("reason")
        or ""
    )
    return [Target(owner_id, "video_failed", {**_video_context(video, event), "reason": reason})]


def upload_failed(session: Session, event: Event) -> list[Target]:
    owner_id = event.data.get("owner_id")
    if owner_id is None:
        return []
    reasons = {
        "not_a_video": "The file is not a video or audio file vidray can read.",
        "over_quota": "It would take you over your storage quota.",
        "expired": "It was left unfinished too long and was removed.",
    }
    reason = event.data.get("reason", "")
    detail = event.data.get("detail") or ""
    video = session.get(Video, event.data["video_id"]) if event.data.get("video_id") else None
    upload = session.get(Upload, event.aggregate_id)
    title = (
        (video.title if video is not None else None)
        or (upload.meta.get("filename") if upload is not None else None)
        or "your file"
    )
    return [
        Target(
            owner_id,
            "upload_failed",
            {
                "title": title,
                "video_id": video.id if video is not None else "",
                "reason": " ".join(filter(None, [reasons.get(reason, reason), detail])),
            },
        )
    ]


def comment_added(session: Session, event: Event) -> list[Target]:
    comment = session.get(Comment, event.data.get("comment_id") or event.aggregate_id)
    if comment is None or comment.deleted_at is not None:
        return []
    video = session.get(Video, comment.video_id)
    context = {
        **_video_context(video, event),
        "actor": _name(session.get(User, comment.author_id)),
        "excerpt": _excerpt(comment.body),
    }
    targets: list[Target] = []
    if comment.parent_id is not None:
        parent = session.get(Comment, comment.parent_id)
        if parent is not None:
            targets.append(Target(parent.author_id, "reply_to_my_comment", context))
    if video is not None:
        targets.append(Target(video.owner_id, "comment_on_my_video", context))
    return [t for t in targets if t.user_id != comment.author_id]


def user_followed(session: Session, event: Event) -> list[Target]:
    follower_id = event.data.get("follower_id")
    if follower_id is None or follower_id == event.aggregate_id:
        return []
    actor = _name(session.get(User, follower_id))
    return [Target(event.aggregate_id, "new_follower", {"actor": actor})]


def webhook_disabled(session: Session, event: Event) -> list[Target]:
    owner_id = event.data.get("owner_id")
    if owner_id is None:
        return []
    reasons = {"gone": "It answered 410 Gone.", "failing": "Every delivery to it failed."}
    reason = event.data.get("detail") or reasons.get(event.data.get("reason", ""), "")
    context = {"url": event.data.get("url", ""), "reason": reason}
    return [Target(owner_id, "webhook_disabled", context)]


RULES: dict[str, Callable[[Session, Event], list[Target]]] = {
    "video.ready": video_ready,
    "video.failed": video_failed,
    "upload.failed": upload_failed,
    "comment.added": comment_added,
    "user.followed": user_followed,
    "webhook.disabled": webhook_disabled,
}


def targets_for(session: Session, event: Event) -> list[Target]:
    """Everyone to tell about `event`, once each."""
    rule = RULES.get(event.type)
    if rule is None:
        return []
    seen: set[str] = set()
    unique: list[Target] = []
    for target in rule(session, event):
        if target.user_id not in seen:
            seen.add(target.user_id)
            unique.append(target)
    return unique
