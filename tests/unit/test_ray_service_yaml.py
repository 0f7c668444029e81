"""ray-service.yaml (KubeRay) runs exactly serve-config.yaml (the applications `vidray
up` deploys, each with Sentry's worker hook), with the cluster shape the README
promises."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster import sentry
from serve.app import COLLECTOR_ROUTE_PREFIX, STREAM_ROUTE_PREFIX

ROOT = Path(__file__).resolve().parents[2]


def _manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((ROOT / "ray-service.yaml").read_text())
    return manifest


def test_the_manifest_embeds_the_serve_config_file_verbatim() -> None:
    assert _manifest()["spec"]["serveConfigV2"] == (ROOT / "serve-config.yaml").read_text()


def test_every_application_builder_imports() -> None:
    config = yaml.safe_load((ROOT / "serve-config.yaml").read_text())
    for application in config["applications"]:
        module, name = application["import_path"].split(":")
        assert callable(getattr(importlib.import_module(module), name))


def test_every_deployment_autoscales_one_replica_per_node() -> None:
    config = yaml.safe_load((ROOT / "serve-config.yaml").read_text())
    deployments = {
        d["name"]: d for application in config["applications"] for d in application["deployments"]
    }
    # The same three applications `vidray up` deploys.
    assert set(deployments) == {"gateway", "stream", "collector"}
    routes = {application["route_prefix"] for application in config["applications"]}
    assert routes == {"/", STREAM_ROUTE_PREFIX, COLLECTOR_ROUTE_PREFIX}
    for deployment in deployments.values():
        assert deployment["max_replicas_per_node"] == 1
        assert deployment["autoscaling_config"]["min_replicas"] >= 1


def test_every_application_starts_sentry_in_its_workers() -> None:
    config = yaml.safe_load((ROOT / "serve-config.yaml").read_text())
    for application in config["applications"]:
        assert application["runtime_env"]["worker_process_setup_hook"] == sentry.HOOK


def test_the_workers_hook_reads_the_nodes_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str | None] = []
    monkeypatch.setattr(sentry, "init", started.append)
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    monkeypatch.delenv("VIDRAY_SENTRY_DSN", raising=False)
    sentry.setup_worker()
    monkeypatch.setenv("VIDRAY_SENTRY_DSN", "http://key@127.0.0.1:9/1")
    sentry.setup_worker()
    assert started == [None, "http://key@127.0.0.1:9/1"]


def test_the_cluster_shape() -> None:
    cluster = _manifest()["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["gcsFaultToleranceOptions"]["redisAddress"].startswith("redis://")
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    container = head["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    assert set(groups) == {"cpu-transcode", "gpu-transcode"}
    gpu = groups["gpu-transcode"]
    assert gpu["minReplicas"] == 0
    limits = gpu["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"
    cpu_limits = groups["cpu-transcode"]["template"]["spec"]["containers"][0]["resources"]
    assert "nvidia.com/gpu" not in cpu_limits["limits"]
