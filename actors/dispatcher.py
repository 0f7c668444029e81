"""Outbox to subscribers: one detached actor, `Dispatcher` (named "dispatcher").

Every domain event is an outbox row committed with its change (`cluster/events.py`).
This actor hands those rows, as `Event` batches, to every subscriber in the registry
(`actors/subscribers.py`: subscriber name -> actor name), at least once, keeping one
durable cursor per subscriber (`subscriber_cursors`).

Why a second sequence (`outbox.seq`) and not the row id: PostgreSQL hands out ids when
a row is inserted, not when its transaction commits. Transaction A takes id 7, B takes
id 8 and commits first; a reader that saw 8 and moved its cursor past it would never
deliver 7. Waiting a grace period at every gap would slow every gap left by a rollback
and still lose an event whose transaction ran past the grace. Instead the dispatcher,
the only writer of `seq`, numbers rows in the order it *sees them committed*: each pass
takes the committed rows that have no `seq` yet (`dispatched_at IS NULL`, in id order)
and gives them the next numbers, gap-free. A late commit of id 7 simply gets a later
`seq`. Cursors count `seq`, so nothing committed is ever skipped; subscribers see id
order except for such late commits (they are idempotent on `Event.id` anyway). A unique
index on `seq` makes a second, stray dispatcher fail its pass rather than double-number.

Each subscriber has its own asyncio task: a subscriber that raises is retried after an
exponential backoff while the others carry on. New events arrive within a second: every
session that emitted an event pings `wake` after its commit (`cluster.events.
wake_on_commit`, fire and forget), and a poll every `events_poll_s` catches the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from actors.dispatcher_client import ACTOR_NAME, DispatcherClient, DispatcherWaker
from actors.singleton import start_singleton
from actors.subscribers import REGISTRY
from cluster import db, metrics
from cluster.config import Settings
from cluster.db.models import OutboxEvent, SubscriberCursor, utcnow
from cluster.events import Event

log = logging.getLogger(__name__)

Deliver = Callable[[list[Event]], Awaitable[None]]
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait after the n-th failure in a row: doubling from `base_s` up to
    `cap_s`, with jitter so subscribers that failed together do not retry together."""

    base_s: float = 0.5
    cap_s: float = 60.0

    def delay(self, failures: int) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, failures - 1))
        return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret


