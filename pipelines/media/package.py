"""Write HLS playlists from chunk outputs: per-rung media playlists and a master.

Layout under the output directory::

    master.m3u8
    {rung}/index.m3u8, {rung}/seg_00000.ts ...
    audio/index.m3u8,  audio/seg_00000.ts ...

While chunks and audio segments are still arriving, `package` writes EVENT playlists
listing the contiguous prefix of finished chunks (a player may start on them and will keep
polling); once every chunk and the whole audio track are present it writes the final VOD
playlists with `EXT-X-ENDLIST`. It writes nothing until the video's lowest rung and the
audio both have a first segment: a player reads the master once, so a rendition missing
from the first master would be missing for good.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .encode import AudioOutput, ChunkOutput, Segment
from .plan import Rung, TranscodePlan

HLS_VERSION = 3
AUDIO_GROUP = "aud"


@dataclass(frozen=True)
class Variant:
    rung: Rung
    codecs: str
    segments: tuple[Segment, ...]
    complete: bool


@dataclass(frozen=True)
class Package:
    playable: bool  # the playlists were written: every kind of media has a first segment
    complete: bool
    variants: tuple[Variant, ...]
    audio_segments: tuple[Segment, ...]
    master: str  # the master playlist text that was written


def media_playlist(segments: Sequence[Segment], *, complete: bool, target: int) -> str:
    """One rendition's playlist; segment URIs are relative to the playlist's folder."""
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{HLS_VERSION}",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        f"#EXT-X-PLAYLIST-TYPE:{'VOD' if complete else 'EVENT'}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for s in segments:
        lines += [f"#EXTINF:{s.duration:.6f},", Path(s.path).name]
    if complete:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master_playlist(
    *,
    plan: TranscodePlan,
    variants: Sequence[Variant],
    audio: Sequence[Segment] | None,
    audio_codecs: str = "mp4a.40.2",
    audio_channels: int = 2,
    audio_bitrate: int = 128_000,
) -> str:
    """Master playlist. BANDWIDTH is the measured peak segment rate (plus audio), as the
    HLS spec requires; while a rung is incomplete its planned cap stands in for it."""
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{HLS_VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    audio_peak = audio_avg = 0
    if audio:
        audio_peak = max(_peak(audio), int(audio_bitrate * 1.1))
        audio_avg = _average(audio)
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="default",DEFAULT=YES,'
            f'AUTOSELECT=YES,CHANNELS="{audio_channels}",URI="audio/index.m3u8"'
        )
    if not variants and audio:  # audio-only source: the audio rendition is the variant
        lines += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={audio_peak},AVERAGE-BANDWIDTH={audio_avg},"
            f'CODECS="{audio_codecs}"',
            "audio/index.m3u8",
        ]
    for v in sorted(variants, key=lambda v: v.rung.bitrate):
        peak = _peak(v.segments)
        if not v.complete:
            peak = max(peak, v.rung.maxrate)
        codecs = f"{v.codecs},{audio_codecs}" if audio else v.codecs
        attrs = [
            f"BANDWIDTH={peak + audio_peak}",
            f"AVERAGE-BANDWIDTH={_average(v.segments) + audio_avg}",
            f"RESOLUTION={v.rung.width}x{v.rung.height}",
            f'CODECS="{codecs}"',
        ]
        if plan.fps is not None:
            attrs.append(f"FRAME-RATE={float(plan.fps):.3f}")
        if audio:
            attrs.append(f'AUDIO="{AUDIO_GROUP}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), f"{v.rung.name}/index.m3u8"]
    return "\n".join(lines) + "\n"


def package(
    *,
    plan: TranscodePlan,
    chunks: Iterable[ChunkOutput],
    audio: AudioOutput | None,
    out_dir: str | Path,
) -> Package:
    """Write every playlist for what exists so far; call again as chunks finish.

    Several outputs for the same chunk are merged (e.g. the lowest rung encoded first,
    the others later). A rung is listed once its first chunk exists.
    """
    out = Path(out_dir)
    by_rung: dict[str, dict[int, tuple[str, tuple[Segment, ...]]]] = {}
    for output in chunks:
        for r in output.rungs:
            by_rung.setdefault(r.name, {})[output.chunk] = (r.codecs, r.segments)

    target = _target(plan)
    variants = []
    for rung in plan.rungs:
        done = by_rung.get(rung.name, {})
        segments: list[Segment] = []
        codecs = ""
        count = 0
        while count in done:  # only the contiguous prefix is playable
            codecs = codecs or done[count][0]
            segments += done[count][1]
            count += 1
        if not segments:
            continue
        complete = count == len(plan.chunks)
        target = max(target, _target_for(segments))
        variants.append(Variant(rung, codecs, tuple(segments), complete))

    video_complete = bool(variants) and all(v.complete for v in variants)
    audio_segments: tuple[Segment, ...] = audio.segments if audio else ()
    if audio_segments:
        target = max(target, _target_for(audio_segments))
    audio_complete = plan.audio is None or (audio is not None and audio.complete)
    complete = (video_complete or not plan.rungs) and audio_complete
    if variants and not complete and audio_segments:
        # Keep audio no longer than the video a player can fetch yet.
        listed = max(len(v.segments) for v in variants)
        audio_segments = audio_segments[:listed]
    # Audio that came first must not give a video source an audio-only master, nor video
    # that came first a master without the audio group. (A track that ended with no
    # segment at all is simply left out.)
    playable = (bool(variants) or not plan.rungs) and (bool(audio_segments) or audio_complete)

    master = master_playlist(
        plan=plan,
        variants=variants,
        audio=audio_segments or None,
        audio_codecs=audio.codecs if audio else "mp4a.40.2",
        audio_channels=audio.channels if audio else 2,
        audio_bitrate=audio.bitrate if audio else 128_000,
    )
    if playable:
        for v in variants:
            _write(
                out / v.rung.name / "index.m3u8",
                media_playlist(v.segments, complete=complete, target=target),
            )
        if audio_segments:
            _write(
                out / "audio" / "index.m3u8",
                media_playlist(audio_segments, complete=complete, target=target),
            )
        _write(out / "master.m3u8", master)  # last: it names only what exists
    return Package(
        playable=playable,
        complete=complete,
        variants=tuple(variants),
        audio_segments=audio_segments,
        master=master,
    )


def _target(plan: TranscodePlan) -> int:
    # Fixed from the plan so it never changes while an EVENT playlist grows.
    return math.ceil(plan.segment_seconds)


def _target_for(segments: Sequence[Segment]) -> int:
    # The spec compares the target with each EXTINF rounded to the nearest integer.
    return max((math.floor(s.duration + 0.5) for s in segments), default=1)


def _peak(segments: Sequence[Segment]) -> int:
    # A very short last segment inflates bytes/second without meaning anything for a player.
    rates = [s.size * 8 / s.duration for s in segments if s.duration >= 0.5]
    rates = rates or [s.size * 8 / max(s.duration, 1e-3) for s in segments]
    return int(max(rates, default=0))


def _average(segments: Sequence[Segment]) -> int:
    seconds = sum(s.duration for s in segments)
    return int(sum(s.size for s in segments) * 8 / seconds) if seconds > 0 else 0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_text(text)
        tmp.replace(path)  # a player polling the playlist sees old or new, never half
    finally:
        tmp.unlink(missing_ok=True)
