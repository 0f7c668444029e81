"""serve-config.yaml, the file KubeRay's RayService runs as its serveConfigV2, deployed
with `serve run` on a local cluster: the platform comes up healthy (migrated, actors
started, an upload edge on the node, beacons collected), with no `vidray up` involved."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import yaml

from tests.support.servers import free_port
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
SERVE = str(Path(sys.executable).with_name("serve"))


def test_serve_run_of_the_config_file_is_healthy(tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "serve-config.yaml").read_text())
    # Only where it listens changes: this machine runs other tests on port 8000.
    port = free_port()
    config["http_options"] = {"host": "127.0.0.1", "port": port}
    path = tmp_path / "serve-config.yaml"
    path.write_text(yaml.safe_dump(config))
    # A Ray temp dir of its own (short: socket paths), so `serve run` starts its own
    # cluster rather than joining another test's.
    ray_tmp = Path(tempfile.mkdtemp(prefix="vr", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDRAY_", "RAY_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        RAY_TMPDIR=str(ray_tmp),
        VIDRAY_DATA_DIR=str(tmp_path / "data"),
        VIDRAY_HTTP_PORT=str(port),
        VIDRAY_UPLOAD_PORT=str(free_port()),
    )
    proc = subprocess.Popen(
        [SERVE, "run", str(path)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:

        def healthy() -> dict | None:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            reply = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            body: dict = reply.json()
            return body if reply.status_code == 200 else None

        body = eventually(
            healthy,
            timeout=240,
            interval=1,
            ignoring=(httpx.TransportError, ValueError),
            what="serve run of serve-config.yaml becoming healthy",
        )
        assert set(body["components"]) == {"database", "storage", "kv", "ray", "uploads"}
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["components"]["actors"]["detail"] == "jobs, scheduler"
        # The analytics collector is an application of the file too.
        beacon = {"event_id": "e2e-event-1", "view_id": "e2e-view-1", "seq": 0,
                  "event": "viewstart", "video_id": "nosuchvideo", "playhead_ms": 0,
                  "viewer_time": 1}  # fmt: skip
        collected = httpx.post(
            f"http://127.0.0.1:{port}/collect",
            json={"events": [beacon]},
            headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0.0.0"},
            timeout=30,
        )
        assert collected.status_code == 200, collected.text
        assert collected.json()["rejected"] == [{"index": 0, "reason": "no such video"}]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(ray_tmp, ignore_errors=True)