class Dispatch:
    """The dispatcher's logic, without Ray: `run()` sequences the outbox and feeds every
    subscriber until `stop()`. Tests drive it with in-process subscribers."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        subscribers: Mapping[str, Deliver],
        batch_size: int = 500,
        poll_s: float = 0.5,
        backoff: Backoff | None = None,
    ) -> None:
        self.sessions = sessions
        self.subscribers = dict(subscribers)
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.backoff = backoff or Backoff()
        self.head = 0  # the newest seq given out
        self.failures: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._news: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        """Sequence and deliver until `stop()` (or the task is cancelled)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._news = {name: asyncio.Event() for name in self.subscribers}
        # Cursors of new subscribers are made before anything is sequenced: each starts
        # at the head as it is now, and is handed every event committed after it.
        self.head = await self._retrying(self._start_cursors)
        self._tasks = [asyncio.create_task(self._sequencer(), name="sequencer")]
        self._tasks += [
            asyncio.create_task(self._feed(name, deliver), name=f"feed-{name}")
            for name, deliver in self.subscribers.items()
        ]
        try:
            await asyncio.gather(*self._tasks)
        except asyncio.CancelledError:
            pass
        finally:
            for task in self._tasks:
                task.cancel()

    def stop(self) -> None:
        for task in self._tasks:
            task.get_loop().call_soon_threadsafe(task.cancel)

    def wake(self) -> None:
        """New events were committed: look now (safe from any thread)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # -- the sequencer ------------------------------------------------------------------

    async def _sequencer(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                head, full = await asyncio.to_thread(self.sequence)
            except Exception as exc:  # the database is away: try again at the next poll
                log.warning("dispatcher: sequencing failed: %s", exc)
                head, full = self.head, False
            if head > self.head:
                self.head = head
                for news in self._news.values():
                    news.set()
            if full:
                continue  # more are waiting: no pause
            with contextlib.suppress(TimeoutError):  # the poll: nobody woke us
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)

    def sequence(self) -> tuple[int, bool]:
        """Number the committed rows that have no `seq` yet; return the newest seq and
        whether a full batch was taken (more may wait)."""
        with self.sessions.begin() as session:
            ids = session.scalars(
                select(OutboxEvent.id)
                .where(OutboxEvent.dispatched_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(self.batch_size)
            ).all()
            if not ids:
                return self.head, False
            head = session.scalar(select(func.coalesce(func.max(OutboxEvent.seq), 0))) or 0
            now = utcnow()
            session.execute(
                update(OutboxEvent),
                [
                    {"id": event_id, "seq": head + n, "dispatched_at": now}
                    for n, event_id in enumerate(ids, start=1)
                ],
            )
        return head + len(ids), len(ids) == self.batch_size

    def _current_head(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.coalesce(func.max(OutboxEvent.seq), 0))) or 0)

    # -- one task per subscriber --------------------------------------------------------

    async def _retrying(self, read: Callable[[], T]) -> T:
        """`read()` in a thread, tried again each poll interval while the database is
        away: the dispatcher outlives an outage instead of dying with it."""
        while True:
            try:
                return await asyncio.to_thread(read)
            except Exception as exc:
                log.warning("dispatcher: database unavailable: %s", exc)
                await asyncio.sleep(self.poll_s)

    async def _feed(self, name: str, deliver: Deliver) -> None:
        news = self._news[name]
        position = await self._retrying(functools.partial(self.position, name))
        while True:
            news.clear()
            if position >= self.head:
                metrics.dispatcher_lag(subscriber=name, seconds=0.0)  # caught up
                await news.wait()
                continue
            batch = await self._retrying(functools.partial(self.pending, position))
            if not batch:
                continue
            events = [event for _, event in batch]
            try:
                await deliver(events)
            except Exception as exc:
                failures = self.failures.get(name, 0) + 1
                self.failures[name] = failures
                log.warning("dispatcher: %s failed (%d in a row): %s", name, failures, exc)
                with contextlib.suppress(Exception):  # only the error's record is lost
                    await asyncio.to_thread(self._record, name, position, failures, repr(exc))
                await asyncio.sleep(self.backoff.delay(failures))
                continue
            position = batch[-1][0]
            self.failures[name] = 0
            # How late the batch's oldest event reached this subscriber: the panel an
            # operator watches when search or email fall behind.
            lag = datetime.now(UTC) - events[0].timestamp
            metrics.dispatcher_lag(subscriber=name, seconds=lag.total_seconds())
            # Saved before the next batch: a cursor not saved (the database away) only
            # means this batch is handed over again after a restart.
            await self._retrying(functools.partial(self._record, name, position, 0, None))

    def pending(self, position: int) -> list[tuple[int, Event]]:
        """The next batch after `position`, in seq order, each with its seq."""
        with self.sessions() as session:
            rows = session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.seq > position)
                .order_by(OutboxEvent.seq)
                .limit(self.batch_size)
            ).all()
            return [(int(row.seq or 0), Event.from_row(row)) for row in rows]

    def _start_cursors(self) -> int:
        """Give every subscriber without a cursor one at the current head; return it.

        A subscriber added to a running installation is told of what happens from now
        on, not of its history: a notifier must not mail a year of old events, and an
        index rebuilds what exists from the database, not from the outbox."""
        head = self._current_head()
        with self.sessions.begin() as session:
            known = set(session.scalars(select(SubscriberCursor.name)))
            for name in self.subscribers.keys() - known:
                session.add(SubscriberCursor(name=name, position=head, failures=0))
        return head

    def position(self, name: str) -> int:
        """Where `name` resumes: its saved cursor."""
        with self.sessions() as session:
            cursor = session.get(SubscriberCursor, name)
            return self.head if cursor is None else int(cursor.position)

    def _record(self, name: str, position: int, failures: int, error: str | None) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(SubscriberCursor)
                .where(SubscriberCursor.name == name)
                .values(position=position, failures=failures, last_error=error)
            )

    def cursors(self) -> dict[str, int]:
        """Every subscriber's saved position (tests, the CLI)."""
        with self.sessions() as session:
            rows = session.execute(select(SubscriberCursor.name, SubscriberCursor.position))
            return {name: int(position) for name, position in rows}


def remote_subscriber(actor_name: str, *, namespace: str) -> Deliver:
    """A `Deliver` that calls the named actor's `handle`. The handle is looked up on
    each failure again: a subscriber restarted, or started after the dispatcher, is
    found; one not running yet is a failure like any other (its events wait)."""
    import ray

    handle: list[Any] = []

    async def deliver(events: list[Event]) -> None:
        if not handle:
            handle.append(ray.get_actor(actor_name, namespace=namespace))
        try:
            await handle[0].handle.remote(events)
        except Exception:
            handle.clear()
            raise

    return deliver


class Dispatcher:
    """The dispatcher actor: a `Dispatch` on an event loop of its own thread, so it
    starts with the actor (also when Ray restarts it) and actor calls never wait on it."""

    def __init__(self, settings: Settings, subscribers: Mapping[str, str] | None = None) -> None:
        self.engine = db.make_engine(settings.resolved_database_url)
        registry = REGISTRY if subscribers is None else subscribers
        self.dispatch = Dispatch(
            sessions=db.session_factory(self.engine),
            subscribers={
                name: remote_subscriber(actor, namespace=settings.ray_namespace)
                for name, actor in registry.items()
            },
            batch_size=settings.events_batch_size,
            poll_s=settings.events_poll_s,
        )
        self._thread = threading.Thread(
            target=asyncio.run, args=(self.dispatch.run(),), name="dispatch", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        self.dispatch.wake()

    def cursors(self) -> dict[str, int]:
        return self.dispatch.cursors()

    def head(self) -> int:
        return self.dispatch.head


def start(settings: Settings, subscribers: Mapping[str, str] | None = None) -> DispatcherClient:
    """The cluster's one dispatcher, created if missing (restarted by Ray if it dies).
    `subscribers`: the registry to use instead of `actors.subscribers.REGISTRY`."""
    return DispatcherClient(
        start_singleton(
            Dispatcher,
            settings,
            subscribers,
            settings=settings,
            name=ACTOR_NAME,
            max_concurrency=8,
        )
    )


__all__ = [
    "ACTOR_NAME",
    "Backoff",
    "Dispatch",
    "Dispatcher",
    "DispatcherClient",
    "DispatcherWaker",
    "remote_subscriber",
    "start",
]
