"""`vidray jobs list|retry|cancel` against a real gateway (uvicorn on loopback) and a
real job actor: the table an admin reads, and the verdict lines of retry and cancel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from typer.testing import CliRunner

from actors.jobs import Jobs, JobsClient
from cluster import db
from cluster.api_client import Api
from cluster.cli import app
from cluster.cli.console import console
from cluster.config import Settings, load_settings
from cluster.kv import EmbeddedKV
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from tests.support.accounts import latest_code
from tests.support.clock import FakeClock
from tests.support.jobs import completed_upload
from tests.support.servers import free_port, serving

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
def server(settings: Settings) -> Iterator[tuple[str, JobsClient]]:
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    clock = FakeClock()
    kv = EmbeddedKV(settings.data_dir / "kv.sqlite3", clock=clock)
    jobs = JobsClient(ray.remote(Jobs).options(max_concurrency=16, num_cpus=0).remote(settings))
    platform = Platform(settings, engine=engine, kv=kv, clock=clock, jobs=jobs)
    port = free_port()
    with serving(create_app(Gateway(platform)), port):
        yield f"http://127.0.0.1:{port}", jobs
    ray.kill(jobs.actor)
    engine.dispose()


def _token(server: str, settings: Settings, email: str) -> str:
    api = Api(server)
    api.request_otp(email)
    return api.verify_otp(email, latest_code(settings.outbox_dir, email)).access_token


def test_an_admin_lists_retries_and_cancels(
    server: tuple[str, JobsClient], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, jobs = server
    # A wide terminal, whatever width the CLI's console took when this process first
    # imported it (COLUMNS is read once, at import).
    monkeypatch.setattr(console, "width", 200)
    admin = _token(url, settings, "admin@example.com")
    member = _token(url, settings, "ana@example.com")
    handover = completed_upload(settings, b"\x00not a video" * 100)
    job_id = jobs.submit_upload(**handover, params={})
    assert jobs.wait_idle(timeout=120)
    runner = CliRunner()

    def vidray(*args: str, token: str = admin) -> tuple[int, str]:
        result = runner.invoke(
            app, [*args, "--server", url, "--token", token], env={"COLUMNS": "200"}
        )
        return result.exit_code, result.output

    code, out = vidray("jobs", "list", "--status", "failed")
    assert code == 0, out
    assert job_id in out and "unsupported_format" in out and "failed" in out
    code, out = vidray("jobs", "list", "--attempts")
    assert code == 0 and "job #0 unsupported_format" in out, out
    code, out = vidray("jobs", "list", token=member)
    assert code == 2 and "only an administrator" in out, out

    code, out = vidray("jobs", "cancel", job_id)
    assert code == 2 and "failed already" in out, out
    code, out = vidray("jobs", "retry", job_id)
    assert code == 0 and f"job {job_id} is" in out, out
    assert jobs.wait_idle(timeout=120)
    code, out = vidray("jobs", "retry", "--failed")
    assert code == 0 and f"queued again: 1 job(s): {job_id}" in out, out
    code, out = vidray("jobs", "retry")
    assert code == 2 and "give a JOB_ID, or --failed" in out, out
