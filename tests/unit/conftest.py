"""Unit tests run without Ray: starting a cluster here is a bug in the test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _forbid_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unit tests must not start Ray: move this test to tests/integration/")

    monkeypatch.setattr(ray, "init", refuse)
