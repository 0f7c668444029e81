"""Signed unsubscribe links (RFC 8058 one-click): who, and from which type of email.

The token is `base64url(user_id:kind).signature`: no database row, no expiry (a mail
read a year later must still unsubscribe), and a rotated secret keeps old links
working while it is listed in VIDRAY_SIGNING_PREVIOUS_SECRETS.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import quote

from cluster.config import Settings
from cluster.security import constant_time_equal, derive_key, keyed_hash

PURPOSE = "unsubscribe"
PATH = "/hooks/unsubscribe"


class BadToken(ValueError):
    """The link was altered, truncated, or signed with a secret no longer accepted."""


@dataclass(frozen=True)
class Unsubscribe:
    user_id: str
    kind: str


def _signature(secret: str, payload: str) -> str:
    return keyed_hash(derive_key(secret, PURPOSE), payload)[:32]


def make_token(settings: Settings, *, user_id: str, kind: str) -> str:
    payload = base64.urlsafe_b64encode(f"{user_id}:{kind}".encode()).decode().rstrip("=")
    return f"{payload}.{_signature(settings.signing_secret.get_secret_value(), payload)}"


def read_token(settings: Settings, token: str) -> Unsubscribe:
    payload, _, signature = token.strip().partition(".")
    secrets = [settings.signing_secret, *settings.signing_previous_secrets]
    if not payload or not any(
        constant_time_equal(signature, _signature(s.get_secret_value(), payload)) for s in secrets
    ):
        raise BadToken("this unsubscribe link is not valid: use the link from the email as is")
    try:
        text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise BadToken("this unsubscribe link is malformed") from None
    user_id, _, kind = text.partition(":")
    return Unsubscribe(user_id=user_id, kind=kind)


def unsubscribe_url(settings: Settings, *, user_id: str, kind: str) -> str:
    """The HTTPS link for `List-Unsubscribe` and the footer of every email."""
    token = make_token(settings, user_id=user_id, kind=kind)
    return f"{settings.public_url}{PATH}?token={quote(token)}"
