"""`vidray upload`, `vidray login` and `vidray logout` as a person runs them against a
running `vidray up`: a refused file says so and exits non-zero, an accepted one prints
its watch URL, and a sign-in kept on disk replaces the token."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from cluster.bench.sources import make_source
from tests.support.accounts import outbox_code
from tests.support.graphql import graphql
from tests.support.launch import VIDRAY, Launch, platform_env
from tests.support.waiting import eventually

SIGN_IN = """mutation($email: String!, $code: String!) {
  verifyOtp(email: $email, code: $code) { accessToken user { id } }
}"""
FAILED_VIDEOS = """query($me: ID!) {
  videos(filter: {creatorId: $me, status: FAILED}) { edges { node { title failureReason } } }
}"""
VIDEO = "query($id: ID!) { video(id: $id) { title status } }"
REFRESH = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }"


class Cli:
    """`vidray` commands in a terminal beside the platform: its port, its own config dir."""

    def __init__(self, launch: Launch, tmp_path: Path) -> None:
        self.env = platform_env(
            launch.tmp_path,
            VIDRAY_HTTP_PORT=str(launch.port),
            XDG_CONFIG_HOME=str(tmp_path / "config"),
        )
        self.cwd = tmp_path
        self.outbox = launch.tmp_path / "data" / "outbox"
        self.credentials = tmp_path / "config" / "vidray" / "credentials.json"

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [VIDRAY, *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def login(self, email: str) -> subprocess.CompletedProcess[str]:
        """`vidray login`, typing the code from the dev outbox at its prompt."""
        proc = subprocess.Popen(
            [VIDRAY, "login", email],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            code = eventually(
                lambda: outbox_code(self.outbox, email),
                timeout=60,
                interval=0.2,
                what=f"a sign-in code for {email}",
            )
            out, err = proc.communicate(input=f"{code}\n", timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _sign_in(base: str, outbox: Path, email: str) -> tuple[str, str]:
    """(access token, user id), signed in over GraphQL with the emailed code."""
    graphql(base, "mutation($e: String!) { requestOtp(email: $e) }", e=email)
    code = eventually(lambda: outbox_code(outbox, email), timeout=60, interval=0.2)
    session = graphql(base, SIGN_IN, email=email, code=code)["data"]["verifyOtp"]
    return session["accessToken"], session["user"]["id"]


def _printed(output: str) -> tuple[str, str]:
    """(video id, watch URL) from what `vidray upload` printed."""
    video = re.search(r"^video\s+(\S+)$", output, re.M)
    watch = re.search(r"^watch\s+(\S+)$", output, re.M)
    assert video and watch, output
    return video.group(1), watch.group(1)


def _banner(launch: Launch) -> str:
    """What `vidray up` printed up to "Press Ctrl-C", read as the terminal shows it."""
    stream = launch.proc.stdout
    assert stream is not None
    lines: list[str] = []

    def read() -> None:
        for line in stream:
            lines.append(line)
            if "Press Ctrl-C" in line:
                return

    threading.Thread(target=read, daemon=True).start()
    eventually(lambda: any("Press Ctrl-C" in line for line in lines), timeout=120, interval=0.2)
    return "".join(lines)


@pytest.mark.timeout(900)
def test_a_refused_file_exits_non_zero_and_a_clip_prints_its_watch_url(
    module_platform: Launch, tmp_path: Path
) -> None:
    base = module_platform.base
    cli = Cli(module_platform, tmp_path)
    token, me = _sign_in(base, cli.outbox, "uploader@example.com")

    # A text file named .mp4: the probe refuses it, and the command says why.
    notes = tmp_path / "notes.txt.mp4"
    notes.write_text("meeting notes, not a video\n" * 200)
    refused = cli.run("upload", str(notes), "--token", token)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    # Below the finished upload bar, the reason in one line.
    line = refused.stderr.strip().splitlines()[-1]
    assert line.startswith("refused: "), refused.stderr
    assert "uploaded" not in refused.stdout and "watch" not in refused.stdout
    reason = line.removeprefix("refused: ")
    # It stays in its owner's library, failed, with the same reason, until deleted.
    failed = graphql(base, FAILED_VIDEOS, token, me=me)["data"]["videos"]["edges"]
    assert [edge["node"] for edge in failed] == [{"title": "notes.txt", "failureReason": reason}], (
        failed
    )

    # A real clip: its id and watch URL, which plays once the transcode is done.
    clip = make_source(tmp_path / "clip.mp4", width=320, height=180, seconds=3)
    accepted = cli.run("upload", str(clip), "--token", token, "--title", "A clip")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    video_id, watch = _printed(accepted.stdout)
    assert watch == f"{base}/watch/{video_id}"
    assert graphql(base, VIDEO, token, id=video_id)["data"]["video"]["title"] == "A clip"
    page = eventually(
        lambda: (r := httpx.get(watch, timeout=30)).status_code == 200 and r,
        timeout=300,
        interval=1,
        what="the watch page of the uploaded clip",
    )
    assert "A clip" in page.text


@pytest.mark.timeout(900)
def test_login_then_upload_wait_without_a_token_then_logout(
    module_platform: Launch, tmp_path: Path
) -> None:
    base = module_platform.base
    cli = Cli(module_platform, tmp_path)

    # The dashboard address comes with where its token is, and that token opens it.
    banner = _banner(module_platform)
    found = re.search(r"dashboard (\S+)\n\s+sign in with the token in (\S+) ", banner)
    assert found, banner
    dashboard, token_file = found.group(1), Path(found.group(2))
    assert httpx.get(f"{dashboard}/api/version", timeout=30).status_code == 401
    ray_token = token_file.read_text().strip()
    opened = httpx.post(
        f"{dashboard}/api/authenticate", headers={"Authorization": f"Bearer {ray_token}"}
    )
    assert opened.status_code == 200, opened.text

    signed = cli.login("creator@example.com")
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert f"signed in to {base} as creator@example.com" in signed.stdout
    assert stat.S_IMODE(cli.credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.credentials.parent.stat().st_mode) == 0o700

    clip = make_source(tmp_path / "talk.mp4", width=320, height=180, seconds=3)
    uploaded = cli.run("upload", str(clip), "--wait")  # no --token, no VIDRAY_TOKEN
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    video_id, watch = _printed(uploaded.stdout)
    # --wait ended at ready: the page plays now, without waiting any more.
    saved = json.loads(cli.credentials.read_text())
    video = graphql(base, VIDEO, saved["access_token"], id=video_id)["data"]["video"]
    assert video == {"title": "talk", "status": "READY"}
    assert httpx.get(watch, timeout=30).status_code == 200
    refresh_token = saved["refresh_token"]
    out = cli.run("logout")
    assert out.returncode == 0, out.stdout + out.stderr
    assert not cli.credentials.exists()
    # Signed out on the server too: the kept refresh token no longer works.
    body = graphql(base, REFRESH, t=refresh_token)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
    again = cli.run("upload", str(clip))
    assert again.returncode == 2
    assert "not signed in: run `vidray login" in again.stderr
