"""The library and comment services on real databases (SQLite and PostgreSQL), with
three users: an owner on the free tier, one on the pro tier, and a stranger. The tiers
are an operator's (VIDRAY_TIERS) whose free tier has no private videos."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import OutboxEvent, Tier, User
from cluster.storage import LocalStore
from serve.library.comments import Comments
from serve.library.videos import Library
from tests.support.accounts import RESTRICTED_TIERS
from tests.support.library import OTHER, OWNER, PRO


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("VIDRAY_TIERS", RESTRICTED_TIERS)
    return load_settings(data_dir=tmp_path, signing_secret=secrets.token_urlsafe(32))


@pytest.fixture
def library(engine: Engine, settings: Settings) -> Iterator[Library]:
    with db.session_factory(engine).begin() as session:
        session.add_all(
            [
                User(id=OWNER, email="owner@example.com", handle="owner"),
                User(id=PRO, email="pro@example.com", handle="pro", tier=Tier.PRO),
                User(id=OTHER, email="other@example.com", handle="other"),
            ]
        )
    yield Library(
        settings=settings,
        sessions=db.session_factory(engine),
        store=LocalStore(settings.objects_dir),
    )
    with engine.begin() as conn:
        conn.execute(delete(OutboxEvent))
        conn.execute(delete(User))


@pytest.fixture
def comments(library: Library) -> Comments:
    return Comments(sessions=library.sessions)
