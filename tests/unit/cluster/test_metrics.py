"""The metric registry: names, tags without ids, and no-ops outside Ray."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import ray

from cluster import metrics


def test_no_tag_names_an_id() -> None:
    for spec in metrics.SPECS.values():
        assert spec.name.startswith("vidray_")
        assert not any(
            key.endswith("id") or key in {"video", "user", "owner"} for key in spec.tag_keys
        )
        assert spec.kind in {"counter", "gauge", "histogram"}
        assert (spec.kind == "histogram") == bool(spec.buckets), spec.name


def _no_ray_init(*args: object, **kwargs: object) -> None:
    raise AssertionError("recording a metric started Ray")


def test_call_sites_are_no_ops_outside_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    # Outside Ray whatever this worker process ran before (an xdist worker may have
    # joined the session's cluster): recording neither fails nor starts Ray.
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", _no_ray_init)
    metrics.job_submitted(priority="normal")
    metrics.job_finished(status="failed", reason=None)
    metrics.queue_depth(priority="normal", depth=3)
    metrics.queue_wait(priority="normal", since=datetime(2026, 1, 1))  # naive: UTC
    metrics.queue_wait(priority="normal", since=datetime.now(UTC))
    metrics.first_playable(2.5)
    metrics.chunk_started(device="cpu")
    metrics.chunk_encoded(rung="720p", device="cpu", seconds=1.0, media_seconds=6.0)
    metrics.patch_stored(status=204, nbytes=0, seconds=0.01)
    metrics.playback_granted(visibility="public")
    metrics.playback_refused(reason="expired")
    metrics.dispatcher_lag(subscriber="notifier", seconds=-1)
    metrics.notification_delivered(channel="email", result="sent")
    metrics.analytics_events(result="dropped", reason="bot", count=2)
    metrics.search_query(kind="videos", seconds=0.02)
