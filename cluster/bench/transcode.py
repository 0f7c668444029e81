"""`vidray bench transcode`: vidray's chunked Ray pipeline beside the ffmpeg CLI.

Both make the same ladder (sizes, bitrates, VBV caps, GOP, preset, segment length) from
the same source on the same cores, in one run. The anchor is one ffmpeg process that
decodes once and splits into every rung (`split` + `-var_stream_map`), the usual way to
build an HLS ladder with the CLI.
"""

from __future__ import annotations

import functools
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from cluster.bench.sources import SOURCE_KINDS, make_pattern_source
from cluster.config import Settings
from cluster.storage import LocalStore
from pipelines import transcode as graph
from pipelines.media import TranscodePlan, plan_transcode, probe
from pipelines.media.cputime import process_cpu

_PSNR = re.compile(r"average:([0-9.]+|inf)")


@dataclass
class Run:
    name: str
    wall_s: float
    cpu_s: float  # the whole job: every process it used (ffmpeg; Ray's workers and daemons)
    first_playable_s: float
    psnr_db: dict[str, float] = field(default_factory=dict)
    kbps: dict[str, float] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)  # vidray: CPU-s per task stage
    driver_cpu_s: float = 0.0  # vidray: the driver (this process)


def _process_tree_cpu(pids: set[int]) -> dict[int, float]:
    """CPU seconds of each process in `pids` and all their descendants, by pid."""
    seen: dict[int, float] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            seen[proc.pid] = t.user + t.system
    return seen


def _ray_pids() -> set[int]:
    """This process and the local Ray node's daemons (GCS, raylet, dashboard...): Ray's
    workers are the raylet's children, not ours, so our own rusage would miss them."""
    import ray

    pids = {os.getpid()}
    node = ray._private.worker._global_node
    for infos in getattr(node, "all_processes", {}).values():
        for info in infos:
            process = getattr(info, "process", None)
            if process is not None and process.pid:
                pids.add(process.pid)
    return pids


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    # A worker that exited mid-run loses what it used since `before`: Ray keeps its
    # workers alive between tasks, so in practice none does.
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _ffmpeg_ladder(*, source: Path, plan: TranscodePlan, out: Path, preset: str) -> list[str]:
    rungs = plan.rungs
    assert plan.fps is not None
    keyint = round(plan.gop_seconds * plan.fps)
    graph_parts = [f"[0:v]split={len(rungs)}" + "".join(f"[s{i}]" for i in range(len(rungs)))]
    graph_parts += [
        f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,fps={plan.fps}[v{i}]"
        for i, r in enumerate(rungs)
    ]
    args = ["-filter_complex", ";".join(graph_parts)]
    for i, r in enumerate(rungs):
        args += [
            "-map", f"[v{i}]",
            f"-c:v:{i}", "libx264",
            f"-b:v:{i}", str(r.bitrate),
            f"-maxrate:v:{i}", str(r.maxrate),
            f"-bufsize:v:{i}", str(r.bufsize),
            f"-profile:v:{i}", r.profile,
        ]  # fmt: skip
    streams = [f"v:{i},agroup:aud,name:{r.name}" for i, r in enumerate(rungs)]
    if plan.audio is not None:
        args += ["-map", "a:0", "-c:a", "aac", "-b:a", str(plan.audio.bitrate)]
        args += ["-ac", str(plan.audio.channels)]
        streams.append("a:0,agroup:aud,name:audio")
    else:
        streams = [s.replace(",agroup:aud", "") for s in streams]
    return [
        "ffmpeg", "-v", "error", "-y", "-i", str(source), *args,
        "-preset", preset, "-g", str(keyint), "-keyint_min", str(keyint),
        "-sc_threshold", "0", "-flags", "+cgop", "-pix_fmt", "yuv420p",
        "-f", "hls", "-hls_time", f"{plan.segment_seconds:g}", "-hls_playlist_type", "vod",
        "-hls_segment_filename", str(out / "%v" / "seg_%05d.ts"),
        "-master_pl_name", "master.m3u8", "-var_stream_map", " ".join(streams),
        str(out / "%v" / "index.m3u8"),
    ]  # fmt: skip


