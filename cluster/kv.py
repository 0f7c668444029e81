"""KV store for cache, rate limits, token revocation and trending: Redis, or embedded.

The embedded store is a SQLite file in the data dir, so every Ray worker process on the
machine sees the same keys, as they would with Redis. Both offer the same behaviour:
values with TTLs, atomic counters whose TTL starts with the first increment (a fixed
rate-limit window), and sorted sets.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import redis

from cluster.errors import KVError, ServiceUnavailable

if TYPE_CHECKING:
    from cluster.config import Settings

Clock = Callable[[], float]


class KV(Protocol):
    """What both stores offer. Values are bytes; TTLs are seconds (floats allowed)."""

    def get(self, key: str) -> bytes | None: ...
    def set(
        self, key: str, value: bytes | str, *, ttl: float | None = None, only_new: bool = False
    ) -> bool: ...
    def delete(self, *keys: str) -> int: ...
    def ttl(self, key: str) -> float | None: ...
    def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int: ...
    def zincrby(self, key: str, member: str, amount: float = 1.0) -> float: ...
    def zscore(self, key: str, member: str) -> float | None: ...
    def ztop(self, key: str, count: int) -> list[tuple[str, float]]: ...
    def zrem(self, key: str, *members: str) -> int: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


def _ms(ttl: float) -> int:
    if ttl <= 0:
        raise KVError(f"TTL must be positive, got {ttl}")
    return max(1, round(ttl * 1000))


class RedisKV:
    """The KV store on a Redis server (redis-py)."""

    # Sets the TTL only when the increment created the key, atomically.
    _INCR = """
    local value = redis.call('INCRBY', KEYS[1], ARGV[1])
    if ARGV[2] ~= '0' and redis.call('PTTL', KEYS[1]) < 0 then
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
    end
    return value
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
        self._incr = self.client.register_script(self._INCR)

    def get(self, key: str) -> bytes | None:
        value = self.client.get(key)
        return value if value is None else bytes(value)  # type: ignore[arg-type]

    def set(
        self, key: str, value: bytes | str, *, ttl: float | None = None, only_new: bool = False
    ) -> bool:
        px = _ms(ttl) if ttl is not None else None
        return bool(self.client.set(key, value, px=px, nx=only_new))

    def delete(self, *keys: str) -> int:
        return int(self.client.delete(*keys)) if keys else 0

    def ttl(self, key: str) -> float | None:
        ms = int(self.client.pttl(key))
        return ms / 1000 if ms >= 0 else None

    def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        return int(self._incr(keys=[key], args=[amount, _ms(ttl) if ttl else 0]))

    def zincrby(self, key: str, member: str, amount: float = 1.0) -> float:
        return float(self.client.zincrby(key, amount, member))  # type: ignore[arg-type]

    def zscore(self, key: str, member: str) -> float | None:
        score = self.client.zscore(key, member)
        return None if score is None else float(score)

    def ztop(self, key: str, count: int) -> list[tuple[str, float]]:
        rows: list[tuple[bytes, float]] = self.client.zrevrange(  # type: ignore[assignment]
            key, 0, count - 1, withscores=True
        )
        return [(member.decode(), float(score)) for member, score in rows]

    def zrem(self, key: str, *members: str) -> int:
        return int(self.client.zrem(key, *members)) if members else 0

    def ping(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise ServiceUnavailable("VIDRAY_REDIS_URL", f"cannot reach Redis: {exc}") from None

    def close(self) -> None:
        self.client.close()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL);
