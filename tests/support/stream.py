"""The published videos that the HLS delivery and watch-page tests play.

One small ladder (two rungs, audio, a poster and a storyboard) is transcoded with the
pure media library, then published under four video ids of differing visibility.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import User, Video, VideoStatus, Visibility
from cluster.storage import LocalStore, ObjectStore
from serve.platform import Platform
from serve.stream.service import Stream
from tests.support.clock import OffsetClock

SECRET = "stream-test-secret-0123456789abcdefghijkl"
OWNER, OTHER = "owner0000000001", "other0000000002"
PUBLIC, NEIGHBOUR, PRIVATE, DOOMED = "12", "123", "p1", "d1"


def make_ladder(work: Path) -> Path:
    """A two-rung HLS ladder with audio, a poster and a storyboard, as transcoding leaves
    it: `work/hls/` and `work/img/`. Returns `work`."""
    from cluster.bench.sources import make_source
    from pipelines.media import encode_audio, encode_chunk, package, plan_transcode, probe

    source = make_source(work / "src.mp4", width=640, height=360, seconds=4)
    out = work / "hls"
    plan = plan_transcode(
        probe(source), segment_seconds=2.0, gop_seconds=1.0, segments_per_chunk=1, ladder=(360, 240)
    )
    chunks = [
        encode_chunk(source=source, plan=plan, chunk=c, out_dir=out, threads=1, preset="ultrafast")
        for c in plan.chunks
    ]
    audio = encode_audio(source=source, plan=plan, out_dir=out)
    package(plan=plan, chunks=chunks, audio=audio, out_dir=out)
    img = work / "img"
    img.mkdir()
    Image.new("RGB", (640, 360), (200, 30, 30)).save(img / "poster.jpg")
    Image.new("RGB", (320, 90), (30, 200, 30)).save(img / "storyboard.jpg")
    (img / "storyboard.vtt").write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nstoryboard.jpg#xywh=0,0,160,90\n\n"
        "00:00:02.000 --> 00:00:04.000\nstoryboard.jpg#xywh=160,0,160,90\n"
    )
    return work


def make_audio_ladder(work: Path) -> Path:
    """An audio-only upload as transcoding leaves it: `work/hls/` (audio HLS, no rungs)
    and `work/img/poster.jpg` (its waveform), no storyboard. Returns `work`."""
    from pipelines.media import encode_audio, package, plan_transcode, probe, waveform
    from tests.support.media import Spec, make_media

    source = make_media(work / "song.m4a", Spec(video=False, seconds=4, suffix=".m4a"))
    info = probe(source)
    plan = plan_transcode(info, segment_seconds=2.0, gop_seconds=1.0, segments_per_chunk=1)
    out = work / "hls"
    audio = encode_audio(source=source, plan=plan, out_dir=out)
    package(plan=plan, chunks=[], audio=audio, out_dir=out)
    waveform(source, info, work / "img" / "poster.jpg")
    return work


def publish_audio_video(root: Path, ladder: Path, video_id: str) -> None:
    """Add the audio-only `ladder` to the data dir at `root` as a public, ready video."""
    settings = load_settings(data_dir=root, signing_secret=SECRET)
    engine = db.make_engine(settings.resolved_database_url)
    with db.session_factory(engine)() as session:
        session.add(
            Video(
                id=video_id,
                owner_id=OWNER,
                title=f"song {video_id}",
                visibility=Visibility.PUBLIC,
                status=VideoStatus.READY,
                poster_key=f"img/{video_id}/poster.jpg",
                storyboard_key=None,
            )
        )
        session.commit()
    engine.dispose()
    publish(LocalStore(settings.objects_dir), ladder, video_id)


def publish(store: ObjectStore, ladder: Path, video_id: str) -> None:
    for path in sorted((ladder / "hls").rglob("*")):
        if path.is_file():
            store.put_file(f"hls/{video_id}/{path.relative_to(ladder / 'hls')}", path)
    for path in sorted((ladder / "img").iterdir()):
        store.put_file(f"img/{video_id}/{path.name}", path)


def publish_videos(root: Path, ladder: Path) -> Path:
    """A data dir at `root` with the videos in its database and their files in its local
    store. Returns `root`."""
    settings = load_settings(data_dir=root, signing_secret=SECRET)
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    with db.session_factory(engine)() as session:
        session.add_all(
            [
                User(id=OWNER, email="owner@example.com", handle="owner"),
                User(id=OTHER, email="other@example.com", handle="other"),
            ]
        )
        session.flush()
        for video_id, visibility in [
            (PUBLIC, Visibility.PUBLIC),
            (NEIGHBOUR, Visibility.UNLISTED),
            (PRIVATE, Visibility.PRIVATE),
            (DOOMED, Visibility.PUBLIC),
        ]:
            session.add(
                Video(
                    id=video_id,
                    owner_id=OWNER,
                    title=f"video {video_id}",
                    visibility=visibility,
                    status=VideoStatus.READY,
                    poster_key=f"img/{video_id}/poster.jpg",
                    storyboard_key=f"img/{video_id}/storyboard.vtt",
                )
            )
        session.commit()
    engine.dispose()
    store = LocalStore(settings.objects_dir)
    for video_id in (PUBLIC, NEIGHBOUR, PRIVATE, DOOMED):
        publish(store, ladder, video_id)
    return root


def stream_settings(data_dir: Path, **overrides: object) -> Settings:
    return load_settings(data_dir=data_dir, signing_secret=SECRET, **overrides)


def make_stream(settings: Settings, store: ObjectStore, clock: OffsetClock) -> Stream:
    return Platform(settings, store=store, clock=clock).stream
