"""Integration tests share one local Ray cluster per session (started on first use)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, namespace="vidray-test", include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