CREATE TABLE IF NOT EXISTS zset (
    key TEXT NOT NULL, member TEXT NOT NULL, score REAL NOT NULL, PRIMARY KEY (key, member)
);
CREATE INDEX IF NOT EXISTS zset_rank ON zset (key, score DESC);
"""


class EmbeddedKV:
    """The KV store in a SQLite file, shared by every process on this machine.

    Expired keys are treated as absent when read and removed lazily.
    """

    def __init__(self, path: Path, *, clock: Clock = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._local = threading.local()
        self._db().executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _live(self, db: sqlite3.Connection, key: str) -> tuple[bytes, float | None] | None:
        row = db.execute("SELECT value, expires FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if row[1] is not None and row[1] <= self.clock():
            db.execute("DELETE FROM kv WHERE key = ?", (key,))
            return None
        return bytes(row[0]), row[1]

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self.clock() + _ms(ttl) / 1000

    def get(self, key: str) -> bytes | None:
        with self._tx() as db:
            live = self._live(db, key)
        return live[0] if live else None

    def set(
        self, key: str, value: bytes | str, *, ttl: float | None = None, only_new: bool = False
    ) -> bool:
        data = value.encode() if isinstance(value, str) else value
        with self._tx() as db:
            if only_new and self._live(db, key) is not None:
                return False
            db.execute(
                "INSERT OR REPLACE INTO kv (key, value, expires) VALUES (?, ?, ?)",
                (key, data, self._expiry(ttl)),
            )
        return True

    def delete(self, *keys: str) -> int:
        removed = 0
        with self._tx() as db:
            for key in keys:
                live = self._live(db, key) is not None
                zset = db.execute("DELETE FROM zset WHERE key = ?", (key,)).rowcount
                db.execute("DELETE FROM kv WHERE key = ?", (key,))
                removed += int(live or zset > 0)
        return removed

    def ttl(self, key: str) -> float | None:
        with self._tx() as db:
            live = self._live(db, key)
        if live is None or live[1] is None:
            return None
        return max(0.0, live[1] - self.clock())

    def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        with self._tx() as db:
            live = self._live(db, key)
            if live is None:
                value, expires = amount, self._expiry(ttl)
            else:
                try:
                    value = int(live[0]) + amount
                except ValueError:
                    raise KVError(f"key {key!r} does not hold an integer") from None
                expires = live[1] if live[1] is not None else self._expiry(ttl)
            db.execute(
                "INSERT OR REPLACE INTO kv (key, value, expires) VALUES (?, ?, ?)",
                (key, str(value).encode(), expires),
            )
        return value

    def zincrby(self, key: str, member: str, amount: float = 1.0) -> float:
        with self._tx() as db:
            row = db.execute(
                "INSERT INTO zset (key, member, score) VALUES (?, ?, ?) "
                "ON CONFLICT (key, member) DO UPDATE SET score = score + excluded.score "
                "RETURNING score",
                (key, member, amount),
            ).fetchone()
        return float(row[0])

    def zscore(self, key: str, member: str) -> float | None:
        row = (
            self._db()
            .execute("SELECT score FROM zset WHERE key = ? AND member = ?", (key, member))
            .fetchone()
        )
        return None if row is None else float(row[0])

    def ztop(self, key: str, count: int) -> list[tuple[str, float]]:
        rows = (
            self._db()
            .execute(
                "SELECT member, score FROM zset WHERE key = ? "
                "ORDER BY score DESC, member DESC LIMIT ?",
                (key, count),
            )
            .fetchall()
        )
        return [(str(m), float(s)) for m, s in rows]

    def zrem(self, key: str, *members: str) -> int:
        with self._tx() as db:
            return sum(
                db.execute("DELETE FROM zset WHERE key = ? AND member = ?", (key, m)).rowcount
                for m in members
            )

    def ping(self) -> None:
        try:
            self._db().execute("SELECT 1")
        except sqlite3.Error as exc:
            raise ServiceUnavailable(
                "VIDRAY_DATA_DIR", f"cannot open the embedded KV store at {self.path}: {exc}"
            ) from None

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def session_generation_key(user_id: str) -> str:
    """The counter that "log out everywhere" and suspension bump (`serve/users.py`).

    Access tokens and private videos' playback URLs carry the value they were issued
    at; once it moves on, both are refused.
    """
    return f"auth:gen:{user_id}"


def session_generation(kv: KV, user_id: str) -> int:
    """The user's current session generation: 0 until it is first bumped."""
    value = kv.get(session_generation_key(user_id))
    return int(value) if value is not None else 0


def open_kv(settings: Settings) -> KV:
    """Redis when `VIDRAY_REDIS_URL` is set, else the embedded store in the data dir."""
    if settings.redis_url:
        return RedisKV(settings.redis_url)
    return EmbeddedKV(settings.data_dir / "kv.sqlite3")
