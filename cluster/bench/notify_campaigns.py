"""`vidray bench notify-campaigns`: a campaign's send rate against its limit.

10,000 opted-in users (by default) on a fresh SQLite database, one campaign, sent by
vidray's campaign sender (`actors/campaign_sends.py`: a claim, a render, an SMTP
transaction and a commit per recipient) through `cluster.messaging` to aiosmtpd, which
runs in its own process with its `Sink` handler so the server's work does not count
against ours. The anchor is the configured limit (`--rate`, VIDRAY_CAMPAIGN_RATE): how
close vidray gets to it, and whether its memory stays flat while it sends (the sender
keeps one batch of 100 rows at a time, never the audience).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from cluster.config import Settings, load_settings

INSERT_BATCH = 1000


@dataclass(frozen=True)
class CampaignFigures:
    recipients: int
    sent: int
    failed: int
    wall_s: float
    rate: float
    limit: float
    rss_start_mib: float
    rss_peak_mib: float
    rss_end_mib: float


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sink(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    import socket

    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.05)
    server.kill()
    raise RuntimeError("aiosmtpd did not start: is it installed (pip install aiosmtpd)?")


def _seed(settings: Settings, recipients: int) -> str:
    from sqlalchemy import insert

    from cluster import db
    from cluster.db.models import Campaign, NotificationPreference, User, new_id

    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    sessions = db.session_factory(engine)
    with sessions.begin() as session:
        for start in range(0, recipients, INSERT_BATCH):
            ids = [new_id() for _ in range(start, min(start + INSERT_BATCH, recipients))]
            session.execute(
                insert(User),
                [
                    {"id": uid, "handle": f"u{start + i}", "email": f"u{start + i}@bench.test"}
                    for i, uid in enumerate(ids)
                ],
            )
            session.execute(
                insert(NotificationPreference),
                [
                    {
                        "user_id": uid,
                        "kind": "newsletter",
                        "in_app": False,
                        "email": True,
                        "sms": False,
                    }
                    for uid in ids
                ],
            )
        campaign = Campaign(
            subject="vidray bench",
            html="<p>Hello from the <b>benchmark</b></p>",
            text="Hello from the benchmark",
            state="scheduled",
        )
        session.add(campaign)
        session.flush()
        campaign_id = campaign.id
    engine.dispose()
    return campaign_id


def bench(*, recipients: int, rate: float, say: Callable[[str], None]) -> CampaignFigures:
    from actors.campaign_sends import CampaignSender
    from cluster import db
    from cluster.messaging import open_sender

    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="vidray-bench-notify-") as tmp:
        settings = load_settings(
            data_dir=Path(tmp),
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
            smtp_from="vidray <bench@vidray.test>",
            campaign_rate=rate,
            public_url="https://videos.example.org",
        )
        say(f"seeding {recipients} opted-in users")
        campaign_id = _seed(settings, recipients)
        server = _sink(port)
        engine = db.make_engine(settings.resolved_database_url)
        try:
            sender = CampaignSender(
                settings=settings,
                sessions=db.session_factory(engine),
                sender=open_sender(settings),
                clock=time.time,
            )
            me = psutil.Process()
            start_rss = me.memory_info().rss
            peak = [start_rss]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.25):
                    peak[0] = max(peak[0], me.memory_info().rss)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            say(f"sending at up to {rate:g}/s")
            began = time.monotonic()
            progress = sender.run(campaign_id)
            wall = time.monotonic() - began
            done.set()
            sampler.join()
            end_rss = me.memory_info().rss
        finally:
            server.terminate()
            server.wait(10)
            engine.dispose()
    assert progress is not None
    mib = 1024 * 1024
    return CampaignFigures(
        recipients=recipients,
        sent=progress.sent,
        failed=progress.failed,
        wall_s=wall,
        rate=progress.sent / wall if wall else 0.0,
        limit=rate,
        rss_start_mib=start_rss / mib,
        rss_peak_mib=peak[0] / mib,
        rss_end_mib=end_rss / mib,
    )
