"""Encode the whole audio track once into AAC-LC MPEG-TS segments (an HLS audio rendition).

Audio is cheap next to video, so one task does all of it; its segments are cut at the
plan's segment times so `audio/seg_N.ts` plays alongside every rung's `seg_N.ts`. Audio-
only TS with ADTS frames is the packed form that hls.js, Safari and FFmpeg all accept in an
`EXT-X-MEDIA` audio group.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from .encode import AAC_CODECS, TS_CLOCK, TS_OFFSET, TS_OPTIONS, AudioOutput, Segment
from .errors import CorruptMedia
from .plan import TranscodePlan
from .probe import open_untrusted

# The muxer packs AAC frames into one PES packet until this much time (µs) has gathered:
# without it every 21 ms frame is a PES of its own, padded to whole TS packets, and the
# track costs ~20 % more bytes than ffmpeg's (which sets 0.7 s, the `-muxdelay` default).
AUDIO_TS_OPTIONS = {**TS_OPTIONS, "max_delay": "700000"}
_ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)


def encode_audio(*, source: str | Path, plan: TranscodePlan, out_dir: str | Path) -> AudioOutput:
    """Encode the source's first audio track to `{out_dir}/audio/seg_{n:05d}.ts`."""
    assert plan.audio is not None, "the plan has no audio"
    segments = tuple(audio_segments(source=source, plan=plan, out_dir=out_dir))
    return AudioOutput(
        codecs=AAC_CODECS,
        channels=plan.audio.channels,
        bitrate=plan.audio.bitrate,
        segments=segments,
    )


def audio_segments(
    *, source: str | Path, plan: TranscodePlan, out_dir: str | Path
) -> Iterator[Segment]:
    """Like `encode_audio`, but yields each segment as soon as it is written.

    The track is still encoded once, front to back; a caller can publish its first
    segments while the rest of a long file is encoding.
    """
    assert plan.audio is not None, "the plan has no audio"
    rate, channels = plan.audio.sample_rate, plan.audio.channels
    layout = "stereo" if channels == 2 else "mono"
    directory = Path(out_dir) / "audio"
    directory.mkdir(parents=True, exist_ok=True)
    writer = _SegmentWriter(directory=directory, plan=plan, rate=rate, channels=channels)
    try:
        ctx = av.CodecContext.create("aac", "w")
        ctx.sample_rate, ctx.layout, ctx.format = rate, layout, "fltp"
        ctx.bit_rate = plan.audio.bitrate
        ctx.time_base = Fraction(1, rate)
        ctx.open()
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        next_sample: int | None = None
        with open_untrusted(source, container=plan.container) as container:
            stream = container.streams.audio[0]
            for frame in container.decode(stream):
                if next_sample is None:
                    # Anchor on the first decoded sample; after that, count samples, so
                    # the track is gap-free and its clock is the sample clock.
                    first = (frame.time or 0.0) - plan.origin
                    next_sample = round(first * rate)
                for out in resampler.resample(frame):
                    out.pts, out.time_base = next_sample, ctx.time_base
                    next_sample += out.samples
                    for packet in ctx.encode(out):
                        writer.write(packet)
                yield from writer.take_done()
        if next_sample is None:
            raise CorruptMedia(
                "The audio track could not be decoded; export it again and re-upload.",
                reason="undecodable_audio",
            )
        # Flush both: the resampler buffers a few samples, the AAC encoder one frame plus
        # priming; without this the last ~40 ms of sound would be missing.
        for out in resampler.resample(None):
            out.pts, out.time_base = next_sample, ctx.time_base
            next_sample += out.samples
            for packet in ctx.encode(out):
                writer.write(packet)
        for packet in ctx.encode(None):
            writer.write(packet)
        writer.close_segment()
        yield from writer.take_done()
    finally:
        writer.abort()


class _SegmentWriter:
    def __init__(self, *, directory: Path, plan: TranscodePlan, rate: int, channels: int) -> None:
        self.dir, self.plan, self.rate, self.channels = directory, plan, rate, channels
        self.segment: int | None = None
        self.out: Any = None
        self.stream: Any = None
        self.tmp: Path | None = None
        self.samples = 0
        self.done: list[Segment] = []

    def take_done(self) -> list[Segment]:
        """The segments finished since the last call."""
        finished, self.done = self.done, []
        return finished

    def write(self, packet: av.Packet) -> None:
        assert packet.pts is not None  # the AAC encoder stamps every packet
        t = float(packet.pts) / self.rate
        times = self.plan.segment_times
        seg = 0
        while seg + 2 < len(times) and times[seg + 1] <= t:
            seg += 1
        # Never go back: a packet that rounds into an earlier segment stays in this one.
        seg = max(seg, self.segment or 0)
        if seg != self.segment:
            self.close_segment()
            self._open(seg)
        duration = int(packet.duration or 1024)
        self.samples += duration
        data = _adts_header(len(bytes(packet)), rate=self.rate, channels=self.channels)
        raw = av.Packet(data + bytes(packet))
        scale = Fraction(TS_CLOCK, self.rate)
        raw.pts = raw.dts = TS_OFFSET + round(packet.pts * scale)
        raw.duration = round(duration * scale)
        raw.time_base = Fraction(1, TS_CLOCK)
        raw.stream = self.stream
        self.out.mux(raw)

    def _open(self, seg: int) -> None:
        self.segment, self.samples = seg, 0
        self.tmp = self.dir / f".seg_{seg:05d}.ts.part"
        self.out = av.open(str(self.tmp), "w", format="mpegts", options=AUDIO_TS_OPTIONS)
        self.stream = self.out.add_mux_stream("aac", rate=self.rate)
        self.stream.time_base = Fraction(1, TS_CLOCK)

    def close_segment(self) -> None:
        if self.out is None or self.tmp is None or self.segment is None:
            return
        self.out.close()
        self.out = None
        final = self.dir / f"seg_{self.segment:05d}.ts"
        self.tmp.replace(final)
        self.tmp = None
        self.done.append(
            Segment(
                index=self.segment,
                path=f"audio/{final.name}",
                duration=self.samples / self.rate,
                size=final.stat().st_size,
            )
        )

    def abort(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def _adts_header(payload: int, *, rate: int, channels: int) -> bytes:
    """7-byte ADTS header (AAC-LC, no CRC): what MPEG-TS carries AAC in."""
    length = payload + 7
    index = _ADTS_RATES.index(rate)
    profile = 1  # AAC-LC, written as object type - 1
    return bytes(
        [
            0xFF,
            0xF1,  # MPEG-4, layer 0, no CRC
            (profile << 6) | (index << 2) | (channels >> 2),
            ((channels & 3) << 6) | (length >> 11),
            (length >> 3) & 0xFF,
            ((length & 7) << 5) | 0x1F,
            0xFC,
        ]
    )
