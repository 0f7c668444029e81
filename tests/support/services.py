"""The real services tests run against, or a skip that says why.

With VIDRAY_REQUIRE_SERVICES=1 (CI), a missing service fails the run instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "VIDRAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
# Under pytest-xdist each worker ("gw0", "gw1", ...) gets a Redis database of its own, as
# it gets a PostgreSQL database of its own: their keys (rate limits, sessions) never meet.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_REDIS_DB = 1 + int(_WORKER[2:]) if _WORKER.startswith("gw") else 0
REDIS_TEST_URL = os.environ.get("VIDRAY_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_REDIS_DB}")


def services_required() -> bool:
    """Whether a missing service fails the run (CI) rather than skipping its tests."""
    return os.environ.get("VIDRAY_REQUIRE_SERVICES") == "1"


def require(service: str, reason: str) -> None:
    """Skip (or, in CI, fail) a test whose service is not reachable."""
    message = f"{service} is not reachable: {reason}"
    if services_required():
        pytest.fail(message + " (VIDRAY_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped on exit."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        require("PostgreSQL", str(exc).strip().splitlines()[0])
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
