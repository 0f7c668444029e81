"""Growing (EVENT) and final (VOD) playlists, as a player polling them would see them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pipelines.media import encode_audio, encode_chunk, package, plan_transcode, probe


def test_first_chunk_alone_is_a_playable_growing_playlist_then_final_vod(
    tmp_path: Path, media: Callable[..., Path], ffmpeg: str
) -> None:
    source = media("main", width=1280, height=720, seconds=5)
    plan = plan_transcode(
        probe(source), segment_seconds=2.0, gop_seconds=1.0, segments_per_chunk=2, max_height=480
    )
    assert [c.segment_count for c in plan.chunks] == [1, 2]
    # The task graph publishes the lowest rung of chunk 0 first.
    first = encode_chunk(
        source=source,
        plan=plan,
        chunk=plan.chunks[0],
        out_dir=tmp_path,
        rungs=("360p",),
        threads=1,
        preset="ultrafast",
    )
    audio = encode_audio(source=source, plan=plan, out_dir=tmp_path)
    early = package(plan=plan, chunks=[first], audio=audio, out_dir=tmp_path)
    assert not early.complete
    media_text = (tmp_path / "360p" / "index.m3u8").read_text()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in media_text and "#EXT-X-ENDLIST" not in media_text
    assert media_text.count("#EXTINF") == 1
    assert "480p" not in early.master and "360p/index.m3u8" in early.master
    assert (tmp_path / "audio" / "index.m3u8").read_text().count("#EXTINF") == 1
    # Without ENDLIST a player treats the playlist as live and keeps polling, so read each
    # rendition from its start and stop after the one segment (2 s) that exists. (The
    # ffmpeg CLI waits forever on a live master with an audio group, so go rendition by
    # rendition, as a player's loaders do.)
    for rendition, limit in (("360p", "-frames:v"), ("audio", "-frames:a")):
        argv = [ffmpeg, "-v", "error", "-live_start_index", "0"]
        argv += ["-i", str(tmp_path / rendition / "index.m3u8"), limit, "30", "-f", "null", "-"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stderr == ""

    rest = [
        encode_chunk(
            source=source,
            plan=plan,
            chunk=plan.chunks[0],
            out_dir=tmp_path,
            rungs=("480p",),
            threads=1,
            preset="ultrafast",
        ),
        encode_chunk(
            source=source,
            plan=plan,
            chunk=plan.chunks[1],
            out_dir=tmp_path,
            threads=1,
            preset="ultrafast",
        ),
    ]
    final = package(plan=plan, chunks=[first, *rest], audio=audio, out_dir=tmp_path)
    assert final.complete
    for rung in ("360p", "480p", "audio"):
        text = (tmp_path / rung / "index.m3u8").read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
        assert text.count("#EXTINF") == 3
    master = (tmp_path / "master.m3u8").read_text()
    assert master.count("#EXT-X-STREAM-INF") == 2
    for line in master.splitlines():
        if line.startswith("#EXT-X-STREAM-INF"):
            attrs = dict(a.split("=", 1) for a in line.split(":", 1)[1].split(",") if "=" in a)
            assert int(attrs["BANDWIDTH"]) >= int(attrs["AVERAGE-BANDWIDTH"]) > 0
            assert attrs["AUDIO"] == '"aud"' and "FRAME-RATE" in attrs


def test_nothing_is_written_until_video_and_audio_both_have_a_segment(
    tmp_path: Path, media: Callable[..., Path]
) -> None:
    # A player reads the master once: whichever of video and audio comes first must not
    # give it a master without the other.
    source = media("main", width=1280, height=720, seconds=5)
    plan = plan_transcode(
        probe(source), segment_seconds=2.0, gop_seconds=1.0, segments_per_chunk=2, max_height=480
    )
    first = encode_chunk(
        source=source,
        plan=plan,
        chunk=plan.chunks[0],
        out_dir=tmp_path,
        rungs=("360p",),
        threads=1,
        preset="ultrafast",
    )
    audio = encode_audio(source=source, plan=plan, out_dir=tmp_path)
    first_audio = replace(audio, segments=audio.segments[:1], complete=False)
    no_audio_yet = replace(audio, segments=(), complete=False)

    for case, (chunks, sound) in enumerate([([], first_audio), ([first], no_audio_yet)]):
        out = tmp_path / f"early{case}"
        early = package(plan=plan, chunks=chunks, audio=sound, out_dir=out)
        assert not early.playable
        assert not list(out.rglob("*.m3u8"))

    ready = package(plan=plan, chunks=[first], audio=first_audio, out_dir=tmp_path / "ready")
    assert ready.playable and not ready.complete
    master = (tmp_path / "ready" / "master.m3u8").read_text()
    assert 'TYPE=AUDIO,GROUP-ID="aud"' in master and "360p/index.m3u8" in master
    audio_playlist = (tmp_path / "ready" / "audio" / "index.m3u8").read_text()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in audio_playlist
    assert audio_playlist.count("#EXTINF") == 1

    # A track that ended without a single segment is left out rather than waited for.
    silent = replace(audio, segments=(), complete=True)
    done = package(plan=plan, chunks=[first], audio=silent, out_dir=tmp_path / "silent")
    assert done.playable and "TYPE=AUDIO" not in done.master


def test_peak_bandwidth_is_measured_from_the_segments(tmp_path: Path) -> None:
    from pipelines.media import Segment
    from pipelines.media.package import _average, _peak

    segs = [Segment(0, "a/seg_00000.ts", 2.0, 250_000), Segment(1, "a/seg_00001.ts", 2.0, 500_000)]
    assert _peak(segs) == 2_000_000 and _average(segs) == 1_500_000
