"""The retry schedule: at least eight attempts over at least 24 hours, with jitter, and a
429's Retry-After in place of the next delay."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from serve.notifications.webhooks import schedule


def test_eight_attempts_span_more_than_a_day_even_with_every_delay_shrunk() -> None:
    assert schedule.ATTEMPTS >= 8
    shortest = sum(schedule.DELAYS_S) * (1 - schedule.JITTER)
    assert shortest > 24 * 3600
    assert schedule.next_delay(schedule.ATTEMPTS) is None  # then it gives up


def test_delays_are_jittered_around_the_schedule() -> None:
    delays = {schedule.next_delay(2) for _ in range(20)}
    assert len(delays) > 1
    assert all(d is not None and 270 <= d <= 330 for d in delays)


def test_retry_after_replaces_the_delay_in_seconds_or_as_a_date() -> None:
    assert schedule.next_delay(1, retry_after=120) == 120
    now = 1_800_000_000.0
    assert schedule.parse_retry_after("120", now=now) == 120
    later = format_datetime(datetime.fromtimestamp(now + 300, UTC), usegmt=True)
    assert schedule.parse_retry_after(later, now=now) == 300
    assert schedule.parse_retry_after("soon", now=now) is None
