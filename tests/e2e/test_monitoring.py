"""`vidray monitoring` against a running platform: Debian's Prometheus scrapes Ray's
service discovery, and after one upload and one playback every panel of vidray's
dashboard has data.

The platform runs in its own Ray session (its own temp dir), with metrics reported
every second, and Prometheus scrapes every 2 s.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cluster.bench.sources import make_source
from cluster.monitoring import PANELS
from cluster.upload_client import upload_file
from tests.support.accounts import outbox_code
from tests.support.launch import VIDRAY, Launch
from tests.support.servers import free_port
from tests.support.services import require
from tests.support.waiting import eventually


@pytest.fixture
def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        require("prometheus", "Debian's `prometheus` package is not installed")
    assert binary is not None
    return binary


@contextlib.contextmanager
def running_prometheus(binary: str, config: Path, work: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Prometheus answers 503 to queries until its storage is open: wait for /-/ready.
        eventually(
            lambda: httpx.get(f"{base}/-/ready", timeout=5).status_code == 200,
            timeout=60,
            interval=0.2,
            ignoring=(httpx.TransportError,),
            what="Prometheus ready",
        )
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _graphql(base: str, query: str, token: str | None = None, **variables: object) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=30,
    ).json()
    assert "errors" not in answer, answer
    data: dict = answer["data"]
    return data


def _sign_in(base: str, outbox: Path) -> str:
    email = "operator@example.com"
    _graphql(base, "mutation($e: String!) { requestOtp(email: $e) }", e=email)
    code = eventually(lambda: outbox_code(outbox, email), timeout=20, what="a sign-in code")
    data = _graphql(
        base,
        "mutation($e: String!, $c: String!) { verifyOtp(email: $e, code: $c) { accessToken } }",
        e=email,
        c=code,
    )
    token: str = data["verifyOtp"]["accessToken"]
    return token


def test_every_panel_has_data_after_an_upload_and_a_playback(
    launch_platform: Launch, tmp_path: Path, prometheus_binary: str
) -> None:
    # A short temp dir of its own: Ray's socket paths must stay under 108 characters.
    ray_tmp = Path(tempfile.mkdtemp(prefix="vr", dir="/tmp"))
    try:
        base = launch_platform(
            # The dashboard writes the service-discovery file Prometheus reads.
            VIDRAY_RAY_DASHBOARD="true",
            RAY_metrics_report_interval_ms="1000",
            RAY_TMPDIR=str(ray_tmp),
        )
        discovery = ray_tmp / "ray" / "prom_metrics_service_discovery.json"
        eventually(discovery.exists, timeout=30, what="Ray's service-discovery file")
        out = tmp_path / "monitoring"
        subprocess.run(
            [
                VIDRAY,
                "monitoring",
                "--out",
                str(out),
                "--discovery-file",
                str(discovery),
                "--scrape-interval",
                "2",
            ],
            check=True,
            capture_output=True,
        )
        assert (out / "grafana" / "dashboards" / "vidray.json").is_file()
        # Ray's own dashboards sit beside vidray's.
        assert (out / "grafana" / "dashboards" / "serve_grafana_dashboard.json").is_file()

        token = _sign_in(base, tmp_path / "data" / "outbox")
        source = make_source(tmp_path / "clip.mp4", width=320, height=180, seconds=3)
        url = upload_file(server=base, path=source, token=token, metadata={"filename": "clip.mp4"})
        upload_id = url.rsplit("/", 1)[-1]

        def video_of_upload() -> str | None:
            # The video is made once the probe of the finished upload is in.
            upload = _graphql(
                base, "query($id: ID!) { upload(id: $id) { video { id } } }", token, id=upload_id
            )["upload"]
            return upload["video"]["id"] if upload["video"] else None

        video_id = eventually(video_of_upload, timeout=60, interval=0.5, what="the upload's video")

        def playback() -> str | None:
            data = _graphql(
                base,
                "query($id: ID!) { video(id: $id) { status playback { hlsUrl } } }",
                token,
                id=video_id,
            )
            video = data["video"]
            assert video["status"] != "FAILED", video
            ready = video["status"] == "READY" and video["playback"]
            return video["playback"]["hlsUrl"] if ready else None

        hls = eventually(playback, timeout=120, interval=1, what="the video being ready")
        assert hls is not None
        master = httpx.get(hls if hls.startswith("http") else base + hls, timeout=30)
        assert master.status_code == 200
        tampered = httpx.get(f"{base}/hls/{video_id}/1.0.9999999999.a.bad/master.m3u8")
        assert tampered.status_code == 403

        with running_prometheus(prometheus_binary, out / "prometheus.yml", tmp_path) as prom:

            def answers(expr: str) -> list[dict]:
                reply = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10)
                reply.raise_for_status()
                result: list[dict] = reply.json()["data"]["result"]
                return result

            def has_data(expr: str) -> Callable[[], list[dict] | None]:
                return lambda: answers(expr) or None

            for panel in PANELS:
                try:
                    eventually(
                        has_data(panel.expr),
                        timeout=60,
                        interval=1,
                        ignoring=(httpx.TransportError,),
                        what=f"data for the panel {panel.key!r}: {panel.expr}",
                    )
                except AssertionError as exc:
                    names = httpx.get(f"{prom}/api/v1/label/__name__/values", timeout=10)
                    known = [n for n in names.json()["data"] if "vidray" in n]
                    raise AssertionError(f"{exc}; vidray metrics scraped: {known}") from None
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
