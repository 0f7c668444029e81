"""`vidray up` as a subprocess, for the e2e tests that need a running platform."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.launch import Launch
from tests.support.servers import free_port


@pytest.fixture
def launch_platform(tmp_path: Path, free_tcp_port: int) -> Iterator[Launch]:
    launch = Launch(tmp_path, free_tcp_port)
    yield launch
    launch.stop_all()


@pytest.fixture(scope="module")
def module_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launch]:
    """One `vidray up` (with the Ray dashboard) shared by a module's tests: each start
    costs about 50 CPU-seconds. Its data dir is `module_platform.tmp_path / "data"`."""
    launch = Launch(tmp_path_factory.mktemp("platform"), free_port())
    launch(VIDRAY_RAY_DASHBOARD="true")
    yield launch
    launch.stop_all()
