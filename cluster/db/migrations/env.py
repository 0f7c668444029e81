"""Alembic environment: `vidray migrate` hands us the engine through config attributes."""

from __future__ import annotations

from alembic import context

from cluster.db.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # plain `alembic` command line: read the URL from settings
    from cluster.config import load_settings
    from cluster.db import make_engine

    engine = make_engine(load_settings().resolved_database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
