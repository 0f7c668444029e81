"""`vidray up` as a subprocess, for the e2e tests that need a running platform."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

VIDRAY = str(Path(sys.executable).with_name("vidray"))

Launch = Callable[..., str]


def platform_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDRAY_", "RAY_"))}
    env.update({"VIDRAY_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


@pytest.fixture
def launch_platform(tmp_path: Path, free_tcp_port: int) -> Iterator[Launch]:
    """Start `vidray up` with extra environment; returns its base URL once healthy."""
    procs: list[subprocess.Popen[str]] = []

    def launch(**env: str) -> str:
        proc = subprocess.Popen(
            [VIDRAY, "up", "--cpus", "2"],
            env=platform_env(tmp_path, VIDRAY_HTTP_PORT=str(free_tcp_port), **env),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        base = f"http://127.0.0.1:{free_tcp_port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    return base
            except httpx.TransportError:
                pass
            time.sleep(1)
        pytest.fail("vidray up did not become healthy in 180 s")

    yield launch
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
