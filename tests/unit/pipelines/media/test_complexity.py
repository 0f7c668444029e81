"""Per-title ladder: the rules on given curves, and on a source no bitrate makes clean."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipelines.media import encode_chunk, plan_transcode, probe
from pipelines.media.complexity import (
    TRANSPARENT_PSNR,
    TRANSPARENT_SSIM,
    Point,
    RungCurve,
    luma_ssim,
    per_title_rungs,
    probe_complexity,
)
from tests.support.media import make_grain


def _rungs(tmp_path: Path) -> tuple:
    from tests.support.media import Spec, make_media

    source = make_media(tmp_path / "src.mp4", Spec(width=640, height=360, seconds=1, audio=False))
    return plan_transcode(probe(source), ladder=(360, 240)).rungs


def test_a_transparent_rung_gets_the_fewest_bits_that_stay_transparent(tmp_path: Path) -> None:
    rungs = _rungs(tmp_path)
    top = rungs[-1]  # 360p, 730 kb/s fixed
    easy = RungCurve(top.name, (Point(400, 48.0, 0.997), Point(100, 40.0, 0.985)))
    (low, fitted) = per_title_rungs(rungs, (easy,))
    assert low == rungs[0]  # no curve: the fixed rung
    assert top.crf is None and fitted.crf is not None
    # Constant quality between the probe's CRFs (20 at 48 dB, 30 at 40 dB): 42.5 dB.
    assert 20 < fitted.crf < 30
    assert fitted.bitrate < top.bitrate / 2  # the estimate, for the master playlist
    psnr, ssim = easy.quality_at(fitted.bitrate / 1000)
    assert psnr >= TRANSPARENT_PSNR and ssim >= TRANSPARENT_SSIM
    # Capped at the fixed ladder's average: never more bits than it.
    assert fitted.maxrate == top.bitrate and fitted.bufsize < top.bufsize


def test_a_rung_below_transparency_keeps_the_fixed_bitrate(tmp_path: Path) -> None:
    rungs = _rungs(tmp_path)
    hard = tuple(
        RungCurve(r.name, (Point(r.bitrate / 500, 39.0, 0.97), Point(r.bitrate / 4000, 30, 0.9)))
        for r in rungs
    )
    assert per_title_rungs(rungs, hard) == rungs


def test_ssim_matches_ffmpegs_ssim_filter(tmp_path: Path, ffmpeg: str) -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, size=(72, 128), dtype=np.uint8)
    assert luma_ssim(a, a) == pytest.approx(1.0)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, size=a.shape), 0, 255).astype(np.uint8)
    (tmp_path / "a.raw").write_bytes(a.tobytes())
    (tmp_path / "b.raw").write_bytes(b.tobytes())
    raw = ["-f", "rawvideo", "-pix_fmt", "gray", "-s", "128x72"]
    cmd = [ffmpeg, "-nostats", *raw, "-i", str(tmp_path / "a.raw"), *raw]
    cmd += ["-i", str(tmp_path / "b.raw"), "-lavfi", "ssim", "-f", "null", "-"]
    err = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    theirs = float(re.findall(r"SSIM .*All:([0-9.]+)", err)[-1])
    assert luma_ssim(a, b) == pytest.approx(theirs, abs=0.005)


def _quality(ffmpeg: str, *, out: Path, source: Path, rung: object) -> tuple[float, float]:
    joined = out / "joined.ts"
    joined.write_bytes(b"".join(p.read_bytes() for p in sorted(out.glob("seg_*.ts"))))
    graph = (
        f"[1:v]scale={rung.width}:{rung.height}:flags=bicubic,split[r1][r2];"  # type: ignore[attr-defined]
        "[0:v]split[d1][d2];[d1][r1]psnr;[d2][r2]ssim"
    )
    cmd = [
        ffmpeg,
        "-nostats",
        "-i",
        str(joined),
        "-i",
        str(source),
        "-lavfi",
        graph,
        "-f",
        "null",
        "-",
    ]
    err = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    psnr = float(re.findall(r"PSNR .*average:([0-9.]+)", err)[-1])
    ssim = float(re.findall(r"SSIM .*All:([0-9.]+)", err)[-1])
    return psnr, ssim


def test_per_title_never_gives_less_quality_than_the_fixed_ladder_on_grain(
    tmp_path: Path, ffmpeg: str
) -> None:
    source = make_grain(tmp_path / "grain.mp4")
    plan = plan_transcode(probe(source), ladder=(180, 144), segment_seconds=2.0)
    curves = probe_complexity(source=source, plan=plan, preset="ultrafast", samples=1)
    titled = replace(plan, rungs=per_title_rungs(plan.rungs, curves))
    for fixed, fitted in zip(plan.rungs, titled.rungs, strict=True):
        assert fitted == fixed  # grain is never transparent: nothing changes
    for label, p in (("fixed", plan), ("title", titled)):
        for chunk in p.chunks:
            encode_chunk(
                source=source, plan=p, chunk=chunk, out_dir=tmp_path / label, preset="ultrafast"
            )
    for rung in plan.rungs:
        fixed_q = _quality(ffmpeg, out=tmp_path / "fixed" / rung.name, source=source, rung=rung)
        title_q = _quality(ffmpeg, out=tmp_path / "title" / rung.name, source=source, rung=rung)
        assert title_q[0] >= fixed_q[0] - 0.01 and title_q[1] >= fixed_q[1] - 0.0001
