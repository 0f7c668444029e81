"""When a failed delivery is tried again.

Eight attempts over about 27 hours, Svix's schedule: at once, then 5 s, 5 min, 30 min,
2 h, 5 h, 10 h and 10 h later, each delay stretched or shrunk by up to 10 % (jitter:
endpoints that failed together do not all come back together). Even with every delay
shrunk, the last attempt comes more than 24 h after the first: a receiver down for a
day still gets the message. A 429's Retry-After replaces that attempt's delay.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

DELAYS_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
ATTEMPTS = len(DELAYS_S) + 1
JITTER = 0.1
MAX_RETRY_AFTER_S = 24 * 3600.0


def next_delay(attempts: int, *, retry_after: float | None = None) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones; None: give up."""
    if attempts >= ATTEMPTS:
        return None
    if retry_after is not None:
        return min(max(retry_after, 1.0), MAX_RETRY_AFTER_S)
    delay = DELAYS_S[attempts - 1]
    return delay * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - jitter, not a secret


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now) if moment > datetime.fromtimestamp(0, UTC) else None
