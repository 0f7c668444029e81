"""The `vidray` command: the composition root for operators.

Commands import from the upper floors inside their functions only, so `vidray version`
or `vidray migrate` start fast and nothing imports this module.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version as package_version
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from cluster.config import Settings, load_settings
from cluster.errors import VidrayError

app = typer.Typer(
    name="vidray",
    help="Self-hosted video platform on Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _say(message: str) -> None:
    """A benchmark's progress line, dimmed; its text is never read as rich markup."""
    err_console.print(f"[dim]{escape(message)}[/]", highlight=False)


def _fail(exc: VidrayError) -> NoReturn:
    # Escaped: messages quote URLs such as https://host[:port][/path], not markup.
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Turn vidray's own errors into one line and exit status 2, never a traceback."""
    try:
        yield
    except VidrayError as exc:
        _fail(exc)


def _settings() -> Settings:
    with _clear_errors():
        return load_settings()


@app.command()
def version() -> None:
    """Print vidray's version."""
    console.print(f"vidray {package_version('vidray')}")


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or upgrade the metadata database schema."""
    from cluster import db

    settings = _settings()
    with _clear_errors():
        if not settings.database_url:
            _check_data_dir(settings)
        engine = db.make_engine(settings.resolved_database_url)
        before = db.current_revision_safe(engine)
        db.migrate(engine, revision)
        after = db.current_revision(engine)
    label = engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"database {label} is up to date at revision {after}")
    else:
        console.print(f"database {label} migrated from {before or 'empty'} to {after}")


@app.command()
def admin(
    account: Annotated[
        str, typer.Argument(help="The account's email address or phone number (E.164).")
    ],
    revoke: Annotated[bool, typer.Option("--revoke", help="Take the admin role away.")] = False,
) -> None:
    """Give an account the admin role (setUserTier, suspendUser), or take it away.

    The first admin can only be made here: the API lets admins make no one else one.
    """
    from sqlalchemy import select

    from cluster import db
    from cluster.db.models import Role, User
    from cluster.errors import InvalidInput
    from serve.users import parse_contact

    settings = _settings()
    with _clear_errors():
        kind = "email" if "@" in account else "phone"
        contact = parse_contact(**{kind: account})
        engine = db.make_engine(settings.resolved_database_url)
        db.check(engine)
        column = User.email if contact.kind == "email" else User.phone
        with db.session_factory(engine)() as session:
            user = session.scalar(select(User).where(column == contact.value))
            if user is None:
                raise InvalidInput(
                    kind, f"no account uses {contact.value}: sign in once with a code first"
                )
            user.role = Role.USER if revoke else Role.ADMIN
            session.commit()
            handle = user.handle
        engine.dispose()
    role = "an ordinary user" if revoke else "an admin"
    console.print(f"{contact.value} (@{handle}) is now {role}")


def _install_assets(settings: Settings) -> bool:
    """Fetch hls.js from npm into the data dir (git-ignored); a warning if it cannot."""
    import subprocess

    from serve.gateway.watch import HLS_JS_PACKAGE, install_hls_js

    try:
        with console.status(f"installing {HLS_JS_PACKAGE} from npm"):
            path = install_hls_js(settings.resolved_web_assets_dir)
    except (FileNotFoundError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        err_console.print(
            f"[yellow]warning:[/] the web player has no hls.js ({exc} {detail.decode()[-300:]}); "
            "only browsers with native HLS can play: fix npm, then run `vidray assets`",
            highlight=False,
        )
        return False
    console.print(f"hls.js ready: {path}")
    return True


@app.command()
def assets() -> None:
    """Install the web player's JavaScript (hls.js) from npm into the data dir."""
    if not _install_assets(_settings()):
        raise typer.Exit(1)


