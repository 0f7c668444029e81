"""`vidray bench notify`: the dispatcher beside its targets.

- Throughput: `events` outbox rows committed in one transaction, then counted through
  the dispatcher actor to a no-op subscriber actor (`actors/noop.py`): events per second
  from the commit to the last delivery (sequencing, reading, handing over, cursor
  writes: the dispatcher's work, not the writers'). Anchor: 2,000 events/s. The lag under
  load is each event's wait in that burst.
- Lag on a quiet platform: `quiet` single events committed one at a time, each waking
  the dispatcher on commit (as every vidray process does); the time from each event's
  commit to its arrival in the subscriber, p50 and p95. Anchor: 1 s (Mux's webhooks
  arrive within seconds).

Everything runs on a fresh local Ray cluster of its own and a fresh SQLite database in
a temporary folder (or the configured PostgreSQL with `--postgres`), so the figures are
the dispatcher's, not a busy platform's.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.config import Settings

Say = Callable[[str], None]
THROUGHPUT_TARGET = 2000.0  # events/s
LAG_TARGET_S = 1.0


@dataclass(frozen=True)
class DispatchResult:
    events: int
    wall_s: float
    events_per_s: float
    lag_p50_s: float  # throughput run: commit to delivery, under load
    lag_p95_s: float
    quiet_p50_s: float  # one event at a time
    quiet_p95_s: float


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def bench_dispatch(
    *, settings: Settings, events: int, quiet: int, postgres: bool, say: Say
) -> DispatchResult:
    import ray
    from sqlalchemy import insert

    from actors.dispatcher import DispatcherWaker, start
    from actors.noop import NoopSubscriber
    from cluster import db
    from cluster.config import load_settings
    from cluster.db.models import OutboxEvent, new_id, utcnow
    from cluster.events import emit, wake_on_commit

    with tempfile.TemporaryDirectory(prefix="vidray-bench-notify-") as tmp:
        overrides: dict[str, Any] = {
            "data_dir": Path(tmp),
            "ray_namespace": f"bench-notify-{new_id()}",
        }
        if postgres:
            overrides["database_url"] = settings.resolved_database_url
        bench = load_settings(**overrides)
        engine = db.make_engine(bench.resolved_database_url)
        db.migrate(engine)
        sessions = db.session_factory(engine)
        say("starting a local Ray cluster, a dispatcher and a no-op subscriber")
        ray.init(
            address="local",  # a cluster of its own, even beside another on this host
            num_cpus=2,
            namespace=bench.ray_namespace,
            include_dashboard=False,
            log_to_driver=False,
        )
        try:
            noop: Any = (
                ray.remote(NoopSubscriber)
                .options(name="bench-noop", namespace=bench.ray_namespace)
                .remote()
            )
            ray.get(noop.stats.remote())
            with sessions() as session:
                already = session.query(OutboxEvent).count()  # a PostgreSQL in use
            dispatcher = start(bench, {"bench-noop": "bench-noop"})
            dispatcher.head()  # up

            def delivered() -> int:
                return int(ray.get(noop.stats.remote())["count"])

            while delivered() < already:
                time.sleep(0.05)
            say(f"throughput: {events} events committed at once, then dispatched")
            now = utcnow()
            rows = [
                {
                    "topic": "video.ready",
                    "aggregate_id": f"bench{n}",
                    "payload": {"n": n},
                    "created_at": now,
                }
                for n in range(events)
            ]
            with sessions.begin() as session:
                session.execute(insert(OutboxEvent), rows)
            started = time.monotonic()
            dispatcher.wake()
            while delivered() < already + events:
                time.sleep(0.01)
            wall = time.monotonic() - started
            loaded = ray.get(noop.stats.remote())
            say(f"quiet: {quiet} events one at a time")
            wake_on_commit(sessions, DispatcherWaker(bench))
            lags = []
            for n in range(quiet):
                before = delivered()
                with sessions.begin() as session:
                    emit(session, "video.ready", f"quiet{n}", owner_id="bench")
                while delivered() == before:
                    time.sleep(0.002)
                lags.append(ray.get(noop.lag_of_last.remote()))
                time.sleep(0.05)  # quiet: the next one comes after this one is done
        finally:
            ray.shutdown()
            engine.dispose()
    return DispatchResult(
        events=events,
        wall_s=wall,
        events_per_s=events / wall,
        lag_p50_s=loaded["lag_p50_s"],
        lag_p95_s=loaded["lag_p95_s"],
        quiet_p50_s=_quantile(lags, 0.5),
        quiet_p95_s=_quantile(lags, 0.95),
    )
