"""`vidray bench stream`: segment delivery on each byte path beside plain nginx.

One segment set (a generated 720p source, packaged by the media library) is served by
plain nginx static files (the anchor), nginx `secure_link` on vidray's tokens, the
stream deployment behind Ray Serve's default proxy, and behind Serve's HAProxy ingress;
signed playlists are measured through Serve as well. The load generator is wrk when it
is installed (Debian: `apt-get install wrk`), else a small asyncio loop. Everything is on
loopback with bounded durations; the generator shares the machine's cores with the
servers, so read the ratios rather than the absolute numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from cluster import runtime
from cluster.config import Settings
from cluster.runtime import serve_ingress

Say = Callable[[str], None]
VIDEO_ID = "bench0001"


@dataclass(frozen=True, slots=True)
class Row:
    target: str
    concurrency: int
    rps: float
    mbps: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str
    ratio: float | None = None


def _ladder(out: Path, *, seconds: float) -> None:
    from cluster.bench.sources import make_source
    from pipelines.media import encode_audio, encode_chunk, package, plan_transcode, probe

    source = make_source(out / "src.mp4", width=1280, height=720, seconds=seconds)
    hls = out / "objects" / "hls" / VIDEO_ID
    plan = plan_transcode(probe(source), ladder=(720, 360))
    chunks = [
        encode_chunk(source=source, plan=plan, chunk=c, out_dir=hls, preset="ultrafast")
        for c in plan.chunks
    ]
    audio = encode_audio(source=source, plan=plan, out_dir=hls)
    package(plan=plan, chunks=chunks, audio=audio, out_dir=hls)
    source.unlink()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            httpx.get(url, timeout=2)
            return
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def _nginx(conf: Path, prefix: Path) -> Iterator[None]:
    process = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"])
    try:
        yield
    finally:
        process.terminate()
        process.wait(10)


def _plain_conf(objects: Path, prefix: Path, port: int) -> str:
    return f"""{"user root;" if os.geteuid() == 0 else ""}
worker_processes auto;
pid {prefix}/plain.pid;
error_log {prefix}/plain-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port} reuseport;
        location /static/ {{
            alias {objects}/;
            types {{ video/mp2t ts; }}
            sendfile on;
            tcp_nopush on;
        }}
    }}
}}
"""


# --- load generation ------------------------------------------------------------------

_WRK_LUA = """paths = {{{paths}}}
i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _wrk(base: str, paths: Sequence[str], *, connections: int, duration: float) -> Row:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_LUA.format(paths=", ".join(f'"{p}"' for p in paths)))
    try:
        result = subprocess.run(
            [
                "wrk",
                f"-c{connections}",
                f"-t{min(connections, 2)}",
                f"-d{max(1, round(duration))}s",
                "--latency",
                "-s",
                script.name,
                base,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        )
    finally:
        Path(script.name).unlink()
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    size, unit = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out).groups()  # type: ignore[union-attr]
    mbps = float(size) * {"B": 1e-6, "KB": 1.024e-3, "MB": 1.048576, "GB": 1073.741824}[unit]
    # Anchored: "Latency ... 95.50%" in the thread stats also ends in "50%".
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Row("", connections, rps, mbps, p50, p99, errors, "wrk")


async def _loop(base: str, paths: Sequence[str], *, connections: int, duration: float) -> Row:
    latencies: list[float] = []
    sent = errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    stop = time.monotonic() + duration
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:

        async def worker(offset: int) -> None:
            nonlocal sent, errors
            i = offset
            while time.monotonic() < stop:
                began = time.perf_counter()
                response = await client.get(paths[i % len(paths)])
                latencies.append((time.perf_counter() - began) * 1000)
                sent += len(response.content)
                errors += response.status_code >= 400
                i += 1

        began = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(connections)))
        elapsed = time.monotonic() - began
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return Row(
        "",
        connections,
        len(latencies) / elapsed,
        sent / elapsed / 1e6,
        pick(0.5),
        pick(0.99),
        errors,
        "httpx",
    )


def measure(base: str, paths: Sequence[str], *, connections: int, duration: float) -> Row:
    """Load `paths` on `base` round-robin with `connections` keep-alive connections."""
    if shutil.which("wrk"):
        return _wrk(base, paths, connections=connections, duration=duration)
    return asyncio.run(_loop(base, paths, connections=connections, duration=duration))


# --- the run ----------------------------------------------------------------------------


