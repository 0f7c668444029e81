"""vidray's GraphQL API as the `vidray` commands call it: one small client over httpx,
and the `transcodeProgress` subscription over a websocket (graphql-transport-ws).

Commands never build GraphQL requests themselves; they call typed methods here, which
turn a GraphQL error into `ApiError` (its `code` is the error's `extensions.code`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from cluster.errors import VidrayError

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

FINAL_STATES = frozenset({"done", "failed", "cancelled"})

AUTH_FIELDS = "accessToken refreshToken expiresIn"
REQUEST_OTP = (
    "mutation($email: String, $phone: String) { requestOtp(email: $email, phone: $phone) }"
)
VERIFY_OTP = f"""mutation($code: String!, $email: String, $phone: String) {{
  verifyOtp(code: $code, email: $email, phone: $phone) {{ {AUTH_FIELDS} }}
}}"""
REFRESH = f"mutation($t: String!) {{ refreshSession(refreshToken: $t) {{ {AUTH_FIELDS} }} }}"
LOGOUT = "mutation { logout }"
UPLOAD = "query($id: ID!) { upload(id: $id) { status failureReason video { id } } }"
VIDEO = "query($id: ID!) { video(id: $id) { status failureReason duration } }"
JOB_FIELDS = """id videoId ownerId state stage percent etaSeconds error notes runs
  createdAt startedAt finishedAt
  attempts { task retry outcome nodeId workerId error startedAt finishedAt }"""
JOBS = f"""query($filter: JobFilter, $first: Int!, $after: String) {{
  jobs(filter: $filter, first: $first, after: $after) {{
    nodes {{ {JOB_FIELDS} }} endCursor hasNextPage
  }}
}}"""
RETRY_JOB = f"mutation($id: ID!) {{ retryJob(id: $id) {{ {JOB_FIELDS} }} }}"
CANCEL_JOB = f"mutation($id: ID!) {{ cancelJob(id: $id) {{ {JOB_FIELDS} }} }}"
RETRY_FAILED_JOBS = "mutation($owner: ID) { retryFailedJobs(owner: $owner) }"
PROGRESS = """subscription($id: ID!) {
  transcodeProgress(videoId: $id) { state stage percent error }
}"""


class ApiError(VidrayError):
    """The server answered with a GraphQL error, or not at all; `code` is its
    `extensions.code` (UNAUTHENTICATED, BAD_USER_INPUT, ...), or None."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Tokens:
    """A session: the access token, when it expires (epoch seconds), the refresh token."""

    access_token: str
    refresh_token: str
    expires_at: float

    @classmethod
    def of(cls, payload: dict[str, Any], *, now: float) -> Tokens:
        return cls(
            access_token=payload["accessToken"],
            refresh_token=payload["refreshToken"],
            expires_at=now + float(payload["expiresIn"]),
        )


@dataclass(frozen=True, slots=True)
class UploadState:
    status: str  # active, complete, failed or expired
    failure_reason: str | None
    video_id: str | None


