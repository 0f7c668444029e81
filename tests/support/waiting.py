"""Waiting on a condition, never on a guessed duration.

A test that sleeps "long enough" is slow on a fast machine and flaky on a slow one.
`eventually` polls a predicate until it holds and hands back what it returned, so a
wait takes as long as the event it waits for, and a timeout says what it last saw.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _timed_out(
    what: str, *, timeout: float, last: object, error: BaseException | None
) -> AssertionError:
    seen = f"last error: {error!r}" if error is not None else f"last value: {last!r}"
    return AssertionError(f"{what} did not happen within {timeout:g} s ({seen})")


def eventually(
    predicate: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
    what: str | None = None,
) -> T:
    """Call `predicate` until it returns something truthy, and return that.

    Exceptions of the `ignoring` types count as "not yet" (a server that does not accept
    connections yet). Raises AssertionError after `timeout` seconds, naming `what` (or
    the predicate) and the last value or error it saw.

    >>> eventually(lambda: outbox_code(outbox, "ana@example.com"), timeout=20)
    '123456'
    """
    deadline = time.monotonic() + timeout
    last: object = None
    error: BaseException | None = None
    while True:
        try:
            last = predicate()
        except ignoring as exc:
            error = exc
        else:
            error = None
            if last:
                return last
        if time.monotonic() >= deadline:
            raise _timed_out(
                what or getattr(predicate, "__name__", repr(predicate)),
                timeout=timeout,
                last=last,
                error=error,
            ) from error
        time.sleep(interval)


async def eventually_async(
    predicate: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str | None = None,
) -> T:
    """`eventually` for async tests: polls without blocking the event loop, so the
    work being waited for can run on it. `predicate` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        last = value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise _timed_out(
                what or getattr(predicate, "__name__", repr(predicate)),
                timeout=timeout,
                last=last,
                error=None,
            )
        await asyncio.sleep(interval)
