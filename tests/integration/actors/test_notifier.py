"""The notifier against a real SMTP server (aiosmtpd) on SQLite and PostgreSQL: who is
told about what, multipart and escaped emails, idempotency, restarts, retries on the
platform's (fake) clock, dead letters and suppressions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from actors.deliveries import Sender
from actors.notifier import Notifier
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import (
    Delivery,
    Notification,
    Suppression,
    Upload,
    UploadStatus,
    Visibility,
)
from cluster.messaging import Email, Message, open_sender
from cluster.notifications.kinds import Preference, set_preference
from tests.support.clock import FakeClock
from tests.support.notifications import (
    add_comment,
    add_user,
    add_video,
    clear,
    event,
    follow,
)
from tests.support.smtp import SmtpInbox, smtp_server
from tests.support.waiting import eventually

HOUR = 3600.0


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    with smtp_server() as inbox:
        yield inbox


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield db.session_factory(engine)
    clear(engine)


def _settings(tmp_path: Path, port: int) -> Settings:
    return load_settings(
        data_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_from="vidray <notify@vidray.test>",
        public_url="https://videos.example.org",
    )


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpInbox) -> Settings:
    return _settings(tmp_path, smtp.port)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _notifier(
    settings: Settings,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    sender: Sender | None = None,
) -> Notifier:
    return Notifier(
        settings=settings,
        sessions=sessions,
        sender=sender if sender is not None else open_sender(settings),
        clock=clock,
    )


def _deliveries(sessions: sessionmaker[Session]) -> list[Delivery]:
    with sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def _inbox(sessions: sessionmaker[Session], user_id: str) -> list[Notification]:
    with sessions() as session:
        return list(session.scalars(select(Notification).where(Notification.user_id == user_id)))


def test_ready_video_mails_its_owner_once_multipart_and_escaped(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock, smtp: SmtpInbox
) -> None:
    owner = add_user(sessions, "ana", display_name="Ana")
    title = "<script>alert('x')</script> & more"
    video = add_video(sessions, owner, title)
    ready = event("video.ready", video, owner_id=owner)
    notifier = _notifier(settings, sessions, clock)

    notifier.handle([ready])
    notifier.deliver_due()
    # The dispatcher hands the same event over again (a retry, a restart): nothing new.
    notifier.handle([ready])
    notifier.deliver_due()

    [mail] = smtp.mails_to("ana@example.com")
    assert mail["Subject"] == f"Your video “{title}” is ready"
    assert mail["Message-ID"] == f"<n{ready.id}.{owner}@vidray.test>"
    assert mail["To"] == "Ana <ana@example.com>"
    assert mail["List-Unsubscribe"].startswith("<https://videos.example.org/hooks/unsubscribe?")
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert title in text
    assert f"https://videos.example.org/watch/{video}" in text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in html
    assert f'href="https://videos.example.org/watch/{video}"' in html
    [note] = _inbox(sessions, owner)
    assert (note.kind, note.read_at) == ("video_ready", None)
    assert title in note.title


def test_public_video_tells_followers_who_want_it_and_a_private_one_nobody(
    settings: Settings,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    smtp: SmtpInbox,
    engine: Engine,
) -> None:
    creator = add_user(sessions, "cara", display_name="Cara")
    fan = add_user(sessions, "fan")
    quiet = add_user(sessions, "quiet")
    for follower in (fan, quiet):
        follow(engine, follower_id=follower, creator_id=creator)
    with sessions.begin() as session:
        set_preference(
            session,
            user_id=fan,
            preference=Preference("new_video", in_app=True, email=True, sms=False),
        )
        set_preference(
            session,
            user_id=quiet,
            preference=Preference("new_video", in_app=False, email=False, sms=False),
        )
    public = add_video(sessions, creator, "Public one")
    private = add_video(sessions, creator, "Private one", Visibility.PRIVATE)
    notifier = _notifier(settings, sessions, clock)

    notifier.handle([event("video.ready", public, owner_id=creator)])
    notifier.handle([event("video.ready", private, owner_id=creator)])
    notifier.deliver_due()

    [mail] = smtp.mails_to("fan@example.com")
    assert mail["Subject"] == "Cara published “Public one”"
    assert [n.kind for n in _inbox(sessions, fan)] == ["new_video"]
    assert smtp.mails_to("quiet@example.com") == []
    assert _inbox(sessions, quiet) == []
    assert len(smtp.mails_to("cara@example.com")) == 2  # both of her videos are ready


def test_comments_and_replies_reach_the_video_owner_and_the_parent_author(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    owner = add_user(sessions, "owner")
    first = add_user(sessions, "first")
    second = add_user(sessions, "second", display_name="Sam")
    video = add_video(sessions, owner, "Talk")
    top = add_comment(sessions, video_id=video, author_id=first, body="Nice")
    reply = add_comment(sessions, video_id=video, author_id=second, body="Agreed", parent_id=top)
    notifier = _notifier(settings, sessions, clock)

    notifier.handle(
        [
            event("comment.added", top, comment_id=top, author_id=first, parent_id=None),
            event("comment.added", reply, comment_id=reply, author_id=second, parent_id=top),
            event("user.followed", owner, follower_id=second),
        ]
    )

    assert sorted(n.kind for n in _inbox(sessions, owner)) == [
        "comment_on_my_video",
        "comment_on_my_video",
        "new_follower",
    ]
    [to_first] = _inbox(sessions, first)
    assert (to_first.kind, to_first.body) == ("reply_to_my_comment", "Agreed")
    assert to_first.title == "Sam replied to your comment on “Talk”."
    assert _inbox(sessions, second) == []  # nobody is told of their own comment


def test_failures_reach_their_owner_in_words_and_sms_where_chosen(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock, smtp: SmtpInbox
) -> None:
    owner = add_user(sessions, "unlucky", phone="+14155550123")
    with sessions.begin() as session:
        set_preference(
            session,
            user_id=owner,
            preference=Preference("upload_failed", in_app=True, email=True, sms=True),
        )
    video = add_video(sessions, owner, "Holiday")
    outbox = settings.outbox_dir  # no SMS provider configured: SMS lands in the outbox
    notifier = _notifier(settings, sessions, clock)
    notifier.handle(
        [
            event(
                "video.failed",
                video,
                owner_id=owner,
                reason="internal",
                detail="the encoder ran out of memory",
            ),
            event(
                "upload.failed",
                "upload-1",
                owner_id=owner,
                video_id=video,
                reason="not_a_video",
                detail="no video or audio stream",
            ),
            event(
                "webhook.disabled",
                "hook-1",
                owner_id=owner,
                url="https://hooks.example.com/in",
                reason="gone",
                detail="the endpoint answered 410 Gone",
            ),
        ]
    )
    assert notifier.deliver_due() == {"sent": 4}

    subjects = sorted(m["Subject"] for m in smtp.mails_to("unlucky@example.com"))
    assert subjects == [
        "Your upload “Holiday” failed",
        "Your video “Holiday” could not be processed",
        "Your webhook endpoint was disabled",
    ]
    bodies = {n.kind: n.body for n in _inbox(sessions, owner)}
    assert bodies["video_failed"] == "the encoder ran out of memory"
    assert bodies["upload_failed"].startswith("The file is not a video")
    assert bodies["webhook_disabled"] == "the endpoint answered 410 Gone"
    [sms] = [json.loads(p.read_text()) for p in outbox.glob("*-sms-*.json")]
    assert sms["to"] == "+14155550123"
    assert sms["body"].startswith("Your upload “Holiday” failed.")


class Crash(BaseException):
    """The actor's process dying: not an error the notifier could catch."""


