"""End-to-end ladders, validated by the real ffprobe / ffmpeg rather than by our own code."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.media import Chunk, ChunkOutput, available_encoders, encode_chunk
from pipelines.media.cputime import process_cpu
from tests.support.media import ffprobe_json, packets

TS_CLOCK = 90_000


@pytest.fixture(scope="module")
def main(media: Callable[..., Path], ladder: Callable[..., object]) -> object:
    # 5 s at 720p, 2 s segments of two 1 s GOPs, one segment per chunk: three chunks, so
    # two chunk boundaries to check, and rungs 360p/480p/720p.
    return ladder(media("main", width=1280, height=720, seconds=5))


def _segments(out: Path, rung: str) -> list[Path]:
    return sorted((out / rung).glob("seg_*.ts"))


def test_ffmpeg_decodes_the_whole_master_without_errors(main: object, ffmpeg: str) -> None:
    done = subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-i",
            str(main.out / "master.m3u8"),
            "-map",
            "0",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == ""


def test_rungs_have_ladder_sizes_never_upscaled_and_even(main: object, ffprobe: str) -> None:
    sizes = {}
    master = (main.out / "master.m3u8").read_text()
    for rung in main.plan.rungs:
        stream = ffprobe_json(
            ffprobe,
            "-select_streams",
            "v",
            "-show_entries",
            "stream=width,height,pix_fmt,profile,level",
            str(main.out / rung.name / "index.m3u8"),
        )["streams"][0]
        sizes[rung.name] = (stream["width"], stream["height"])
        assert stream["pix_fmt"] == "yuv420p"
        # CODECS in the master must describe the stream the encoder really wrote
        # (ultrafast, used here for speed, gives Constrained Baseline rather than High).
        profile = {"High": "64", "Main": "4d", "Constrained Baseline": "42"}[stream["profile"]]
        assert f"avc1.{profile}" in master and f"{stream['level']:02x}" in master
    assert sizes == {
        "240p": (426, 240),
        "360p": (640, 360),
        "480p": (854, 480),
        "720p": (1280, 720),
    }


def test_every_segment_starts_with_a_keyframe_and_respects_the_target(
    main: object, ffprobe: str
) -> None:
    text = (main.out / "720p" / "index.m3u8").read_text()
    target = int(text.split("#EXT-X-TARGETDURATION:")[1].split()[0])
    for rung in main.plan.rungs:
        segs = _segments(main.out, rung.name)
        assert len(segs) == main.plan.segment_count == 3
        for seg in segs:
            pkts = packets(ffprobe, seg, "v")
            assert pkts[0]["flags"].startswith("K"), f"{seg} does not start on a keyframe"
            span = (
                max(int(p["pts"]) for p in pkts)
                - min(int(p["pts"]) for p in pkts)
                + int(pkts[0]["duration"])
            ) / TS_CLOCK
            assert span <= target + 0.5


def test_chunk_boundaries_have_no_gap_or_overlap(main: object, ffprobe: str) -> None:
    for rung in main.plan.rungs:
        pts = sorted(
            int(p["pts"])
            for seg in _segments(main.out, rung.name)
            for p in packets(ffprobe, seg, "v")
        )
        step = TS_CLOCK // 30
        assert pts == list(range(pts[0], pts[0] + step * len(pts), step))
        assert len(pts) == 150  # 5 s at 30 fps, every frame exactly once


def test_audio_and_video_durations_agree(main: object, ffprobe: str) -> None:
    def span(files: list[Path], stream: str) -> float:
        pkts = [p for f in files for p in packets(ffprobe, f, stream)]
        first = min(int(p["pts"]) for p in pkts)
        end = max(int(p["pts"]) + int(p["duration"]) for p in pkts)
        return (end - first) / TS_CLOCK

    video = span(_segments(main.out, "360p"), "v")
    audio = span(_segments(main.out, "audio"), "a")
    assert video == pytest.approx(5.0, abs=0.01)
    assert audio == pytest.approx(video, abs=0.1)


def _ts_tables_and_pes(segment: Path) -> tuple[int, int]:
    """(PAT packets, PES packets started) in an MPEG-TS file, read packet by packet."""
    data = segment.read_bytes()
    pats = pes = 0
    for i in range(0, len(data), 188):
        pid = ((data[i + 1] & 0x1F) << 8) | data[i + 2]
        pats += pid == 0
        pes += pid not in (0, 17, 4096) and bool(data[i + 1] & 0x40)  # payload unit start
    return pats, pes


def test_segments_spend_few_bytes_on_the_container(main: object) -> None:
    # FFmpeg's muxer defaults repeat PAT/PMT every 0.1 s and put every AAC frame in a PES
    # of its own: a tenth of a 240p rung's bytes and a fifth of the audio's went to that.
    for rung in [*(r.name for r in main.plan.rungs), "audio"]:
        for seg in _segments(main.out, rung):
            pats, pes = _ts_tables_and_pes(seg)
            assert pats <= 2, f"{seg}: PAT/PMT {pats} times in a 2 s segment"
            if rung == "audio":  # 2 s of 48 kHz AAC is ~94 frames: not one PES each
                assert pes <= 20, f"{seg}: {pes} audio PES packets"


def test_rotated_phone_video_gives_portrait_rungs(
    media: Callable[..., Path], ladder: Callable[..., object], ffprobe: str
) -> None:
    result = ladder(media("rotated", rotation=90, audio=False))
    stream = ffprobe_json(
        ffprobe, "-show_entries", "stream=width,height", str(result.out / "360p" / "index.m3u8")
    )["streams"][0]
    assert (stream["width"], stream["height"]) == (360, 640)
    assert "RESOLUTION=360x640" in (result.out / "master.m3u8").read_text()


def test_variable_frame_rate_source_gives_constant_rate_output(
    media: Callable[..., Path], ladder: Callable[..., object], ffprobe: str
) -> None:
    result = ladder(media("vfr", vfr=True))
    pts = sorted(
        int(p["pts"]) for seg in _segments(result.out, "360p") for p in packets(ffprobe, seg, "v")
    )
    steps = {b - a for a, b in itertools.pairwise(pts)}
    assert len(steps) == 1, f"output frame spacing varies: {sorted(steps)}"


def test_ten_bit_and_odd_sized_444_sources_give_8bit_420_even_rungs(
    media: Callable[..., Path], ladder: Callable[..., object], ffprobe: str
) -> None:
    for source in (
        media("tenbit", pix_fmt="yuv420p10le", audio=False, seconds=2),
        media("odd", width=641, height=361, pix_fmt="yuv444p", audio=False, seconds=2),
    ):
        result = ladder(source)
        stream = ffprobe_json(
            ffprobe,
            "-show_entries",
            "stream=width,height,pix_fmt",
            str(result.out / "360p" / "index.m3u8"),
        )["streams"][0]
        assert stream["pix_fmt"] == "yuv420p"
        assert (stream["width"], stream["height"]) == (640, 360)


def test_audio_only_source_gives_audio_only_hls(
    media: Callable[..., Path], ladder: Callable[..., object], ffmpeg: str, ffprobe: str
) -> None:
    result = ladder(media("song", video=False, suffix=".m4a"))
    master = (result.out / "master.m3u8").read_text()
    assert "RESOLUTION" not in master and 'CODECS="mp4a.40.2"' in master
    streams = ffprobe_json(
        ffprobe, "-show_entries", "stream=codec_type", str(result.out / "master.m3u8")
    )["streams"]
    assert {s["codec_type"] for s in streams} == {"audio"}
    done = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(result.out / "master.m3u8"), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == ""


def test_a_chunk_can_encode_only_the_lowest_rung(main: object, tmp_path: Path) -> None:
    first: Chunk = main.plan.chunks[0]
    out = encode_chunk(
        source=main.source,
        plan=main.plan,
        chunk=first,
        out_dir=tmp_path,
        rungs=("360p",),
        threads=1,
    )
    assert [r.name for r in out.rungs] == ["360p"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["360p", "seg_00000.ts"]
    assert ChunkOutput.from_dict(out.to_dict()) == out


@pytest.mark.parametrize("threads", [1, 2])
def test_stage_times_account_for_the_chunks_cpu(main: object, tmp_path: Path, threads: int) -> None:
    # The bench's per-stage table: decoding is a real share, and the stages add up to
    # about what the process spent, also when the codecs run threads of their own (the
    # first task does), whose work would otherwise vanish from the stages.
    started = process_cpu()
    out = encode_chunk(
        source=main.source,
        plan=main.plan,
        chunk=main.plan.chunks[1],
        out_dir=tmp_path,
        threads=threads,
    )
    spent = process_cpu() - started
    assert out.cpu["decode"] > 0.02 * spent
    assert {"x264 360p", "x264 480p", "x264 720p", "scale"} <= set(out.cpu)
    assert 0.8 * spent <= sum(out.cpu.values()) <= 1.05 * spent


def test_encoder_detection_reports_a_reason() -> None:
    found = available_encoders()
    assert found["libx264"].available
    assert found["h264_nvenc"].available or found["h264_nvenc"].reason
