"""The audio track as a stream of HLS segments, each complete on disk when it is handed out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipelines.media import audio_segments, encode_audio, plan_transcode, probe
from tests.support.media import ffprobe_json


def test_each_segment_is_finished_before_the_next_one_is(
    tmp_path: Path, media: Callable[..., Path], ffprobe: str
) -> None:
    source = media("song", video=False, suffix=".m4a")  # 3 s, cut into 1 s segments
    plan = plan_transcode(probe(source), segment_seconds=1.0, gop_seconds=1.0)
    assert plan.segment_count == 3
    stream = audio_segments(source=source, plan=plan, out_dir=tmp_path / "streamed")
    folder = tmp_path / "streamed" / "audio"

    first = next(stream)
    # Handed out while the track is still being encoded: the later segments do not exist
    # yet, and the one handed out is a whole segment a player could fetch now.
    assert sorted(p.name for p in folder.glob("seg_*.ts")) == ["seg_00000.ts"]
    assert (first.index, first.path) == (0, "audio/seg_00000.ts")
    assert (folder / "seg_00000.ts").stat().st_size == first.size
    probed = ffprobe_json(
        ffprobe, "-show_entries", "stream=codec_name", str(folder / "seg_00000.ts")
    )
    assert [s["codec_name"] for s in probed["streams"]] == ["aac"]

    rest = list(stream)
    assert [s.index for s in [first, *rest]] == [0, 1, 2]
    assert not list(folder.glob(".*.part")), "no half-written segment is left behind"
    # The same segments as encoding the track in one go.
    whole = encode_audio(source=source, plan=plan, out_dir=tmp_path / "whole")
    assert [(s.path, s.size) for s in whole.segments] == [(s.path, s.size) for s in [first, *rest]]
    assert sum(s.duration for s in whole.segments) == sum(s.duration for s in [first, *rest])


def test_a_stream_closed_early_leaves_no_partial_segment(
    tmp_path: Path, media: Callable[..., Path]
) -> None:
    source = media("song", video=False, suffix=".m4a")
    plan = plan_transcode(probe(source), segment_seconds=1.0, gop_seconds=1.0)
    stream = audio_segments(source=source, plan=plan, out_dir=tmp_path)
    next(stream)
    stream.close()  # the consumer stops early (GeneratorExit at the yield)
    assert sorted(p.name for p in (tmp_path / "audio").iterdir()) == ["seg_00000.ts"]
