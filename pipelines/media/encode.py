"""Encode one chunk of a plan into MPEG-TS segments for every rung, and the audio once.

One decode feeds all rungs: the chunk's frames are decoded once, put on the plan's
constant-rate grid, and go through one filter graph that rotates them if the source says
so and scales them to every rung (`scaler.py`). Every segment
starts with an IDR frame (closed GOPs, keyframes forced on the plan's GOP grid), so chunks
encoded independently, on any machine, concatenate into one seamless stream.

Output timestamps are the plan's timeline plus `TS_OFFSET` (10 s), identical for audio and
video. The offset keeps B-frame DTS and AAC priming positive, so no muxer shifts anything
on its own (`mpegts_copyts=1` also stops the TS muxer adding its mux delay).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from .cputime import StageTimes
from .encoders import Encoder, avc1_codecs, open_encoder
from .errors import CorruptMedia
from .plan import Chunk, Rung, TranscodePlan
from .probe import open_untrusted
from .scaler import LadderScaler
from .stills import ChunkStills, StillCollector, StillTimes

TS_CLOCK = 90_000
TS_OFFSET = 10 * TS_CLOCK
# Every segment file starts with PAT and PMT anyway. FFmpeg's muxer repeats them every
# 0.1 s and the SDT every 0.5 s: 132 packets (25 kB) per 6 s segment, a tenth of a 240p
# rung's bytes and a fifth of the audio's. Once per 2 s GOP is what ffmpeg's HLS output has.
TS_OPTIONS = {
    "mpegts_copyts": "1",
    "avoid_negative_ts": "disabled",
    "pat_period": "2",
    "sdt_period": "2",
}
AAC_CODECS = "mp4a.40.2"


@dataclass(frozen=True)
class Segment:
    index: int  # global segment number, shared by every rung and the audio
    path: str  # relative to the output directory, posix
    duration: float
    size: int


@dataclass(frozen=True)
class RungOutput:
    name: str
    codecs: str  # RFC 6381, read from the SPS the encoder actually wrote
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class ChunkOutput:
    chunk: int
    rungs: tuple[RungOutput, ...]
    cpu: dict[str, float] = field(default_factory=dict)  # thread CPU seconds per stage
    stills: ChunkStills | None = None  # poster candidate and storyboard tiles it saw

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stills"] = None if self.stills is None else self.stills.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkOutput:
        return cls(
            chunk=data["chunk"],
            rungs=tuple(
                RungOutput(
                    name=r["name"],
                    codecs=r["codecs"],
                    segments=tuple(Segment(**s) for s in r["segments"]),
                )
                for r in data["rungs"]
            ),
            cpu=dict(data.get("cpu", {})),
            stills=ChunkStills.from_dict(data["stills"]) if data.get("stills") else None,
        )


@dataclass(frozen=True)
class AudioOutput:
    codecs: str
    channels: int
    bitrate: int
    segments: tuple[Segment, ...]
    complete: bool = True  # False while a long track is still being encoded

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioOutput:
        return cls(**{**data, "segments": tuple(Segment(**s) for s in data["segments"])})


def encode_chunk(
    *,
    source: str | Path,
    plan: TranscodePlan,
    chunk: Chunk,
    out_dir: str | Path,
    rungs: tuple[str, ...] | None = None,
    encoder: Encoder = "libx264",
    preset: str = "veryfast",
    threads: int = 0,
    stills: StillTimes | None = None,
) -> ChunkOutput:
    """Encode `chunk` of `source` into `{out_dir}/{rung}/seg_{n:05d}.ts` for each rung.

    `rungs` picks a subset by name (e.g. only the lowest, to publish it first); `threads`
    0 lets codecs choose, 1 suits running many chunk tasks side by side. With `stills`,
    the frames at those times also become storyboard tiles and poster candidates
    (`ChunkOutput.stills`), so the images need no second decode of the source.
    """
    assert plan.fps is not None, "audio-only plans have no video chunks"
    out = Path(out_dir)
    cpu = StageTimes(threaded=threads != 1)
    collector = None
    if stills is not None:
        collector = StillCollector(
            times=stills,
            fps=plan.fps,
            first=chunk.start_frame,
            end=chunk.end_frame,
            last_frame=plan.segment_frames[-1] - 1,
        )
    chosen = [r for r in plan.rungs if rungs is None or r.name in rungs]
    writers = [
        _RungWriter(
            plan=plan,
            chunk=chunk,
            rung=r,
            out_dir=out,
            encoder=encoder,
            preset=preset,
            threads=threads,
            cpu=cpu,
        )
        for r in chosen
    ]
    try:
        with open_untrusted(source, container=plan.container) as container:
            stream = container.streams.video[0]
            scaler = LadderScaler(
                stream,
                rotation=plan.rotation,
                sizes=[(w.rung.width, w.rung.height) for w in writers],
                upright=collector is not None,
            )
            frames = _chunk_frames(container, plan=plan, chunk=chunk, threads=threads)
            scaled: tuple[Any, list[av.VideoFrame], Any] | None = None
            clock = cpu.now()
            for n, frame in frames:
                clock = cpu.add("decode", clock)
                # A slot that repeats the previous source frame (VFR made CFR) reuses
                # its scaled pictures: each source frame goes through the graph once.
                if scaled is None or scaled[0] is not frame:
                    scaled = (frame, *scaler.scale(frame))
                    clock = cpu.add("scale", clock)
                for w, picture in zip(writers, scaled[1], strict=True):
                    w.encode(n, picture)
                if collector is not None:
                    clock = cpu.now()
                    collector.offer(n, scaled[2])
                    cpu.add("stills", clock)
                clock = cpu.now()
        for w in writers:
            w.finish()
        kept = None
        if collector is not None:
            with cpu.stage("stills"):
                kept = collector.result()
        return ChunkOutput(
            chunk=chunk.index,
            rungs=tuple(w.output() for w in writers),
            cpu=cpu.seconds,
            stills=kept,
        )
    finally:
        for w in writers:
            w.close()  # removes half-written segments if anything above failed


def _chunk_frames(
    container: Any, *, plan: TranscodePlan, chunk: Chunk, threads: int
) -> Iterator[tuple[int, av.VideoFrame]]:
    """Yield (output frame number, picture) for every slot of the chunk, exactly once.

    Source frames are placed on the constant-rate grid the way FFmpeg's fps filter does:
    a frame takes the nearest slot, late slots repeat the previous picture, and frames
    that land on an already-filled slot are dropped. That is what turns VFR into CFR.
    """
    assert plan.fps is not None
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = threads
    fps = float(plan.fps)
    start_t = plan.origin + chunk.start
    if chunk.start_frame > 0 and stream.time_base is not None:
        # Seek lands on the keyframe at or before the target. Aiming half a frame past the
        # chunk start lets a source keyframe sitting right on the boundary (the usual case:
        # cameras and encoders put them on whole seconds) be used, instead of decoding the
        # whole previous GOP; frames before the first slot are decoded and dropped below.
        target = start_t + 0.5 / fps
        container.seek(int(target / stream.time_base), stream=stream, backward=True)
    next_slot, previous = chunk.start_frame, None
    end = chunk.end_frame
    for frame in container.decode(stream):
        if frame.time is None:
            continue
        slot = round((frame.time - plan.origin) * fps)
        if slot < next_slot:
            previous = frame
            continue
        if not chunk.last and slot >= end:
            break
        while next_slot < slot:
            yield next_slot, (previous if previous is not None else frame)
            next_slot += 1
        yield next_slot, frame
        next_slot += 1
        previous = frame
    if previous is None:
        raise CorruptMedia(
            f"No picture could be decoded between {chunk.start:.1f}s and {chunk.end:.1f}s; "
            "the file may be truncated. Export it again and re-upload.",
            reason="undecodable",
        )
    # Hold the last picture to the planned end: the next chunk (or the audio) continues
    # from there, so a short source tail must not leave a gap.
    while next_slot < end:
        yield next_slot, previous
        next_slot += 1


class _RungWriter:
    """One rung's encoder plus the segment file currently being written."""

    def __init__(
        self,
        *,
        plan: TranscodePlan,
        chunk: Chunk,
        rung: Rung,
        out_dir: Path,
        encoder: Encoder,
        preset: str,
        threads: int,
        cpu: StageTimes,
    ) -> None:
        assert plan.fps is not None and plan.gop_frames is not None
        self.plan, self.chunk, self.rung, self.cpu = plan, chunk, rung, cpu
        self.stage = f"x264 {rung.name}" if encoder == "libx264" else f"{encoder} {rung.name}"
        self.dir = out_dir / rung.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ctx = open_encoder(encoder, rung=rung, plan=plan, preset=preset, threads=threads)
        self.segment: int | None = None
        self.out: Any = None
        self.stream: Any = None
        self.tmp: Path | None = None
        self.codecs = ""
        self.frames: dict[int, int] = {}  # segment -> frames it holds
        self.done: list[Segment] = []
        self.last_seg = chunk.first_segment + chunk.segment_count - 1

    def encode(self, n: int, picture: av.VideoFrame) -> None:
        """Encode `picture` (already at this rung's size) as output frame `n`."""
        clock = self.cpu.now()
        picture.pts = n
        picture.time_base = self.ctx.time_base
        # Forced IDRs on the plan's GOP grid: segment starts line up across chunks/rungs.
        picture.pict_type = (
            av.video.frame.PictureType.I
            if self.plan.keyframe(n)
            else av.video.frame.PictureType.NONE
        )
        seg = self._segment_of(n)
        self.frames[seg] = self.frames.get(seg, 0) + 1
        packets = self.ctx.encode(picture)
        clock = self.cpu.add(self.stage, clock)
        for packet in packets:
            self._mux(packet)
        self.cpu.add("mux", clock)

    def finish(self) -> None:
        # Flush: the encoder holds look-ahead and B-frames; without an empty encode call
        # the chunk's last frames would be lost and the next chunk would start late.
        with self.cpu.stage(self.stage):
            packets = self.ctx.encode(None)
        with self.cpu.stage("mux"):
            for packet in packets:
                self._mux(packet)
            self._close_segment()

    def output(self) -> RungOutput:
        return RungOutput(name=self.rung.name, codecs=self.codecs, segments=tuple(self.done))

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None

    def _segment_of(self, n: int) -> int:
        frames = self.plan.segment_frames
        k = self.chunk.first_segment
        while k < self.last_seg and frames[k + 1] <= n:
            k += 1
        return k

    def _mux(self, packet: av.Packet) -> None:
        assert self.plan.fps is not None
        assert packet.pts is not None and packet.dts is not None  # encoders always set both
        seg = self._segment_of(int(packet.pts))
        if seg != self.segment:
            self._close_segment()
            self._open_segment(seg)
        if not self.codecs and packet.is_keyframe:
            self.codecs = avc1_codecs(bytes(packet))
        scale = Fraction(TS_CLOCK) / self.plan.fps
        packet.pts = TS_OFFSET + round(packet.pts * scale)
        packet.dts = TS_OFFSET + round(packet.dts * scale)
        packet.duration = round(scale)
        packet.time_base = Fraction(1, TS_CLOCK)
        packet.stream = self.stream
        self.out.mux(packet)

    def _open_segment(self, seg: int) -> None:
        self.segment = seg
        self.tmp = self.dir / f".seg_{seg:05d}.ts.part"
        self.out = av.open(str(self.tmp), "w", format="mpegts", options=TS_OPTIONS)
        self.stream = self.out.add_mux_stream("h264", rate=self.plan.fps)
        self.stream.time_base = Fraction(1, TS_CLOCK)

    def _close_segment(self) -> None:
        if self.out is None or self.tmp is None or self.segment is None:
            return
        assert self.plan.fps is not None
        self.out.close()
        self.out = None
        final = self.dir / f"seg_{self.segment:05d}.ts"
        self.tmp.replace(final)  # atomic: readers never see half a segment
        self.tmp = None
        self.done.append(
            Segment(
                index=self.segment,
                path=f"{self.rung.name}/{final.name}",
                duration=float(self.frames.get(self.segment, 0) / self.plan.fps),
                size=final.stat().st_size,
            )
        )
