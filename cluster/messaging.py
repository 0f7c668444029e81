"""Email and SMS delivery: SMTP, an SMS provider's HTTP API, or the dev outbox folder.

With nothing configured (dev mode), every message is written as one JSON file to
`{data_dir}/outbox/`, where a person or a test reads the one-time codes.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import asdict, dataclass
from email.header import Header
from email.message import Message as Message_
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, make_msgid, parseaddr
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


@dataclass(frozen=True, slots=True)
class Email:
    """A multipart email (text, and HTML when given) with the headers the notifier sets:
    a stable `Message-ID` (a retried delivery keeps its id, so a receiver can drop the
    copy), `List-Unsubscribe` on campaigns."""

    to: str
    subject: str
    text: str
    html: str | None = None
    to_name: str = ""
    message_id: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


class MessageSender(Protocol):
    def send(self, message: Message) -> None: ...


class MailSender(Protocol):
    def send_email(self, email: Email) -> None: ...


def check_header(name: str, value: str) -> None:
    """Refuse a CR or LF in a header value: it would end the header and start another
    (a `Bcc:` smuggled in through a video title or a display name)."""
    if "\r" in value or "\n" in value:
        raise DeliveryError(
            f"the email's {name} holds a line break (CR or LF), which would inject a header: "
            "remove it",
            permanent=True,
        )


# Headers stay on one line up to RFC 5322's hard limit: a folded `List-Unsubscribe`
# (a long signed URL) starts with a line break that some mail clients keep.
UNFOLDED = compat32.clone(max_line_length=998)


def _header(name: str, value: str) -> str:
    # ASCII goes as is; anything else as RFC 2047 encoded words, folded knowing the
    # header's name (else the first line breaks before the value).
    return value if value.isascii() else Header(value, "utf-8", header_name=name).encode()


def build_email(email: Email, *, sender: str) -> Message_:
    """The MIME message: multipart/alternative (text first, then HTML) when there is HTML.

    Built with the `email.mime` classes (the compat32 policy): about ten times faster
    than `EmailMessage`, which counts when a campaign sends hundreds a second."""
    for name, value in (
        ("subject", email.subject),
        ("display name", email.to_name),
        ("recipient", email.to),
        *email.headers,
    ):
        check_header(name, value)
    text = MIMEText(email.text, "plain", "utf-8", policy=UNFOLDED)
    message: Message_
    if email.html is None:
        message = text
    else:
        message = MIMEMultipart("alternative", policy=UNFOLDED)
        message.attach(text)
        message.attach(MIMEText(email.html, "html", "utf-8", policy=UNFOLDED))
    message["From"] = sender
    # formataddr encodes a non-ASCII display name (RFC 2047) and quotes the rest.
    message["To"] = formataddr((email.to_name, email.to)) if email.to_name else email.to
    message["Subject"] = _header("Subject", email.subject)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = email.message_id or make_msgid(domain=sender_domain(sender))
    for name, value in email.headers:
        message[name] = _header(name, value)
    return message


def sender_domain(sender: str) -> str:
    """The domain of `vidray <no-reply@example.com>`: what Message-IDs end with."""
    return parseaddr(sender)[1].rpartition("@")[2] or "vidray"


def _smtp_code(exc: BaseException) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return max(codes) if codes else None
    if isinstance(exc, smtplib.SMTPResponseException):
        return int(exc.smtp_code)
    return None  # no connection, or it dropped: worth another try


class OutboxSender:
    """Writes each message to `directory` as `{ns}-{channel}-{id}.json`: names sort by time."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def send(self, message: Message) -> None:
        self._write(message.channel, asdict(message))

    def send_email(self, email: Email) -> None:
        """The same file as `send`, with the HTML part and the headers beside the text."""
        build_email(email, sender="vidray <outbox@localhost>")  # the same refusals as SMTP
        self._write(
            "email",
            {
                "channel": "email",
                "to": email.to,
                "subject": email.subject,
                "body": email.text,
                "html": email.html,
                "message_id": email.message_id,
                "headers": dict(email.headers),
            },
        )

    def _write(self, channel: str, record: dict[str, object]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{channel}-{uuid.uuid4().hex[:8]}.json"
        tmp = self.directory / f".{name}.tmp"
        # Write then rename: a reader polling the folder never sees half a message.
        tmp.write_text(json.dumps(record, indent=2) + "\n")
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
        self._local = threading.local()

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
        self.send_email(Email(to=message.to, subject=message.subject, text=message.body))

    def _open(self) -> smtplib.SMTP:
        smtp = self._connect()
        if self.user:
            smtp.login(self.user, self.password or "")
        return smtp

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep one connection for this thread's sends inside the block (a campaign):
        a connection and its EHLO, login and QUIT per message cost more than the
        message."""
        self._local.keep = True
        try:
            yield
        finally:
            self._local.keep = False
            smtp = getattr(self._local, "smtp", None)
            self._local.smtp = None
            if smtp is not None:
                with suppress(OSError, smtplib.SMTPException):
                    smtp.quit()

    def _send_kept(self, mime: Message_) -> None:
        smtp = getattr(self._local, "smtp", None)
        if smtp is not None:
            try:
                smtp.send_message(mime)
                return
            except smtplib.SMTPServerDisconnected:
                self._local.smtp = None  # the server hung up between messages: once more
        self._local.smtp = self._open()
        self._local.smtp.send_message(mime)

    def send_email(self, email: Email) -> None:
        """Hand `email` to the server; a `DeliveryError` says whether a retry can help
        (`permanent` on a 5xx or a refused header)."""
        mime = build_email(email, sender=self.sender)
        try:
            if getattr(self._local, "keep", False):
                self._send_kept(mime)
            else:
                with self._open() as smtp:
                    smtp.send_message(mime)
        except (OSError, smtplib.SMTPException) as exc:
            if not isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused):
                self._local.smtp = None  # a broken connection is not reused
            code = _smtp_code(exc)
            raise DeliveryError(
                f"cannot send email through {self.host}:{self.port} ({exc}): check "
                "VIDRAY_SMTP_HOST, VIDRAY_SMTP_PORT, VIDRAY_SMTP_SECURITY and the credentials",
                permanent=code is not None and 500 <= code < 600,
                code=code,
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

    def session(self) -> AbstractContextManager[None]:
        """One SMTP connection for many emails from this thread, where SMTP is used."""
        keep = getattr(self.senders["email"], "session", None)
        return keep() if keep is not None else nullcontext()

    def send_email(self, email: Email) -> None:
        sender = self.senders["email"]
        if not hasattr(sender, "send_email"):
            raise TypeError(f"{type(sender).__name__} cannot send multipart email")
        sender.send_email(email)


def open_sender(settings: Settings) -> ChannelRouter:
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
