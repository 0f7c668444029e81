"""A campaign's rows in `campaign_recipients`: who is in its audience, and where its
sending stands (`Progress`, counted from the rows, so it is right after any restart)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Exists

from cluster.db.models import Campaign, CampaignRecipient, NotificationPreference, User

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
