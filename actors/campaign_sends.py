"""Sending one campaign: its audience written down once, then mailed at a steady rate.

When sending starts, every user of the audience who opted in to the newsletter gets a
`campaign_recipients` row (in one INSERT ... SELECT): `pending`, or `suppressed` where
the address refused mail before. The sender then walks the pending rows in id order:
it claims a chunk (a tenth of a second's worth) as `sending` in one commit, paces its
rows out at `campaign_rate` per second to up to four SMTP connections, and records
their outcomes (`sent`, `failed` with the reason, `suppressed` on a 5xx) in one more.

So a restart resumes where it stopped, and nobody gets a campaign twice: a row found
`sending` after a crash is marked `failed` ("interrupted") instead of being sent again,
because the mail may or may not have left (a crash costs at most one chunk). For
marketing mail, one missed newsletter is better than a duplicate; transactional mail
(`actors/deliveries.py`) makes the opposite choice. A user who unsubscribes while the
campaign runs is skipped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import and_, case, exists, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from actors.campaign_rows import NEWSLETTER, Progress, audience_filter, progress
from actors.deliveries import Sender, suppress
from cluster.config import Settings
from cluster.db.models import (
    Campaign,
    CampaignRecipient,
    NotificationPreference,
    Suppression,
    User,
)
from cluster.errors import DeliveryError
from cluster.messaging import Email, sender_domain
from cluster.notifications.letters import Letters
from cluster.security import Clock

log = logging.getLogger(__name__)

BATCH = 100


class _Raced(Exception):
    """Another sender claimed some rows of the chunk first."""

    def __init__(self, rows: list[tuple[int, str, str]]) -> None:
        super().__init__("raced")
        self.rows = rows


class CampaignSender:
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        sender: Sender,
        clock: Clock,
        pause: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`pause` and `monotonic` pace the sends (real time: a rate is a physical
        limit); a test passes a pair that only moves when paused."""
        self.settings = settings
        self.sessions = sessions
        self.sender = sender
        self.clock = clock
        self.pause = pause
        self.monotonic = monotonic
        self.letters = Letters(settings)
        self.domain = sender_domain(settings.smtp_from)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def begin(self, campaign_id: str) -> None:
        """Write the audience down (once) and mark the campaign `sending`; after a
        restart, settle the rows a dead sender left `sending`."""
        # IntegrityError: another sender wrote the audience first, and it stands.
        with contextlib.suppress(IntegrityError):
            self._begin(campaign_id)

    def _begin(self, campaign_id: str) -> None:
        with self.sessions.begin() as session:
            campaign = session.get(Campaign, campaign_id, with_for_update=True)
            if campaign is None or campaign.state in {"sent", "cancelled"}:
                return
            if campaign.state == "draft":
                return
            if campaign.state != "sending":
                suppressed = exists().where(Suppression.address == func.lower(User.email))
                session.execute(
                    insert(CampaignRecipient).from_select(
                        ["campaign_id", "user_id", "address", "state"],
                        select(
                            literal(campaign_id),
                            User.id,
                            User.email,
                            # A suppressed address is counted, never mailed.
                            case((suppressed, literal("suppressed")), else_=literal("pending")),
                        ).where(and_(*audience_filter(campaign.audience))),
                    )
                )
                campaign.state, campaign.started_at = "sending", self.now()
            else:
                session.execute(
                    update(CampaignRecipient)
                    .where(
                        CampaignRecipient.campaign_id == campaign_id,
                        CampaignRecipient.state == "sending",
                    )
                    .values(
                        state="failed",
                        error="interrupted while sending; not sent again, so nobody gets it twice",
                    )
                )

    def run(self, campaign_id: str, *, stop: threading.Event | None = None) -> Progress | None:
        """Send every pending mail of the campaign, paced; returns the final progress
        (or the progress so far, if `stop` was set)."""
        self.begin(campaign_id)
        with self.sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None or campaign.state != "sending":
                return progress(session, campaign_id)
            subject, html, text = campaign.subject, campaign.html, campaign.text
        self._send_all(campaign_id, parts=(subject, html, text), stop=stop)
        with self.sessions.begin() as session:
            left = session.scalar(
                select(func.count()).where(
                    CampaignRecipient.campaign_id == campaign_id,
                    CampaignRecipient.state.in_(("pending", "sending")),
                )
            )
            campaign = session.get(Campaign, campaign_id)
            if campaign is not None and not left and campaign.state == "sending":
                campaign.state, campaign.finished_at = "sent", self.now()
        with self.sessions() as session:
            return progress(session, campaign_id)

    def chunk_size(self) -> int:
        """Rows claimed per transaction: a tenth of a second's worth (1 to 50). A commit
        per message would cap the rate at the disk's fsyncs; a crash leaves at most
        one chunk `sending`, and those are marked failed, never sent twice."""
        return max(1, min(50, int(self.settings.campaign_rate / 10)))

    def connections(self) -> int:
        """SMTP connections sending at once: one per 50 messages/s of the limit (1 to 4),
        so a server's round trips do not cap the rate below its limit."""
        return max(1, min(4, math.ceil(self.settings.campaign_rate / 50)))

    def _send_all(
        self, campaign_id: str, *, parts: tuple[str, str, str], stop: threading.Event | None
    ) -> None:
        """Pace the rows out to `connections()` worker threads, a chunk at a time."""
        halt = threading.Event()  # this run's own: an error here stops no other campaign

        def stopping() -> bool:
            return halt.is_set() or failures != [] or (stop is not None and stop.is_set())

        jobs: queue.Queue[tuple[int, str, str] | None] = queue.Queue(maxsize=1)
        outcomes: dict[int, tuple[str, str | None]] = {}
        lock = threading.Lock()
        failures: list[BaseException] = []

        def work() -> None:
            keep = getattr(self.sender, "session", None)  # one connection per worker
            with keep() if keep is not None else contextlib.nullcontext():
                while True:
                    item = jobs.get()
                    try:
                        if item is None:
                            return
                        if stopping():
                            continue  # what is left stays pending
                        row_id, user_id, address = item
                        # Until it returns, this row's fate is unknown: left `sending`,
                        # it is marked failed on resume, never sent again.
                        with lock:
                            outcomes[row_id] = ("sending", None)
                        result = self._send_one(
                            campaign_id=campaign_id, user_id=user_id, address=address, parts=parts
                        )
                        with lock:
                            outcomes[row_id] = result
                    except BaseException as exc:  # re-raised by the pacing thread
                        failures.append(exc)
                    finally:
                        jobs.task_done()

        threads = [threading.Thread(target=work, daemon=True) for _ in range(self.connections())]
        for thread in threads:
            thread.start()
        interval = 1.0 / self.settings.campaign_rate
        next_at = self.monotonic()
        try:
            while not stopping():
                found, chunk = self._claim(campaign_id)
                if not found:
                    break
                try:
                    for item in chunk:
                        if stopping():
                            break
                        wait = next_at - self.monotonic()
                        if wait > 0:
                            self.pause(wait)
                        # Pace from the schedule, not from now: a slow send is made up
                        # after, but never by more than a second's worth at once.
                        next_at = max(next_at + interval, self.monotonic() - 1.0)
                        jobs.put(item)
                except BaseException:
                    halt.set()  # the workers skip what is queued
                    raise
                finally:
                    jobs.join()
                    with lock:
                        done = dict(outcomes)
                        outcomes.clear()
                    # Also on the way out of an error: what was sent is recorded as sent.
                    self._record(chunk, done)
        finally:
            for _ in threads:
                jobs.put(None)
            for thread in threads:
                thread.join()
        if failures:
            raise failures[0]

    def _claim(self, campaign_id: str) -> tuple[bool, list[tuple[int, str, str]]]:
        """The next chunk of pending rows, now `sending`: whether there was one, and the
        still opted in, unsuppressed rows to send (the others are settled here)."""
        raced = False
        try:
            rows = self._claim_chunk(campaign_id)
        except _Raced as exc:
            raced, rows = True, exc.rows
        if not rows:
            return False, []
        if raced:
            return True, self._claim_one_by_one(rows)
        with self.sessions.begin() as session:
            still_in = set(
                session.scalars(
                    select(NotificationPreference.user_id).where(
                        NotificationPreference.user_id.in_([r[1] for r in rows]),
                        NotificationPreference.kind == NEWSLETTER,
                        NotificationPreference.email.is_(True),
                    )
                )
            )
            suppressed = set(
                session.scalars(
                    select(Suppression.address).where(
                        Suppression.address.in_([r[2].lower() for r in rows])
                    )
                )
            )
            send: list[tuple[int, str, str]] = []
            for row_id, user_id, address in rows:
                if user_id not in still_in:  # unsubscribed since the campaign started
                    self._settle(session, row_id, "skipped", "unsubscribed")
                elif address.lower() in suppressed:
                    self._settle(session, row_id, "suppressed", None)
                else:
                    send.append((row_id, user_id, address))
            return True, send

    def _claim_chunk(self, campaign_id: str) -> list[tuple[int, str, str]]:
        with self.sessions.begin() as session:
            rows = [
                (row_id, user_id, address)
                for row_id, user_id, address in session.execute(
                    select(
                        CampaignRecipient.id, CampaignRecipient.user_id, CampaignRecipient.address
                    )
                    .where(
                        CampaignRecipient.campaign_id == campaign_id,
                        CampaignRecipient.state == "pending",
                    )
                    .order_by(CampaignRecipient.id)
                    .limit(self.chunk_size())
                )
            ]
            if not rows:
                return []
            ids = [r[0] for r in rows]
            # Conditional on `pending`: of two senders (the actor, and `vidray campaigns
            # send --here`), each row goes to one.
            claimed = session.execute(
                update(CampaignRecipient)
                .where(CampaignRecipient.id.in_(ids), CampaignRecipient.state == "pending")
                .values(state="sending")
            )
            if claimed.rowcount != len(ids):  # type: ignore[attr-defined]
                raise _Raced(rows)  # rolls the claim back
            return rows

    def _claim_one_by_one(self, rows: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
        # Another sender took some of these rows: take what is left, row by row.
        taken: list[tuple[int, str, str]] = []
        for row in rows:
            with self.sessions.begin() as session:
                result = session.execute(
                    update(CampaignRecipient)
                    .where(CampaignRecipient.id == row[0], CampaignRecipient.state == "pending")
                    .values(state="sending")
                )
                if result.rowcount:  # type: ignore[attr-defined]
                    taken.append(row)
        return taken

    @staticmethod
    def _settle(session: Session, row_id: int, state: str, error: str | None) -> None:
        session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.id == row_id)
            .values(state=state, error=error)
        )

    def _record(
        self, chunk: list[tuple[int, str, str]], outcomes: dict[int, tuple[str, str | None]]
    ) -> None:
        """One transaction for a chunk's outcomes; rows not tried go back to pending."""
        now = self.now()
        with self.sessions.begin() as session:
            for row_id, _, address in chunk:
                state, error = outcomes.get(row_id, ("pending", None))
                if state == "suppressed" and error:
                    suppress(session, address=address, reason=error)
                session.execute(
                    update(CampaignRecipient)
                    .where(CampaignRecipient.id == row_id, CampaignRecipient.state == "sending")
                    .values(state=state, error=error, sent_at=now if state == "sent" else None)
                )

    def _send_one(
        self, *, campaign_id: str, user_id: str, address: str, parts: tuple[str, str, str]
    ) -> tuple[str, str | None]:
        subject, html, text = parts
        body_text, body_html, unsubscribe = self.letters.campaign(
            subject=subject, body_html=html, body_text=text, recipient_id=user_id
        )
        email = Email(
            to=address,
            subject=subject,
            text=body_text,
            html=body_html,
            message_id=f"<c{campaign_id}.{user_id}@{self.domain}>",
            headers=(
                ("List-Unsubscribe", f"<{unsubscribe}>"),
                # RFC 8058: mail clients may POST to the URL above without a visit.
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                ("Precedence", "bulk"),
            ),
        )
        try:
            self.sender.send_email(email)
        except DeliveryError as exc:
            if exc.permanent and exc.code is not None:
                return "suppressed", f"SMTP {exc.code}: {exc}"
            return "failed", str(exc)
        return "sent", None
