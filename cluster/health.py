"""Readiness of the services vidray stands on: database, object storage, KV, Ray, and
the upload edge of this node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
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
    *, engine: Engine, store: ObjectStore, kv: KV, upload_edge: str | None = None
) -> list[ComponentHealth]:
    """`upload_edge`: the base URL of this node's upload edge, where one should run."""

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

    def uploads() -> str:
        assert upload_edge is not None
        try:
            httpx.get(f"{upload_edge}/healthz", timeout=2).raise_for_status()
        except httpx.HTTPError as exc:
            raise VidrayError(f"the upload edge at {upload_edge} does not answer: {exc}") from None
        return f"upload edge at {upload_edge}"

    checks = [
        _probe("database", database),
        _probe("storage", storage),
        _probe("kv", cache),
        _probe("ray", ray_cluster),
    ]
    if upload_edge is not None:
        checks.append(_probe("uploads", uploads))
    return checks
