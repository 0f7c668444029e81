"""SQLAlchemy 2 models of vidray's metadata.

Ids are short random strings (`new_id()`), safe in URLs and object keys and
unguessable, so a video id alone never enumerates the library.
"""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

_ID_ALPHABET = "0123456789abcdefghijkmnpqrstuvwxyz"  # no 'l' or 'o': ids get read aloud


def new_id() -> str:
    """A 16-character random id (~81 bits)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings: adding a member needs no ALTER TYPE on PostgreSQL.
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class Tier(enum.StrEnum):
    FREE = "free"
    PRO = "pro"
    BUSINESS = "business"


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    UNLISTED = "unlisted"
    PRIVATE = "private"


class VideoStatus(enum.StrEnum):
    UPLOADING = "uploading"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class UploadStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETE = "complete"
    FAILED = "failed"
    EXPIRED = "expired"


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email IS NOT NULL OR phone IS NOT NULL", name="has_contact"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True, default=new_id)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)
    handle: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(80), default="")
    bio: Mapped[str] = mapped_column(Text, default="")
    avatar_key: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(100))
    tier: Mapped[Tier] = mapped_column(_enum(Tier), default=Tier.FREE)
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.USER)
    suspended_at: Mapped[datetime | None]

    videos: Mapped[list[Video]] = relationship(back_populates="owner")


class Video(Timestamps, Base):
    __tablename__ = "videos"
    __table_args__ = (Index("ix_videos_owner_created", "owner_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    category: Mapped[str | None] = mapped_column(String(40))
    visibility: Mapped[Visibility] = mapped_column(_enum(Visibility), default=Visibility.PUBLIC)
    status: Mapped[VideoStatus] = mapped_column(
        _enum(VideoStatus), default=VideoStatus.UPLOADING, index=True
    )
    failure_reason: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    source_key: Mapped[str | None] = mapped_column(String(255))
    poster_key: Mapped[str | None] = mapped_column(String(255))
    storyboard_key: Mapped[str | None] = mapped_column(String(255))
    chapters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    comment_count: Mapped[int] = mapped_column(Integer, default=0)
    view_count: Mapped[int] = mapped_column(BigInteger, default=0)

    owner: Mapped[User] = relationship(back_populates="videos")
    tag_rows: Mapped[list[VideoTag]] = relationship(cascade="all, delete-orphan")
    renditions: Mapped[list[Rendition]] = relationship(
        back_populates="video", cascade="all, delete-orphan", order_by="Rendition.height.desc()"
    )


class VideoTag(Base):
    """The index behind `videos(filter: {tag})`; `Video.tags` keeps the author's order."""

    __tablename__ = "video_tags"

    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class Rendition(Base):
    __tablename__ = "renditions"
    __table_args__ = (UniqueConstraint("video_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bandwidth: Mapped[int] = mapped_column(Integer)
    average_bandwidth: Mapped[int] = mapped_column(Integer)
    codecs: Mapped[str] = mapped_column(String(64))
    playlist_key: Mapped[str] = mapped_column(String(255))

    video: Mapped[Video] = relationship(back_populates="renditions")


class Upload(Timestamps, Base):
    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    video_id: Mapped[str | None] = mapped_column(ForeignKey("videos.id", ondelete="SET NULL"))
    length: Mapped[int | None] = mapped_column(BigInteger)  # None: deferred length
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[UploadStatus] = mapped_column(_enum(UploadStatus), default=UploadStatus.ACTIVE)
    is_partial: Mapped[bool] = mapped_column(default=False)
    parts: Mapped[list[str]] = mapped_column(JSON, default=list)  # concatenation: partial ids
    storage_key: Mapped[str] = mapped_column(String(255))
    multipart_id: Mapped[str | None] = mapped_column(String(255))  # S3 multipart upload
    failure_reason: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(index=True)


class Job(Timestamps, Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_created", "state", "created_at"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True, default=new_id)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32), default="transcode")
    state: Mapped[JobState] = mapped_column(_enum(JobState), default=JobState.QUEUED)
    stage: Mapped[str] = mapped_column(String(32), default="queued")
    percent: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)  # e.g. "GPU fell back to CPU"
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Comment(Timestamps, Base):
    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_video_created", "video_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True, default=new_id)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(Text)
    timestamp_s: Mapped[float | None] = mapped_column(Float)  # a moment in the video
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]

    author: Mapped[User] = relationship()


