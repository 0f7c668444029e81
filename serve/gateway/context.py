"""Per-request context handed to GraphQL resolvers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from strawberry.fastapi import BaseContext

from cluster.health import ComponentHealth


@dataclass
class GatewayContext(BaseContext):
    health: Callable[[], Awaitable[list[ComponentHealth]]]

    def __post_init__(self) -> None:
        super().__init__()
