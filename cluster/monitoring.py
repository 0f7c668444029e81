"""What `vidray monitoring` writes: a Prometheus config over Ray's service discovery, and
a Grafana dashboard whose panels answer an operator's questions, beside Ray's own.

Ray's head node keeps `prom_metrics_service_discovery.json` (in its temp dir,
`/tmp/ray` by default, and in each session's folder) up to date with the metrics
endpoint of every live node, so Prometheus follows nodes as the autoscaler adds and
removes them. Ray prefixes application metrics with `ray_` (see `cluster/metrics.py`);
Serve's request metrics (`ray_serve_*`) are used as Serve exports them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_DISCOVERY_FILE = Path("/tmp/ray/prom_metrics_service_discovery.json")  # noqa: S108 - Ray's own default
DASHBOARD_UID = "vidray"


@dataclass(frozen=True)
class Panel:
    """One dashboard panel: a title, its PromQL, and the unit Grafana shows."""

    key: str
    title: str
    expr: str
    legend: str
    unit: str


PANELS: tuple[Panel, ...] = (
    Panel(
        "requests",
        "Requests per second, per route",
        'sum by (application, route) (rate(ray_serve_num_http_requests_total{route!~"/-/.*"}[1m]))',
        "{{application}} {{route}}",
        "reqps",
    ),
    Panel(
        "latency",
        "Request latency p95, per route",
        "histogram_quantile(0.95, sum by (route, le) "
        '(rate(ray_serve_http_request_latency_ms_bucket{route!~"/-/.*"}[5m])))',
        "{{route}}",
        "ms",
    ),
    Panel(
        "queue-depth",
        "Transcode queue depth, per priority",
        "max by (priority) (ray_vidray_jobs_queue_depth)",
        "{{priority}}",
        "short",
    ),
    Panel(
        "queue-wait",
        "Transcode queue wait p95, per priority",
        "histogram_quantile(0.95, sum by (priority, le) "
        "(rate(ray_vidray_jobs_queue_wait_seconds_bucket[15m])))",
        "{{priority}}",
        "s",
    ),
    Panel(
        "transcode-speed",
        "Transcode speed (seconds of video per second of encode), per rung and device",
        "sum by (rung, device) (rate(ray_vidray_chunk_media_seconds_total[15m]))"
        " / sum by (rung, device) (rate(ray_vidray_chunk_encode_seconds_sum[15m]))",
        "{{rung}} {{device}}",
        "x",
    ),
    Panel(
        "outcomes",
        "Jobs finished, by status and reason (failures by reason)",
        "sum by (status, reason) (increase(ray_vidray_jobs_finished_total[1h]))",
        "{{status}} {{reason}}",
        "short",
    ),
    Panel(
        "chunk-retries",
        "Chunk encodes retried after a lost worker or node",
        "sum by (device) (increase(ray_vidray_chunk_retries_total[1h]))"
        " or sum by (device) (ray_vidray_chunk_encode_seconds_count * 0)",
        "{{device}}",
        "short",
    ),
    Panel(
        "first-playable",
        "Time to first playable p50 (from the transcode's start)",
        "histogram_quantile(0.5, sum by (le) "
        "(rate(ray_vidray_time_to_first_playable_seconds_bucket[15m])))",
        "p50",
        "s",
    ),
    Panel(
        "upload-throughput",
        "Upload throughput",
        "sum(rate(ray_vidray_upload_bytes_total[1m]))",
        "bytes/s",
        "Bps",
    ),
    Panel(
        "patch-latency",
        "tus PATCH latency p95, by status",
        "histogram_quantile(0.95, sum by (status, le) "
        "(rate(ray_vidray_upload_patch_seconds_bucket[5m])))",
        "{{status}}",
        "s",
    ),
    Panel(
        "playback",
        "Playback URLs granted and refused, by reason",
        "sum by (visibility) (increase(ray_vidray_playback_grants_total[1h]))"
        " or sum by (reason) (increase(ray_vidray_playback_refusals_total[1h]))",
        "{{visibility}}{{reason}}",
        "short",
    ),
    Panel(
        "dispatcher-lag",
        "Dispatcher lag, per subscriber",
        "max by (subscriber) (ray_vidray_dispatcher_lag_seconds)",
        "{{subscriber}}",
        "s",
    ),
)


def prometheus_config(*, discovery_file: Path, scrape_interval_s: float = 10.0) -> str:
    """prometheus.yml: every Ray node that Ray's service-discovery file names."""
    interval = f"{scrape_interval_s:g}s"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": "ray",
                "file_sd_configs": [{"files": [str(discovery_file)]}],
            }
        ],
    }
    return "# Written by `vidray monitoring`.\n" + yaml.safe_dump(config, sort_keys=False)


def grafana_dashboard(*, datasource: str = "Prometheus") -> dict[str, Any]:
    """vidray's Grafana dashboard: two panels a row, one query each."""
    panels = []
    for index, panel in enumerate(PANELS):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": panel.title,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "targets": [{"refId": "A", "expr": panel.expr, "legendFormat": panel.legend}],
            }
        )
    return {
        "uid": DASHBOARD_UID,
        "title": "vidray",
        "tags": ["vidray", "ray"],
        "timezone": "browser",
        "schemaVersion": 39,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": datasource, "value": datasource},
                }
            ]
        },
        "panels": panels,
    }


def grafana_provisioning(*, dashboards_dir: Path, prometheus_url: str) -> dict[str, str]:
    """Grafana's provisioning files (relative path -> text): the Prometheus data source,
    and a provider that loads every dashboard in `dashboards_dir` (vidray's and Ray's)."""
    datasources = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "access": "proxy",
                "url": prometheus_url,
                "isDefault": True,
            }
        ],
    }
    providers = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "vidray",
                "folder": "vidray and Ray",
                "type": "file",
                "options": {"path": str(dashboards_dir)},
            }
        ],
    }
    return {
        "provisioning/datasources/vidray.yml": yaml.safe_dump(datasources, sort_keys=False),
        "provisioning/dashboards/vidray.yml": yaml.safe_dump(providers, sort_keys=False),
    }


def ray_dashboards(session_dir: Path | None) -> list[Path]:
    """The dashboards Ray generated for its session (Core, Serve, Data...), if found."""
    if session_dir is None:
        return []
    folder = session_dir / "metrics" / "grafana" / "dashboards"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def write_monitoring(
    out: Path,
    *,
    discovery_file: Path,
    scrape_interval_s: float,
    prometheus_url: str,
    session_dir: Path | None,
) -> list[Path]:
    """Write everything into `out`; returns the files written."""
    dashboards = out / "grafana" / "dashboards"
    dashboards.mkdir(parents=True, exist_ok=True)
    written = []
    prom = out / "prometheus.yml"
    prom.write_text(
        prometheus_config(discovery_file=discovery_file, scrape_interval_s=scrape_interval_s)
    )
    written.append(prom)
    mine = dashboards / "vidray.json"
    mine.write_text(json.dumps(grafana_dashboard(), indent=2) + "\n")
    written.append(mine)
    for source in ray_dashboards(session_dir):
        copy = dashboards / source.name
        copy.write_text(source.read_text())
        written.append(copy)
    for relative, text in grafana_provisioning(
        dashboards_dir=dashboards.resolve(), prometheus_url=prometheus_url
    ).items():
        path = out / "grafana" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
