"""One KV suite, run against the real Redis on this machine and the embedded store.

Expiry is tested without sleeping: the embedded store reads a fake clock that a test
moves; Redis keeps time itself, so its short TTLs are waited out with `eventually`.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster.kv import KV, EmbeddedKV, RedisKV
from tests.support.clock import FakeClock
from tests.support.waiting import eventually


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["embedded", "redis"])
def kv(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> KV:
    if request.param == "embedded":
        return EmbeddedKV(tmp_path / "kv.sqlite3", clock=clock)
    return RedisKV(request.getfixturevalue("redis_url"))


Elapse = Callable[..., None]


@pytest.fixture
def elapse(kv: KV, clock: FakeClock) -> Elapse:
    """`elapse(seconds, until=check)`: once `seconds` have passed on the store's clock,
    `check()` holds. The fake clock jumps at once; Redis's own clock is waited on."""

    def elapse(seconds: float, *, until: Callable[[], object]) -> None:
        if isinstance(kv, EmbeddedKV):
            clock.advance(seconds)
            assert until()
        else:
            eventually(until, timeout=seconds + 5, interval=0.01)

    return elapse


@pytest.fixture
def key() -> str:
    # Redis is shared with other users of this machine: every test owns fresh keys.
    return f"vidray-test:{uuid.uuid4().hex}"


def test_get_set_delete(kv: KV, key: str) -> None:
    assert kv.get(key) is None
    assert kv.set(key, b"v1")
    assert kv.get(key) == b"v1"
    assert kv.set(key, "v2")
    assert kv.get(key) == b"v2"
    assert kv.delete(key) == 1
    assert kv.get(key) is None
    assert kv.delete(key) == 0


def test_values_expire(kv: KV, key: str, elapse: Elapse) -> None:
    kv.set(key, b"soon gone", ttl=0.3)
    ttl = kv.ttl(key)
    assert ttl is not None
    assert 0 < ttl <= 0.3
    elapse(0.3, until=lambda: kv.get(key) is None)


def test_only_new_does_not_overwrite(kv: KV, key: str) -> None:
    assert kv.set(key, b"first", only_new=True)
    assert not kv.set(key, b"second", only_new=True)
    assert kv.get(key) == b"first"


def test_counter_window_starts_at_first_hit(kv: KV, key: str, elapse: Elapse) -> None:
    assert kv.incr(key, ttl=0.6) == 1
    first_ttl = kv.ttl(key)
    assert first_ttl is not None
    elapse(0.2, until=lambda: (kv.ttl(key) or 0) < first_ttl)
    assert kv.incr(key, ttl=0.6) == 2
    later_ttl = kv.ttl(key)
    assert later_ttl is not None
    assert later_ttl < first_ttl, "a later hit must not extend the rate-limit window"
    elapse(0.4, until=lambda: kv.get(key) is None)
    assert kv.incr(key, ttl=0.6) == 1, "a new window starts after expiry"


def test_counters_are_atomic_under_concurrency(kv: KV, key: str) -> None:
    def hit() -> None:
        for _ in range(100):
            kv.incr(key, ttl=60)

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert kv.get(key) == b"400"


def test_sorted_sets_rank_trending(kv: KV, key: str) -> None:
    kv.zincrby(key, "cats", 3)
    kv.zincrby(key, "dogs", 5)
    kv.zincrby(key, "cats", 4)
    kv.zincrby(key, "owls", 1)
    assert kv.ztop(key, 2) == [("cats", 7.0), ("dogs", 5.0)]
    assert kv.zscore(key, "owls") == 1.0
    assert kv.zrem(key, "owls") == 1
    assert kv.zscore(key, "owls") is None
    kv.delete(key)
    assert kv.ztop(key, 10) == []


def test_embedded_store_is_shared_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "kv.sqlite3"
    kv = EmbeddedKV(path)
    kv.set("greeting", b"from parent")
    script = (
        "import sys; from pathlib import Path; from cluster.kv import EmbeddedKV; "
        "kv = EmbeddedKV(Path(sys.argv[1])); "
        "print(kv.get('greeting').decode()); kv.incr('hits', ttl=60)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "from parent"
    assert kv.get("hits") == b"1"
