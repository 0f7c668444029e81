"""`vidray up` as a user runs it: a subprocess, spoken to over HTTP, stopped with Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.launch import VIDRAY, Launch, platform_env


def test_up_serves_health_and_graphql_then_stops_cleanly(launch_platform: Launch) -> None:
    base = launch_platform(VIDRAY_RAY_DASHBOARD="true")  # as a user gets it: every process
    proc = launch_platform.proc
    health = httpx.get(f"{base}/healthz").json()
    assert health["status"] == "ok"
    assert set(health["components"]) == {"database", "storage", "kv", "ray", "uploads"}
    assert health["components"]["uploads"]["ok"] is True

    answer = httpx.post(f"{base}/graphql", json={"query": "{ health { ok version } }"}).json()
    assert answer["data"]["health"]["ok"] is True

    ray_processes = psutil.Process(proc.pid).children(recursive=True)
    assert any("raylet" in " ".join(p.cmdline()) for p in ray_processes)

    # Ctrl-C in a terminal signals the whole foreground process group, Ray's processes too.
    os.killpg(proc.pid, signal.SIGINT)
    output, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, output
    assert "vidray stopped" in output
    _, alive = psutil.wait_procs(ray_processes, timeout=5)
    assert alive == [], f"Ray processes left behind: {[p.pid for p in alive]}"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/healthz", timeout=2)
    gcs = re.search(r"ray\s+(\S+:\d+)", output)
    assert gcs, output
    # Nothing listens where Ray's GCS was (`ray status` would say so after a minute of
    # retries).
    host, port = gcs.group(1).rsplit(":", 1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5).close()


S3_AUTH = "{s3 server that checks credentials}"
TAKEN = "{a port another process listens on}"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        # Unreachable services.
        ({"VIDRAY_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}, "VIDRAY_DATABASE_URL"),
        ({"VIDRAY_REDIS_URL": "redis://127.0.0.1:9/0"}, "VIDRAY_REDIS_URL"),
        (
            {
                "VIDRAY_S3_BUCKET": "b",
                "VIDRAY_S3_ENDPOINT_URL": "http://127.0.0.1:9",
                "VIDRAY_S3_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE01",
                "VIDRAY_S3_SECRET_ACCESS_KEY": "example",
            },
            "VIDRAY_S3_ENDPOINT_URL",
        ),
        ({"RAY_ADDRESS": "127.0.0.1:9"}, "RAY_ADDRESS"),
        # Missing or wrong S3 credentials.
        (
            {"VIDRAY_S3_BUCKET": "b", "VIDRAY_S3_ENDPOINT_URL": S3_AUTH},
            "VIDRAY_S3_ACCESS_KEY_ID",
        ),
        (
            {
                "VIDRAY_S3_BUCKET": "b",
                "VIDRAY_S3_ENDPOINT_URL": S3_AUTH,
                "VIDRAY_S3_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG1",
                "VIDRAY_S3_SECRET_ACCESS_KEY": "wrong",
            },
            "VIDRAY_S3_ACCESS_KEY_ID",
        ),
        # Malformed values.
        ({"VIDRAY_DATABASE_URL": "mongodb://localhost"}, "VIDRAY_DATABASE_URL"),
        ({"VIDRAY_DATABASE_URL": "postgresql://u@127.0.0.1:port/db"}, "VIDRAY_DATABASE_URL"),
        ({"VIDRAY_REDIS_URL": "redis://127.0.0.1:abc/0"}, "VIDRAY_REDIS_URL"),
        ({"VIDRAY_TIERS": "not json"}, "VIDRAY_TIERS"),
        ({"VIDRAY_DATA_DIR": "/proc/vidray"}, "VIDRAY_DATA_DIR"),
        ({"VIDRAY_HTTP_HOST": "203.0.113.7"}, "VIDRAY_HTTP_HOST"),
        ({"VIDRAY_UPLOAD_URL": "ftp://uploads.example.com"}, "VIDRAY_UPLOAD_URL"),
        # The upload edge's port is taken.
        ({"VIDRAY_UPLOAD_PORT": TAKEN}, "VIDRAY_UPLOAD_PORT"),
        # A placeholder secret in prod.
        ({"VIDRAY_MODE": "prod"}, "VIDRAY_SIGNING_SECRET"),
        (
            {
                "VIDRAY_MODE": "prod",
                "VIDRAY_SIGNING_SECRET": "s" * 40,
                "VIDRAY_JWT_SECRET": "changeme",
            },
            "VIDRAY_JWT_SECRET",
        ),
    ],
)
def test_bad_configuration_is_one_clear_line(
    tmp_path: Path, request: pytest.FixtureRequest, env: dict[str, str], variable: str
) -> None:
    if S3_AUTH in env.values():
        endpoint = request.getfixturevalue("s3_server_checking_credentials")
        env = {k: endpoint if v == S3_AUTH else v for k, v in env.items()}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = subprocess.run(
            [VIDRAY, "up"],
            env=platform_env(tmp_path, **{k: port if v == TAKEN else v for k, v in env.items()}),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {variable}: ")
    assert "Traceback" not in result.stderr + result.stdout
