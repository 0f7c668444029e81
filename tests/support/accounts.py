"""Signing in as a person would: the code from the dev outbox, then a token."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cluster.config import Settings
    from serve.accounts.service import Accounts

CODE = re.compile(r"\b(\d{6})\b")

GIB = 1024**3
# What an operator who sells plans sets as VIDRAY_TIERS: a free tier capped at 720p and
# without private videos (the defaults take neither away), for tests of those refusals.
RESTRICTED_TIERS = json.dumps(
    {
        "free": {
            "max_upload_bytes": 2 * GIB,
            "max_output_height": 720,
            "storage_quota_bytes": 10 * GIB,
            "upload_minutes_per_month": 120,
            "private_videos": False,
        },
        "pro": {
            "max_upload_bytes": 20 * GIB,
            "max_output_height": 1080,
            "storage_quota_bytes": 500 * GIB,
            "upload_minutes_per_month": 3000,
            "private_videos": True,
        },
        "business": {
            "max_upload_bytes": 100 * GIB,
            "max_output_height": 2160,
            "storage_quota_bytes": 5000 * GIB,
            "upload_minutes_per_month": 30000,
            "private_videos": True,
        },
    }
)

# `make_users(limits=...)`: the serve tests' fixture that builds the accounts service.
MakeUsers = Callable[..., "Accounts"]


def outbox_code(outbox: Path, to: str) -> str | None:
    """The code in the newest message for `to` in the outbox folder, if one came."""
    for path in sorted(outbox.glob("*.json"), reverse=True):
        message = json.loads(path.read_text())
        if message["to"] == to.lower():
            found = CODE.search(message["body"])
            assert found, message
            return found.group(1)
    return None


def latest_code(outbox: Path, to: str) -> str:
    """The code in the newest message for `to`, which must be there already."""
    code = outbox_code(outbox, to)
    if code is None:
        raise AssertionError(f"no message to {to} in {outbox}")
    return code


def sign_in(users: Accounts, settings: Settings, email: str) -> str:
    """An access token for `email`, signed up with the code from the dev outbox."""
    users.request_otp(email=email)
    return users.verify_otp(email=email, code=latest_code(settings.outbox_dir, email)).access_token
