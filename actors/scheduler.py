"""Periodic work (the upload sweep today; rollups, retries and trending decay later),
run by one detached actor as Ray tasks, never in a request path or a replica thread.

What to run comes from the composition root (`serve/app.py`) as `Periodic` entries: a
name, an interval and a module-level function of the settings, which Ray runs as a task
wherever there is room (so this module imports nothing from `serve/`). Each run's start
and end are recorded in the `scheduled_runs` table, which makes two promises hold across
restarts: a run missed while the cluster was down is overdue at the next start and runs
once, not once per missed interval; and a restarted scheduler never runs work early.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from actors.singleton import start_singleton
from cluster import db
from cluster.config import Settings
from cluster.db.models import ScheduledRun
from cluster.security import Clock

log = logging.getLogger(__name__)

ACTOR_NAME = "scheduler"


@dataclass(frozen=True)
class Periodic:
    """One piece of periodic work: `run(settings)` every `every_s` seconds."""

    name: str
    every_s: float
    run: Callable[[Settings], Any]


@dataclass(frozen=True)
class RunView:
    """The last run of one piece of work, as the CLI and tests see it."""

    name: str
    runs: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    result: Any = None


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Scheduler:
    """The scheduler actor's logic: a thread that runs whatever work is due."""

    def __init__(
        self, settings: Settings, work: list[Periodic], *, clock: Clock = time.time
    ) -> None:
        self.settings = settings
        self.work = {periodic.name: periodic for periodic in work}
        self.clock = clock
        self.engine = db.make_engine(settings.resolved_database_url)
        self.sessions = db.session_factory(self.engine)
        self._results: dict[str, Any] = {}
        self._running = threading.Lock()  # one run at a time, loop or run_now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def next_due(self, name: str) -> datetime:
        """When `name` runs next: its last start plus its interval, or now if it never
        ran (or its last run was missed while the cluster was down)."""
        with self.sessions() as session:
            row = session.get(ScheduledRun, name)
            started = _aware(row.started_at) if row is not None else None
        if started is None:
            return self._now()
        return started + timedelta(seconds=self.work[name].every_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for name in self.work:
                if self._stop.is_set():
                    return
                if self.next_due(name) <= self._now():
                    self.run_now(name)
            wait = (
                min((self.next_due(name) - self._now()).total_seconds() for name in self.work)
                if self.work
                else 3600.0
            )
            self._stop.wait(max(0.05, wait))

    def run_now(self, name: str) -> RunView:
        """Run `name` once now, as a Ray task, and record it; returns the run."""
        import ray

        periodic = self.work[name]
        with self._running:
            with self.sessions.begin() as session:
                row = session.get(ScheduledRun, name)
                if row is None:
                    row = ScheduledRun(name=name, runs=0)
                row.started_at, row.finished_at, row.error = self._now(), None, None
                row.runs += 1
                session.add(row)
            error: str | None = None
            try:
                task = ray.remote(num_cpus=0, max_retries=0)(periodic.run)
                self._results[name] = ray.get(task.remote(self.settings))
            except Exception as exc:  # a failed run is recorded; the next one retries
                log.exception("scheduled work %s failed", name)
                error = f"{type(exc).__name__}: {exc}"[:2000]
            with self.sessions.begin() as session:
                row = session.get(ScheduledRun, name)
                assert row is not None  # written above
                row.finished_at, row.error = self._now(), error
        return self.status(name)

    def status(self, name: str) -> RunView:
        with self.sessions() as session:
            row = session.get(ScheduledRun, name)
            if row is None:
                return RunView(name=name, runs=0, started_at=None, finished_at=None, error=None)
            return RunView(
                name=name,
                runs=row.runs,
                started_at=_aware(row.started_at),
                finished_at=_aware(row.finished_at),
                error=row.error,
                result=self._results.get(name),
            )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class SchedulerClient:
    """Typed calls to the scheduler actor (the CLI and tests)."""

    def __init__(self, actor: Any) -> None:  # Any: a Ray actor handle
        self.actor = actor

    def run_now(self, name: str) -> RunView:
        import ray

        view: RunView = ray.get(self.actor.run_now.remote(name))
        return view

    def status(self, name: str) -> RunView:
        import ray

        view: RunView = ray.get(self.actor.status.remote(name))
        return view


def start(settings: Settings, work: list[Periodic]) -> SchedulerClient:
    """The cluster's one scheduler: created if missing, restarted by Ray if it dies."""
    # status and run_now answer while a run is under way.
    return SchedulerClient(
        start_singleton(
            Scheduler, settings, work, settings=settings, name=ACTOR_NAME, max_concurrency=4
        )
    )
