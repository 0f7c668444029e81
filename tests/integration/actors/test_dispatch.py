"""The dispatcher's logic (`actors.dispatcher.Dispatch`) against SQLite and PostgreSQL,
with in-process subscribers: order, cursors, restarts, a failing subscriber, late
commits and the wake-up on commit. The actor itself: tests/integration/actors/
test_dispatcher_actor.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import Engine

from actors.dispatcher import Backoff, Deliver, Dispatch
from cluster import db
from cluster.db.models import new_id
from cluster.events import Event, emit, wake_on_commit
from tests.support.waiting import eventually_async


class Recorder:
    """An in-process subscriber that remembers what it got (of one test's aggregate)
    and fails the first `fail` batches."""

    def __init__(self, aggregate: str, *, fail: int = 0) -> None:
        self.aggregate = aggregate
        self.fail = fail
        self.ids: list[int] = []
        self.calls = 0

    async def handle(self, events: list[Event]) -> None:
        self.calls += 1
        if self.fail > 0:
            self.fail -= 1
            raise RuntimeError("subscriber down")
        self.ids.extend(e.id for e in events if e.aggregate_id == self.aggregate)


def _emit(engine: Engine, aggregate: str, count: int) -> list[int]:
    sessions = db.session_factory(engine)
    ids = []
    with sessions.begin() as session:
        for n in range(count):
            ids.append(emit(session, "video.ready", aggregate, owner_id="o", n=n))
        session.flush()
        return [event.id for event in ids]


@asynccontextmanager
async def running(
    engine: Engine, subscribers: dict[str, Deliver], **options: object
) -> AsyncIterator[Dispatch]:
    dispatch = Dispatch(
        sessions=db.session_factory(engine),
        subscribers=subscribers,
        poll_s=options.pop("poll_s", 0.05),  # type: ignore[arg-type]
        backoff=Backoff(base_s=0.05, cap_s=0.2),
        **options,  # type: ignore[arg-type]
    )
    task = asyncio.create_task(dispatch.run())
    try:
        yield dispatch
    finally:
        dispatch.stop()
        await task


def has(recorder: Recorder, ids: list[int]) -> Callable[[], bool]:
    return lambda: recorder.ids == ids


async def test_every_subscriber_gets_every_event_in_order_and_its_cursor_moves(
    engine: Engine,
) -> None:
    aggregate = new_id()
    first, second = Recorder(aggregate), Recorder(aggregate)
    ids = _emit(engine, aggregate, 7)
    name1, name2 = f"a-{aggregate}", f"b-{aggregate}"
    async with running(
        engine, {name1: first.handle, name2: second.handle}, batch_size=3
    ) as dispatch:
        await eventually_async(has(first, ids), what="first subscriber's events")
        await eventually_async(has(second, ids), what="second subscriber's events")
        more = _emit(engine, aggregate, 2)
        await eventually_async(has(first, ids + more), what="events after the start")
        await eventually_async(has(second, ids + more), what="the same for the second")
        await eventually_async(lambda: dispatch.cursors().get(name1) == dispatch.head)


async def test_a_restart_resumes_from_the_cursor(engine: Engine) -> None:
    aggregate = new_id()
    name = f"r-{aggregate}"
    before = Recorder(aggregate)
    ids = _emit(engine, aggregate, 3)
    async with running(engine, {name: before.handle}) as dispatch:
        await eventually_async(has(before, ids))
        await eventually_async(lambda: dispatch.cursors()[name] == dispatch.head)
    later = _emit(engine, aggregate, 2)
    after = Recorder(aggregate)
    async with running(engine, {name: after.handle}):
        await eventually_async(has(after, later), what="only the events after the restart")


async def test_a_failing_subscriber_backs_off_without_holding_back_the_others(
    engine: Engine,
) -> None:
    aggregate = new_id()
    healthy, failing = Recorder(aggregate), Recorder(aggregate, fail=4)
    ids = _emit(engine, aggregate, 5)
    names = {"healthy": f"h-{aggregate}", "failing": f"f-{aggregate}"}
    async with running(
        engine, {names["healthy"]: healthy.handle, names["failing"]: failing.handle}
    ) as dispatch:
        await eventually_async(has(healthy, ids), what="the healthy subscriber's events")
        await eventually_async(has(failing, ids), what="the failing one's, after retries")
        assert failing.calls >= 5
        assert dispatch.failures[names["failing"]] == 0


async def test_a_lower_id_committed_later_is_still_delivered(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite writes one transaction at a time: ids commit in order")
    aggregate = new_id()
    recorder = Recorder(aggregate)
    sessions = db.session_factory(engine)
    slow = sessions()
    slow.begin()
    early = emit(slow, "video.ready", aggregate, owner_id="o")
    slow.flush()  # takes its id now, commits later
    fast = _emit(engine, aggregate, 1)
    assert early.id < fast[0]
    async with running(engine, {f"l-{aggregate}": recorder.handle}):
        await eventually_async(has(recorder, fast), what="the event committed first")
        slow.commit()
        slow.close()
        await eventually_async(has(recorder, [*fast, early.id]), what="the late commit")


async def test_a_commit_wakes_the_dispatcher_before_its_next_poll(engine: Engine) -> None:
    aggregate = new_id()
    recorder = Recorder(aggregate)
    sessions = db.session_factory(engine)
    async with running(engine, {f"w-{aggregate}": recorder.handle}, poll_s=600) as dispatch:
        wake_on_commit(sessions, dispatch.wake)
        await asyncio.sleep(0)  # let the sequencer take its first look and wait
        with sessions.begin() as session:
            event = emit(session, "video.ready", aggregate, owner_id="o")
        # A poll every 600 s could not deliver it within eventually's 10 s: the wake did.
        await eventually_async(has(recorder, [event.id]), what="the woken delivery")


async def test_a_new_subscriber_starts_at_the_head_not_with_history(engine: Engine) -> None:
    aggregate = new_id()
    old = Recorder(aggregate)
    history = _emit(engine, aggregate, 2)
    async with running(engine, {f"o-{aggregate}": old.handle}) as dispatch:
        await eventually_async(has(old, history), what="the history, to the first subscriber")
        # Acknowledged, so the restart below does not hand it over again (at least once).
        await eventually_async(lambda: dispatch.cursors()[f"o-{aggregate}"] == dispatch.head)
    newcomer = Recorder(aggregate)
    subscribers = {f"o-{aggregate}": old.handle, f"n-{aggregate}": newcomer.handle}
    async with running(engine, subscribers):
        fresh = _emit(engine, aggregate, 1)
        await eventually_async(has(newcomer, fresh), what="only what came after it")
        await eventually_async(has(old, history + fresh))
