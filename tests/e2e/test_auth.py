"""Sign up by email (through a real SMTP server) and by phone (the outbox), as a user
of a running `vidray up` would: tokens, refresh, logout."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from tests.support.graphql import graphql
from tests.support.launch import Launch
from tests.support.servers import free_port, serving_smtp
from tests.support.waiting import eventually

SIGN_IN = """mutation($email: String, $phone: String, $code: String!) {
  verifyOtp(email: $email, phone: $phone, code: $code) {
    accessToken refreshToken user { id email phone }
  }
}"""
REQUEST = "mutation($email: String, $phone: String) { requestOtp(email: $email, phone: $phone) }"
REFRESH = "mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken refreshToken } }"
ME = "{ me { id handle email phone } }"


class Mailbox:
    def __init__(self) -> None:
        self.bodies: list[tuple[str, str]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        email = message_from_bytes(envelope.content)
        body = email.get_payload(decode=True)
        assert isinstance(body, bytes)
        self.bodies.append((envelope.rcpt_tos[0], body.decode()))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    # Not the free_tcp_port fixture: that one is the platform's HTTP port in this test.
    mailbox = Mailbox()
    with serving_smtp(mailbox, free_port()) as port:
        yield mailbox, port


def _wait_for_code(read: Any) -> str:
    def code() -> str | None:
        text = read()
        found = re.search(r"\b(\d{6})\b", text) if text else None
        return found.group(1) if found else None

    return eventually(code, timeout=20, interval=0.2, what="a sign-in code")


def _session_round_trip(base: str, session: dict[str, Any]) -> None:
    me = graphql(base, ME, session["accessToken"])["data"]["me"]
    assert me["id"] == session["user"]["id"]
    fresh = graphql(base, REFRESH, r=session["refreshToken"])["data"]["refreshSession"]
    assert fresh["refreshToken"] != session["refreshToken"]
    assert graphql(base, ME, fresh["accessToken"])["data"]["me"]["id"] == me["id"]
    assert graphql(base, "mutation { logout }", fresh["accessToken"])["data"]["logout"] is True
    refused = graphql(base, ME, fresh["accessToken"])
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    refused = graphql(base, REFRESH, r=fresh["refreshToken"])
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_sign_up_by_email_and_by_phone(
    launch_platform: Launch, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    mailbox, smtp_port = smtp
    base = launch_platform(
        VIDRAY_SMTP_HOST="127.0.0.1", VIDRAY_SMTP_PORT=str(smtp_port), VIDRAY_SMTP_SECURITY="none"
    )

    email = "ana@example.com"
    assert graphql(base, REQUEST, email=email) == {"data": {"requestOtp": True}}
    code = _wait_for_code(lambda: next((b for to, b in mailbox.bodies if to == email), None))
    session = graphql(base, SIGN_IN, email=email, code=code)["data"]["verifyOtp"]
    assert session["user"]["email"] == email
    _session_round_trip(base, session)

    phone = "+14155550123"
    outbox = tmp_path / "data" / "outbox"
    assert graphql(base, REQUEST, phone=phone) == {"data": {"requestOtp": True}}

    def read_outbox() -> str | None:
        for path in sorted(outbox.glob("*-sms-*.json")):
            message = json.loads(path.read_text())
            if message["to"] == phone:
                return str(message["body"])
        return None

    session = graphql(base, SIGN_IN, phone=phone, code=_wait_for_code(read_outbox))["data"][
        "verifyOtp"
    ]
    assert session["user"]["phone"] == phone
    _session_round_trip(base, session)
