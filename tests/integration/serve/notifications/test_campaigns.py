"""Campaigns against a real SMTP server (aiosmtpd), on SQLite and PostgreSQL: only the
opted-in get them, never a suppressed address; one-click unsubscribe over HTTP works
with no session and the next campaign skips that user, while a GET changes nothing;
sending is paced and resumes after a crash without sending anyone a second copy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from actors.campaign_sends import CampaignSender
from actors.deliveries import Sender
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import CampaignRecipient, Role, Suppression, Tier
from cluster.errors import Forbidden, InvalidInput
from cluster.messaging import Email, Message, open_sender
from cluster.notifications.kinds import Preference, set_preference
from serve.gateway.ingress import Gateway, create_app
from serve.notifications.campaigns import Campaigns
from serve.notifications.errors import CampaignLocked
from serve.platform import Platform
from tests.support.clock import FakeClock
from tests.support.notifications import add_user, clear
from tests.support.smtp import SmtpInbox, smtp_server

HTML = "<p>Big <b>news</b></p>"
TEXT = "Big news"


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    with smtp_server() as inbox:
        yield inbox


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpInbox) -> Settings:
    return load_settings(
        data_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        smtp_from="vidray <news@vidray.test>",
        public_url="https://videos.example.org",
        campaign_rate=1000,
    )


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield db.session_factory(engine)
    clear(engine)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def campaigns(settings: Settings, sessions: sessionmaker[Session], clock: FakeClock) -> Campaigns:
    return Campaigns(
        settings=settings, sessions=sessions, sender=open_sender(settings), clock=clock
    )


@pytest.fixture
def admin(sessions: sessionmaker[Session]) -> str:
    return add_user(sessions, "admin", role=Role.ADMIN)


def opt_in(sessions: sessionmaker[Session], user_id: str, *, email: bool = True) -> None:
    with sessions.begin() as session:
        set_preference(
            session,
            user_id=user_id,
            preference=Preference("newsletter", in_app=False, email=email, sms=False),
        )


def subscriber(sessions: sessionmaker[Session], handle: str, **fields: object) -> str:
    user_id = add_user(sessions, handle, **fields)
    opt_in(sessions, user_id)
    return user_id


def test_only_admins_write_campaigns_and_a_subject_is_one_line(
    campaigns: Campaigns, admin: str, sessions: sessionmaker[Session]
) -> None:
    someone = add_user(sessions, "someone")
    with pytest.raises(Forbidden):
        campaigns.create(actor_id=someone, subject="Hi", html=HTML, text=TEXT)
    for subject in ("Hi\r\nBcc: all@example.com", "Hi\nthere"):
        with pytest.raises(InvalidInput, match="one line"):
            campaigns.create(actor_id=admin, subject=subject, html=HTML, text=TEXT)
    with pytest.raises(InvalidInput, match="audience"):
        campaigns.create(actor_id=admin, subject="Hi", html=HTML, text=TEXT, audience="everyone")


def test_a_campaign_reaches_the_opted_in_never_the_suppressed(
    campaigns: Campaigns, admin: str, sessions: sessionmaker[Session], smtp: SmtpInbox
) -> None:
    fan = subscriber(sessions, "fan")
    subscriber(sessions, "bounced")
    add_user(sessions, "never")  # transactional mail only: not opted in
    subscriber(sessions, "paused", email="paused@example.com")
    opt_in(sessions, add_user(sessions, "changed"), email=False)
    with sessions.begin() as session:
        session.add(Suppression(address="bounced@example.com", reason="SMTP 550"))

    created = campaigns.create(actor_id=admin, subject="News & <more>", html=HTML, text=TEXT)
    preview = campaigns.preview(actor_id=admin, campaign_id=created.id)
    assert HTML in preview.html and TEXT in preview.text
    assert campaigns.send_test(actor_id=admin, campaign_id=created.id) == "admin@example.com"
    [test] = smtp.mails_to("admin@example.com")
    assert test["Subject"] == "[test] News & <more>"

    campaigns.send(actor_id=admin, campaign_id=created.id)
    done = campaigns.run_here(created.id)

    assert done is not None
    assert (done.state, done.sent, done.suppressed, done.failed) == ("sent", 2, 1, 0)
    assert smtp.mails_to("never@example.com") == []
    assert smtp.mails_to("bounced@example.com") == []
    assert smtp.mails_to("changed@example.com") == []
    [mail] = smtp.mails_to("fan@example.com")
    assert mail.get_content_type() == "multipart/alternative"
    assert HTML in mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = mail["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://videos.example.org/hooks/unsubscribe?token=")
    assert fan not in url  # the token is signed, not a bare user id in the clear
    assert mail["Message-ID"] == f"<c{created.id}.{fan}@vidray.test>"


def test_campaigns_to_a_tier_reach_only_that_tier(
    campaigns: Campaigns, admin: str, sessions: sessionmaker[Session], smtp: SmtpInbox
) -> None:
    subscriber(sessions, "pro", tier=Tier.PRO)
    subscriber(sessions, "free")
    created = campaigns.create(
        actor_id=admin, subject="For pros", html=HTML, text=TEXT, audience="tier:pro"
    )
    campaigns.send(actor_id=None, campaign_id=created.id)
    campaigns.run_here(created.id)
    assert len(smtp.mails_to("pro@example.com")) == 1
    assert smtp.mails_to("free@example.com") == []


@pytest.fixture
async def http(
    settings: Settings, engine: Engine, clock: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Gateway(Platform(settings, engine=engine, clock=clock)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://videos.example.org"
    ) as client:
        yield client


async def test_one_click_unsubscribe_by_post_and_the_next_campaign_skips_them(
    campaigns: Campaigns,
    admin: str,
    sessions: sessionmaker[Session],
    smtp: SmtpInbox,
    http: httpx.AsyncClient,
) -> None:
    subscriber(sessions, "leaver")
    subscriber(sessions, "stayer")
    first = campaigns.create(actor_id=admin, subject="One", html=HTML, text=TEXT)
    campaigns.send(actor_id=admin, campaign_id=first.id)
    campaigns.run_here(first.id)
    [mail] = smtp.mails_to("leaver@example.com")
    url = urlsplit(mail["List-Unsubscribe"].strip("<>"))
    target = f"{url.path}?{url.query}"

    # A link scanner follows the link: a page with a button, and nothing changes.
    page = await http.get(target)
    assert page.status_code == 200
    assert '<form method="post"' in page.text
    token = parse_qs(url.query)["token"][0]
    assert f'value="{token}"' in page.text
    # What a mail client sends for RFC 8058: no cookie, no session, just the URL.
    assert not http.cookies
    done = await http.post(
        target,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200 and "Unsubscribed" in done.text
    refused = await http.post("/hooks/unsubscribe?token=" + token[:-2] + "00")
    assert refused.status_code == 400

    second = campaigns.create(actor_id=admin, subject="Two", html=HTML, text=TEXT)
    campaigns.send(actor_id=admin, campaign_id=second.id)
    progress = campaigns.run_here(second.id)
    assert progress is not None and progress.sent == 1
    assert [m["Subject"] for m in smtp.mails_to("leaver@example.com")] == ["One"]
    assert [m["Subject"] for m in smtp.mails_to("stayer@example.com")] == ["One", "Two"]


async def test_a_get_alone_never_unsubscribes(
    campaigns: Campaigns,
    admin: str,
    sessions: sessionmaker[Session],
    smtp: SmtpInbox,
    http: httpx.AsyncClient,
) -> None:
    subscriber(sessions, "scanned")
    first = campaigns.create(actor_id=admin, subject="One", html=HTML, text=TEXT)
    campaigns.send(actor_id=admin, campaign_id=first.id)
    campaigns.run_here(first.id)
    [mail] = smtp.mails_to("scanned@example.com")
    url = urlsplit(mail["List-Unsubscribe"].strip("<>"))
    for _ in range(3):
        assert (await http.get(f"{url.path}?{url.query}")).status_code == 200
    assert (await http.get("/hooks/unsubscribe?token=forged.sig")).status_code == 400

    second = campaigns.create(actor_id=admin, subject="Two", html=HTML, text=TEXT)
    campaigns.send(actor_id=admin, campaign_id=second.id)
    campaigns.run_here(second.id)
    assert len(smtp.mails_to("scanned@example.com")) == 2


class Crash(BaseException):
    """The actor's process dying mid-campaign."""


