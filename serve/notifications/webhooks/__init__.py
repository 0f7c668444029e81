"""Webhooks, as the Standard Webhooks spec has them: a user registers endpoints
(`registry.Webhooks`), every message is signed (`signing`), every address checked
(`guard`), and deliveries are retried on a schedule (`schedule`) by the webhook actor
(`delivery.WebhookDeliveries`, run by `actors/webhooks.py`)."""
