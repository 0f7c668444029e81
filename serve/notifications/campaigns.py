"""Campaigns: an admin writes one (subject, HTML and text bodies, an audience),
previews it, sends a test to themself, then schedules or sends it.

Sending belongs to the notifier actor (`actors/campaign_sends.py`: rate-limited,
resumable, progress counted per recipient); this service checks who asks and what
they wrote, and hands the campaign over. Without a running cluster (a CLI on a
laptop), `run_here` sends from this process with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from actors.campaign_rows import Progress, progress
from actors.campaign_sends import CampaignSender
from cluster.config import Settings
from cluster.db.models import Campaign, Role, User
from cluster.errors import DeliveryError, Forbidden, InvalidInput
from cluster.messaging import Email, sender_domain
from cluster.notifications.letters import Letters
from cluster.security import Clock
from serve.notifications.errors import CampaignLocked, CampaignNotFound

if TYPE_CHECKING:
    from actors.deliveries import Sender
    from actors.notifier import NotifierClient

MAX_SUBJECT = 200


@dataclass(frozen=True)
class CampaignView:
    id: str
    subject: str
    audience: str
    state: str
    created_at: datetime
    scheduled_at: datetime | None
    progress: Progress | None


@dataclass(frozen=True)
class Preview:
    subject: str
    text: str
    html: str


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Campaigns:
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        sender: Sender,
        clock: Clock,
        notifier: NotifierClient | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.sender = sender
        self.clock = clock
        self.notifier = notifier
        self.letters = Letters(settings)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _admin(self, session: Session, actor_id: str | None) -> User | None:
        """The admin asking; None for an operator at the CLI (shell access is trust)."""
        if actor_id is None:
            return None
        user = session.get(User, actor_id)
        if user is None or user.role != Role.ADMIN or user.suspended_at is not None:
            raise Forbidden("only an admin can manage campaigns")
        return user

    def _campaign(self, session: Session, campaign_id: str) -> Campaign:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise CampaignNotFound(campaign_id)
        return campaign

    def _view(self, session: Session, campaign: Campaign) -> CampaignView:
        return CampaignView(
            id=campaign.id,
            subject=campaign.subject,
            audience=campaign.audience,
            state=campaign.state,
            created_at=_aware(campaign.created_at) or self._now(),
            scheduled_at=_aware(campaign.scheduled_at),
            progress=progress(session, campaign.id),
        )

    def _check(self, *, subject: str, html: str, text: str, audience: str) -> None:
        if not subject.strip() or len(subject) > MAX_SUBJECT:
            raise InvalidInput("subject", f"write a subject of 1 to {MAX_SUBJECT} characters")
        if "\r" in subject or "\n" in subject:
            raise InvalidInput("subject", "a subject is one line: remove the line break")
        if not text.strip() or not html.strip():
            raise InvalidInput("text", "give both bodies: HTML for most readers, text for the rest")
        tiers = {f"tier:{name}" for name in self.settings.tiers}
        if audience != "opted_in" and audience not in tiers:
            raise InvalidInput(
                "audience", f"is 'opted_in' or one of {sorted(tiers)} (only opted-in users)"
            )

    def create(
        self,
        *,
        actor_id: str | None,
        subject: str,
        html: str,
        text: str,
        audience: str = "opted_in",
    ) -> CampaignView:
        self._check(subject=subject, html=html, text=text, audience=audience)
        with self.sessions.begin() as session:
            admin = self._admin(session, actor_id)
            campaign = Campaign(
                subject=subject,
                html=html,
                text=text,
                audience=audience,
                created_by=admin.id if admin else None,
                created_at=self._now(),
            )
            session.add(campaign)
            session.flush()
            return self._view(session, campaign)

    def list(self, *, actor_id: str | None) -> list[CampaignView]:
        with self.sessions() as session:
            self._admin(session, actor_id)
            rows = session.scalars(select(Campaign).order_by(Campaign.created_at.desc()))
            return [self._view(session, row) for row in rows]

    def get(self, *, actor_id: str | None, campaign_id: str) -> CampaignView:
        with self.sessions() as session:
            self._admin(session, actor_id)
            return self._view(session, self._campaign(session, campaign_id))

    def preview(self, *, actor_id: str | None, campaign_id: str) -> Preview:
        """The campaign as its readers will see it (links made for the admin asking)."""
        with self.sessions() as session:
            admin = self._admin(session, actor_id)
            campaign = self._campaign(session, campaign_id)
            text, html, _ = self.letters.campaign(
                subject=campaign.subject,
                body_html=campaign.html,
                body_text=campaign.text,
                recipient_id=admin.id if admin else "preview",
            )
            return Preview(subject=campaign.subject, text=text, html=html)

    def send_test(self, *, actor_id: str | None, campaign_id: str, to: str | None = None) -> str:
        """Send the campaign to the admin (or `to`) alone, marked as a test; the address."""
        with self.sessions() as session:
            admin = self._admin(session, actor_id)
            address = to or (admin.email if admin else None)
        if not address or "@" not in address:
            raise InvalidInput("to", "give the address to send the test to")
        found = self.preview(actor_id=actor_id, campaign_id=campaign_id)
        domain = sender_domain(self.settings.smtp_from)
        try:
            self.sender.send_email(
                Email(
                    to=address,
                    subject=f"[test] {found.subject}",
                    text=found.text,
                    html=found.html,
                    message_id=f"<t{campaign_id}.{int(self.clock() * 1000)}@{domain}>",
                )
            )
        except DeliveryError as exc:
            raise InvalidInput("to", f"the test could not be sent: {exc}") from None
        return address

    def schedule(
        self, *, actor_id: str | None, campaign_id: str, at: datetime | None = None
    ) -> CampaignView:
        """Send at `at` (None: now). The notifier starts it when the time comes."""
        with self.sessions.begin() as session:
            self._admin(session, actor_id)
            campaign = self._campaign(session, campaign_id)
            if campaign.state not in {"draft", "scheduled"}:
                raise CampaignLocked(campaign_id, campaign.state)
            campaign.state, campaign.scheduled_at = "scheduled", at or self._now()
            view = self._view(session, campaign)
        if at is None and self.notifier is not None:
            self.notifier.send_campaign(campaign_id)
        return view

    def send(self, *, actor_id: str | None, campaign_id: str) -> CampaignView:
        return self.schedule(actor_id=actor_id, campaign_id=campaign_id, at=None)

    def run_here(self, campaign_id: str) -> Progress | None:
        """Send (or resume) the campaign from this process, paced, until done."""
        with self.sessions() as session:
            campaign = self._campaign(session, campaign_id)
            if campaign.state == "draft":
                raise InvalidInput("campaign", "send or schedule it first")
            scheduled = _aware(campaign.scheduled_at)
            if campaign.state == "scheduled" and scheduled and scheduled > self._now():
                raise InvalidInput(
                    "campaign", f"it is scheduled for {scheduled:%Y-%m-%d %H:%M} UTC: send it then"
                )
        runner = CampaignSender(
            settings=self.settings, sessions=self.sessions, sender=self.sender, clock=self.clock
        )
        return runner.run(campaign_id)
