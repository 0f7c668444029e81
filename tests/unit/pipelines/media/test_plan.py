from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import pytest

from pipelines.media import TranscodePlan, plan_transcode
from tests.support.media import media_info as _info


def test_ladder_stops_at_the_source_and_the_tier_cap() -> None:
    names = [r.name for r in plan_transcode(_info()).rungs]
    assert names == ["240p", "360p", "480p", "720p", "1080p"]
    capped = plan_transcode(_info(), max_height=720)
    assert [(r.width, r.height) for r in capped.rungs] == [
        (426, 240),
        (640, 360),
        (854, 480),
        (1280, 720),
    ]


@pytest.mark.parametrize(("width", "height"), [(641, 361), (1440, 1080), (1080, 1920), (250, 141)])
def test_rungs_are_even_and_never_upscaled(width: int, height: int) -> None:
    for rung in plan_transcode(_info(width, height)).rungs:
        assert rung.width % 2 == 0 and rung.height % 2 == 0
        assert rung.width <= width and rung.height <= height
        assert abs(rung.width / rung.height - width / height) < 0.02


def test_rotation_makes_portrait_rungs() -> None:
    plan = plan_transcode(_info(1920, 1080, rotation=90))
    assert plan.rotation == 90
    assert all(r.height > r.width for r in plan.rungs)
    assert plan.rungs[-1].name == "1080p" and (plan.rungs[-1].width, plan.rungs[-1].height) == (
        1080,
        1920,
    )


def test_bitrates_follow_the_apple_table_and_cap_the_peak() -> None:
    rungs = {r.name: r for r in plan_transcode(_info()).rungs}
    assert rungs["720p"].bitrate == 3_000_000 and rungs["1080p"].bitrate == 6_000_000
    assert all(r.maxrate <= 2 * r.bitrate and r.bufsize > 0 for r in rungs.values())
    assert (rungs["360p"].level, rungs["720p"].level, rungs["1080p"].level) == ("3.0", "3.1", "4.0")
    fast = {r.name: r for r in plan_transcode(_info(fps=Fraction(60))).rungs}
    assert fast["1080p"].bitrate > rungs["1080p"].bitrate and fast["1080p"].level == "4.2"


def test_chunks_are_whole_segments_covering_the_duration() -> None:
    plan = plan_transcode(_info(duration=95.0), segments_per_chunk=4)
    assert plan.chunks[0].segment_count == 1  # the quick first chunk
    assert all(c.segment_count == 4 for c in plan.chunks[1:-1])
    for a, b in zip(plan.chunks, plan.chunks[1:], strict=False):
        assert a.end == b.start and a.end_frame == b.start_frame
        assert b.first_segment == a.first_segment + a.segment_count
    assert plan.chunks[0].start == 0 and plan.chunks[-1].end == pytest.approx(95.0)
    assert plan.chunks[-1].last and not any(c.last for c in plan.chunks[:-1])
    assert sum(c.segment_count for c in plan.chunks) == plan.segment_count == 16


def test_the_last_chunks_are_single_segments_so_workers_finish_together() -> None:
    plan = plan_transcode(_info(duration=95.0), segments_per_chunk=4, tail_chunks=3)
    assert [c.segment_count for c in plan.chunks] == [1, 4, 4, 4, 1, 1, 1]
    assert sum(c.segment_count for c in plan.chunks) == plan.segment_count
    few = plan_transcode(_info(duration=10.0), segments_per_chunk=4, tail_chunks=3)
    assert [c.segment_count for c in few.chunks] == [1, 1]


def test_the_last_gops_are_segments_of_their_own_so_no_worker_idles_at_the_end() -> None:
    plan = plan_transcode(_info(duration=30.0), segments_per_chunk=1, tail_gops=4, tail_chunks=4)
    assert plan.segment_times == pytest.approx((0, 6, 12, 18, 22, 24, 26, 28, 30))
    assert [c.end - c.start for c in plan.chunks][-4:] == pytest.approx([2, 2, 2, 2])
    assert all(plan.keyframe(f) for f in plan.segment_frames[:-1])


