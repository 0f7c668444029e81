"""Sending one campaign: its audience written down once, then mailed at a steady rate.

When sending starts, every user of the audience who opted in to the newsletter gets a
`campaign_recipients` row (in one INSERT ... SELECT): `pending`, or `suppressed` where
the address refused mail before. The sender then walks the pending rows in id order,
at most `campaign_rate` per second, and for each one commits `sending`, hands the
mail to SMTP, and commits `sent` (or `failed` with the reason).

So a restart resumes where it stopped, and nobody gets a campaign twice: a row found
`sending` after a crash is marked `failed` ("interrupted") instead of being sent again,
because the mail may or may not have left. For marketing mail, one missed newsletter
is better than a duplicate; transactional mail (`actors/deliveries.py`) makes the
opposite choice. A user who unsubscribes while the campaign runs is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, case, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import Exists

from actors.deliveries import Sender, is_suppressed, suppress
from cluster.config import Settings
from cluster.db.models import (
    Campaign,
    CampaignRecipient,
    NotificationPreference,
    Suppression,
    User,
)
from cluster.errors import DeliveryError
from cluster.messaging import Email, sender_domain
from cluster.notifications.letters import Letters
from cluster.security import Clock

log = logging.getLogger(__name__)

BATCH = 100
NEWSLETTER = "newsletter"


@dataclass(frozen=True)
class Progress:
    campaign_id: str
    state: str
    total: int
    pending: int
    sent: int
    suppressed: int
    failed: int
    skipped: int


def progress(session: Session, campaign_id: str) -> Progress | None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    counts = dict(
        session.execute(
            select(CampaignRecipient.state, func.count())
            .where(CampaignRecipient.campaign_id == campaign_id)
            .group_by(CampaignRecipient.state)
        ).all()
    )
    return Progress(
        campaign_id=campaign_id,
        state=campaign.state,
        total=sum(counts.values()),
        pending=counts.get("pending", 0) + counts.get("sending", 0),
        sent=counts.get("sent", 0),
        suppressed=counts.get("suppressed", 0),
        failed=counts.get("failed", 0),
        skipped=counts.get("skipped", 0),
    )


def opted_in() -> Exists:
    """Users whose newsletter email preference is on: marketing goes to them alone."""
    return exists().where(
        NotificationPreference.user_id == User.id,
        NotificationPreference.kind == NEWSLETTER,
        NotificationPreference.email.is_(True),
    )


def audience_filter(audience: str) -> list[ColumnElement[bool]]:
    """`opted_in`, or `tier:<name>` (those of that tier who opted in)."""
    conditions: list[ColumnElement[bool]] = [
        User.email.is_not(None),
        User.suspended_at.is_(None),
        opted_in(),
    ]
    if audience.startswith("tier:"):
        conditions.append(User.tier == audience.removeprefix("tier:"))
    return conditions


class CampaignSender:
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        sender: Sender,
        clock: Clock,
        pause: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`pause` and `monotonic` pace the sends (real time: a rate is a physical
        limit); a test passes a pair that only moves when paused."""
        self.settings = settings
        self.sessions = sessions
        self.sender = sender
        self.clock = clock
        self.pause = pause
        self.monotonic = monotonic
        self.letters = Letters(settings)
        self.domain = sender_domain(settings.smtp_from)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def begin(self, campaign_id: str) -> None:
        """Write the audience down (once) and mark the campaign `sending`; after a
        restart, settle the rows a dead sender left `sending`."""
        with self.sessions.begin() as session:
            campaign = session.get(Campaign, campaign_id, with_for_update=True)
            if campaign is None or campaign.state in {"sent", "cancelled"}:
                return
            if campaign.state != "sending":
                suppressed = exists().where(Suppression.address == func.lower(User.email))
                session.execute(
                    insert(CampaignRecipient).from_select(
                        ["campaign_id", "user_id", "address", "state"],
                        select(
                            literal(campaign_id),
                            User.id,
                            User.email,
                            # A suppressed address is counted, never mailed.
                            case((suppressed, literal("suppressed")), else_=literal("pending")),
                        ).where(and_(*audience_filter(campaign.audience))),
                    )
                )
                campaign.state, campaign.started_at = "sending", self.now()
            else:
                session.execute(
                    update(CampaignRecipient)
                    .where(
                        CampaignRecipient.campaign_id == campaign_id,
                        CampaignRecipient.state == "sending",
                    )
                    .values(
                        state="failed",
                        error="interrupted while sending; not sent again, so nobody gets it twice",
                    )
                )

    def run(self, campaign_id: str, *, stop: threading.Event | None = None) -> Progress | None:
        """Send every pending mail of the campaign, paced; returns the final progress
        (or the progress so far, if `stop` was set)."""
        self.begin(campaign_id)
        with self.sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None or campaign.state != "sending":
                return progress(session, campaign_id)
            subject, html, text = campaign.subject, campaign.html, campaign.text
        interval = 1.0 / self.settings.campaign_rate
        next_at = self.monotonic()
        while stop is None or not stop.is_set():
            with self.sessions() as session:
                batch = list(
                    session.execute(
                        select(
                            CampaignRecipient.id,
                            CampaignRecipient.user_id,
                            CampaignRecipient.address,
                        )
                        .where(
                            CampaignRecipient.campaign_id == campaign_id,
                            CampaignRecipient.state == "pending",
                        )
                        .order_by(CampaignRecipient.id)
                        .limit(BATCH)
                    )
                )
            if not batch:
                break
            for row_id, user_id, address in batch:
                if stop is not None and stop.is_set():
                    break
                wait = next_at - self.monotonic()
                if wait > 0:
                    self.pause(wait)
                # Pace from the schedule, not from now: a slow send is made up after.
                next_at = max(next_at + interval, self.monotonic() - 1.0)
                self._send_one(
                    row_id,
                    campaign_id=campaign_id,
                    user_id=user_id,
                    address=address,
                    parts=(subject, html, text),
                )
        with self.sessions.begin() as session:
            left = session.scalar(
                select(func.count()).where(
                    CampaignRecipient.campaign_id == campaign_id,
                    CampaignRecipient.state.in_(("pending", "sending")),
                )
            )
            campaign = session.get(Campaign, campaign_id)
            if campaign is not None and not left and campaign.state == "sending":
                campaign.state, campaign.finished_at = "sent", self.now()
        with self.sessions() as session:
            return progress(session, campaign_id)

    def _send_one(
        self,
        row_id: int,
        *,
        campaign_id: str,
        user_id: str,
        address: str,
        parts: tuple[str, str, str],
    ) -> str:
        with self.sessions.begin() as session:
            row = session.get(CampaignRecipient, row_id)
            if row is None or row.state != "pending":
                return row.state if row is not None else "gone"
            still_in = session.scalar(
                select(NotificationPreference.email).where(
                    NotificationPreference.user_id == user_id,
                    NotificationPreference.kind == NEWSLETTER,
                )
            )
            if not still_in:  # unsubscribed since the campaign started
                row.state, row.error = "skipped", "unsubscribed"
                return row.state
            if is_suppressed(session, address):
                row.state = "suppressed"
                return row.state
            row.state = "sending"
        subject, html, text = parts
        body_text, body_html, unsubscribe = self.letters.campaign(
            subject=subject, body_html=html, body_text=text, recipient_id=user_id
        )
        email = Email(
            to=address,
            subject=subject,
            text=body_text,
            html=body_html,
            message_id=f"<c{campaign_id}.{user_id}@{self.domain}>",
            headers=(
                ("List-Unsubscribe", f"<{unsubscribe}>"),
                # RFC 8058: mail clients may POST to the URL above without a visit.
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                ("Precedence", "bulk"),
            ),
        )
        state, error = "sent", None
        try:
            self.sender.send_email(email)
        except DeliveryError as exc:
            state, error = "failed", str(exc)
            if exc.permanent and exc.code is not None:
                with self.sessions.begin() as session:
                    suppress(session, address=address, reason=f"SMTP {exc.code}: {exc}")
                state = "suppressed"
        with self.sessions.begin() as session:
            row = session.get(CampaignRecipient, row_id)
            assert row is not None
            row.state, row.error = state, error
            row.sent_at = self.now() if state == "sent" else None
        return state
