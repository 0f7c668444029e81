"""Integration tests share one local Ray cluster per session (started on first use), and
run their database tests twice: on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from cluster import db
from cluster.db.models import Base


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    import ray

    from cluster.runtime import init_local
    from tests.support.ray_clusters import SESSION_RAY

    init_local(**SESSION_RAY)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated database for the module: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'vidray.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = db.make_engine(url)
    db.migrate(engine)
    yield engine
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()
