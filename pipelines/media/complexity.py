"""Per-title ladder: how many bits each rung of *this* video needs, from a quick probe.

A fixed table spends 3 Mb/s on a 720p slide deck that is visually transparent at a tenth
of that, and the same on grain that stays short of it. So before encoding, a few short
samples of the source (`sample_times`) are decoded once, scaled to every rung with the
encoder's own filter graph, and encoded at two constant-quality points (CRF 20 and 30,
the same preset). Each rung gets a curve: quality against log bitrate, a straight line
through the two points (`RungCurve`). Quality is PSNR (all planes, weighted by their
size, as FFmpeg's `psnr` filter averages them) and SSIM (luma, 8x8 windows) against the
source scaled to the rung.

The rules (`per_title_rungs`), with a transparency threshold of PSNR 42 dB and SSIM
0.98 at the rung's own size (a documented heuristic; Debian's FFmpeg has no libvmaf):

- where the fixed rung's predicted quality is above the threshold, the rung is encoded
  at the constant quality (CRF, interpolated between the two probe points) that the
  curves say reaches the threshold plus a margin, capped by VBV at the fixed rung's
  average bitrate: it never spends more than the fixed ladder, and spends far less
  where the content is easy. Constant quality, not a lower average bitrate: a slide
  change or a cut gets the bits it needs (an average-bitrate encode at the curve's rate
  fell to 36 dB on slides), and chunk boundaries do not restart any rate control;
- where it is below, the rung keeps the fixed bitrate: per-title never gives less
  quality than the fixed ladder there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from .plan import Rung, TranscodePlan
from .probe import open_untrusted
from .scaler import LadderScaler

TRANSPARENT_PSNR = 42.0
TRANSPARENT_SSIM = 0.98
PROBE_CRFS = (20, 30)
MARGIN_DB = 0.5  # aim this far above the PSNR threshold (and SSIM by 0.002)
MAX_CRF = 34.0
MEASURE_EVERY = 3


@dataclass(frozen=True)
class Point:
    kbps: float
    psnr: float
    ssim: float


@dataclass(frozen=True)
class RungCurve:
    name: str
    points: tuple[Point, ...]  # one per probe CRF, most bits first

    def _line(self, value: str) -> tuple[float, float]:
        """(slope, intercept) of `value` against log2(kbps)."""
        a, b = self.points[0], self.points[-1]
        xa, xb = math.log2(a.kbps), math.log2(b.kbps)
        ya, yb = getattr(a, value), getattr(b, value)
        slope = (ya - yb) / (xa - xb) if abs(xa - xb) > 1e-9 else 0.0
        return slope, ya - slope * xa

    def quality_at(self, kbps: float) -> tuple[float, float]:
        """Predicted (PSNR, SSIM) at `kbps`, never above the richest probe point's: past
        what CRF 20 spends, more bits are taken to buy nothing visible."""
        top = self.points[0]
        out = []
        for value, ceiling in (("psnr", top.psnr), ("ssim", top.ssim)):
            slope, intercept = self._line(value)
            out.append(min(ceiling, intercept + slope * math.log2(max(kbps, 1.0))))
        return out[0], min(1.0, out[1])

    def kbps_for(self, *, psnr: float, ssim: float) -> float:
        """Bits the curve says reach both `psnr` and `ssim` (inf when it never does)."""
        need = 0.0
        for value, target in (("psnr", psnr), ("ssim", ssim)):
            slope, intercept = self._line(value)
            if slope <= 0:
                top = getattr(self.points[0], value)
                need = max(need, self.points[-1].kbps if top >= target else math.inf)
                continue
            need = max(need, 2 ** ((target - intercept) / slope))
        return need

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "points": [p.__dict__ for p in self.points]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RungCurve:
        return cls(name=data["name"], points=tuple(Point(**p) for p in data["points"]))


def sample_times(duration: float, *, samples: int = 3, seconds: float = 1.0) -> list[float]:
    """Start times of `samples` windows of `seconds`, spread over the middle of the video
    (openings and endings are often titles or black)."""
    if duration <= seconds * samples:
        return [0.0]
    return [duration * (i + 1) / (samples + 1) - seconds / 2 for i in range(samples)]


def probe_complexity(
    *,
    source: str | Path,
    plan: TranscodePlan,
    preset: str = "veryfast",
    samples: int = 3,
    seconds: float = 1.0,
) -> tuple[RungCurve, ...]:
    """Encode short samples of every rung at each `PROBE_CRFS` and measure them.

    One sample at a time is held in memory (a second of every rung's pictures), and each
    is encoded on its own, as a chunk is."""
    assert plan.fps is not None, "audio-only plans have no rungs"
    rungs = plan.rungs
    # Per rung and CRF: bytes, frames, and sums of PSNR and SSIM over the frames.
    totals = {(r.name, crf): [0.0, 0.0, 0.0, 0.0] for r in rungs for crf in PROBE_CRFS}
    want = math.ceil(seconds * plan.fps)
    with open_untrusted(source, container=plan.container) as container:
        stream = container.streams.video[0]
        scaler = LadderScaler(
            stream, rotation=plan.rotation, sizes=[(r.width, r.height) for r in rungs]
        )
        for start in sample_times(plan.duration, samples=samples, seconds=seconds):
            t = plan.origin + start
            # The sample starts on the keyframe the seek lands on, not at `t`: the pictures
            # between them would be decoded only to be thrown away (a third of the probe's
            # decoding with 2 s GOPs, and most of it with a camera's 10 s ones).
            container.seek(int(t / stream.time_base), stream=stream, backward=True)
            pictures: list[list[np.ndarray]] = [[] for _ in rungs]
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                scaled, _ = scaler.scale(frame)
                for i, picture in enumerate(scaled):
                    pictures[i].append(picture.to_ndarray())
                if len(pictures[0]) >= want:
                    break
            for rung, frames in zip(rungs, pictures, strict=True):
                for crf in PROBE_CRFS:
                    size, psnr, ssim = _crf_sample(
                        frames, rung=rung, fps=plan.fps, crf=crf, preset=preset
                    )
                    total = totals[(rung.name, crf)]
                    total[0] += size
                    total[1] += len(frames)
                    total[2] += psnr * len(frames)
                    total[3] += ssim * len(frames)
    curves = []
    for rung in rungs:
        points = []
        for crf in PROBE_CRFS:
            total_bytes, frames_seen, psnr_sum, ssim_sum = totals[(rung.name, crf)]
            seen = max(1.0, frames_seen)
            points.append(
                Point(
                    kbps=total_bytes * 8 / (seen / float(plan.fps)) / 1000,
                    psnr=psnr_sum / seen,
                    ssim=ssim_sum / seen,
                )
            )
        curves.append(RungCurve(name=rung.name, points=tuple(points)))
    return tuple(curves)


def per_title_rungs(
    rungs: tuple[Rung, ...],
    curves: tuple[RungCurve, ...],
    *,
    psnr: float = TRANSPARENT_PSNR,
    ssim: float = TRANSPARENT_SSIM,
) -> tuple[Rung, ...]:
    """The fixed rungs, with the transparent ones turned into capped constant quality
    (the rules in the module's doc)."""
    by_name = {c.name: c for c in curves}
    out = []
    for rung in rungs:
        curve = by_name.get(rung.name)
        if curve is None or len(curve.points) < 2:
            out.append(rung)
            continue
        q_psnr, q_ssim = curve.quality_at(rung.bitrate / 1000)
        if q_psnr < psnr or q_ssim < ssim:
            out.append(rung)  # below transparency: never fewer bits than the fixed ladder
            continue
        crf = min(_crf_for(curve, "psnr", psnr + MARGIN_DB), _crf_for(curve, "ssim", ssim + 0.002))
        estimate = min(rung.bitrate / 1000, curve.kbps_for(psnr=psnr + MARGIN_DB, ssim=ssim))
        out.append(
            replace(
                rung,
                crf=round(crf, 1),
                bitrate=int(round(max(estimate, 10.0), -1)) * 1000,
                # Peak no higher than the fixed ladder's average: never more bits.
                maxrate=rung.bitrate,
                bufsize=int(rung.bufsize * rung.bitrate / rung.maxrate),
            )
        )
    return tuple(out)


def _crf_for(curve: RungCurve, value: str, target: float) -> float:
    """The CRF the two probe points put at `target` (quality is near linear in CRF)."""
    (c_hi, c_lo), (a, b) = PROBE_CRFS, curve.points
    q_hi, q_lo = getattr(a, value), getattr(b, value)
    if q_hi <= q_lo:
        return float(c_hi)
    crf = c_hi + (q_hi - target) * (c_lo - c_hi) / (q_hi - q_lo)
    return max(float(min(PROBE_CRFS)) - 2, min(MAX_CRF, crf))


def _crf_sample(
    frames: list[np.ndarray], *, rung: Rung, fps: Fraction, crf: int, preset: str
) -> tuple[int, float, float]:
    """Encode `frames` (yuv420p arrays) at `crf` and decode them back: (bytes, mean PSNR,
    mean SSIM)."""
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = rung.width, rung.height, "yuv420p"
    ctx.time_base = 1 / fps
    ctx.framerate = fps
    ctx.thread_count = 1
    ctx.options = {"preset": preset, "crf": str(crf)}
    ctx.open()
    decoder = av.CodecContext.create("h264", "r")
    packets = []
    for i, array in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(array, format="yuv420p")
        frame.pts = i
        packets += ctx.encode(frame)
    packets += ctx.encode(None)
    decoded: list[np.ndarray] = []
    for packet in packets:
        decoded += [f.to_ndarray() for f in decoder.decode(packet)]
    decoded += [f.to_ndarray() for f in decoder.decode(None)]
    # Every third frame is measured: the averages barely move, the CPU drops threefold.
    pairs = list(zip(frames, decoded, strict=False))[::MEASURE_EVERY]
    if not pairs:
        return 0, 0.0, 0.0
    psnr = float(np.mean([yuv_psnr(a, b) for a, b in pairs]))
    ssim = float(np.mean([luma_ssim(a[: rung.height], b[: rung.height]) for a, b in pairs]))
    return sum(p.size for p in packets), psnr, ssim


def yuv_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two yuv420p pictures (PyAV's stacked planes), the planes' MSEs weighted by
    their size, as FFmpeg's `psnr` filter averages them."""
    diff = (a.astype(np.float32) - b.astype(np.float32)) ** 2
    mse = float(diff.mean())  # the stacked array: Y then U and V, each by its size
    return 100.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def luma_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two luma planes on 8x8 windows stepped by 4, as FFmpeg's `ssim` does: sums
    over 4x4 blocks, four of which make each window."""
    h, w = (a.shape[0] // 4) * 4, (a.shape[1] // 4) * 4
    x, y = a[:h, :w].astype(np.float32), b[:h, :w].astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def windows(z: np.ndarray) -> np.ndarray:
        blocks = z.reshape(h // 4, 4, w // 4, 4).sum(axis=(1, 3), dtype=np.float64)
        return (blocks[:-1, :-1] + blocks[1:, :-1] + blocks[:-1, 1:] + blocks[1:, 1:]) / 64.0

    mx, my = windows(x), windows(y)
    vx, vy = windows(x * x) - mx * mx, windows(y * y) - my * my
    cov = windows(x * y) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(ssim.mean())
