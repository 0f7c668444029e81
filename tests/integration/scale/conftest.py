"""Scale-out tests: each builds its own Ray cluster of several nodes on this machine
(`tests/support/ray_clusters.py`), never the session's, and transcodes a small clip."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cluster import db
from cluster.bench.sources import make_source
from cluster.config import Settings, load_settings


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Silent, so that the first tasks to start are chunks (the audio task would be one).
    return make_source(
        tmp_path_factory.mktemp("media") / "clip.mp4",
        width=640,
        height=360,
        seconds=8,
        audio=False,
    )


@pytest.fixture
def namespace() -> str:
    return f"vidray-scale-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(tmp_path: Path, namespace: str) -> Settings:
    settings = load_settings(data_dir=tmp_path / "data", ray_namespace=namespace)
    db.migrate(db.make_engine(settings.resolved_database_url))
    return settings