@dataclass(frozen=True, slots=True)
class Progress:
    state: str  # queued, running, done, failed or cancelled
    stage: str
    percent: float
    error: str | None

    @property
    def over(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def probed(self) -> bool:
        """The job actor has probed the file and accepted it, or it is over."""
        return self.over or (self.state == "running" and self.stage != "probing")


def _raise_first(errors: list[dict[str, Any]] | None) -> None:
    """The first GraphQL error of a response, as an `ApiError` with its code."""
    if errors:
        first = errors[0]
        code = (first.get("extensions") or {}).get("code")
        raise ApiError(str(first.get("message", "the request failed")), code)


def account_fields(account: str) -> dict[str, str]:
    """`ana@example.com` signs in by email, `+14155550123` by phone."""
    account = account.strip()
    return {"email": account} if "@" in account else {"phone": account}


class Api:
    """One vidray server's GraphQL API, with an access token or without one."""

    def __init__(self, server: str, *, token: str | None = None, timeout: float = 60) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout

    def with_token(self, token: str) -> Api:
        return Api(self.server, token=token, timeout=self.timeout)

    def call(self, query: str, **variables: Any) -> dict[str, Any]:
        """The `data` of one operation; its first error as an `ApiError`."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = httpx.post(
                f"{self.server}/graphql",
                json={"query": query, "variables": variables},
                headers=headers,
                timeout=self.timeout,
            )
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach {self.server} ({exc}): is vidray up there?") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiError(
                f"{self.server}/graphql answered {response.status_code}, not GraphQL: "
                "check the server URL"
            )
        _raise_first(body.get("errors"))
        data: dict[str, Any] = body.get("data") or {}
        return data

    # -- sessions -----------------------------------------------------------------------

    def request_otp(self, account: str) -> None:
        self.call(REQUEST_OTP, **account_fields(account))

    def verify_otp(self, account: str, code: str) -> Tokens:
        data = self.call(VERIFY_OTP, code=code.strip(), **account_fields(account))
        return Tokens.of(data["verifyOtp"], now=time.time())

    def refresh(self, refresh_token: str) -> Tokens:
        """A new pair for a refresh token, which is spent by this call."""
        return Tokens.of(self.call(REFRESH, t=refresh_token)["refreshSession"], now=time.time())

    def logout(self) -> None:
        self.call(LOGOUT)

    # -- the job board (admins) ---------------------------------------------------------

    def jobs(
        self,
        *,
        status: str | None = None,
        owner: str | None = None,
        video: str | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of jobs, newest first (as GraphQL names their fields), and the
        cursor of the next page, or None on the last."""
        wanted = {"status": status, "owner": owner, "video": video}
        found = {key: value for key, value in wanted.items() if value is not None}
        page = self.call(JOBS, filter=found or None, first=first, after=after)["jobs"]
        return page["nodes"], page["endCursor"] if page["hasNextPage"] else None

    def retry_job(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self.call(RETRY_JOB, id=job_id)["retryJob"]
        return job

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self.call(CANCEL_JOB, id=job_id)["cancelJob"]
        return job

    def retry_failed_jobs(self, *, owner: str | None = None) -> list[str]:
        ids: list[str] = self.call(RETRY_FAILED_JOBS, owner=owner)["retryFailedJobs"]
        return ids

    # -- uploads and transcodes ---------------------------------------------------------

    def upload(self, upload_id: str) -> UploadState | None:
        found = self.call(UPLOAD, id=upload_id)["upload"]
        if found is None:
            return None
        video = found.get("video")
        return UploadState(
            status=found["status"],
            failure_reason=found.get("failureReason"),
            video_id=video["id"] if video else None,
        )

    def video_progress(self, video_id: str) -> Progress:
        """What the video's own status says, for when no subscription can be had."""
        video = self.call(VIDEO, id=video_id)["video"]
        if video is None:
            raise ApiError(f"video {video_id} is gone: it was deleted", "NOT_FOUND")
        final = {"READY": "done", "FAILED": "failed"}.get(video["status"])
        if final is not None:
            state, stage = final, final
        elif video.get("duration"):  # the probe records it as it admits the file
            state, stage = "running", "transcoding"
        else:
            state, stage = "queued", "probing"
        return Progress(
            state=state,
            stage=stage,
            percent=100.0 if state == "done" else 0.0,
            error=video.get("failureReason"),
        )

    def transcode_progress(self, video_id: str, *, timeout: float = 3600) -> Iterator[Progress]:
        """Each update of the video's transcode until it is over (the subscription).

        Where no websocket gets through (a proxy that drops them), the video's status
        is polled instead: the same end, without the stage and percent."""
        from websockets.exceptions import ConnectionClosed, InvalidHandshake
        from websockets.sync.client import connect
        from websockets.typing import Subprotocol

        url = "ws" + self.server.removeprefix("http") + "/graphql"
        deadline = time.monotonic() + timeout
        try:
            ws = connect(url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=30)
        except (InvalidHandshake, OSError, TimeoutError):
            yield from self._poll_progress(video_id, deadline=deadline)
            return
        try:
            with ws:
                yield from self._subscribe(ws, video_id, deadline=deadline)
        except ConnectionClosed:
            # A restarted gateway replica, or a proxy's idle timeout: go on by polling.
            yield from self._poll_progress(video_id, deadline=deadline)

    def _subscribe(
        self, ws: ClientConnection, video_id: str, *, deadline: float
    ) -> Iterator[Progress]:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}}
        ws.send(json.dumps(init))
        ack = json.loads(ws.recv(timeout=30))
        if ack.get("type") != "connection_ack":
            raise ApiError(f"{self.server} refused the subscription: {ack}")
        payload = {"query": PROGRESS, "variables": {"id": video_id}}
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        while True:
            try:
                message = json.loads(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
            except TimeoutError:
                raise ApiError(f"video {video_id} is still transcoding: look again later") from None
            kind = message.get("type")
            if kind == "ping":
                ws.send(json.dumps({"type": "pong"}))
            elif kind == "next":
                _raise_first(message["payload"].get("errors"))
                update = message["payload"]["data"]["transcodeProgress"]
                progress = Progress(
                    state=update["state"],
                    stage=update["stage"],
                    percent=float(update["percent"]),
                    error=update.get("error"),
                )
                yield progress
                if progress.over:
                    return
            elif kind == "error":
                _raise_first(message.get("payload") or [{"message": str(message)}])
            elif kind == "complete":
                # Ended without a final state (the video was deleted meanwhile).
                yield self.video_progress(video_id)
                return

    def _poll_progress(self, video_id: str, *, deadline: float) -> Iterator[Progress]:
        while True:
            progress = self.video_progress(video_id)
            yield progress
            if progress.over:
                return
            if time.monotonic() > deadline:
                raise ApiError(f"video {video_id} is still transcoding: look again later")
            time.sleep(1.0)  # a person's terminal, not a test: once a second is plenty
