"""`vidray version` and `vidray migrate` as an operator runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session

from cluster.db import head_revision, normalise_url
from cluster.db.models import User
from tests.support.launch import VIDRAY, platform_env
from tests.support.services import fresh_postgres_database, require

TABLES = {"users", "videos", "renditions", "uploads", "jobs", "comments", "likes", "outbox"}


def _vidray(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VIDRAY, *args],
        env=platform_env(tmp_path, **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A database of its own: `vidray migrate` must start from nothing."""
    with fresh_postgres_database("vidray_cli") as url:
        yield url


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    result = _vidray(tmp_path, "version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"vidray {version('vidray')}"


def test_migrate_creates_the_sqlite_schema_then_is_a_no_op(tmp_path: Path) -> None:
    head = head_revision()
    first = _vidray(tmp_path, "migrate")
    assert first.returncode == 0, first.stderr
    assert f"migrated from empty to {head}" in first.stdout
    with sqlite3.connect(tmp_path / "data" / "vidray.db") as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert names >= TABLES
    again = _vidray(tmp_path, "migrate")
    assert again.returncode == 0, again.stderr
    assert f"is up to date at revision {head}" in again.stdout


def test_migrate_creates_the_postgresql_schema(tmp_path: Path, empty_postgres: str) -> None:
    result = _vidray(tmp_path, "migrate", VIDRAY_DATABASE_URL=empty_postgres)
    assert result.returncode == 0, result.stderr
    assert f"to {head_revision()}" in result.stdout
    engine = create_engine(normalise_url(empty_postgres))
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_migrate_names_an_unreachable_database(tmp_path: Path) -> None:
    result = _vidray(
        tmp_path, "migrate", VIDRAY_DATABASE_URL="postgresql://nobody@127.0.0.1:9/none"
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: VIDRAY_DATABASE_URL: ")
    assert "Traceback" not in result.stderr


def test_nginx_config_writes_a_private_file_that_nginx_accepts(
    tmp_path: Path, free_tcp_port: int
) -> None:
    nginx = shutil.which("nginx")
    if nginx is None:
        require("nginx", "install nginx (with the secure_link module)")
    prefix, out = tmp_path / "nginx", tmp_path / "nginx" / "nginx.conf"
    prefix.mkdir()
    result = _vidray(
        tmp_path,
        "nginx-config",
        *("--standalone", "--prefix", str(prefix)),
        *("--listen", f"127.0.0.1:{free_tcp_port}", "--out", str(out)),
        VIDRAY_SIGNING_SECRET="nginx-test-secret-0123456789abcdefgh",
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds the URL-signing keys
    text = out.read_text()
    assert "secure_link" in text and "nginx-test-secret" not in text
    check = subprocess.run(
        [nginx, "-t", "-p", str(prefix), "-c", str(out)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_nginx_config_refuses_an_s3_store(tmp_path: Path) -> None:
    result = _vidray(tmp_path, "nginx-config", VIDRAY_S3_BUCKET="videos")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: VIDRAY_S3_BUCKET: ")


def test_admin_grants_and_revokes_the_role(tmp_path: Path) -> None:
    assert _vidray(tmp_path, "migrate").returncode == 0
    database = tmp_path / "data" / "vidray.db"
    engine = create_engine(f"sqlite:///{database}")
    with Session(engine) as session:
        session.add_all(
            [User(email="ana@example.com", handle="ana"), User(phone="+14155550123", handle="bo")]
        )
        session.commit()

    def role(handle: str) -> str:
        with Session(engine) as session:
            return session.scalars(select(User.role).where(User.handle == handle)).one().value

    granted = _vidray(tmp_path, "admin", "Ana@Example.com")
    assert granted.returncode == 0, granted.stderr
    assert "ana@example.com (@ana) is now an admin" in granted.stdout
    assert (role("ana"), role("bo")) == ("admin", "user")
    assert _vidray(tmp_path, "admin", "+1 415 555 0123").returncode == 0
    assert role("bo") == "admin"
    assert _vidray(tmp_path, "admin", "ana@example.com", "--revoke").returncode == 0
    assert role("ana") == "user"

    unknown = _vidray(tmp_path, "admin", "nobody@example.com")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().startswith("error: email: no account uses nobody@example.com")
    malformed = _vidray(tmp_path, "admin", "12345")
    assert malformed.returncode == 2
    assert malformed.stderr.strip().startswith("error: phone: ")
    engine.dispose()