@app.command("nginx-config")
def nginx_config(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here (default: print to stdout).")
    ] = None,
    listen: Annotated[
        str, typer.Option(help="nginx's listen address, e.g. 80 or 0.0.0.0:8080.")
    ] = "8080",
    upstream: Annotated[
        str | None, typer.Option(help="Ray Serve's address (default: VIDRAY_HTTP_HOST:PORT).")
    ] = None,
    standalone: Annotated[
        bool, typer.Option(help="A whole nginx.conf (pid, logs, temp files in --prefix).")
    ] = False,
    prefix: Annotated[
        Path | None, typer.Option(help="Standalone only: folder for pid, logs and temp files.")
    ] = None,
) -> None:
    """nginx in front of vidray: segments from the store folder checked with secure_link,
    everything else proxied to Ray Serve. Set VIDRAY_STREAM_PATH=nginx with it."""
    from cluster.errors import ConfigError
    from cluster.nginx import NginxOptions, render

    settings = _settings()
    if settings.s3_bucket:
        _fail(
            ConfigError(
                "VIDRAY_S3_BUCKET",
                "nginx serves segments from a local store folder: unset it, or use "
                "VIDRAY_STREAM_PATH=s3 without nginx",
            )
        )
    options = NginxOptions(
        listen=listen,
        upstream=upstream or f"{settings.http_host}:{settings.http_port}",
        uploads=f"{settings.http_host}:{settings.upload_port}" if settings.upload_edge else None,
        standalone=standalone,
        prefix=prefix,
    )
    text = render(settings, options)
    if out is None:
        print(text, end="")  # plain: rich would wrap and colour the config
        return
    out.write_text(text)
    out.chmod(0o600)  # it holds the URL-signing keys
    err_console.print(f"wrote {out}; check it with: nginx -t -c {out.resolve()}")


def _check_port_free(host: str, port: int, variable: str) -> None:
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


def _check_data_dir(settings: Settings) -> None:
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


def _preflight(settings: Settings) -> None:
    """Check every configured service before starting anything, so errors come early."""
    from cluster import db
    from cluster.kv import open_kv
    from cluster.storage import open_store

    _check_data_dir(settings)
    _check_port_free(settings.http_host, settings.http_port, "VIDRAY_HTTP_PORT")
    if settings.upload_edge:
        _check_port_free(settings.http_host, settings.upload_port, "VIDRAY_UPLOAD_PORT")
    engine = db.make_engine(settings.resolved_database_url)
    with console.status("migrating the database"):
        db.migrate(engine)
    engine.dispose()
    open_store(settings).check()
    kv = open_kv(settings)
    kv.ping()
    kv.close()


@app.command()
def up(
    cpus: Annotated[
        int | None, typer.Option(help="CPUs for a local Ray cluster (default: all).")
    ] = None,
) -> None:
    """Start vidray: Ray (unless RAY_ADDRESS is set), migrations, and the HTTP services."""
    import ray
    from ray import serve
    from ray.serve.config import HTTPOptions

    from actors.jobs import start_actor
    from cluster import runtime
    from serve.app import (
        APP_NAME,
        STREAM_APP_NAME,
        STREAM_ROUTE_PREFIX,
        build_app,
        build_stream_app,
        start_upload_edges,
    )
    from serve.gateway.watch import hls_js_path

    settings = _settings()
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    edges: list[Any] = []  # the upload edges: our Ray job's actors, so they stop with us
    with _clear_errors():
        _preflight(settings)
        with console.status("starting Ray"):
            info = runtime.start(settings, num_cpus=cpus)
    try:
        with console.status("starting the job actor"):
            start_actor(settings)  # resumes jobs a previous run left unfinished
        with console.status("deploying the Serve application"):
            serve.start(http_options=HTTPOptions(host=settings.http_host, port=settings.http_port))
            serve.run(build_app(settings), name=APP_NAME, route_prefix="/")
            serve.run(
                build_stream_app(settings), name=STREAM_APP_NAME, route_prefix=STREAM_ROUTE_PREFIX
            )
        if settings.upload_edge:
            with console.status("starting the upload edge"), _clear_errors():
                edges = start_upload_edges(settings)
        if not hls_js_path(settings.resolved_web_assets_dir).is_file():
            _install_assets(settings)
        base = f"http://{settings.http_host}:{settings.http_port}"
        console.print(f"[bold green]vidray is up[/] ({settings.mode} mode)")
        console.print(f"  web       {base}/")
        console.print(f"  graphql   {base}/graphql")
        if settings.upload_edge:
            uploads = settings.upload_url or f"http://{settings.http_host}:{settings.upload_port}"
            console.print(f"  uploads   {uploads}/files/ (tus)")
        console.print(f"  health    {base}/healthz")
        console.print(f"  ray       {info.address}")
        if info.dashboard_url:
            console.print(f"  dashboard {info.dashboard_url}")
        console.print("Press Ctrl-C to stop.")
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with console.status("stopping"):
            if not info.started_here:
                # A shared cluster keeps running: remove only our applications, gracefully.
                serve.delete(APP_NAME)
                serve.delete(STREAM_APP_NAME)
                for edge in edges:
                    ray.kill(edge)
            # A local cluster goes down whole: stopping Ray ends the proxy and replicas at
            # once, where serve.shutdown() would first drain each replica (up to a minute
            # on a loaded machine). Unfinished jobs resume on the next `vidray up`.
            runtime.stop()
        console.print("vidray stopped")


