"""Standard Webhooks signatures (https://www.standardwebhooks.com/), made with the
`standardwebhooks` package so that what we send is what its verifier accepts.

`webhook-signature` is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`; during a secret
rotation it holds one such signature per live secret, separated by spaces, and a
receiver that knows either secret accepts the message.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a secret


def new_secret() -> str:
    """A `whsec_` secret: 24 random bytes, base64 (what Svix and Standard Webhooks use)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def headers(*, secrets: list[str], msg_id: str, timestamp: float, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, signed with every secret."""
    moment = datetime.fromtimestamp(int(timestamp), UTC)
    signatures = [Webhook(secret).sign(msg_id, moment, body) for secret in secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(signatures),
    }
