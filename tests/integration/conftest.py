"""Integration tests share one local Ray cluster per session (started on first use)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    import ray

    # A fake GPU lets tests prove the GPU path falls back to libx264 on a CPU-only machine.
    ray.init(
        num_cpus=2,
        num_gpus=1,
        namespace="vidray-test",
        include_dashboard=False,
        log_to_driver=False,
    )
    try:
        yield
    finally:
        ray.shutdown()