class CrashesOnSecond:
    def __init__(self, inner: Sender) -> None:
        self.inner, self.calls = inner, 0

    def send(self, message: Message) -> None:
        self.inner.send(message)

    def send_email(self, email: Email) -> None:
        self.calls += 1
        if self.calls == 2:
            raise Crash
        self.inner.send_email(email)


def test_a_refused_upload_is_told_once_not_also_as_a_failed_video(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock, smtp: SmtpInbox
) -> None:
    owner = add_user(sessions, "refused")
    video = add_video(sessions, owner, "Noise")
    with sessions.begin() as session:
        upload = Upload(
            owner_id=owner, video_id=video, storage_key="raw/x", status=UploadStatus.FAILED
        )
        session.add(upload)
        session.flush()
        upload_id = upload.id
    # What the jobs actor commits for a file that is not a video: both facts, in order.
    notifier = _notifier(settings, sessions, clock)
    notifier.handle(
        [
            event("upload.failed", upload_id, owner_id=owner, video_id=video, reason="not_a_video"),
            event("video.failed", video, owner_id=owner, reason="not_a_video", detail="x"),
        ]
    )
    assert notifier.deliver_due() == {"sent": 1}
    [mail] = smtp.mails_to("refused@example.com")
    assert mail["Subject"] == "Your upload “Noise” failed"
    assert [n.kind for n in _inbox(sessions, owner)] == ["upload_failed"]


def test_a_notifier_restarted_mid_delivery_sends_each_mail_once(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock, smtp: SmtpInbox
) -> None:
    owners = [add_user(sessions, f"owner{i}") for i in range(3)]
    ready = [event("video.ready", add_video(sessions, o, "v"), owner_id=o) for o in owners]
    dying = _notifier(settings, sessions, clock, CrashesOnSecond(open_sender(settings)))
    dying.handle(ready)
    with pytest.raises(Crash):
        dying.deliver_due()
    assert [d.state for d in _deliveries(sessions)] == ["sent", "sending", "pending"]

    restarted = _notifier(settings, sessions, clock)
    restarted.deliveries.recover()
    restarted.handle(ready)  # the dispatcher had not seen them acknowledged
    restarted.deliver_due()

    assert [len(smtp.mails_to(f"owner{i}@example.com")) for i in range(3)] == [1, 1, 1]
    assert [d.state for d in _deliveries(sessions)] == ["sent"] * 3


