"""The whole story as a frontend plays it against a running `vidray up`, over HTTP and
websockets only: sign up with an emailed code, upload with tuspy, follow the transcode
over a GraphQL subscription, play the signed URL, like, comment, reply, find the video
in the library, delete it, and see that it is gone everywhere a user could look."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tusclient import client as tus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from cluster.bench.sources import make_source
from tests.support.accounts import outbox_code
from tests.support.graphql import graphql
from tests.support.launch import Launch
from tests.support.media import require_tool
from tests.support.waiting import eventually

EMAIL = "story@example.com"
SIGN_IN = """mutation($email: String!, $code: String!) {
  verifyOtp(email: $email, code: $code) { accessToken user { id handle email } }
}"""
CREATE_UPLOAD = """mutation($size: Float!, $title: String!) {
  createUpload(input: {size: $size, title: $title}) { uploadUrl video { id } }
}"""
PROGRESS = """subscription($id: ID!) {
  transcodeProgress(videoId: $id) { videoId state stage percent playable error }
}"""
VIDEO = "query($id: ID!) { video(id: $id) { id title status playback { hlsUrl } } }"
LIKE = "mutation($id: ID!) { likeVideo(id: $id) { likeCount viewerHasLiked } }"
COMMENT = """mutation($v: ID!, $body: String!, $parent: ID) {
  addComment(videoId: $v, body: $body, parentId: $parent) { id body parentId }
}"""
COMMENTS = """query($v: ID!) {
  comments(videoId: $v) {
    edges { node { body replyCount replies { edges { node { body author { handle } } } } } }
  }
}"""
LIBRARY = """query($me: ID!) {
  videos(filter: {creatorId: $me}) { edges { node { id title status } } }
}"""
DELETE = "mutation($id: ID!) { deleteVideo(id: $id) }"


def _gql(base: str, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    """POST one operation; its `data`, after checking that no error came with it."""
    body = graphql(base, query, token, **variables)
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def _code_from_outbox(outbox: Path, email: str) -> str:
    return eventually(
        lambda: outbox_code(outbox, email),
        timeout=60,
        interval=0.2,
        what=f"a sign-in code for {email} in {outbox}",
    )


def _follow_transcode(base: str, token: str, video_id: str) -> list[dict[str, Any]]:
    """Subscribe to transcodeProgress (graphql-transport-ws) and collect every update
    until the transcode is over; the last one is its final state."""
    url = "ws" + base.removeprefix("http") + "/graphql"
    updates: list[dict[str, Any]] = []
    with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=60) as ws:
        ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(ws.recv(timeout=60))["type"] == "connection_ack"
        ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": PROGRESS, "variables": {"id": video_id}},
                }
            )
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                message = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
            except TimeoutError:
                break
            if message["type"] == "ping":
                ws.send(json.dumps({"type": "pong"}))
                continue
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message["payload"]
            update = message["payload"]["data"]["transcodeProgress"]
            assert update["videoId"] == video_id
            updates.append(update)
            if update["state"] in {"done", "failed", "cancelled"}:
                return updates
    raise AssertionError(f"the transcode was not over after 600 s: {updates[-3:]}")


def _probe(url: str) -> dict[str, Any]:
    """What a player finds at a signed master URL: its streams, each decoded to the end
    and its frames counted."""
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert probe.returncode == 0, probe.stderr
    found: dict[str, Any] = json.loads(probe.stdout)
    return found


@pytest.mark.timeout(1200)
# HAProxy is the ingress the README recommends for production: the story must hold there
# too (streamed tus bodies, websockets, HLS bytes), not only behind Serve's own proxy.
@pytest.mark.parametrize("ingress", ["serve", "haproxy"])
def test_the_whole_story_over_http_and_websockets(
    launch_platform: Launch, tmp_path: Path, ingress: str
) -> None:
    if ingress == "haproxy":
        require_tool("haproxy")
    base = launch_platform(VIDRAY_HTTP_INGRESS=ingress)
    objects = tmp_path / "data" / "objects"

    # Sign up: the code arrives by email (the dev outbox), and the code is the account.
    assert _gql(base, "mutation($e: String!) { requestOtp(email: $e) }", e=EMAIL) == {
        "requestOtp": True
    }
    code = _code_from_outbox(tmp_path / "data" / "outbox", EMAIL)
    session = _gql(base, SIGN_IN, email=EMAIL, code=code)["verifyOtp"]
    token, me = session["accessToken"], session["user"]
    assert me["email"] == EMAIL

    # Upload: createUpload gives a one-time tus URL; tuspy sends the file through it.
    source = make_source(tmp_path / "story.mp4", width=320, height=180, seconds=3)
    created = _gql(base, CREATE_UPLOAD, token, size=source.stat().st_size, title="The whole story")[
        "createUpload"
    ]
    video_id, upload_url = created["video"]["id"], created["uploadUrl"]
    # The link leads to the upload edge, beside Serve's HTTP path.
    assert upload_url.startswith(f"{launch_platform.upload_base}/files/")
    uploader = tus.TusClient(f"{base}/files/").uploader(
        str(source), url=upload_url, chunk_size=256 * 1024
    )
    assert uploader.offset == 0
    uploader.upload()
    assert uploader.offset == source.stat().st_size

    # Follow the transcode live until it is done.
    updates = _follow_transcode(base, token, video_id)
    assert updates[-1]["state"] == "done", updates[-1]
    assert updates[-1]["playable"] is True

    # Play it: the signed master URL decodes, picture and sound, about as long as the file.
    video = _gql(base, VIDEO, token, id=video_id)["video"]
    assert video["status"] == "READY"
    assert video["playback"] is not None
    hls_url = base + video["playback"]["hlsUrl"]
    assert urlsplit(hls_url).hostname == "127.0.0.1"
    played = _probe(hls_url)
    kinds = {s["codec_type"] for s in played["streams"]}
    assert kinds == {"video", "audio"}, played["streams"]
    pictures = [s for s in played["streams"] if s["codec_type"] == "video"]
    assert all(s["height"] <= 180 for s in pictures), pictures
    assert all(int(s["nb_read_frames"]) > 0 for s in pictures), pictures
    assert float(played["format"]["duration"]) == pytest.approx(3.0, abs=1.0)

    # Like it twice: it is liked once.
    assert _gql(base, LIKE, token, id=video_id)["likeVideo"] == {
        "likeCount": 1,
        "viewerHasLiked": True,
    }
    assert _gql(base, LIKE, token, id=video_id)["likeVideo"]["likeCount"] == 1

    # Comment, reply, and read the thread back.
    comment = _gql(base, COMMENT, token, v=video_id, body="First!")["addComment"]
    assert comment["body"] == "First!" and comment["parentId"] is None
    reply = _gql(base, COMMENT, token, v=video_id, body="Replying to myself", parent=comment["id"])
    assert reply["addComment"]["parentId"] == comment["id"]
    thread = _gql(base, COMMENTS, token, v=video_id)["comments"]["edges"]
    assert [edge["node"]["body"] for edge in thread] == ["First!"]
    top = thread[0]["node"]
    assert top["replyCount"] == 1
    assert top["replies"]["edges"] == [
        {"node": {"body": "Replying to myself", "author": {"handle": me["handle"]}}}
    ]

    # My library lists it.
    library = _gql(base, LIBRARY, token, me=me["id"])["videos"]["edges"]
    assert {"id": video_id, "title": "The whole story", "status": "READY"} in [
        edge["node"] for edge in library
    ]
    assert (objects / "hls" / video_id / "master.m3u8").is_file()
    assert (objects / "img" / video_id).is_dir()
    upload_id = urlsplit(upload_url).path.rsplit("/", 1)[-1]
    assert (objects / "raw" / upload_id).is_file()

    # Delete it: no video, no files, and the link that played it plays no more.
    assert _gql(base, DELETE, token, id=video_id) == {"deleteVideo": True}
    assert _gql(base, VIDEO, token, id=video_id) == {"video": None}
    library = _gql(base, LIBRARY, token, me=me["id"])["videos"]["edges"]
    assert video_id not in [edge["node"]["id"] for edge in library]
    assert not (objects / "hls" / video_id).exists()
    assert not (objects / "img" / video_id).exists()
    assert not (objects / "raw" / upload_id).exists()
    assert httpx.get(hls_url, timeout=30).status_code in {403, 404}
