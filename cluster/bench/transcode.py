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
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from cluster.bench.sources import make_source
from cluster.config import Settings
from cluster.storage import LocalStore
from pipelines import transcode as graph
from pipelines.media import TranscodePlan, plan_transcode, probe

_PSNR = re.compile(r"average:([0-9.]+|inf)")


@dataclass
class Run:
    name: str
    wall_s: float
    cpu_s: float
    first_playable_s: float
    psnr_db: dict[str, float] = field(default_factory=dict)
    kbps: dict[str, float] = field(default_factory=dict)


def _cpu_seconds(root: psutil.Process) -> float:
    """CPU time of `root` and every live descendant (Ray workers included)."""
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            continue
    return total


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
    for r in plan.rungs:
        folder = out / r.name
        size = sum(p.stat().st_size for p in folder.glob("*.ts"))
        run.kbps[r.name] = size * 8 / plan.duration / 1000
        run.psnr_db[r.name] = _psnr(
            rendition=folder / "index.m3u8", source=source, width=r.width, height=r.height
        )


def run_ffmpeg(*, source: Path, plan: TranscodePlan, out: Path, preset: str) -> Run:
    out.mkdir(parents=True, exist_ok=True)
    cmd = _ffmpeg_ladder(source=source, plan=plan, out=out, preset=preset)
    start = time.monotonic()
    proc = psutil.Popen(cmd)
    first_playable = None
    cpu = 0.0
    while proc.poll() is None:
        if first_playable is None and (out / "master.m3u8").exists():
            first_playable = time.monotonic() - start
        try:
            cpu = sum(proc.cpu_times()[:2])
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {' '.join(cmd)}")
    run = Run("ffmpeg", wall, cpu, first_playable if first_playable is not None else wall)
    _measure_outputs(run, plan=plan, out=out, source=source)
    return run


def run_vidray(*, source: Path, plan: TranscodePlan, out: Path, options: graph.Options) -> Run:
    me = psutil.Process()
    cpu_before = _cpu_seconds(me)
    start = time.monotonic()
    result = graph.transcode(
        open_store=functools.partial(LocalStore, out),
        source=graph.Source(path=str(source)),
        prefix="",
        options=options,
    )
    wall = time.monotonic() - start
    cpu = _cpu_seconds(me) - cpu_before
    run = Run("vidray", wall, cpu, result.first_playable_s)
    _measure_outputs(run, plan=plan, out=out, source=source)
    return run


def _warm_up(workers: int) -> None:
    """Start one worker per core with the media stack imported, as a busy cluster has."""
    import ray

    @ray.remote(num_cpus=1)
    def ready() -> int:
        import pipelines.media  # noqa: F401 - importing PyAV and the codecs is the warm-up

        time.sleep(0.5)  # hold the core so each task lands on its own worker
        return os.getpid()

    ray.get([ready.remote() for _ in range(workers)])


def bench(
    *,
    settings: Settings,
    input_path: Path | None,
    seconds: float,
    ladder: tuple[int, ...] | None,
    preset: str,
    cpus: int,
    keep: Path | None,
    say: Callable[[str], None],
) -> tuple[Run, Run, TranscodePlan]:
    """Run both on the same cores and return (vidray, ffmpeg, plan)."""
    from cluster import runtime

    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is not installed: apt-get install ffmpeg")
    # Both runs get the same cores: Ray workers and ffmpeg inherit this affinity.
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cpus]))
    work = keep or Path(tempfile.mkdtemp(prefix="vidray-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        source = input_path
        if source is None:
            cache = settings.data_dir / "bench" / f"source-1080p30-{seconds:g}s.mp4"
            if not cache.exists():
                say(f"generating a {seconds:g} s 1080p30 source at {cache}")
                cache.parent.mkdir(parents=True, exist_ok=True)
                make_source(cache.with_suffix(".partial.mp4"), seconds=seconds)
                cache.with_suffix(".partial.mp4").replace(cache)
            source = cache
        options = graph.Options(ladder=ladder, preset=preset, accelerator="cpu")
        plan = plan_transcode(
            probe(source),
            ladder=ladder,
            segment_seconds=options.segment_seconds,
        )
        runtime.start(settings, num_cpus=cpus)
        try:
            say("warming up Ray workers")
            _warm_up(cpus)
            say("vidray: chunked pipeline on Ray")
            ours = run_vidray(source=source, plan=plan, out=work / "vidray", options=options)
        finally:
            runtime.stop()
        say("ffmpeg: one-process ladder")
        anchor = run_ffmpeg(source=source, plan=plan, out=work / "ffmpeg", preset=preset)
        return ours, anchor, plan
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