@pytest.mark.parametrize("fps", [Fraction(30), Fraction(30000, 1001)])
def test_fast_start_cuts_only_the_first_segment_short(fps: Fraction) -> None:
    plan = plan_transcode(_info(duration=20.0, fps=fps), first_segment_seconds=2)
    # 2 s, then 4 s to rejoin the 6 s grid: segments after the first are where they were.
    assert plan.segment_times[:4] == pytest.approx((0.0, 2.0, 6.0, 12.0), abs=0.02)
    assert plan.chunks[0].end == pytest.approx(2.0, abs=0.02)  # 2 s to decode, not 6
    assert all(plan.keyframe(f) for f in plan.segment_frames[:-1])
    durations = [b - a for a, b in zip(plan.segment_times, plan.segment_times[1:], strict=False)]
    assert max(durations) <= plan.segment_seconds + 0.01
    # Never longer than the segments themselves; a source shorter than it keeps one
    # segment. Shorter than a GOP, it ends on a keyframe of its own.
    sub_gop = plan_transcode(_info(duration=20.0), first_segment_seconds=1)
    assert sub_gop.segment_times[:3] == pytest.approx((0.0, 1.0, 6.0))
    assert sub_gop.keyframe(30) and not sub_gop.keyframe(45) and sub_gop.keyframe(60)
    assert plan_transcode(_info(duration=20.0), first_segment_seconds=8).segment_times[1] == 6.0
    assert plan_transcode(_info(duration=1.5), first_segment_seconds=2).segment_count == 1


def test_keyframes_fall_on_every_segment_start_even_at_ntsc_rates() -> None:
    plan = plan_transcode(_info(fps=Fraction(30000, 1001)), segment_seconds=6, gop_seconds=2)
    assert all(plan.keyframe(f) for f in plan.segment_frames[:-1])
    gaps = [b - a for a, b in zip(plan.segment_frames, plan.segment_frames[1:-1], strict=False)]
    assert set(gaps) <= {179, 180}  # 6 s at 29.97 fps, never drifting


def test_vfr_and_high_rates_become_a_constant_rate_of_at_most_60() -> None:
    assert plan_transcode(_info(fps=Fraction(120))).fps == 60
    assert plan_transcode(_info(fps=Fraction(2897, 100), vfr=True)).fps == Fraction(30000, 1001)


def test_audio_is_downmixed_to_stereo_aac() -> None:
    plan = plan_transcode(_info())
    assert plan.audio is not None
    assert (plan.audio.channels, plan.audio.sample_rate, plan.audio.bitrate) == (2, 44100, 128000)
    assert plan_transcode(_info(audio=False)).audio is None


def test_plan_survives_json() -> None:
    plan = plan_transcode(_info(fps=Fraction(24000, 1001), rotation=270))
    assert TranscodePlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def test_a_source_between_standard_sizes_keeps_its_own_size() -> None:
    rungs = plan_transcode(_info(640, 272)).rungs
    assert [(r.name, r.width, r.height) for r in rungs] == [
        ("240p", 564, 240),
        ("272p", 640, 272),
    ]
    # Its bitrate sits between the standard rungs around it, paid per pixel.
    assert rungs[0].bitrate < rungs[1].bitrate < 730_000
    cinema = plan_transcode(_info(1920, 800)).rungs
    assert [r.name for r in cinema] == ["240p", "360p", "480p", "720p", "800p"]
    assert (cinema[-1].width, cinema[-1].height) == (1920, 800)
    assert cinema[-2].bitrate < cinema[-1].bitrate


@pytest.mark.parametrize(
    ("width", "height", "names"),
    [
        (1920, 1080, ["240p", "360p", "480p", "720p", "1080p"]),
        (641, 361, ["240p", "360p"]),  # the even size is a standard one
        (672, 376, ["240p", "376p"]),  # a few percent over 360p replaces it
        (176, 144, ["144p"]),  # smaller than every rung: one at its own size
        (98, 64, ["64p"]),
        (4096, 2160, ["240p", "360p", "480p", "720p", "1080p", "1440p", "2160p"]),
    ],
)
def test_standard_and_tiny_sources_keep_their_ladders(
    width: int, height: int, names: list[str]
) -> None:
    rungs = plan_transcode(_info(width, height)).rungs
    assert [r.name for r in rungs] == names
    assert rungs[-1].height <= height and rungs[-1].width <= width


def test_the_tier_cap_wins_over_the_source_size() -> None:
    assert [r.name for r in plan_transcode(_info(1920, 800), max_height=720).rungs][-1] == "720p"
    assert [r.name for r in plan_transcode(_info(1920, 800), max_height=1080).rungs][-1] == "800p"


def test_timestamps_that_do_not_start_at_zero_keep_the_whole_duration() -> None:
    # MPEG-TS and live recordings: every stream starts late; FFmpeg's duration is the span.
    info = _info(duration=10.0)
    assert info.video is not None and info.audio is not None
    late = replace(
        info,
        video=replace(info.video, start_time=1.4),
        audio=replace(info.audio, start_time=1.4),
    )
    assert plan_transcode(late).duration == pytest.approx(10.0, abs=0.05)
    # Audio first: the timeline starts at the first picture, 0.2 s into the span.
    early_audio = replace(late, audio=replace(info.audio, start_time=1.2))
    assert plan_transcode(early_audio).duration == pytest.approx(9.8, abs=0.05)
