"""ray-cluster.yaml must stay valid for `ray up` and route GPU work to GPU nodes."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CONFIG = Path(__file__).resolve().parents[2] / "ray-cluster.yaml"


def _config() -> dict[str, Any]:
    return yaml.safe_load(CONFIG.read_text())


def test_valid_against_the_schema_that_ships_with_ray() -> None:
    schema = json.loads(files("ray.autoscaler").joinpath("ray-schema.json").read_text())
    jsonschema.validate(_config(), schema)


def test_head_cpu_and_gpu_node_types() -> None:
    nodes = _config()["available_node_types"]
    assert _config()["head_node_type"] in nodes
    gpu = [n for n in nodes.values() if n["resources"].get("GPU", 0) > 0]
    cpu = [n for n in nodes.values() if "cpu_transcode" in n["resources"]]
    assert cpu, "a CPU transcode worker type is needed"
    assert gpu, "a GPU worker type is needed"
    assert all(n["resources"].get("gpu_transcode", 0) >= 1 for n in gpu)
    assert not any("gpu_transcode" in n["resources"] for n in cpu)


def test_gcs_never_on_the_redis_port() -> None:
    head = " ".join(_config()["head_start_ray_commands"])
    assert "--port=6380" in head
    assert "6379" not in head


def test_the_head_starts_vidray_on_its_own_cluster_with_its_settings() -> None:
    start = _config()["head_start_ray_commands"][-1]
    assert "RAY_ADDRESS=auto" in start and "vidray up" in start
    assert ". ~/vidray.env" in start  # production settings, never baked into this file