class Like(Base):
    __tablename__ = "likes"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEvent(Base):
    """A domain event written in the same transaction as the change it describes."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "dispatched_at", "id"),
        Index("ix_outbox_seq", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(64))  # video.created, transcode.done, ...
    aggregate_id: Mapped[str] = mapped_column(String(32), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None]
    # Commit order, gap-free, given by the dispatcher alone (#14, actors/dispatcher.py).
    seq: Mapped[int | None] = mapped_column(BigInteger)


class ScheduledRun(Base):
    """The last run of one piece of periodic work (`actors/scheduler.py`): a run missed
    while the cluster was down is seen as overdue at the next start, and runs once."""

    __tablename__ = "scheduled_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(Integer, default=0)


class InstanceOwner(Base):
    """The account that signed up first on this instance and was made its admin
    (`serve/accounts/service.py`). The primary key is always 1, so the table holds one
    row at most: of two first sign-ups racing, one insert wins and the other finds the
    row taken, whatever the database's isolation level."""

    __tablename__ = "instance_owner"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, default=1)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- events and webhooks (#14) ----------------------------------------------------------


class SubscriberCursor(Base):
    """How far one dispatcher subscriber has got: the last outbox `seq` it acknowledged.

    One row per subscriber name, written only by the dispatcher; a restart resumes
    from here, so a batch in flight when the actor died is handed over again (at least
    once: subscribers are idempotent on the event id)."""

    __tablename__ = "subscriber_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row, reset on success
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Follow(Base):
    """`follower_id` follows the creator `creator_id`."""

    __tablename__ = "follows"
    __table_args__ = (
        CheckConstraint("follower_id <> creator_id", name="not_self"),
        Index("ix_follows_creator_created", "creator_id", "created_at"),
    )

    follower_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    creator_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(Timestamps, Base):
    """An endpoint a user registered; deliveries are signed with `secret` (and, until
    `previous_secret_until`, with `previous_secret` too: a rotation)."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(16), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)  # topics; empty: all
    secret: Mapped[str] = mapped_column(String(80))
    previous_secret: Mapped[str | None] = mapped_column(String(80))
    previous_secret_until: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None]


class WebhookDelivery(Timestamps, Base):
    """One message to one endpoint. Its id is the `webhook-id` header, the same on every
    attempt; an event's delivery id is derived from (event, endpoint), so handing the
    same event over twice makes no second delivery."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)  # the exact bytes signed, as UTF-8
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery: the delivery log an owner reads."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


# -- notifications (#14): inbox, preferences, deliveries, suppressions, campaigns --


class Notification(Base):
    """One line of a user's in-app inbox. At most one per (event, user): a retried event
    finds its row taken and adds nothing."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        Index("ix_notifications_user_id_desc", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(500), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class NotificationPreference(Base):
    """A user's choice for one notification type; a missing row means the type's default."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    in_app: Mapped[bool] = mapped_column(default=True)
    email: Mapped[bool] = mapped_column(default=False)
    sms: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One email or SMS to send, and where it stands. The unique (event, user, channel)
    is the notifier's idempotency: a retried event or a restarted actor inserts nothing
    new, so it never sends twice."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id", "channel"),
        Index("ix_deliveries_due", "state", "next_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))  # email | sms
    kind: Mapped[str] = mapped_column(String(40))
    address: Mapped[str] = mapped_column(String(254))
    message: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # rendered parts
    # pending -> sending -> sent | suppressed | dead (retries ran out, or refused for good)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]


class Suppression(Base):
    """An address that refused mail for good (an SMTP 5xx): nothing is sent to it again."""

    __tablename__ = "suppressions"

    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Campaign(Timestamps, Base):
    """A marketing email an admin sends to an audience ("opted_in", or "tier:<name>")."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(16), primary_key=True, default=new_id)
    subject: Mapped[str] = mapped_column(String(200))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(40), default="opted_in")
    # draft -> scheduled -> sending -> sent
    state: Mapped[str] = mapped_column(String(12), default="draft")
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class CampaignRecipient(Base):
    """One campaign's mail to one user: written for the whole audience when sending
    starts, then ticked off, so a restarted send resumes where it stopped."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "user_id"),
        Index("ix_campaign_recipients_todo", "campaign_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254))
    # pending -> sending -> sent | suppressed | failed
    state: Mapped[str] = mapped_column(String(12), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]


# -- search and captions (#16) --


class Caption(Base):
    """One language's captions of a video (`serve/library/captions.py`): the WebVTT file
    in the object store, and its cues here, which the search index reads as the
    video's transcript. `source` says who made them: an upload today, ASR later."""

    __tablename__ = "captions"

    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(16), primary_key=True)
    label: Mapped[str] = mapped_column(String(80), default="")
    source: Mapped[str] = mapped_column(String(16), default="upload")
    storage_key: Mapped[str] = mapped_column(String(255))
    # [[start_s, end_s, text], ...] in time order: the transcript search indexes.
    cues: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobAttempt(Base):
    """One try at a job or at one of its chunks (`actors/jobs.py`): where it ran, when,
    and how it ended. Ray's own task history is capped and dies with the cluster; this
    is what an operator reads to see a retried chunk and the node death behind it."""

    __tablename__ = "job_attempts"
    __table_args__ = (Index("ix_job_attempts_job_started", "job_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    task: Mapped[str] = mapped_column(String(32))  # "job", or "chunk 3"
    retry: Mapped[int] = mapped_column(Integer, default=0)  # 0: the first try
    node_id: Mapped[str | None] = mapped_column(String(64))
    worker_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(64), default="running")
    error: Mapped[str | None] = mapped_column(Text)
    # A done chunk's output: a resumed job publishes it again instead of encoding it.
    output: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
