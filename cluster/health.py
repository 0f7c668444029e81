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
