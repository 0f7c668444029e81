"""The in-app inbox, notification preferences and campaigns over GraphQL.

Resolvers authenticate and call the `inbox` and `campaigns` services; the rules live
there. `notificationAdded` polls the inbox (the notifier writes it from another
process), so a new notification shows within `NEW_POLL_S`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info

from cluster.errors import InvalidInput
from cluster.notifications.kinds import KINDS, Preference
from serve.gateway.context import GatewayContext
from serve.notifications.campaigns import Campaigns, CampaignView
from serve.notifications.inbox import Inbox, NotificationView

Ctx = Info[GatewayContext, None]
NEW_POLL_S = 1.0


@strawberry.type
class Notification:
    id: strawberry.ID
    kind: str = strawberry.field(description="A notification type: see notificationPreferences.")
    title: str
    body: str
    link: str
    created_at: datetime
    read: bool

    @classmethod
    def of(cls, view: NotificationView) -> Notification:
        return cls(
            id=strawberry.ID(str(view.id)),
            kind=view.kind,
            title=view.title,
            body=view.body,
            link=view.link,
            created_at=view.created_at,
            read=view.read,
        )


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    has_next_page: bool
    end_cursor: str | None
    unread_count: int


@strawberry.type
class NotificationPreference:
    kind: str
    description: str
    in_app: bool
    email: bool
    sms: bool

    @classmethod
    def of(cls, pref: Preference) -> NotificationPreference:
        return cls(
            kind=pref.kind,
            description=KINDS[pref.kind].description,
            in_app=pref.in_app,
            email=pref.email,
            sms=pref.sms,
        )


@strawberry.input
class NotificationPreferenceInput:
    kind: str
    in_app: bool
    email: bool
    sms: bool = False


@strawberry.type
class Campaign:
    id: strawberry.ID
    subject: str
    audience: str
    state: str
    scheduled_at: datetime | None
    total: int
    sent: int
    suppressed: int
    failed: int

    @classmethod
    def of(cls, view: CampaignView) -> Campaign:
        p = view.progress
        return cls(
            id=strawberry.ID(view.id),
            subject=view.subject,
            audience=view.audience,
            state=view.state,
            scheduled_at=view.scheduled_at,
            total=p.total if p else 0,
            sent=p.sent if p else 0,
            suppressed=p.suppressed if p else 0,
            failed=p.failed if p else 0,
        )


@strawberry.type
class CampaignPreview:
    subject: str
    text: str
    html: str


def _inbox(info: Ctx) -> Inbox:
    if info.context.inbox is None:
        raise InvalidInput("notifications", "the inbox is not available on this server")
    return info.context.inbox


def _campaigns(info: Ctx) -> Campaigns:
    if info.context.campaigns is None:
        raise InvalidInput("campaigns", "campaigns are not available on this server")
    return info.context.campaigns


@strawberry.type
class NotificationQueries:
    @strawberry.field(description="Your notifications, newest first.")
    async def notifications(
        self, info: Ctx, first: int = 20, after: str | None = None, unread_only: bool = False
    ) -> NotificationConnection:
        viewer = info.context.require_viewer()
        page = await run_in_threadpool(
            _inbox(info).page, user_id=viewer.id, first=first, after=after, unread_only=unread_only
        )
        return NotificationConnection(
            edges=[
                NotificationEdge(cursor=c, node=Notification.of(v))
                for c, v in zip(page.cursors, page.items, strict=True)
            ],
            has_next_page=page.has_next,
            end_cursor=page.cursors[-1] if page.cursors else None,
            unread_count=page.unread,
        )

    @strawberry.field(description="Which notifications you get on which channel.")
    async def notification_preferences(self, info: Ctx) -> list[NotificationPreference]:
        viewer = info.context.require_viewer()
        prefs = await run_in_threadpool(_inbox(info).preferences, user_id=viewer.id)
        return [NotificationPreference.of(p) for p in prefs]

    @strawberry.field(description="Campaigns, newest first (admins).")
    async def campaigns(self, info: Ctx) -> list[Campaign]:
        viewer = info.context.require_viewer()
        views = await run_in_threadpool(_campaigns(info).list, actor_id=viewer.id)
        return [Campaign.of(v) for v in views]

    @strawberry.field(description="A campaign as its readers will see it (admins).")
    async def campaign_preview(self, info: Ctx, id: strawberry.ID) -> CampaignPreview:
        viewer = info.context.require_viewer()
        found = await run_in_threadpool(
            _campaigns(info).preview, actor_id=viewer.id, campaign_id=str(id)
        )
        return CampaignPreview(subject=found.subject, text=found.text, html=found.html)


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(description="Mark these (or, without ids, all) read; how many changed.")
    async def mark_notifications_read(
        self, info: Ctx, ids: list[strawberry.ID] | None = None
    ) -> int:
        viewer = info.context.require_viewer()
        try:
            numbers = None if ids is None else [int(i) for i in ids]
        except ValueError:
            raise InvalidInput("ids", "pass notification ids as given") from None
        count: int = await run_in_threadpool(_inbox(info).mark_read, user_id=viewer.id, ids=numbers)
        return count

    @strawberry.mutation(description="Change some rows of your preferences; all of them back.")
    async def set_notification_preferences(
        self, info: Ctx, preferences: list[NotificationPreferenceInput]
    ) -> list[NotificationPreference]:
        viewer = info.context.require_viewer()
        changes = [Preference(p.kind, p.in_app, p.email, p.sms) for p in preferences]
        prefs = await run_in_threadpool(
            _inbox(info).set_preferences, user_id=viewer.id, changes=changes
        )
        return [NotificationPreference.of(p) for p in prefs]

    @strawberry.mutation(description="Write a campaign (admins); audience: opted_in or tier:NAME.")
    async def create_campaign(
        self, info: Ctx, subject: str, html: str, text: str, audience: str = "opted_in"
    ) -> Campaign:
        viewer = info.context.require_viewer()
        view = await run_in_threadpool(
            _campaigns(info).create,
            actor_id=viewer.id,
            subject=subject,
            html=html,
            text=text,
            audience=audience,
        )
        return Campaign.of(view)

    @strawberry.mutation(description="Send a campaign to yourself alone, marked [test].")
    async def send_test_campaign(self, info: Ctx, id: strawberry.ID) -> str:
        viewer = info.context.require_viewer()
        address: str = await run_in_threadpool(
            _campaigns(info).send_test, actor_id=viewer.id, campaign_id=str(id)
        )
        return address

    @strawberry.mutation(description="Send a campaign now, or at `at`.")
    async def send_campaign(
        self, info: Ctx, id: strawberry.ID, at: datetime | None = None
    ) -> Campaign:
        viewer = info.context.require_viewer()
        view = await run_in_threadpool(
            _campaigns(info).schedule, actor_id=viewer.id, campaign_id=str(id), at=at
        )
        return Campaign.of(view)


@strawberry.type
class NotificationSubscription:
    @strawberry.subscription(
        description="Your new notifications as they arrive. Over a websocket, send the token "
        "as `Authorization` in connection_init's payload."
    )
    async def notification_added(self, info: Ctx) -> AsyncGenerator[Notification, None]:
        context = info.context
        params = context.connection_params
        if context.viewer is None and isinstance(params, dict):
            await context.authenticate(params.get("Authorization") or params.get("authorization"))
        viewer = context.require_viewer()
        inbox = _inbox(info)
        last = await run_in_threadpool(inbox.latest_id, user_id=viewer.id)
        while True:
            await asyncio.sleep(NEW_POLL_S)
            for view in await run_in_threadpool(inbox.newer_than, user_id=viewer.id, after_id=last):
                last = view.id
                yield Notification.of(view)
