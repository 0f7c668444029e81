"""Events, notifications and webhooks together on a running `vidray up`: a follower and
a creator sign up (codes by real SMTP), the follower follows, the creator registers a
webhook and uploads; the dispatcher hands `video.ready` to the notifier (email and
inbox for the creator, inbox for the follower) and to the webhook sender (verified by
the `standardwebhooks` package); a corrupt upload is told as `upload.failed` both ways."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from cluster.upload_client import upload_file
from tests.support.graphql import graphql
from tests.support.launch import Launch
from tests.support.media import Spec, make_media
from tests.support.smtp import SmtpInbox, smtp_server
from tests.support.waiting import eventually
from tests.support.webhooks import Receiver, webhook_receiver

CODE = re.compile(r"\b(\d{6})\b")
CREATOR, FOLLOWER = "creator@example.com", "follower@example.com"
SIGN_IN = """mutation($email: String!, $code: String!) {
  verifyOtp(email: $email, code: $code) { accessToken user { id } }
}"""
NOTIFICATIONS = "{ notifications { edges { node { kind title link } } } }"


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    with smtp_server() as inbox:
        yield inbox


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as served:
        yield served


def _gql(base: str, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    body = graphql(base, query, token, **variables)
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def _text(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None, mail
    return str(part.get_content())


def _sign_in(base: str, smtp: SmtpInbox, email: str) -> tuple[str, str]:
    """(token, user id), with the code the instance mailed through SMTP."""
    _gql(base, "mutation($e: String!) { requestOtp(email: $e) }", e=email)
    mail = eventually(
        lambda: smtp.mails_to(email)[-1:], timeout=60, interval=0.2, what=f"a code for {email}"
    )[0]
    found = CODE.search(_text(mail))
    assert found, _text(mail)
    answer = _gql(base, SIGN_IN, email=email, code=found.group(1))["verifyOtp"]
    return answer["accessToken"], answer["user"]["id"]


def _subjects(smtp: SmtpInbox, email: str) -> list[str]:
    return [str(mail["subject"]) for mail in smtp.mails_to(email)]


def _notifications(base: str, token: str) -> list[dict[str, str]]:
    return [e["node"] for e in _gql(base, NOTIFICATIONS, token)["notifications"]["edges"]]


def _webhook(receiver: Receiver, kind: str) -> list[dict[str, Any]]:
    bodies = [json.loads(r.body) for r in receiver.to("/ok") if r.verified_by == [0]]
    return [body for body in bodies if body["type"] == kind]


def _notifier_has(database: Path, topic: str) -> bool:
    """Whether the dispatcher has handed the notifier an event of `topic`."""
    with sqlite3.connect(database) as conn:
        row = conn.execute(
            "SELECT 1 FROM outbox o JOIN subscriber_cursors c ON c.name = 'notifier' "
            "WHERE o.topic = ? AND o.seq IS NOT NULL AND o.seq <= c.position",
            (topic,),
        ).fetchone()
    return row is not None


def test_a_ready_video_and_a_corrupt_upload_are_told_by_email_inbox_and_webhook(
    launch_platform: Launch, tmp_path: Path, smtp: SmtpInbox, receiver: Receiver
) -> None:
    base = launch_platform(
        "up",
        "--cpus",
        "2",
        VIDRAY_SMTP_HOST="127.0.0.1",
        VIDRAY_SMTP_PORT=str(smtp.port),
        VIDRAY_SMTP_SECURITY="none",
        VIDRAY_WEBHOOKS_ALLOW_LOOPBACK="true",
        VIDRAY_PUBLIC_URL=f"http://127.0.0.1:{launch_platform.port}",
    )
    creator, creator_id = _sign_in(base, smtp, CREATOR)
    follower, _ = _sign_in(base, smtp, FOLLOWER)
    assert _gql(base, "mutation($u: ID!) { follow(userId: $u) }", follower, u=creator_id)

    created = _gql(
        base,
        "mutation($url: String!, $events: [String!]) "
        "{ createWebhook(url: $url, events: $events) { secret } }",
        creator,
        url=receiver.url("/ok"),
        events=["video.ready", "upload.failed"],
    )
    receiver.secrets.append(created["createWebhook"]["secret"])

    clip = make_media(tmp_path / "clip.mp4", Spec(width=320, height=180, seconds=2))
    upload_file(
        server=base,
        path=clip,
        token=creator,
        metadata={"filename": "clip.mp4", "title": "Harbour at dusk", "visibility": "public"},
    )

    [ready] = eventually(
        lambda: [m for m in smtp.mails_to(CREATOR) if "is ready" in str(m["subject"])],
        timeout=180,
        interval=0.5,
        what="the creator's 'ready' email",
    )
    assert ready.is_multipart()
    assert ready.get_body(("html",)) is not None
    assert "Harbour at dusk" in str(ready["subject"])
    [event] = eventually(
        lambda: _webhook(receiver, "video.ready"), timeout=30, what="video.ready at the webhook"
    )
    video_id = event["data"].get("video_id") or event["data"].get("id")
    assert video_id, event
    assert f"http://127.0.0.1:{launch_platform.port}/watch/{video_id}" in _text(ready)
    assert ready["Message-ID"]

    # Newest first: the video, and before it the follow (`new_follower`, in-app only).
    mine = eventually(lambda: _notifications(base, creator), what="the creator's inbox")
    assert [n["kind"] for n in mine] == ["video_ready", "new_follower"]
    assert mine[0]["link"].endswith(f"/watch/{video_id}")
    theirs = eventually(lambda: _notifications(base, follower), what="the follower's inbox")
    assert [n["kind"] for n in theirs] == ["new_video"]
    assert "Harbour at dusk" in theirs[0]["title"]
    # `new_video` is in-app only by default: the follower's only mail is the sign-in code.
    assert len(smtp.mails_to(FOLLOWER)) == 1

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(256 * 1024))
    upload_file(
        server=base,
        path=junk,
        token=creator,
        metadata={"filename": "junk.mp4", "title": "Not a video", "visibility": "public"},
    )
    [failed] = eventually(
        lambda: [m for m in smtp.mails_to(CREATOR) if "failed" in str(m["subject"])],
        timeout=120,
        interval=0.5,
        what="the creator's 'upload failed' email",
    )
    assert "Not a video" in str(failed["subject"]) and failed.is_multipart()
    [refused] = eventually(
        lambda: _webhook(receiver, "upload.failed"), timeout=30, what="upload.failed at the hook"
    )
    assert refused["data"]["reason"] == "not_a_video", refused
    # The same file's `video.failed` comes after; once the notifier has had it, the
    # creator still has one email per thing that happened.
    eventually(
        lambda: _notifier_has(tmp_path / "data" / "vidray.db", "video.failed"),
        timeout=60,
        what="the notifier past video.failed",
    )
    assert len(smtp.mails_to(CREATOR)) == 3, _subjects(smtp, CREATOR)  # none twice
    # Every delivery was signed with the endpoint's secret, and nothing else was sent.
    assert all(r.verified_by == [0] for r in receiver.requests), receiver.requests
    assert sorted(b["type"] for b in map(json.loads, (r.body for r in receiver.requests))) == [
        "upload.failed",
        "video.ready",
    ]