def _psnr(*, rendition: Path, source: Path, width: int, height: int) -> float:
    """Average PSNR (dB) of a rendition against the source scaled to the same size."""
    cmd = [
        "ffmpeg", "-v", "info", "-nostats", "-i", str(rendition), "-i", str(source),
        "-lavfi", f"[1:v]scale={width}:{height}:flags=bicubic[ref];[0:v][ref]psnr",
        "-f", "null", "-",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = _PSNR.findall(result.stderr)
    return float(found[-1]) if found else float("nan")


def _measure_outputs(run: Run, *, plan: TranscodePlan, out: Path, source: Path) -> None:
    """Every rung's bitrate; PSNR of the 720p rung (else the top one) only, since each
    PSNR decodes the whole source again (as much CPU as a grainy source's transcode)."""
    names = {r.name for r in plan.rungs}
    measured = "720p" if "720p" in names else plan.rungs[-1].name
    for r in plan.rungs:
        folder = out / r.name
        size = sum(p.stat().st_size for p in folder.glob("*.ts"))
        run.kbps[r.name] = size * 8 / plan.duration / 1000
        if r.name == measured:
            run.psnr_db[r.name] = _psnr(
                rendition=folder / "index.m3u8", source=source, width=r.width, height=r.height
            )


def run_ffmpeg(*, source: Path, plan: TranscodePlan, out: Path, preset: str) -> Run:
    out.mkdir(parents=True, exist_ok=True)
    cmd = _ffmpeg_ladder(source=source, plan=plan, out=out, preset=preset)
    children_before = _children_cpu()
    start = time.monotonic()
    proc = subprocess.Popen(cmd)
    first_playable = None
    while proc.poll() is None:
        if first_playable is None and (out / "master.m3u8").exists():
            first_playable = time.monotonic() - start
        time.sleep(0.05)
    wall = time.monotonic() - start
    cpu = _children_cpu() - children_before  # reaped by poll(): every thread it ran
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {' '.join(cmd)}")
    run = Run("ffmpeg", wall, cpu, first_playable if first_playable is not None else wall)
    _measure_outputs(run, plan=plan, out=out, source=source)
    return run


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_vidray(*, source: Path, plan: TranscodePlan, out: Path, options: graph.Options) -> Run:
    pids = _ray_pids()
    before = _process_tree_cpu(pids)
    driver_before = process_cpu()
    start = time.monotonic()
    result = graph.transcode(
        open_store=functools.partial(LocalStore, out),
        source=graph.Source(path=str(source)),
        prefix="",
        image_prefix="img/",
        options=options,
    )
    wall = time.monotonic() - start
    cpu = _cpu_delta(before, _process_tree_cpu(pids))
    run = Run("vidray", wall, cpu, result.first_playable_s)
    run.stages = dict(result.cpu)
    run.driver_cpu_s = process_cpu() - driver_before
    _measure_outputs(run, plan=plan, out=out, source=source)
    return run


def _warm_up(workers: int) -> None:
    """Start one worker per core with the media stack imported, as a busy cluster has."""
    import ray

    @ray.remote(num_cpus=1)
    def ready() -> int:
        # Importing the tasks' module (PyAV, the codecs, the store, metrics) is the warm-up.
        import pipelines.transcode.tasks  # noqa: F401

        time.sleep(0.5)  # hold the core so each task lands on its own worker
        return os.getpid()

    ray.get([ready.remote() for _ in range(workers)])


@dataclass
class Comparison:
    source: str  # "noisy", "clean" or the file's name
    plan: TranscodePlan
    vidray: Run
    ffmpeg: Run


def resolve_source(
    spec: str, *, settings: Settings, seconds: float, say: Callable[[str], None]
) -> Path:
    """`clean` or `noisy` (generated once, cached in the data dir), or a file's path."""
    if spec not in SOURCE_KINDS:
        path = Path(spec)
        if not path.is_file():
            raise RuntimeError(f"{spec} is neither clean, noisy nor a file: give one of those")
        return path
    cache = settings.data_dir / "bench" / f"{spec}-1080p30-{seconds:g}s.mp4"
    if not cache.exists():
        say(f"generating a {seconds:g} s {spec} 1080p30 source at {cache}")
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial.mp4")
        make_pattern_source(partial, kind=spec, seconds=seconds)
        partial.replace(cache)
    return cache


def bench(
    *,
    settings: Settings,
    sources: list[str],
    seconds: float,
    ladder: tuple[int, ...] | None,
    preset: str,
    cpus: int,
    keep: Path | None,
    say: Callable[[str], None],
) -> list[Comparison]:
    """Each source through vidray then ffmpeg, back to back on the same cores."""
    from cluster import runtime

    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is not installed: apt-get install ffmpeg")
    # Both runs get the same cores: Ray workers and ffmpeg inherit this affinity.
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cpus]))
    work = keep or Path(tempfile.mkdtemp(prefix="vidray-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    paths = [
        (spec, resolve_source(spec, settings=settings, seconds=seconds, say=say))
        for spec in sources
    ]
    results = []
    try:
        runtime.start(settings, num_cpus=cpus)
        try:
            say("warming up Ray workers")
            _warm_up(cpus)
            for spec, source in paths:
                name = spec if spec in SOURCE_KINDS else source.name
                options = graph.Options(ladder=ladder, preset=preset, accelerator="cpu")
                plan = plan_transcode(
                    probe(source), ladder=ladder, segment_seconds=options.segment_seconds
                )
                say(f"{name}: vidray's chunked pipeline on Ray")
                ours = run_vidray(
                    source=source, plan=plan, out=work / name / "vidray", options=options
                )
                say(f"{name}: ffmpeg, one process")
                anchor = run_ffmpeg(
                    source=source, plan=plan, out=work / name / "ffmpeg", preset=preset
                )
                results.append(Comparison(source=name, plan=plan, vidray=ours, ffmpeg=anchor))
        finally:
            runtime.stop()
        return results
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
