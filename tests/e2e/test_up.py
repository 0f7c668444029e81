"""`vidray up` as a user runs it: a subprocess, spoken to over HTTP, stopped with Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.conftest import VIDRAY, Launch, platform_env


def test_up_serves_health_and_graphql_then_stops_cleanly(launch_platform: Launch) -> None:
    base = launch_platform()
    proc = launch_platform.proc
    health = httpx.get(f"{base}/healthz").json()
    assert health["status"] == "ok"
    assert set(health["components"]) == {"database", "storage", "kv", "ray"}

    answer = httpx.post(f"{base}/graphql", json={"query": "{ health { ok version } }"}).json()
    assert answer["data"]["health"]["ok"] is True

    ray_processes = psutil.Process(proc.pid).children(recursive=True)
    assert any("raylet" in " ".join(p.cmdline()) for p in ray_processes)

    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, output
    assert "vidray stopped" in output
    _, alive = psutil.wait_procs(ray_processes, timeout=5)
    assert alive == [], f"Ray processes left behind: {[p.pid for p in alive]}"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/healthz", timeout=2)
    gcs = re.search(r"ray\s+(\S+:\d+)", output)
    assert gcs, output
    status = subprocess.run(
        [str(Path(VIDRAY).with_name("ray")), "status", "--address", gcs.group(1)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode != 0, "ray status still finds the cluster vidray started"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"VIDRAY_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}, "VIDRAY_DATABASE_URL"),
        ({"VIDRAY_DATABASE_URL": "mongodb://localhost"}, "VIDRAY_DATABASE_URL"),
        ({"VIDRAY_MODE": "prod"}, "VIDRAY_SIGNING_SECRET"),
        ({"VIDRAY_REDIS_URL": "redis://127.0.0.1:9/0"}, "VIDRAY_REDIS_URL"),
        (
            {"VIDRAY_S3_BUCKET": "b", "VIDRAY_S3_ENDPOINT_URL": "http://127.0.0.1:9"},
            "VIDRAY_S3_ENDPOINT_URL",
        ),
    ],
)
def test_bad_configuration_is_one_clear_line(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    result = subprocess.run(
        [VIDRAY, "up"],
        env=platform_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {variable}: ")
    assert "Traceback" not in result.stderr + result.stdout
