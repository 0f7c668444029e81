"""`vidray up` as a subprocess, for the e2e tests that need a running platform, and
GraphQL against it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from serve.web.assets import missing_assets
from tests.support.servers import free_port
from tests.support.waiting import eventually

VIDRAY = str(Path(sys.executable).with_name("vidray"))


# The pages' npm libraries as `vidray assets` installed them in the checkout (CI runs it
# before the tests): each platform a test starts serves these, instead of running npm
# into its fresh data dir (15 s of CPU, every time, beside the test).
INSTALLED_ASSETS = Path(__file__).resolve().parents[2] / ".vidray" / "web"


# What a platform needs on this 2-core machine beside the other test worker: no Ray
# dashboard (ten processes) and one stream replica. Tests of those pass them back.
SMALL_MACHINE = {"VIDRAY_RAY_DASHBOARD": "false", "VIDRAY_STREAM_REPLICAS": "1"}


def platform_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDRAY_", "RAY_"))}
    env.update(SMALL_MACHINE)
    env["VIDRAY_DATA_DIR"] = str(tmp_path / "data")
    if not missing_assets(INSTALLED_ASSETS):
        env["VIDRAY_WEB_ASSETS_DIR"] = str(INSTALLED_ASSETS)
    env.update(extra)
    return env


class Launch:
    """Starts `vidray up` with extra environment; calling it returns the base URL."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        self.tmp_path, self.port = tmp_path, port
        self.upload_port = free_port()
        self.procs: list[subprocess.Popen[str]] = []

    @property
    def base(self) -> str:
        """Where the platform's gateway listens."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def upload_base(self) -> str:
        """Where the platform's upload edge listens (tus PATCHes)."""
        return f"http://127.0.0.1:{self.upload_port}"

    @property
    def proc(self) -> subprocess.Popen[str]:
        """The most recently started platform process."""
        return self.procs[-1]

    def __call__(self, *args: str, **env: str) -> str:
        """`args`: the command after `vidray` (by default `up --cpus 2`)."""
        proc = subprocess.Popen(
            [VIDRAY, *(args or ("up", "--cpus", "2"))],
            env=platform_env(
                self.tmp_path,
                VIDRAY_HTTP_PORT=str(self.port),
                VIDRAY_UPLOAD_PORT=str(self.upload_port),
                **env,
            ),
            cwd=self.tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group, as in a terminal: Ctrl-C (and cleanup) reach Ray's
            # processes too, not just the `vidray` process.
            start_new_session=True,
        )
        self.procs.append(proc)
        base = self.base

        def healthy() -> bool:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            # The upload edge starts once Serve's applications run.
            return all(
                httpx.get(f"{url}/healthz", timeout=2).status_code == 200
                for url in (base, self.upload_base)
            )

        eventually(
            healthy,
            timeout=180,
            interval=1,
            ignoring=(httpx.TransportError,),
            what="vidray up becoming healthy",
        )
        return base

    def stop_all(self) -> None:
        """Ctrl-C first, as a person would (vidray stops Ray and its ingress), then kill."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=30)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