def _parse_ladder(value: str | None) -> tuple[int, ...] | None:
    if not value:
        return None
    try:
        return tuple(sorted({int(part) for part in value.split(",")}, reverse=True))
    except ValueError:
        raise typer.BadParameter("give heights separated by commas, e.g. 1080,720,480") from None


@app.command()
def transcode(
    source: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Input video.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the HLS output.")],
    ladder: Annotated[
        str | None, typer.Option(help="Rung heights, e.g. 1080,720,480,360 (default: auto).")
    ] = None,
    segment: Annotated[float, typer.Option(min=1.0, max=30.0, help="Segment seconds.")] = 6.0,
    preset: Annotated[str, typer.Option(help="x264 preset.")] = "veryfast",
    cpus: Annotated[int | None, typer.Option(help="CPUs for a local Ray cluster.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Transcode a local file into an HLS ladder with the same pipeline as uploads."""
    import functools
    import json

    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from cluster import runtime
    from cluster.storage import LocalStore
    from pipelines import transcode as graph
    from pipelines.errors import TranscodeFailed

    settings = _settings()
    options = graph.Options(ladder=_parse_ladder(ladder), segment_seconds=segment, preset=preset)
    out.mkdir(parents=True, exist_ok=True)
    with _clear_errors():
        runtime.start(settings, num_cpus=cpus)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            console=err_console,
            transient=as_json,
        ) as bar:
            task = bar.add_task("probing", total=100)

            def show(p: graph.Progress) -> None:
                label = f"{p.stage}{' (playable)' if p.playable else ''}"
                bar.update(task, completed=p.percent, description=label)

            result = graph.transcode(
                open_store=functools.partial(LocalStore, out.resolve()),
                source=graph.Source(path=str(source.resolve())),
                prefix="",
                image_prefix="",
                options=options,
                progress=show,
            )
    except TranscodeFailed as exc:
        err_console.print(f"[bold red]error:[/] {source}: {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        runtime.stop()
    renditions = [
        {k: r[k] for k in ("name", "width", "height", "codecs")} for r in result.renditions
    ]
    summary = {
        "master": str(out / result.master_key),
        "duration_s": result.plan.duration,
        "renditions": renditions,
        "audio": result.plan.audio is not None,
        "poster": str(out / result.poster_key) if result.poster_key else None,
        "first_playable_s": round(result.first_playable_s, 2),
        "total_s": round(result.total_s, 2),
        "notes": list(result.notes),
    }
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console.print(f"[bold green]done[/] in {summary['total_s']} s: {summary['master']}")
    for r in renditions:
        console.print(f"  {r['name']:>6}  {r['width']}x{r['height']}  {r['codecs']}")
    console.print(f"  first playable after {summary['first_playable_s']} s")
    for note in result.notes:
        console.print(f"  note: {note}")


@app.command()
def upload(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Video file.")
    ],
    title: Annotated[str | None, typer.Option(help="Title (default: the file name).")] = None,
    private: Annotated[bool, typer.Option("--private", help="Only you can watch it.")] = False,
    server: Annotated[
        str | None, typer.Option(help="vidray's URL (default: this machine's VIDRAY_HTTP_PORT).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="VIDRAY_TOKEN", help="Access token (verifyOtp / login)."),
    ] = None,
    chunk_mb: Annotated[int, typer.Option(min=1, max=1024, help="MiB per PATCH.")] = 16,
) -> None:
    """Upload a video over tus; run it again after an interruption to resume."""
    import httpx
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from cluster.upload_client import UrlStore, upload_file

    settings = _settings()
    if not token:
        err_console.print(
            "[bold red]error:[/] no access token: pass --token or set VIDRAY_TOKEN "
            "(the accessToken from the verifyOtp or login mutation)"
        )
        raise typer.Exit(2)
    base = server or f"http://{settings.http_host}:{settings.http_port}"
    metadata = {"filename": file.name, "title": title or file.stem}
    if private:
        metadata["visibility"] = "private"
    with Progress(
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    ) as bar:
        task = bar.add_task("upload", total=file.stat().st_size)
        try:
            url = upload_file(
                server=base,
                path=file,
                token=token,
                metadata=metadata,
                chunk_size=chunk_mb * 1024 * 1024,
                urls=UrlStore(settings.data_dir / "upload-urls.json"),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except httpx.TransportError as exc:
            err_console.print(
                f"[bold red]error:[/] lost the connection to {base} ({exc}): "
                "run the same command again to resume"
            )
            raise typer.Exit(1) from None
        except VidrayError as exc:
            _fail(exc)
    console.print(f"[bold green]uploaded[/] {file.name}: {url}")
    console.print("the video is being processed; it appears in your library when ready")


bench_app = typer.Typer(help="Benchmarks: vidray beside its anchor, on the same input.")
app.add_typer(bench_app, name="bench")


@bench_app.command("transcode")
def bench_transcode(
    input_path: Annotated[
        Path | None, typer.Option("--input", exists=True, dir_okay=False, help="Source video.")
    ] = None,
    seconds: Annotated[float, typer.Option(help="Length of the generated 1080p30 source.")] = 60,
    ladder: Annotated[str | None, typer.Option(help="Rung heights (default: auto).")] = None,
    preset: Annotated[str, typer.Option(help="x264 preset for both.")] = "veryfast",
    cpus: Annotated[int | None, typer.Option(help="Cores for both (default: all).")] = None,
    keep: Annotated[Path | None, typer.Option(help="Keep both outputs in this folder.")] = None,
) -> None:
    """The full ladder through vidray's Ray pipeline and through one ffmpeg process."""
    import os

    from rich.table import Table

    from cluster.bench import transcode as bench

    settings = _settings()
    cores = cpus or len(os.sched_getaffinity(0))
    ours, anchor, plan = bench.bench(
        settings=settings,
        input_path=input_path,
        seconds=seconds,
        ladder=_parse_ladder(ladder),
        preset=preset,
        cpus=cores,
        keep=keep,
        say=_say,
    )
    table = Table(title=f"transcode: {plan.duration:.1f} s source, {cores} cores, {preset}")
    for column in ("metric", "vidray", "ffmpeg", "vidray / ffmpeg"):
        table.add_column(column, justify="right" if column != "metric" else "left")

    def row(metric: str, a: float, b: float, unit: str = "") -> None:
        ratio = f"{a / b:.2f}x" if b else "-"
        table.add_row(metric, f"{a:.2f}{unit}", f"{b:.2f}{unit}", ratio)

    row("wall time", ours.wall_s, anchor.wall_s, " s")
    row("CPU time", ours.cpu_s, anchor.cpu_s, " s")
    row("first playable", ours.first_playable_s, anchor.first_playable_s, " s")
    row("fully ready", ours.wall_s, anchor.wall_s, " s")
    row("wall / duration", ours.wall_s / plan.duration, anchor.wall_s / plan.duration)
    for rung in plan.rungs:
        name = rung.name
        row(f"{name} PSNR", ours.psnr_db[name], anchor.psnr_db[name], " dB")
        row(f"{name} bitrate", ours.kbps[name], anchor.kbps[name], " kb/s")
    console.print(table)


@bench_app.command("upload")
def bench_upload(
    size_mb: Annotated[int, typer.Option(help="MiB to upload (default 1 GiB).")] = 1024,
    chunks: Annotated[str, typer.Option(help="PATCH sizes in MiB, comma-separated.")] = "16,64",
    s3: Annotated[
        bool, typer.Option(help="Also on S3: VIDRAY_S3_* if set, else a local moto server.")
    ] = True,
    gateway: Annotated[
        bool, typer.Option(help="Also through the gateway alone, as without the upload edge.")
    ] = True,
    rounds: Annotated[int, typer.Option(min=1, help="Runs of each; medians are shown.")] = 3,
) -> None:
    """1 GiB through tus into vidray, beside a bare uvicorn writer and a plain file copy.

    Memory of the process the bytes reach (the upload edge, or the gateway replica):
    "private" is its own heap (RssAnon); "RSS" also counts the pages of Ray's shared
    object store it has touched, through which Serve's proxy passes bodies."""
    from rich.table import Table

    from cluster.bench import upload as bench

    settings = _settings()
    sizes = [int(c) for c in chunks.split(",") if c.strip()]
    rows = bench.bench(
        settings=settings,
        size=size_mb * 1024 * 1024,
        chunk_sizes=[c * 1024 * 1024 for c in sizes],
        with_s3=s3,
        paths=("edge", "gateway") if gateway else ("edge",),
        rounds=rounds,
        say=_say,
    )
    table = Table(title=f"upload: {size_mb} MiB, medians of {rounds}")
    for column in (
        "path",
        "store",
        "chunk",
        "vidray MB/s",
        "uvicorn MB/s",
        "copy MB/s",
        "vs uvicorn",
        "vs copy",
        "private growth",
        "RSS growth",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r.path,
            r.store,
            f"{r.chunk_mb} MiB",
            f"{r.vidray_mbps:.0f}",
            f"{r.bare_mbps:.0f}",
            f"{r.copy_mbps:.0f}" if r.copy_mbps else "-",
            f"{r.vidray_mbps / r.bare_mbps:.2f}x",
            f"{r.vidray_mbps / r.copy_mbps:.2f}x" if r.copy_mbps else "-",
            f"{r.private_growth_mb:.0f} MiB",
            f"{r.rss_growth_mb:.0f} MiB",
        )
    console.print(table)


@bench_app.command("stream")
def bench_stream(
    concurrency: Annotated[
        str, typer.Option(help="Concurrent connections, comma-separated.")
    ] = "1,8,16,64",
    duration: Annotated[float, typer.Option(help="Seconds per measurement.")] = 4.0,
    seconds: Annotated[float, typer.Option(help="Length of the generated 720p source.")] = 12.0,
    haproxy: Annotated[bool, typer.Option(help="Also behind Serve's HAProxy ingress.")] = True,
) -> None:
    """Segments through plain nginx, nginx secure_link, Serve's proxy and HAProxy; and
    signed playlists. Loopback only; prints req/s, MB/s, p50, p99, ratio to plain nginx."""
    from rich.table import Table

    from cluster.bench import stream as bench

    settings = _settings()
    levels = [int(c) for c in concurrency.split(",") if c.strip()]
    rows = bench.bench(
        settings=settings,
        concurrency=levels,
        duration=duration,
        seconds=seconds,
        with_haproxy=haproxy,
        say=_say,
    )
    table = Table(title=f"stream: {duration:.0f} s per row, load generator {rows[0].tool}")
    for column in ("target", "conns", "req/s", "MB/s", "p50 ms", "p99 ms", "errors", "vs nginx"):
        table.add_column(column, justify="right" if column != "target" else "left", no_wrap=True)
    for r in rows:
        table.add_row(
            r.target,
            str(r.concurrency),
            f"{r.rps:.0f}",
            f"{r.mbps:.1f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            str(r.errors),
            f"{r.ratio:.2f}x" if r.ratio is not None else "-",
        )
    console.print(table)


@bench_app.command("graphql")
def bench_graphql(
    concurrency: Annotated[
        str, typer.Option(help="Concurrent connections, comma-separated.")
    ] = "1,8",
    duration: Annotated[float, typer.Option(help="Seconds per measurement.")] = 4.0,
    max_requests: Annotated[
        int, typer.Option(min=1, help="At most this many requests per measurement.")
    ] = 20_000,
    haproxy: Annotated[bool, typer.Option(help="Also behind Serve's HAProxy ingress.")] = True,
) -> None:
    """A video-page query and a library query through Ray Serve, beside the same schema
    on a bare uvicorn app without Ray. Loopback only; prints req/s, p50, p99 and the ratio."""
    from rich.table import Table

    from cluster.bench import graphql as bench

    settings = _settings()
    levels = [int(c) for c in concurrency.split(",") if c.strip()]
    rows = bench.bench(
        settings=settings,
        concurrency=levels,
        duration=duration,
        max_requests=max_requests,
        ingresses=("serve", "haproxy") if haproxy else ("serve",),
        say=_say,
    )
    table = Table(title=f"graphql: {duration:.0f} s per row, load generator httpx")
    for column in (
        "target",
        "query",
        "conns",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "vidray / bare",
    ):
        table.add_column(column, justify="right" if column not in {"target", "query"} else "left")
    for r in rows:
        table.add_row(
            r.target,
            r.query,
            str(r.concurrency),
            f"{r.rps:.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            str(r.errors),
            f"{r.ratio:.2f}x" if r.ratio is not None else "-",
        )
    console.print(table)


def main() -> None:
    app()
