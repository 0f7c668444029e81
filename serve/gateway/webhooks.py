"""Queries and mutations of webhooks: register, list, delete, rotate, enable, replay,
and the delivery log. Every call acts on the signed-in user's own endpoints."""

from __future__ import annotations

from datetime import datetime

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info

from serve.gateway.context import GatewayContext
from serve.notifications.webhooks.views import AttemptView, DeliveryView, WebhookView

Ctx = Info[GatewayContext, None]


@strawberry.type(description="An endpoint that receives signed events (Standard Webhooks).")
class Webhook:
    id: strawberry.ID
    url: str
    events: list[str] = strawberry.field(description="Event types sent; empty: all of them.")
    enabled: bool
    disabled_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, view: WebhookView) -> Webhook:
        return cls(
            id=strawberry.ID(view.id),
            url=view.url,
            events=list(view.events),
            enabled=view.enabled,
            disabled_reason=view.disabled_reason,
            created_at=view.created_at,
        )


@strawberry.type(description="A webhook with its signing secret, shown only this once.")
class WebhookSecret:
    webhook: Webhook
    secret: str = strawberry.field(description="whsec_...: verify deliveries with it.")


@strawberry.type
class WebhookAttempt:
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def of(cls, view: AttemptView) -> WebhookAttempt:
        return cls(
            at=view.at,
            status_code=view.status_code,
            error=view.error,
            duration_ms=view.duration_ms,
        )


@strawberry.type(description="One message to one endpoint, and every attempt at it.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="The webhook-id header.")
    webhook_id: strawberry.ID
    event_id: int
    event_type: str
    status: str = strawberry.field(description="pending, delivered or failed.")
    attempts: list[WebhookAttempt]
    next_attempt_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, view: DeliveryView) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(view.id),
            webhook_id=strawberry.ID(view.webhook_id),
            event_id=view.event_id,
            event_type=view.event_type,
            status=view.status,
            attempts=[WebhookAttempt.of(a) for a in view.log],
            next_attempt_at=view.next_attempt_at,
            created_at=view.created_at,
        )


def _with_secret(view: WebhookView) -> WebhookSecret:
    assert view.secret is not None
    return WebhookSecret(webhook=Webhook.of(view), secret=view.secret)


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="Your webhook endpoints.")
    async def webhooks(self, info: Ctx) -> list[Webhook]:
        viewer = info.context.require_viewer()
        views = await run_in_threadpool(info.context.webhooks.endpoints, owner_id=viewer.id)
        return [Webhook.of(view) for view in views]

    @strawberry.field(description="Your deliveries, newest first, with every attempt.")
    async def webhook_deliveries(
        self,
        info: Ctx,
        webhook_id: strawberry.ID | None = None,
        status: str | None = None,
        first: int = 20,
    ) -> list[WebhookDelivery]:
        viewer = info.context.require_viewer()
        views = await run_in_threadpool(
            info.context.webhooks.deliveries,
            owner_id=viewer.id,
            webhook_id=str(webhook_id) if webhook_id is not None else None,
            status=status,
            first=first,
        )
        return [WebhookDelivery.of(view) for view in views]


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(description="Register an https endpoint for these event types.")
    async def create_webhook(
        self, info: Ctx, url: str, events: list[str] | None = None
    ) -> WebhookSecret:
        viewer = info.context.require_viewer()
        view = await run_in_threadpool(
            info.context.webhooks.create, owner_id=viewer.id, url=url, events=events or []
        )
        return _with_secret(view)

    @strawberry.mutation(description="Stop sending to an endpoint and forget it.")
    async def delete_webhook(self, info: Ctx, id: strawberry.ID) -> bool:
        viewer = info.context.require_viewer()
        await run_in_threadpool(
            info.context.webhooks.delete, owner_id=viewer.id, webhook_id=str(id)
        )
        return True

    @strawberry.mutation(
        description="A new secret; the old one keeps signing too for a grace period."
    )
    async def rotate_webhook_secret(self, info: Ctx, id: strawberry.ID) -> WebhookSecret:
        viewer = info.context.require_viewer()
        view = await run_in_threadpool(
            info.context.webhooks.rotate, owner_id=viewer.id, webhook_id=str(id)
        )
        return _with_secret(view)

    @strawberry.mutation(description="Turn a disabled endpoint back on.")
    async def enable_webhook(self, info: Ctx, id: strawberry.ID) -> Webhook:
        viewer = info.context.require_viewer()
        view = await run_in_threadpool(
            info.context.webhooks.enable, owner_id=viewer.id, webhook_id=str(id)
        )
        return Webhook.of(view)

    @strawberry.mutation(description="Send an event this endpoint was sent before again.")
    async def replay_webhook_event(
        self, info: Ctx, webhook_id: strawberry.ID, event_id: int
    ) -> WebhookDelivery:
        viewer = info.context.require_viewer()
        view = await run_in_threadpool(
            info.context.webhooks.replay,
            owner_id=viewer.id,
            webhook_id=str(webhook_id),
            event_id=event_id,
        )
        return WebhookDelivery.of(view)
