"""Readiness of the services vidray stands on: database, object storage, KV and Ray,
plus whatever checks the caller adds (the gateway adds this node's upload edge)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from cluster import db, runtime
from cluster.errors import VidrayError
from cluster.kv import KV
from cluster.storage import ObjectStore


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    name: str
    ok: bool
    detail: str


def _probe(name: str, check: Callable[[], str]) -> ComponentHealth:
    try:
        return ComponentHealth(name, True, check())
    except VidrayError as exc:
        return ComponentHealth(name, False, str(exc))
    except Exception as exc:  # a health probe reports every failure, it never raises
        return ComponentHealth(name, False, f"{exc.__class__.__name__}: {exc}")


def check_all(
    *,
    engine: Engine,
    store: ObjectStore,
    kv: KV,
    more: Sequence[tuple[str, Callable[[], str]]] = (),
) -> list[ComponentHealth]:
    """`more`: further (name, check) pairs; a check returns a detail or raises."""

    def database() -> str:
        db.check(engine)
        return engine.dialect.name

    def storage() -> str:
        store.check()
        return type(store).__name__

    def cache() -> str:
        kv.ping()
        return type(kv).__name__

    def ray_cluster() -> str:
        nodes = runtime.alive_nodes()
        if nodes == 0:
            raise VidrayError("no live Ray node: start one with `vidray up` or set RAY_ADDRESS")
        return f"{nodes} node(s) alive"

    checks = [("database", database), ("storage", storage), ("kv", cache), ("ray", ray_cluster)]
    return [_probe(name, check) for name, check in [*checks, *more]]


def actors_reachable(names: Sequence[str], *, namespace: str, timeout: float = 2.0) -> str:
    """A readiness check: each named detached actor exists and answers within `timeout`.
    Returns a detail; raises a `VidrayError` naming the first one that does not."""
    import ray

    for name in names:
        try:
            actor = ray.get_actor(name, namespace=namespace)
            # Every Ray actor answers __ray_ready__ once its constructor has run.
            ray.get(actor.__ray_ready__.remote(), timeout=timeout)
        except ValueError:
            raise VidrayError(f"the {name!r} actor is not running: restart `vidray up`") from None
        except (ray.exceptions.RayError, TimeoutError) as exc:
            raise VidrayError(
                f"the {name!r} actor does not answer ({type(exc).__name__}): "
                "see the Ray dashboard's Actors page"
            ) from None
    return ", ".join(names)
