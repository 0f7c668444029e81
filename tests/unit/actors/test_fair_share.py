from __future__ import annotations

from datetime import datetime, timedelta

from actors.jobs import Queued, pick_next

T0 = datetime(2026, 11, 24, 12, 0)


def _jobs(owner: str, count: int, start: int = 0) -> list[Queued]:
    return [Queued(f"{owner}{i}", owner, T0 + timedelta(seconds=start + i)) for i in range(count)]


def test_one_owners_backlog_does_not_starve_a_newcomer() -> None:
    backlog = _jobs("ann", 10)
    newcomer = _jobs("bob", 1, start=100)
    picked = pick_next([*backlog, *newcomer], running_owners=["ann"])
    assert picked is not None
    assert picked.owner_id == "bob"


def test_order_of_service_alternates_between_owners() -> None:
    queued = [*_jobs("ann", 4), *_jobs("bob", 2, start=50)]
    running: list[str] = []
    order = []
    while queued:
        picked = pick_next(queued, running)
        assert picked is not None
        order.append(picked.owner_id)
        queued.remove(picked)
        running.append(picked.owner_id)
    assert order[:4] == ["ann", "bob", "ann", "bob"]


def test_oldest_first_within_one_owner() -> None:
    picked = pick_next(_jobs("ann", 3), running_owners=[])
    assert picked is not None
    assert picked.id == "ann0"


def test_nothing_queued() -> None:
    assert pick_next([], running_owners=["ann"]) is None
