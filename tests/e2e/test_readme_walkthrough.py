"""The README's first run, read from the README itself and run as written: `vidray up`,
signing in through GraphQL, `vidray admin`, `vidray login` and a private upload with
`vidray upload`.

Only file names and ports are substituted (the platform listens on a free port, with
its data dir in the test's folder), and the emailed code is the one from the outbox.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import httpx

from cluster.bench.sources import make_source
from tests.support.accounts import outbox_code
from tests.support.graphql import graphql
from tests.support.launch import VIDRAY, Launch, platform_env
from tests.support.waiting import eventually

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
MY_VIDEOS = """query($id: ID!) { videos(first: 5, filter: {creatorId: $id}) { edges { node {
  id title visibility status playback { hlsUrl } } } } }"""


def section(title: str) -> str:
    """The README's text under `## {title}`, up to the next section."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def vidray_args(line: str) -> list[str]:
    """The arguments of a README command line that runs vidray, comment dropped."""
    argv = shlex.split(line, comments=True)
    assert argv and Path(argv[0]).name == "vidray", line
    return argv[1:]


def test_the_readme_first_run_works_as_written(launch_platform: Launch, tmp_path: Path) -> None:
    env = platform_env(
        tmp_path,
        VIDRAY_HTTP_PORT=str(launch_platform.port),
        VIDRAY_UPLOAD_PORT=str(launch_platform.upload_port),
        # `vidray login` keeps its sign-in here, not in the machine's own ~/.config.
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    outbox = tmp_path / "data" / "outbox"

    def vidray(args: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [VIDRAY, *args],
            env={**env, **extra},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    # 1. The run command (its last step: the venv and `pip install -e .` are this one's).
    run = README.split("<!-- run-command -->", 1)[1]
    [command] = blocks(run, "bash")[:1]
    base = launch_platform(*vidray_args(command.split("&&")[-1]))
    healthz = re.search(r"http://127\.0\.0\.1:8000/healthz", README.split("<!--", 1)[0])
    assert healthz, "the README no longer says where to look once it is up"
    url = healthz.group(0).replace(":8000", f":{launch_platform.port}")
    assert httpx.get(url, timeout=10).status_code == 200

    # 2. Sign in through GraphQL as the Accounts section shows, with the emailed code.
    accounts = section("Accounts and sessions")
    request, verify = re.split(r"\n(?=mutation)", blocks(accounts, "graphql")[0].strip())
    found = re.search(r'email: "([^"]+)"', request)
    assert found, request
    email = found.group(1)
    assert graphql(base, request) == {"data": {"requestOtp": True}}
    code = eventually(
        lambda: outbox_code(outbox, email),
        timeout=20,
        interval=0.2,
        what="the sign-in code in the outbox",
    )
    assert '"123456"' in verify, verify
    signed_in = graphql(base, verify.replace('"123456"', f'"{code}"'))
    session: dict[str, Any] = signed_in["data"]["verifyOtp"]
    token, user = session["accessToken"], session["user"]
    assert user["tier"] == "FREE"

    # 3. `vidray admin`, as the Accounts section shows it.
    [admin] = [b for b in blocks(accounts, "bash") if "vidray admin" in b]
    granted = vidray(vidray_args(admin.strip()))
    assert granted.returncode == 0, granted.stderr
    assert f"{email} (@{user['handle']}) is now an admin" in granted.stdout

    # 4. The Uploads section's block, line by line: `vidray login` with the code typed at
    # its prompt, then the private upload of a real 1080p clip.
    [upload] = [b for b in blocks(section("Uploads"), "bash") if "vidray upload" in b]
    token_env: dict[str, str] = {}
    for line in upload.strip().splitlines():
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            name, _, placeholder = words[1].partition("=")
            assert (name, placeholder) == ("VIDRAY_TOKEN", "..."), line
            token_env[name] = token
            continue
        args = vidray_args(line)
        if args[0] == "login":
            assert args[1] == email, "the README signs in as the account it made"
            sent_before = set(outbox.glob("*.json"))
            login = subprocess.Popen(
                [VIDRAY, *args],
                env=env,
                cwd=tmp_path,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            eventually(
                lambda before=sent_before: set(outbox.glob("*.json")) - before,
                timeout=30,
                interval=0.2,
                what="the login code in the outbox",
            )
            out, err = login.communicate(f"{outbox_code(outbox, email)}\n", timeout=60)
            assert login.returncode == 0, out + err
            continue
        source = next(arg for arg in args if arg.endswith(".mp4"))
        make_source(tmp_path / source, width=1920, height=1080, seconds=2)
        uploaded = vidray(args, **token_env)
        assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
        assert "uploaded" in uploaded.stdout

    title = re.search(r'--title "([^"]+)"', upload)
    assert title, upload

    def my_video() -> dict[str, Any] | None:
        body = graphql(base, MY_VIDEOS, token, id=user["id"])
        edges = body["data"]["videos"]["edges"]
        video: dict[str, Any] = edges[0]["node"] if edges else {}
        assert video.get("status") != "FAILED", video
        return video if video.get("status") == "READY" else None

    video = eventually(my_video, timeout=240, interval=1, what="the upload transcoded")
    assert (video["title"], video["visibility"]) == (title.group(1), "PRIVATE")
    # The free tier keeps the source's resolution: the ladder reaches 1080p.
    master = httpx.get(base + video["playback"]["hlsUrl"], timeout=10)
    assert master.status_code == 200
    assert "RESOLUTION=1920x1080" in master.text, master.text
