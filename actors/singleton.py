"""The cluster's one instance of an actor: detached (it outlives the `vidray up` that
made it), found by name if it already runs, restarted by Ray whenever it dies."""

from __future__ import annotations

from typing import Any

from cluster.config import Settings


def start_singleton(
    actor_class: type, *args: Any, settings: Settings, name: str, max_concurrency: int
) -> Any:
    """The handle of the named actor, created from `actor_class(*args)` if missing. It
    takes no CPU: what it runs heavy, it runs as Ray tasks."""
    import ray

    return (
        ray.remote(actor_class)
        .options(
            name=name,
            namespace=settings.ray_namespace,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_concurrency=max_concurrency,
            num_cpus=0,
        )
        .remote(*args)
    )
