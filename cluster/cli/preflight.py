"""Checks that run before anything starts, so a wrong setting fails in a second, by name."""

from __future__ import annotations

import errno
import os
import socket

from cluster.cli.console import console
from cluster.config import Settings


def check_port_free(host: str, port: int, variable: str) -> None:
    from cluster.errors import ConfigError

    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(
            "VIDRAY_HTTP_HOST",
            f"cannot resolve {host!r} ({exc.strerror}): "
            "use an address of this machine, such as 127.0.0.1 or 0.0.0.0",
        ) from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(
                    "VIDRAY_HTTP_HOST",
                    f"{host} is not an address of this "
                    "machine: use 127.0.0.1, 0.0.0.0 or one of its interfaces",
                ) from None
            raise ConfigError(
                variable,
                f"cannot listen on {where} ({exc.strerror}): "
                "stop the process using it or choose another port",
            ) from None


def check_data_dir(settings: Settings) -> None:
    from cluster.errors import ConfigError

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        probe = settings.data_dir / f".write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            "VIDRAY_DATA_DIR",
            f"cannot use {settings.data_dir} as the data folder ({exc.strerror}): "
            "point it at a folder this user may write",
        ) from None


def preflight(settings: Settings) -> None:
    """Check every configured service before starting anything, so errors come early."""
    from cluster import db
    from cluster.kv import open_kv
    from cluster.storage import open_store

    check_data_dir(settings)
    check_port_free(settings.http_host, settings.http_port, "VIDRAY_HTTP_PORT")
    if settings.upload_edge:
        check_port_free(settings.http_host, settings.upload_port, "VIDRAY_UPLOAD_PORT")
    engine = db.make_engine(settings.resolved_database_url)
    with console.status("migrating the database"):
        db.migrate(engine)
    engine.dispose()
    open_store(settings).check()
    kv = open_kv(settings)
    kv.ping()
    kv.close()
