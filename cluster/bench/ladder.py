"""`vidray bench ladder`: the fixed ladder beside the per-title one, per source.

Each source is encoded twice by the pipeline's own chunk encoder (same plan, same chunks):
once with the fixed table's bitrates, once with the caps the complexity probe picked. Each
rung's bitrate, and its PSNR and SSIM by FFmpeg's `psnr` and `ssim` filters against the
source scaled to the rung (bicubic), are printed side by side.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from cluster.bench.sources import SOURCE_KINDS, make_pattern_source, make_synthetic_source
from cluster.config import Settings
from pipelines.media import TranscodePlan, encode_chunk, plan_transcode, probe
from pipelines.media.complexity import per_title_rungs, probe_complexity

SYNTHETIC = ("slides", "talking")
_PSNR = re.compile(r"PSNR .*average:([0-9.]+|inf)")
_SSIM = re.compile(r"SSIM .*All:([0-9.]+)")


@dataclass
class RungResult:
    name: str
    kbps: float
    psnr: float
    ssim: float


@dataclass
class LadderResult:
    source: str
    fixed: list[RungResult]
    per_title: list[RungResult]
    probe_cpu_s: float
    encode_cpu_s: float  # the fixed ladder's encode, for scale


def source_path(
    spec: str, *, settings: Settings, seconds: float, say: Callable[[str], None]
) -> Path:
    if spec not in (*SOURCE_KINDS, *SYNTHETIC):
        path = Path(spec)
        if not path.is_file():
            raise RuntimeError(f"{spec} is not a file nor one of clean, noisy, slides, talking")
        return path
    cache = settings.data_dir / "bench" / f"{spec}-{seconds:g}s.mp4"
    if not cache.exists():
        say(f"generating a {seconds:g} s {spec} source at {cache}")
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial.mp4")
        if spec in SYNTHETIC:
            make_synthetic_source(partial, kind=spec, seconds=seconds)
        else:
            make_pattern_source(partial, kind=spec, seconds=seconds)
        partial.replace(cache)
    return cache


def _encode(plan: TranscodePlan, *, source: Path, out: Path, preset: str) -> float:
    start = time.process_time()
    for chunk in plan.chunks:
        encode_chunk(source=source, plan=plan, chunk=chunk, out_dir=out, threads=1, preset=preset)
    return time.process_time() - start


def _measure(plan: TranscodePlan, *, source: Path, out: Path) -> list[RungResult]:
    rows = []
    for rung in plan.rungs:
        joined = out / f"{rung.name}.ts"
        with joined.open("wb") as sink:  # MPEG-TS segments concatenate byte for byte
            for seg in sorted((out / rung.name).glob("seg_*.ts")):
                sink.write(seg.read_bytes())
        graph = (
            f"[1:v]scale={rung.width}:{rung.height}:flags=bicubic,split[r1][r2];"
            "[0:v]split[d1][d2];[d1][r1]psnr;[d2][r2]ssim"
        )
        cmd = ["ffmpeg", "-v", "info", "-nostats", "-i", str(joined), "-i", str(source),
               "-lavfi", graph, "-f", "null", "-"]  # fmt: skip
        err = subprocess.run(cmd, capture_output=True, text=True, check=False).stderr
        psnr, ssim = _PSNR.findall(err), _SSIM.findall(err)
        rows.append(
            RungResult(
                name=rung.name,
                kbps=joined.stat().st_size * 8 / plan.duration / 1000,
                psnr=float(psnr[-1]) if psnr else float("nan"),
                ssim=float(ssim[-1]) if ssim else float("nan"),
            )
        )
    return rows


def bench(
    *,
    settings: Settings,
    sources: list[str],
    seconds: float,
    ladder: tuple[int, ...] | None,
    preset: str,
    say: Callable[[str], None],
) -> list[LadderResult]:
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is not installed: apt-get install ffmpeg")
    results = []
    for spec in sources:
        source = source_path(spec, settings=settings, seconds=seconds, say=say)
        plan = plan_transcode(
            probe(source), ladder=ladder, segments_per_chunk=1, first_segment_seconds=1.0
        )
        say(f"{spec}: complexity probe")
        start = time.process_time()
        curves = probe_complexity(source=source, plan=plan, preset=preset)
        probe_cpu = time.process_time() - start
        titled = replace(plan, rungs=per_title_rungs(plan.rungs, curves))
        work = Path(tempfile.mkdtemp(prefix="vidray-ladder-"))
        try:
            say(f"{spec}: fixed ladder")
            encode_cpu = _encode(plan, source=source, out=work / "fixed", preset=preset)
            fixed = _measure(plan, source=source, out=work / "fixed")
            say(f"{spec}: per-title ladder")
            _encode(titled, source=source, out=work / "title", preset=preset)
            per_title = _measure(titled, source=source, out=work / "title")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        results.append(
            LadderResult(
                source=source.name if spec not in (*SOURCE_KINDS, *SYNTHETIC) else spec,
                fixed=fixed,
                per_title=per_title,
                probe_cpu_s=probe_cpu,
                encode_cpu_s=encode_cpu,
            )
        )
    return results