class CrashesAfter:
    def __init__(self, inner: Sender, sends: int) -> None:
        self.inner, self.left = inner, sends

    def send(self, message: Message) -> None:
        self.inner.send(message)

    def send_email(self, email: Email) -> None:
        if self.left == 0:
            raise Crash
        self.left -= 1
        self.inner.send_email(email)


class PacedTime:
    """A monotonic clock that moves only when the sender pauses: the pauses it asks
    for are then exactly its pacing."""

    def __init__(self) -> None:
        self.now, self.pauses = 0.0, []  # type: ignore[var-annotated]

    def monotonic(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_sending_is_paced_and_resumes_after_a_crash_without_duplicates(
    campaigns: Campaigns,
    admin: str,
    settings: Settings,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    smtp: SmtpInbox,
) -> None:
    users = [subscriber(sessions, f"r{i:02d}") for i in range(12)]
    created = campaigns.create(actor_id=admin, subject="Paced", html=HTML, text=TEXT)
    campaigns.send(actor_id=admin, campaign_id=created.id)
    paced = load_settings(**{**settings.model_dump(), "campaign_rate": 4.0})
    time_ = PacedTime()
    dying = CampaignSender(
        settings=paced,
        sessions=sessions,
        sender=CrashesAfter(open_sender(settings), 5),
        clock=clock,
        pause=time_.pause,
        monotonic=time_.monotonic,
    )
    with pytest.raises(Crash):
        dying.run(created.id)
    assert smtp.count() == 5
    assert time_.pauses == [0.25] * 5  # 4 a second: one every 0.25 s after the first

    restarted = CampaignSender(
        settings=settings, sessions=sessions, sender=open_sender(settings), clock=clock
    )
    done = restarted.run(created.id)

    assert done is not None
    assert (done.state, done.sent, done.failed, done.pending) == ("sent", 11, 1, 0)
    received = [len(smtp.mails_to(f"r{i:02d}@example.com")) for i in range(12)]
    assert received == [1] * 5 + [0] + [1] * 6  # the one interrupted mid-send is not resent
    with sessions() as session:
        [interrupted] = session.scalars(
            select(CampaignRecipient).where(CampaignRecipient.state == "failed")
        )
        assert interrupted.user_id == users[5]
        assert "interrupted" in (interrupted.error or "")
    assert restarted.run(created.id) == done  # a finished campaign sends nothing more
    assert smtp.count() == 11


def test_a_scheduled_campaign_waits_for_its_time_on_the_clock(
    campaigns: Campaigns,
    admin: str,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    smtp: SmtpInbox,
) -> None:
    subscriber(sessions, "later")
    created = campaigns.create(actor_id=admin, subject="Later", html=HTML, text=TEXT)
    at = datetime.fromtimestamp(clock() + 3600, UTC)
    assert campaigns.schedule(actor_id=admin, campaign_id=created.id, at=at).state == "scheduled"
    with pytest.raises(InvalidInput, match="scheduled for"):
        campaigns.run_here(created.id)
    assert smtp.count() == 0
    clock.advance(3600)
    done = campaigns.run_here(created.id)
    assert done is not None and (done.state, done.sent) == ("sent", 1)
    with pytest.raises(CampaignLocked):
        campaigns.send(actor_id=admin, campaign_id=created.id)
