"""The H.264 encoders a chunk can use: which work on this node, how each is opened for a
rung (libx264 and NVENC options), and the RFC 6381 codecs string of what they wrote."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import av

from .errors import EncoderUnavailable
from .plan import Rung, TranscodePlan

Encoder = Literal["libx264", "h264_nvenc"]


@dataclass(frozen=True)
class EncoderSupport:
    name: str
    available: bool
    reason: str


def available_encoders() -> dict[str, EncoderSupport]:
    """Which H.264 encoders (and NVDEC) work here; GPU paths report why they do not."""
    found = {}
    for name in ("libx264", "h264_nvenc"):
        try:
            ctx = av.CodecContext.create(name, "w")
            ctx.width, ctx.height, ctx.pix_fmt = 256, 256, "yuv420p"
            ctx.time_base = Fraction(1, 25)
            ctx.open()  # NVENC fails here without a GPU and driver
            found[name] = EncoderSupport(name, True, "ok")
        except Exception as exc:
            found[name] = EncoderSupport(name, False, f"{type(exc).__name__}: {exc}")
    devices = av.codec.hwaccel.hwdevices_available()
    found["nvdec"] = EncoderSupport(
        "nvdec", "cuda" in devices, "ok" if "cuda" in devices else "no CUDA device type"
    )
    return found


def open_encoder(
    encoder: Encoder, *, rung: Rung, plan: TranscodePlan, preset: str, threads: int
) -> Any:
    """An opened H.264 encoder for `rung`: capped VBR (or capped CRF when the rung has
    one), IDRs forced on the plan's GOP grid, closed GOPs, no scene cuts."""
    assert plan.fps is not None and plan.gop_frames is not None
    keyint = math.ceil(plan.gop_frames) + 1  # forced IDRs come first; this is a backstop
    options = _ENCODER_OPTIONS[encoder](rung, keyint, preset)
    try:
        ctx = av.CodecContext.create(encoder, "w")
        ctx.width, ctx.height, ctx.pix_fmt = rung.width, rung.height, "yuv420p"
        ctx.time_base = 1 / plan.fps
        ctx.framerate = plan.fps
        if rung.crf is None:
            ctx.bit_rate = rung.bitrate
        ctx.thread_count = threads
        ctx.options = options
        ctx.open()
    except Exception as exc:
        raise EncoderUnavailable(
            f"The {encoder} encoder could not be opened ({exc}); use libx264 on this node.",
        ) from None
    return ctx


def _x264_options(rung: Rung, keyint: int, preset: str) -> dict[str, str]:
    params = [
        f"keyint={keyint}",
        f"min-keyint={keyint}",
        "scenecut=0",  # no extra keyframes: segment sizes stay predictable
        "open-gop=0",  # closed GOPs: each segment decodes on its own
        f"vbv-maxrate={rung.maxrate // 1000}",
        f"vbv-bufsize={rung.bufsize // 1000}",
        f"level={rung.level}",
        "aud=1",  # access unit delimiters, recommended for HLS in MPEG-TS
    ]
    options = {
        "preset": preset,
        "profile": rung.profile,
        "forced-idr": "1",
        "x264-params": ":".join(params),
    }
    if rung.crf is not None:
        options["crf"] = f"{rung.crf:.1f}"
    return options


def _nvenc_options(rung: Rung, keyint: int, preset: str) -> dict[str, str]:
    return {
        "preset": "p4",
        "profile": rung.profile,
        "rc": "vbr",
        "maxrate": str(rung.maxrate),
        "bufsize": str(rung.bufsize),
        "g": str(keyint),
        "forced-idr": "1",
        "no-scenecut": "1",
        "strict_gop": "1",
        "aud": "1",
    }


_ENCODER_OPTIONS = {"libx264": _x264_options, "h264_nvenc": _nvenc_options}


def avc1_codecs(annexb: bytes) -> str:
    """RFC 6381 `avc1.PPCCLL` from the first SPS in an Annex-B access unit."""
    i = annexb.find(b"\x00\x00\x01")
    while i != -1 and i + 6 < len(annexb):
        if annexb[i + 3] & 0x1F == 7:  # NAL type 7: sequence parameter set
            return "avc1." + annexb[i + 4 : i + 7].hex()
        i = annexb.find(b"\x00\x00\x01", i + 3)
    return "avc1.640028"  # High@4.0: a safe claim if the SPS could not be found
