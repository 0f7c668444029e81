"""Ray bootstrap: join `RAY_ADDRESS`, or start a local cluster that owns no fixed port.

A local cluster from `ray.init()` picks free ports for its GCS, so it never collides
with a Redis server on 6379 (where `ray start --head` would put it by default).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import ray

from cluster import sentry
from cluster.config import HttpIngress, Settings
from cluster.errors import ConfigError, ServiceUnavailable


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    address: str
    dashboard_url: str | None
    started_here: bool
    # Where the token the dashboard asks for is found; None when it asks for none.
    dashboard_token: str | None = None


def dashboard_token_hint(env: Mapping[str, str] | None = None) -> str | None:
    """How to get the token Ray's dashboard asks for, or None when Ray's token
    authentication is off.

    A local cluster of Ray 2.60 turns it on unless `RAY_AUTH_MODE=disabled`, and the
    dashboard then opens on a "token" prompt (nothing in its URL can carry the token).
    Ray reads the token from `RAY_AUTH_TOKEN`, else the file `RAY_AUTH_TOKEN_PATH`, else
    `~/.ray/auth_token` (written on the first start), and `ray get-auth-token` prints it.
    """
    from ray._private.authentication.authentication_utils import is_token_auth_enabled

    if not is_token_auth_enabled():
        return None
    env = os.environ if env is None else env
    if env.get("RAY_AUTH_TOKEN"):
        return "the token in RAY_AUTH_TOKEN"
    path = env.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    # `ray` sits beside python in vidray's environment, which may not be on PATH.
    command = "ray" if shutil.which("ray") else str(Path(sys.executable).with_name("ray"))
    return f"the token in {path} (`{command} get-auth-token` prints it)"


@contextlib.contextmanager
def serve_ingress(ingress: HttpIngress) -> Iterator[None]:
    """Environment for a local cluster whose Serve HTTP ingress is `ingress`.

    Serve reads these flags when its controller starts, so they must be set before
    `ray.init` starts the cluster; they are restored afterwards. HAProxy (Debian's
    `haproxy`) answers several times more small requests per second than Serve's own
    Python proxy on the same cores.
    """
    flags = {"RAY_SERVE_ENABLE_HA_PROXY": "1" if ingress == "haproxy" else "0"}
    if ingress == "haproxy":
        binary = shutil.which("haproxy")
        if binary is None:
            raise ConfigError(
                "VIDRAY_HTTP_INGRESS",
                "haproxy is not installed: `apt-get install haproxy`, or use `serve`",
            )
        flags["RAY_SERVE_HAPROXY_BINARY_PATH"] = binary
    saved = {key: os.environ.get(key) for key in flags}
    os.environ.update(flags)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_reachable(address: str, *, timeout: float = 5.0) -> None:
    """Fail fast when nothing listens at a `host:port` or `ray://host:port` address.

    `ray.init` would retry an unreachable GCS for minutes before it gives up. `auto` and
    `local` name no host, so they are left to Ray.
    """
    if address in {"auto", "local"}:
        return
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ServiceUnavailable("RAY_ADDRESS", f"{address!r} has no valid port") from None
    if not host or port is None:
        return
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ServiceUnavailable(
            "RAY_ADDRESS",
            f"nothing answers at {host}:{port} ({reason}): start the head node "
            "(`ray up ray-cluster.yaml`), fix the address, or unset it for a local cluster",
        ) from None


def start(settings: Settings, *, num_cpus: int | None = None, quiet: bool = True) -> RuntimeInfo:
    """Connect this process to Ray, in the vidray namespace (idempotent)."""
    if ray.is_initialized():
        context = ray.get_runtime_context()
        return RuntimeInfo(context.gcs_address, None, started_here=False)
    options: dict[str, Any] = {
        "namespace": settings.ray_namespace,
        "logging_level": logging.WARNING if quiet else logging.INFO,
        "log_to_driver": not quiet,
    }
    if settings.ray_address:
        check_reachable(settings.ray_address)
    errors = sentry.runtime_env(settings)
    if errors:
        options["runtime_env"] = errors
        sentry.init(settings.sentry_dsn.get_secret_value() if settings.sentry_dsn else None)
    try:
        if settings.ray_address:
            ctx = ray.init(address=settings.ray_address, **options)
        else:
            with serve_ingress(settings.http_ingress):
                ctx = _start_local(
                    num_cpus=num_cpus,
                    include_dashboard=settings.ray_dashboard,
                    dashboard_host="127.0.0.1",
                    **options,
                )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ServiceUnavailable("RAY_ADDRESS", f"cannot join the Ray cluster: {exc}") from None
    dashboard = getattr(ctx, "dashboard_url", None)
    return RuntimeInfo(
        address=ray.get_runtime_context().gcs_address,
        dashboard_url=f"http://{dashboard}" if dashboard else None,
        started_here=not settings.ray_address,
        dashboard_token=dashboard_token_hint() if dashboard else None,
    )


# Ray gives its raylet a fixed 30 s to register with the GCS; a machine busy with other
# work (test workers, a transcode) can miss that once. A second try usually fits.
LOCAL_START_ATTEMPTS = 2


def init_local(**options: Any) -> Any:
    """`ray.init` of a new local cluster whose dashboard agent binds a free HTTP port.

    `ray.init` gives every local cluster's agent the fixed port 52365 (only `ray start`
    takes `--dashboard-agent-listen-port`). A second cluster on the machine (a second
    `vidray up`, tests beside a running platform) then has its agent retry that port
    until its raylet gives up waiting: "The current node timed out during startup". Port
    0 lets the agent bind a free one, as `ray.cluster_utils` does for its worker nodes;
    the dashboard finds it through the GCS.
    """
    params = ray._private.parameter
    ray_params = params.RayParams

    class OwnAgentPort(ray_params):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("dashboard_agent_listen_port", 0)
            super().__init__(*args, **kwargs)

    params.RayParams = OwnAgentPort  # type: ignore[misc]
    try:
        return ray.init(address="local", **options)
    finally:
        params.RayParams = ray_params  # type: ignore[misc]


def _start_local(**options: Any) -> Any:
    """`ray.init` of a cluster of our own ("local": without it Ray joins whichever cluster
    another process on this machine started last, `ray start` or a test run)."""
    attempt = 1
    while True:
        before = {proc.pid for proc in psutil.Process().children(recursive=True)}
        try:
            return init_local(**options)
        except Exception as exc:
            # Ray raises a bare Exception for this one, and leaves the half-started
            # GCS and raylet running as our children.
            if "timed out during startup" not in str(exc):
                raise
            _kill_children_since(before)
            if attempt == LOCAL_START_ATTEMPTS:
                raise RuntimeError(
                    f"Ray's processes did not start in time, {attempt} times; this machine "
                    "may be overloaded: stop what else runs here and try again"
                ) from None
            attempt += 1
            logging.getLogger(__name__).warning("Ray timed out starting; starting it again")


def _kill_children_since(before: set[int]) -> None:
    """Stop the processes this one started after `before` (a failed start's Ray)."""
    started = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    for proc in started:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(started, timeout=10)


def stop() -> None:
    """Disconnect; a local cluster started by `start` stops with its processes.

    Serve's HAProxy ingress is a process of its own that stopping Ray does not reach
    (Serve stops it only when drained, which `vidray up` skips to stop fast); left
    running it would hold the HTTP and stats ports. A remote cluster's ingress is not
    a child of this process and is left alone.
    """
    if not ray.is_initialized():
        return
    ingress = [p for p in psutil.Process().children(recursive=True) if _is_haproxy(p)]
    ray.shutdown()
    for proc in ingress:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(ingress, timeout=5)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def _is_haproxy(proc: psutil.Process) -> bool:
    try:
        return proc.name() == "haproxy"
    except psutil.Error:
        return False


def alive_nodes() -> int:
    """How many Ray nodes are alive (0 when this process is not connected)."""
    if not ray.is_initialized():
        return 0
    return sum(1 for node in ray.nodes() if node.get("Alive"))
