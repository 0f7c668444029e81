"""Refusals of the notifications service.

VidrayError
└── NotificationsError
    ├── CampaignNotFound    no campaign with that id
    └── CampaignLocked      the campaign is sending or sent: it cannot change now
"""

from __future__ import annotations

from cluster.errors import VidrayError


class NotificationsError(VidrayError):
    """A notifications request was refused."""


class CampaignNotFound(NotificationsError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"no campaign {campaign_id!r}: `vidray campaigns list` shows them")
        self.campaign_id = campaign_id


class CampaignLocked(NotificationsError):
    def __init__(self, campaign_id: str, state: str) -> None:
        super().__init__(
            f"campaign {campaign_id!r} is {state}: create a new campaign to send again"
        )
        self.campaign_id = campaign_id
        self.state = state
