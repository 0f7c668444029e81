"""Ray for tests: the session's one local cluster, and clusters of several nodes on this
machine (`ray.cluster_utils.Cluster`) that a scale-out test owns alone.

A driver talks to one cluster at a time: a test that builds its own stops the session
cluster first and starts it again afterwards, as it was, for the tests that follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# For `cluster.runtime.init_local`: a cluster of the session's own, never one that another
# process (a scale-out test's `Cluster`) has announced on this machine. A fake GPU lets
# tests prove the GPU path falls back to libx264 on a CPU-only machine.
SESSION_RAY: dict[str, Any] = {
    "num_cpus": 2,
    "num_gpus": 1,
    "namespace": "vidray-test",
    "include_dashboard": False,
    "log_to_driver": False,
}
# Node deaths noticed within seconds, as Ray's own fault-tolerance tests set it.
FAST_FAILURE_DETECTION: dict[str, Any] = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 4,
}


@contextmanager
def own_cluster(*, namespace: str, head: dict[str, Any] | None = None) -> Iterator[Any]:
    """A `Cluster` whose head takes no task (`num_cpus=0`), this driver connected to it;
    add worker nodes with `cluster.add_node(num_cpus=1)`. Shut down on exit."""
    import ray
    from ray.cluster_utils import Cluster

    from cluster.runtime import init_local

    session_was_up = ray.is_initialized()
    if session_was_up:
        ray.shutdown()
    head_args = {
        "num_cpus": 0,
        "include_dashboard": False,
        "_system_config": FAST_FAILURE_DETECTION,
        # A free port, not Ray's fixed 52365 (see cluster.runtime.init_local).
        "dashboard_agent_listen_port": None,
        **(head or {}),
    }
    cluster = Cluster(initialize_head=True, head_node_args=head_args)
    try:
        cluster.connect(namespace=namespace)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        if session_was_up:
            init_local(**SESSION_RAY)
