"""Fixtures shared by every test layer: real services, or a skip that says why.

With VIDRAY_REQUIRE_SERVICES=1 (CI), a missing service fails the run instead. The helpers
behind these fixtures live in tests/support/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.browser import launch_chromium
from tests.support.servers import free_port, moto_server, moto_server_process
from tests.support.services import REDIS_TEST_URL, fresh_postgres_database, require

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` (the README's test command), but with every e2e test in one
    work unit: run back to back on one worker while the other takes the rest, a file at
    a time.

    Each e2e test starts a whole platform (about 50 CPU-seconds, thirty processes). xdist
    hands out its largest units first, so with one unit per file the small e2e files all
    ran last, two at once on two cores beside Chromium, and starved each other past their
    time limits. As one unit they start early and never overlap. (xdist's own
    `loadgroup` would say this with marks, but it renames nodes through an attribute
    pytest 9 no longer reads.)
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class E2EInOne(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith("tests/e2e/"):
                return "tests/e2e"
            scope: str = super()._split_scope(nodeid)
            return scope

    return E2EInOne(config, log)


@pytest.fixture
def free_tcp_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session, dropped afterwards."""
    with fresh_postgres_database("vidray_test") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        require("Redis", str(exc))
    finally:
        client.close()
    return REDIS_TEST_URL


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-compatible HTTP server (moto in server mode) on a free port."""
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3_server_checking_credentials() -> Iterator[str]:
    """A moto S3 server, in its own process, that refuses unknown access keys.

    moto accepts any key pair unless told otherwise, and that switch is process-wide: a
    separate process keeps the shared `s3_server` lenient.
    """
    with moto_server_process(INITIAL_NO_AUTH_ACTION_COUNT="0") as url:
        yield url


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # moto accepts any key pair; boto3 must not find the developer's real ones.
    creds = {"access_key_id": "testing", "secret_access_key": "testing"}
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["secret_access_key"])
    return creds


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium under Playwright, shared by a module's browser tests.

    Module-scoped, not session-scoped: while Playwright's sync API runs, it keeps an
    asyncio loop running on the main thread, and every async test after it in the session
    would fail with "cannot be called from a running event loop". Stopping it at the end
    of each module that uses it costs one Chromium start per module.

    Skipped (failed under VIDRAY_REQUIRE_SERVICES=1) when /usr/bin/chromium is missing;
    Playwright never downloads a browser of its own.
    """
    with launch_chromium() as chromium:
        yield chromium
