"""Email through a real SMTP server (aiosmtpd), SMS through a real HTTP server, the outbox."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cluster.config import load_settings
from cluster.errors import DeliveryError
from cluster.messaging import Email, Message, open_sender
from tests.support.servers import serving_smtp


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(free_tcp_port: int) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with serving_smtp(inbox, free_tcp_port) as port:
        yield inbox, port


def test_email_goes_through_smtp(smtp_server: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = smtp_server
    settings = load_settings(
        data_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_from="vidray <codes@vidray.test>",
    )
    open_sender(settings).send(Message("email", "ana@example.com", "Your code", "Code 123456"))
    [(mail_from, rcpt, email)] = inbox.messages
    assert mail_from == "codes@vidray.test"
    assert rcpt == ["ana@example.com"]
    assert email["Subject"] == "Your code"
    assert "Code 123456" in email.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert not settings.outbox_dir.exists()


def test_unreachable_smtp_server_is_a_delivery_error(free_tcp_port: int, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=free_tcp_port)
    with pytest.raises(DeliveryError, match="VIDRAY_SMTP_HOST"):
        open_sender(settings).send(Message("email", "a@example.com", "s", "b"))


def test_starttls_refused_by_a_plain_server_is_a_delivery_error(
    smtp_server: tuple[Inbox, int], tmp_path: Path
) -> None:
    _, port = smtp_server
    settings = load_settings(data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=port)
    with pytest.raises(DeliveryError):
        open_sender(settings).send(Message("email", "a@example.com", "s", "b"))


@pytest.fixture
def sms_provider(free_tcp_port: int) -> Iterator[tuple[list[dict[str, Any]], str]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append({"auth": self.headers.get("Authorization"), **body})
            self.send_response(202 if body["to"] != "+15550000000" else 400)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_tcp_port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, f"http://127.0.0.1:{free_tcp_port}/sms"
    finally:
        server.shutdown()
        server.server_close()


def test_sms_goes_to_the_provider(
    sms_provider: tuple[list[dict[str, Any]], str], tmp_path: Path
) -> None:
    received, url = sms_provider
    settings = load_settings(data_dir=tmp_path, sms_url=url, sms_token="tok", sms_from="vidray")
    sender = open_sender(settings)
    sender.send(Message("sms", "+14155550123", "", "Code 654321"))
    assert received == [
        {"auth": "Bearer tok", "to": "+14155550123", "from": "vidray", "body": "Code 654321"}
    ]
    with pytest.raises(DeliveryError, match="VIDRAY_SMS_URL"):
        sender.send(Message("sms", "+15550000000", "", "Code 1"))


def test_outbox_holds_one_readable_file_per_message(tmp_path: Path) -> None:
    sender = open_sender(load_settings(data_dir=tmp_path))
    sender.send(Message("email", "ana@example.com", "Your code", "Code 111111"))
    sender.send(Message("sms", "+14155550123", "", "Code 222222"))
    files = sorted((tmp_path / "outbox").glob("*.json"))
    assert [json.loads(f.read_text()) for f in files] == [
        {
            "channel": "email",
            "to": "ana@example.com",
            "subject": "Your code",
            "body": "Code 111111",
        },
        {"channel": "sms", "to": "+14155550123", "subject": "", "body": "Code 222222"},
    ]


@pytest.mark.parametrize(
    "email",
    [
        Email(to="ana@example.com", subject="Hi\r\nBcc: eve@example.com", text="b"),
        Email(to="ana@example.com", subject="Hi\nthere", text="b"),
        Email(to="ana@example.com", subject="Hi", text="b", to_name="Ana\r\nBcc: eve@x.org"),
        Email(to="ana@example.com\r\nBcc: eve@example.com", subject="Hi", text="b"),
    ],
    ids=["subject CRLF", "subject LF", "display name", "address"],
)
def test_a_line_break_in_a_header_is_refused_for_good(
    smtp_server: tuple[Inbox, int], tmp_path: Path, email: Email
) -> None:
    inbox, port = smtp_server
    settings = load_settings(
        data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none"
    )
    for sender in (open_sender(settings), open_sender(load_settings(data_dir=tmp_path))):
        with pytest.raises(DeliveryError, match="line break") as refused:
            sender.send_email(email)
        assert refused.value.permanent
    assert inbox.messages == []


def test_multipart_email_keeps_one_connection_inside_a_session(
    smtp_server: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp_server
    settings = load_settings(
        data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none"
    )
    sender = open_sender(settings)
    with sender.session():
        for i in range(3):
            sender.send_email(
                Email(to=f"u{i}@example.com", subject="Zoë's news", text="plain", html="<b>h</b>")
            )
    assert [rcpt for _, rcpt, _ in inbox.messages] == [[f"u{i}@example.com"] for i in range(3)]
    _, _, first = inbox.messages[0]
    assert first.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in first.get_payload()] == ["text/plain", "text/html"]  # type: ignore[union-attr]
