"""A real SMTP server (aiosmtpd) on loopback that keeps what it accepts, and answers
421 (try later) or 550 (no such mailbox) on demand.

    with smtp_server() as smtp:
        smtp.refuse("gone@example.com")     # 550 at RCPT, for good
        smtp.defer_all = True                # 421 to every RCPT until set back
        smtp.gate.clear()                    # messages wait unanswered in DATA ...
        smtp.gate.set()                      # ... until the gate opens
        smtp.abandoned                       # held messages whose client hung up
        ...
        [mail] = smtp.mails_to("ana@example.com")
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from tests.support.servers import free_port, serving_smtp


@dataclass
class SmtpInbox:
    """aiosmtpd's handler: what was accepted, and what to refuse."""

    port: int = 0
    mails: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    defer_all: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Cleared: each message waits in DATA, unanswered (`held` counts them), until it is
    # set. A client that dies meanwhile never hears 250, and its message is dropped (as
    # a real server drops a transaction whose connection was lost; `abandoned` counts
    # them, so a test can wait for the death before it opens the gate).
    gate: threading.Event = field(default_factory=threading.Event)
    held: int = 0
    abandoned: int = 0

    def __post_init__(self) -> None:
        self.gate.set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.defer_all:
            return "421 4.3.2 Service not available, try again later"
        if address.lower() in self.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = cast(EmailMessage, message_from_bytes(envelope.content, policy=policy.default))
        if not self.gate.is_set():
            with self.lock:
                self.held += 1
            try:
                await asyncio.to_thread(self.gate.wait)
            except asyncio.CancelledError:  # aiosmtpd cancels us when the client hangs up
                with self.lock:
                    self.abandoned += 1
                raise
        with self.lock:
            self.mails.append((list(envelope.rcpt_tos), mail))
        return "250 Message accepted for delivery"

    def refuse(self, address: str) -> None:
        self.refused.add(address.lower())

    def mails_to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [mail for rcpts, mail in self.mails if address.lower() in rcpts]

    def count(self) -> int:
        with self.lock:
            return len(self.mails)


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[SmtpInbox]:
    """On `port` (a server coming back where one was down), or on a free one."""
    inbox = SmtpInbox(port=port or free_port())
    with serving_smtp(inbox, inbox.port):
        yield inbox