def test_smtp_down_then_back_delivers_later_on_the_clock(
    tmp_path: Path, sessions: sessionmaker[Session], clock: FakeClock, free_tcp_port: int
) -> None:
    down = _settings(tmp_path, free_tcp_port)  # nothing listens there yet
    owner = add_user(sessions, "patient")
    notifier = _notifier(down, sessions, clock)
    notifier.handle([event("video.ready", add_video(sessions, owner, "v"), owner_id=owner)])
    assert notifier.deliver_due() == {"pending": 1}
    [waiting] = _deliveries(sessions)
    assert waiting.attempts == 1 and "cannot send email" in (waiting.last_error or "")

    with smtp_server(free_tcp_port) as smtp:
        back = _notifier(down, sessions, clock)
        assert back.deliver_due() == {}  # not due yet: the clock has not moved
        clock.advance(down.notify_retry_base_s)
        assert back.deliver_due() == {"sent": 1}
        assert len(smtp.mails_to("patient@example.com")) == 1


def test_421_for_a_day_dead_letters_with_the_reason(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock, smtp: SmtpInbox
) -> None:
    owner = add_user(sessions, "deferred")
    notifier = _notifier(settings, sessions, clock)
    notifier.handle([event("video.ready", add_video(sessions, owner, "v"), owner_id=owner)])
    smtp.defer_all = True
    states = []
    for _ in range(40):
        states.append(dict(notifier.deliver_due()))
        if states[-1].get("dead"):
            break
        clock.advance(2 * HOUR)
    [dead] = _deliveries(sessions)
    assert dead.state == "dead"
    assert "421" in (dead.last_error or "") and "24 h" in (dead.last_error or "")
    assert 10 <= dead.attempts <= 30
    assert smtp.count() == 0
    with sessions() as session:
        assert session.get(Suppression, "deferred@example.com") is None  # 4xx: not for good


def test_550_suppresses_the_address_for_every_later_mail(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock, smtp: SmtpInbox
) -> None:
    owner = add_user(sessions, "bounce")
    smtp.refuse("bounce@example.com")
    notifier = _notifier(settings, sessions, clock)
    notifier.handle([event("video.ready", add_video(sessions, owner, "a"), owner_id=owner)])
    assert notifier.deliver_due() == {"dead": 1}
    with sessions() as session:
        suppressed = session.get(Suppression, "bounce@example.com")
        assert suppressed is not None and "550" in suppressed.reason

    smtp.refused.clear()  # even if the server would take it now, we no longer send
    notifier.handle([event("video.ready", add_video(sessions, owner, "b"), owner_id=owner)])
    assert notifier.deliver_due() == {"suppressed": 1}
    assert smtp.count() == 0
    assert len(_inbox(sessions, owner)) == 2  # the in-app inbox still has both


def test_a_display_name_with_a_line_break_stays_one_header_line(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock, smtp: SmtpInbox
) -> None:
    owner = add_user(sessions, "crlf", display_name="Eve\r\nBcc: victim@example.com")
    notifier = _notifier(settings, sessions, clock)
    notifier.handle([event("video.ready", add_video(sessions, owner, "x\r\ny"), owner_id=owner)])
    assert notifier.deliver_due() == {"sent": 1}
    [(rcpts, mail)] = smtp.mails
    assert rcpts == ["crlf@example.com"]
    assert mail["Bcc"] is None
    assert mail["Subject"] == "Your video “x y” is ready"


@pytest.mark.usefixtures("ray_cluster")
def test_the_actor_killed_mid_retry_restarts_and_sends_once(
    tmp_path: Path, smtp: SmtpInbox
) -> None:
    import ray

    from actors.notifier import NotifierClient

    settings = load_settings(
        data_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        notify_retry_base_s=0.2,
        notify_poll_s=0.2,
        ray_namespace="vidray-test",
    )
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    sessions = db.session_factory(engine)
    owner = add_user(sessions, "actor")
    ready = event("video.ready", add_video(sessions, owner, "v"), owner_id=owner)
    smtp.defer_all = True  # 421 until the actor has died once
    client = NotifierClient.start(settings)
    try:
        client.handle([ready])
        eventually(lambda: _deliveries(sessions)[0].attempts >= 1, timeout=30)
        ray.kill(client.actor, no_restart=False)  # Ray restarts it; it recovers from the DB
        smtp.defer_all = False

        # The dispatcher hands the unacknowledged batch over again, until the restarted
        # actor takes it (a call during the restart fails, and is retried).
        def handed_over() -> bool:
            client.handle([ready])
            return True

        eventually(
            handed_over,
            timeout=60,
            ignoring=(ray.exceptions.ActorUnavailableError, ray.exceptions.RayActorError),
        )
        # A restart under load takes a while: the wait ends when the mail is in.
        eventually(lambda: smtp.mails_to("actor@example.com"), timeout=180)
        eventually(lambda: _deliveries(sessions)[0].state == "sent", timeout=30)
        client.deliver_due()  # nothing is left to send: no second copy
        assert len(smtp.mails_to("actor@example.com")) == 1
        assert len(_deliveries(sessions)) == 1
        assert len(_inbox(sessions, owner)) == 1
    finally:
        ray.kill(client.actor, no_restart=True)
        engine.dispose()