@contextlib.contextmanager
def _serve(settings: Settings, *, port: int, haproxy: bool) -> Iterator[None]:
    """The stream app on a fresh local Ray cluster, behind Serve's proxy or HAProxy."""
    import ray
    from ray import serve
    from ray.serve.config import HTTPOptions

    from serve.app import STREAM_APP_NAME, STREAM_ROUTE_PREFIX, build_stream_app

    with serve_ingress("haproxy" if haproxy else "serve"):
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="vidray-bench")
    try:
        serve.start(http_options=HTTPOptions(host="127.0.0.1", port=port))
        serve.run(
            build_stream_app(settings), name=STREAM_APP_NAME, route_prefix=STREAM_ROUTE_PREFIX
        )
        yield
    finally:
        with contextlib.suppress(Exception):
            serve.shutdown()
        runtime.stop()  # also ends Serve's HAProxy ingress, which Ray leaves behind


def bench(
    *,
    settings: Settings,
    concurrency: Sequence[int],
    duration: float,
    seconds: float,
    with_haproxy: bool,
    say: Say,
) -> list[Row]:
    from cluster.nginx import NginxOptions, render
    from cluster.url_signing import UrlSigner

    if shutil.which("nginx") is None:
        raise FileNotFoundError("nginx is not installed: apt-get install nginx-light")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="vidray-bench-stream-") as tmp:
        work = Path(tmp)
        say(f"packaging a {seconds:.0f} s 720p ladder")
        _ladder(work, seconds=seconds)
        run_settings = settings.model_copy(
            update={"data_dir": work, "database_url": f"sqlite:///{work / 'bench.db'}"}
        )
        objects = run_settings.objects_dir.resolve()
        segments = sorted(p.relative_to(objects).as_posix() for p in objects.rglob("*.ts"))
        signer = UrlSigner.from_settings(run_settings)
        token = signer.token(video_id=VIDEO_ID, ttl=3 * 3600)
        signed = [s.replace(f"hls/{VIDEO_ID}/", f"/hls/{VIDEO_ID}/{token}/", 1) for s in segments]
        playlists = [
            f"/hls/{VIDEO_ID}/{token}/{p.relative_to(objects / 'hls' / VIDEO_ID).as_posix()}"
            for p in objects.rglob("*.m3u8")
        ]
        size = sum((objects / s).stat().st_size for s in segments) / len(segments)
        say(f"{len(segments)} segments, {size / 1e3:.0f} kB on average")

        plain_port, link_port, serve_port = _free_port(), _free_port(), _free_port()
        (work / "plain.conf").write_text(_plain_conf(objects, work, plain_port))
        options = NginxOptions(
            listen=f"127.0.0.1:{link_port}",
            upstream=f"127.0.0.1:{serve_port}",
            standalone=True,
            prefix=work,
        )
        (work / "link.conf").write_text(render(run_settings, options))

        def run(target: str, base: str, paths: Sequence[str]) -> None:
            for connections in concurrency:
                say(f"{target}: {connections} connections")
                row = measure(base, paths, connections=connections, duration=duration)
                rows.append(
                    Row(
                        target,
                        connections,
                        row.rps,
                        row.mbps,
                        row.p50_ms,
                        row.p99_ms,
                        row.errors,
                        row.tool,
                    )
                )

        with _nginx(work / "plain.conf", work), _nginx(work / "link.conf", work):
            _wait(f"http://127.0.0.1:{plain_port}/static/{segments[0]}")
            run(
                "nginx static", f"http://127.0.0.1:{plain_port}", [f"/static/{s}" for s in segments]
            )
            run("nginx secure_link", f"http://127.0.0.1:{link_port}", signed)
            say("starting Ray Serve (default proxy)")
            with _serve(run_settings, port=serve_port, haproxy=False):
                _wait(f"http://127.0.0.1:{serve_port}{playlists[0]}")
                run("serve segments", f"http://127.0.0.1:{serve_port}", signed)
                run("serve playlists", f"http://127.0.0.1:{serve_port}", playlists)
            if with_haproxy:
                say("starting Ray Serve (HAProxy ingress)")
                try:
                    with _serve(run_settings, port=serve_port, haproxy=True):
                        _wait(f"http://127.0.0.1:{serve_port}{playlists[0]}", timeout=90)
                        run("haproxy segments", f"http://127.0.0.1:{serve_port}", signed)
                        run("haproxy playlists", f"http://127.0.0.1:{serve_port}", playlists)
                        # The recommended production path: nginx proxies playlists to it.
                        run("nginx>haproxy playlists", f"http://127.0.0.1:{link_port}", playlists)
                except Exception as exc:  # a missing binary or an old HAProxy: say so, go on
                    say(f"HAProxy ingress unavailable: {exc}")
    anchor = {r.concurrency: r.rps for r in rows if r.target == "nginx static"}
    return [
        Row(
            r.target,
            r.concurrency,
            r.rps,
            r.mbps,
            r.p50_ms,
            r.p99_ms,
            r.errors,
            r.tool,
            r.rps / anchor[r.concurrency] if anchor.get(r.concurrency) else None,
        )
        for r in rows
    ]
