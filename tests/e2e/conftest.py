"""`vidray up` as a subprocess, for the e2e tests that need a running platform."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.launch import Launch


@pytest.fixture
def launch_platform(tmp_path: Path, free_tcp_port: int) -> Iterator[Launch]:
    launch = Launch(tmp_path, free_tcp_port)
    yield launch
    launch.stop_all()
