"""Every metric vidray exports, declared in one place over `ray.util.metrics`.

Ray ships them to each node's metrics agent, which Prometheus scrapes through Ray's
service-discovery file (`vidray monitoring`); Ray prefixes every name with `ray_`, so
`vidray_jobs_finished` is `ray_vidray_jobs_finished_total` in PromQL. Serve's own
request metrics (`ray_serve_*`) are used as they are.

Tags name kinds, never ids: no video, user, upload or job id ever becomes a label (each
would be a new time series per upload, and a personal datum in the monitoring stack).

The metrics are built lazily, once per process, by `registry()`: a Ray worker process
builds its own on first use (a module-level instance would be created at import, before
the worker is connected, and pickled into every task that closes over it). Outside Ray
(unit tests, the CLI before `ray.init`) `registry()` is a no-op stand-in, so a call site
never needs to ask whether metrics are on.

Each call site is one line, through the functions at the bottom, e.g.:

    metrics.job_finished(status="failed", reason="lost")
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

log = logging.getLogger(__name__)

# Buckets in seconds: a PATCH or query is milliseconds to seconds; an encode or a wait in
# the queue seconds to an hour.
FAST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
SLOW_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600]


class _Metric(Protocol):
    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None: ...
    def set(self, value: float, tags: dict[str, str] | None = None) -> None: ...
    def observe(self, value: float, tags: dict[str, str] | None = None) -> None: ...


@dataclass(frozen=True)
class Spec:
    """One metric: its kind, name (without Ray's `ray_` prefix), help and tag keys."""

    kind: str  # "counter" | "gauge" | "histogram"
    name: str
    description: str
    tag_keys: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


SPECS: dict[str, Spec] = {
    spec.name: spec
    for spec in (
        # -- jobs (actors/jobs.py) --
        Spec("counter", "vidray_jobs_submitted", "Transcode jobs submitted.", ("priority",)),
        Spec(
            "counter",
            "vidray_jobs_finished",
            "Transcode jobs finished, by final status (done, failed, cancelled) and reason.",
            ("status", "reason"),
        ),
        Spec("gauge", "vidray_jobs_queue_depth", "Jobs waiting to run.", ("priority",)),
        Spec(
            "histogram",
            "vidray_jobs_queue_wait_seconds",
            "Time from a job's submission to its start.",
            ("priority",),
            tuple(SLOW_BUCKETS),
        ),
        Spec(
            "histogram",
            "vidray_time_to_first_playable_seconds",
            "Time from a transcode's start (after the probe) to its first playable playlist.",
            (),
            tuple(SLOW_BUCKETS),
        ),
        # -- transcode tasks (pipelines/transcode/tasks.py) --
        Spec(
            "histogram",
            "vidray_chunk_encode_seconds",
            "Wall time of one chunk's encode, by its top rung and device (cpu, gpu).",
            ("rung", "device"),
            tuple(SLOW_BUCKETS),
        ),
        Spec(
            "counter",
            "vidray_chunk_media_seconds",
            "Seconds of source video encoded (divide by encode seconds: transcode speed).",
            ("rung", "device"),
        ),
        Spec(
            "counter",
            "vidray_chunk_retries",
            "Chunk encodes run again by Ray after a lost worker or node.",
            ("device",),
        ),
        # -- uploads (serve/uploads) --
        Spec("counter", "vidray_upload_bytes", "Upload bytes stored by tus PATCHes."),
        Spec(
            "histogram",
            "vidray_upload_patch_seconds",
            "Latency of one tus PATCH, by HTTP status class.",
            ("status",),
            tuple(FAST_BUCKETS),
        ),
        # -- playback (serve/stream) --
        Spec(
            "counter",
            "vidray_playback_grants",
            "Signed playback URLs handed out.",
            ("visibility",),
        ),
        Spec(
            "counter",
            "vidray_playback_refusals",
            "Playback requests refused, by reason (expired, tampered, revoked, ...).",
            ("reason",),
        ),
        # -- declared for the dispatcher, notifier, analytics and search (#14-#16) --
        Spec(
            "gauge",
            "vidray_dispatcher_lag_seconds",
            "Age of the oldest event a subscriber has not yet handled.",
            ("subscriber",),
        ),
        Spec(
            "counter",
            "vidray_notification_deliveries",
            "Notification deliveries, by channel (email, sms, webhook, inbox) and result.",
            ("channel", "result"),
        ),
        Spec(
            "counter",
            "vidray_analytics_events",
            "Analytics beacons' events, accepted or dropped, by reason.",
            ("result", "reason"),
        ),
        Spec(
            "histogram",
            "vidray_search_query_seconds",
            "Latency of one search query.",
            ("kind",),
            tuple(FAST_BUCKETS),
        ),
    )
}


class _Null:
    """Stands in for every metric outside a Ray worker."""

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        pass

    def set(self, value: float, tags: dict[str, str] | None = None) -> None:
        pass

    def observe(self, value: float, tags: dict[str, str] | None = None) -> None:
        pass


class Registry:
    """This process's metric objects, by name, and the gauges' last values.

    Ray 2.60 exports a gauge only if it was set since the last report (its OpenTelemetry
    gauge forgets a value once reported), so a queue depth set once would vanish from
    Prometheus seconds later. A daemon thread sets every gauge again each half report
    interval, for as long as the process lives.
    """

    def __init__(self, metrics: dict[str, Any], *, refresh_s: float | None = None) -> None:
        self._metrics = metrics
        self._gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._lock = threading.Lock()
        if refresh_s is not None:
            threading.Thread(
                target=self._refresh, args=(refresh_s,), name="vidray-gauges", daemon=True
            ).start()

    def __getitem__(self, name: str) -> _Metric:
        metric: _Metric = self._metrics[name]
        return metric

    def set_gauge(self, name: str, value: float, tags: dict[str, str]) -> None:
        with self._lock:
            self._gauges[(name, tuple(sorted(tags.items())))] = value
        self[name].set(value, tags=tags or None)

    def _refresh(self, every_s: float) -> None:
        while True:
            time.sleep(every_s)
            with self._lock:
                gauges = list(self._gauges.items())
            for (name, tags), value in gauges:
                with contextlib.suppress(Exception):  # never kill the refresher
                    self[name].set(value, tags=dict(tags) or None)


def _build(spec: Spec) -> Any:
    from ray.util import metrics as ray_metrics

    if spec.kind == "counter":
        return ray_metrics.Counter(spec.name, spec.description, tag_keys=spec.tag_keys)
    if spec.kind == "gauge":
        return ray_metrics.Gauge(spec.name, spec.description, tag_keys=spec.tag_keys)
    return ray_metrics.Histogram(
        spec.name, spec.description, boundaries=list(spec.buckets), tag_keys=spec.tag_keys
    )


@functools.cache
def _registry(connected: bool) -> Registry:
    if not connected:
        return Registry({name: _Null() for name in SPECS})
    import ray

    # Ray's report interval (RAY_metrics_report_interval_ms), as this process read it.
    report_ms = float(ray._config.metrics_report_interval_ms())
    return Registry(
        {name: _build(spec) for name, spec in SPECS.items()}, refresh_s=max(0.2, report_ms / 2000)
    )


def registry() -> Registry:
    """This process's metrics: Ray's once connected, no-ops before."""
    import ray

    return _registry(ray.is_initialized())


def _record(name: str, method: str, value: float, **tags: str) -> None:
    if method == "inc" and value <= 0:  # Ray's counters take positive increments only
        return
    # A metric must never fail the work it measures.
    try:
        if method == "set":
            registry().set_gauge(name, value, tags)
        else:
            getattr(registry()[name], method)(value, tags=tags or None)
    except Exception:
        log.debug("metric %s not recorded", name, exc_info=True)


# -- one function per call site ---------------------------------------------------------


def job_submitted(*, priority: str) -> None:
    _record("vidray_jobs_submitted", "inc", 1, priority=priority)


def job_finished(*, status: str, reason: str | None) -> None:
    _record("vidray_jobs_finished", "inc", 1, status=status, reason=reason or "none")


def queue_depth(*, priority: str, depth: int) -> None:
    _record("vidray_jobs_queue_depth", "set", depth, priority=priority)


def queue_wait(*, priority: str, since: datetime) -> None:
    """A job starts: it waited since `since` (its submission; naive means UTC)."""
    if since.tzinfo is None:  # SQLite hands back naive datetimes; every stored time is UTC
        since = since.replace(tzinfo=UTC)
    seconds = (datetime.now(UTC) - since).total_seconds()
    _record("vidray_jobs_queue_wait_seconds", "observe", max(0.0, seconds), priority=priority)


def first_playable(seconds: float) -> None:
    _record("vidray_time_to_first_playable_seconds", "observe", seconds)


def chunk_encoded(*, rung: str, device: str, seconds: float, media_seconds: float) -> None:
    _record("vidray_chunk_encode_seconds", "observe", seconds, rung=rung, device=device)
    _record("vidray_chunk_media_seconds", "inc", media_seconds, rung=rung, device=device)


def chunk_started(*, device: str) -> None:
    """A chunk task begins: counted as a retry when Ray runs it again (a lost worker)."""
    if _task_attempt() > 0:
        _record("vidray_chunk_retries", "inc", 1, device=device)


def _task_attempt() -> int:
    # Ray has no public call for the attempt number of the running task (2.60); its core
    # worker has one. Without it, retries go uncounted rather than failing the chunk.
    try:
        from ray._private.worker import global_worker

        core_worker = getattr(global_worker, "core_worker")  # noqa: B009 - untyped in Ray
        return int(core_worker.get_current_task_attempt_number())
    except Exception:
        return 0


def patch_stored(*, status: int, nbytes: int, seconds: float) -> None:
    _record("vidray_upload_bytes", "inc", nbytes)
    _record("vidray_upload_patch_seconds", "observe", seconds, status=f"{status // 100}xx")


def playback_granted(*, visibility: str) -> None:
    _record("vidray_playback_grants", "inc", 1, visibility=visibility)


def playback_refused(*, reason: str) -> None:
    _record("vidray_playback_refusals", "inc", 1, reason=reason)


def dispatcher_lag(*, subscriber: str, seconds: float) -> None:
    _record("vidray_dispatcher_lag_seconds", "set", max(0.0, seconds), subscriber=subscriber)


def notification_delivered(*, channel: str, result: str) -> None:
    _record("vidray_notification_deliveries", "inc", 1, channel=channel, result=result)


def analytics_events(*, result: str, reason: str = "none", count: int = 1) -> None:
    _record("vidray_analytics_events", "inc", count, result=result, reason=reason)


def search_query(*, kind: str, seconds: float) -> None:
    _record("vidray_search_query_seconds", "observe", seconds, kind=kind)
