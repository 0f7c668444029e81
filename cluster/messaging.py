"""Email and SMS delivery: SMTP, an SMS provider's HTTP API, or the dev outbox folder.

With nothing configured (dev mode), every message is written as one JSON file to
`{data_dir}/outbox/`, where a person or a test reads the one-time codes.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import time
import uuid
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import httpx

from cluster.errors import DeliveryError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cluster.config import Settings, SmtpSecurity

Channel = Literal["email", "sms"]
TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Message:
    channel: Channel
    to: str  # an email address or an E.164 phone number
    subject: str  # email only; SMS carries the body alone
    body: str


class MessageSender(Protocol):
    def send(self, message: Message) -> None: ...


class OutboxSender:
    """Writes each message to `directory` as `{ns}-{channel}-{id}.json`: names sort by time."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def send(self, message: Message) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{message.channel}-{uuid.uuid4().hex[:8]}.json"
        tmp = self.directory / f".{name}.tmp"
        # Write then rename: a reader polling the folder never sees half a message.
        tmp.write_text(json.dumps(asdict(message), indent=2) + "\n")
        tmp.replace(self.directory / name)


class SmtpSender:
    """Email over SMTP: STARTTLS on 587 by default, implicit TLS or plain when asked."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        security: SmtpSecurity = "starttls",
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.security = security
        self.user = user
        self.password = password

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=TIMEOUT_S, context=ssl.create_default_context()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_S)
        if self.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, message: Message) -> None:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(domain="vidray")
        email.set_content(message.body)
        try:
            with self._connect() as smtp:
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(email)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(
                f"cannot send email through {self.host}:{self.port} ({exc}): check "
                "VIDRAY_SMTP_HOST, VIDRAY_SMTP_PORT, VIDRAY_SMTP_SECURITY and the credentials"
            ) from None


class HttpSmsSender:
    """SMS through a provider's HTTP API: POST {to, from, body} as JSON, bearer token."""

    def __init__(self, *, url: str, token: str | None, sender: str) -> None:
        self.url = url
        self.token = token
        self.sender = sender

    def send(self, message: Message) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        payload = {"to": message.to, "from": self.sender, "body": message.body}
        try:
            response = httpx.post(self.url, json=payload, headers=headers, timeout=TIMEOUT_S)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"the SMS provider refused or did not answer ({exc}): check VIDRAY_SMS_URL "
                "and VIDRAY_SMS_TOKEN"
            ) from None


class ChannelRouter:
    """Sends each message through the sender configured for its channel."""

    def __init__(self, senders: Mapping[Channel, MessageSender]) -> None:
        self.senders = dict(senders)

    def send(self, message: Message) -> None:
        self.senders[message.channel].send(message)


def open_sender(settings: Settings) -> MessageSender:
    """SMTP and the SMS provider where configured, the outbox folder for the rest."""
    outbox = OutboxSender(settings.outbox_dir)
    email: MessageSender = outbox
    sms: MessageSender = outbox
    if settings.smtp_host:
        email = SmtpSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            security=settings.smtp_security,
            user=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        )
    if settings.sms_url:
        sms = HttpSmsSender(
            url=settings.sms_url,
            token=settings.sms_token.get_secret_value() if settings.sms_token else None,
            sender=settings.sms_from,
        )
    return ChannelRouter({"email": email, "sms": sms})
