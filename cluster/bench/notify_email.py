"""`vidray bench notify`, end to end: an event's commit to its email accepted by SMTP.

`samples` `video.ready` events (a transcode done), each committed on its own in a
session that wakes the dispatcher on commit (as the job actor's does), go through the
real chain: the dispatcher actor, the notifier actor (preferences, inbox row, delivery
row, Jinja2 rendering) and `cluster.messaging`'s SMTP sender, to aiosmtpd in this
process, whose handler notes when it accepted each message (same clock as the commit).
The total is split at the delivery row's `created_at` (the notifier recording what it
was handed): the dispatcher's lag before it, the delivery (render and SMTP) after.
Anchor: Mux's webhook delivery, "within seconds"; the target is p95 under 2 s.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cluster.config import Settings

Say = Callable[[str], None]
TARGET_P95_S = 2.0
GIVE_UP_S = 60.0


@dataclass(frozen=True)
class EmailResult:
    samples: int
    total_p50_s: float
    total_p95_s: float
    lag_p50_s: float  # commit -> the notifier recorded the delivery
    lag_p95_s: float
    delivery_p50_s: float  # recorded -> accepted by SMTP
    delivery_p95_s: float


class _Accepted:
    """aiosmtpd's handler: the wall-clock time each message was accepted, by recipient."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.time()
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.at[rcpt.lower()] = now
        return "250 Message accepted for delivery"

    def when(self, address: str) -> float | None:
        with self.lock:
            return self.at.get(address)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _epoch(moment: datetime) -> float:
    # SQLite hands back naive datetimes; vidray writes UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def bench_email(*, settings: Settings, samples: int, postgres: bool, say: Say) -> EmailResult:
    import ray
    from aiosmtpd.controller import Controller
    from sqlalchemy import select

    from actors.dispatcher import DispatcherWaker, start
    from actors.notifier import NotifierClient
    from cluster import db
    from cluster.config import load_settings
    from cluster.db.models import Delivery, User, new_id
    from cluster.events import emit, wake_on_commit

    accepted = _Accepted()
    with socket.socket() as probe:  # a free port (the controller's self-check needs one)
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    smtp = Controller(accepted, hostname="127.0.0.1", port=port)
    smtp.start()
    totals: list[float] = []
    lags: list[float] = []
    deliveries: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="vidray-bench-notify-email-") as tmp:
            overrides: dict[str, Any] = {
                "data_dir": Path(tmp),
                "ray_namespace": f"bench-notify-email-{new_id()}",
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_security": "none",
                "public_url": "https://videos.example.org",
            }
            if postgres:
                overrides["database_url"] = settings.resolved_database_url
            bench = load_settings(**overrides)
            engine = db.make_engine(bench.resolved_database_url)
            db.migrate(engine)
            sessions = db.session_factory(engine)
            tag = new_id()[:8]
            owners = [f"bench-{tag}-{n}@bench.test" for n in range(samples)]
            with sessions.begin() as session:
                ids = []
                for n, email in enumerate(owners):
                    user = User(handle=f"b{tag}{n}", email=email)
                    session.add(user)
                    session.flush()
                    ids.append(user.id)
            say("starting a local Ray cluster, the notifier and the dispatcher")
            ray.init(
                address="local",
                num_cpus=2,
                namespace=bench.ray_namespace,
                include_dashboard=False,
                log_to_driver=False,
            )
            try:
                NotifierClient.start(bench)
                dispatcher = start(bench, {"notifier": "notifier"})
                dispatcher.head()
                wake_on_commit(sessions, DispatcherWaker(bench))
                say(f"{samples} video.ready events, one at a time, each to its email")
                for user_id, email in zip(ids, owners, strict=True):
                    with sessions.begin() as session:
                        emit(
                            session,
                            "video.ready",
                            new_id(),
                            owner_id=user_id,
                            title="bench clip",
                        )
                    committed = time.time()
                    while (done := accepted.when(email)) is None:
                        if time.time() - committed > GIVE_UP_S:
                            raise RuntimeError(
                                f"no email reached SMTP {GIVE_UP_S:g} s after the event: "
                                "see the notifier's log (ray logs) for why"
                            )
                        time.sleep(0.002)
                    with sessions() as session:
                        recorded = session.scalars(
                            select(Delivery.created_at).where(Delivery.user_id == user_id)
                        ).one()
                    totals.append(done - committed)
                    lags.append(_epoch(recorded) - committed)
                    deliveries.append(done - _epoch(recorded))
                    time.sleep(0.05)  # quiet: the next event comes after this one is done
            finally:
                ray.shutdown()
                engine.dispose()
    finally:
        smtp.stop()
    return EmailResult(
        samples=samples,
        total_p50_s=_quantile(totals, 0.5),
        total_p95_s=_quantile(totals, 0.95),
        lag_p50_s=_quantile(lags, 0.5),
        lag_p95_s=_quantile(lags, 0.95),
        delivery_p50_s=_quantile(deliveries, 0.5),
        delivery_p95_s=_quantile(deliveries, 0.95),
    )
