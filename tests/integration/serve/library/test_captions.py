"""Captions on real databases and a local store: checked, stored as WebVTT, named in the
HLS master, kept as cues for search, with their events."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cluster.db.models import Caption
from cluster.errors import Forbidden, InvalidInput
from serve.library.captions import Captions
from serve.library.errors import NotFound
from serve.library.videos import Library
from tests.support.library import OTHER, OWNER, add_video, topics

MASTER = (
    "#EXTM3U\n#EXT-X-VERSION:6\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/index.m3u8\n"
)
SRT = (
    b"1\n00:00:01,000 --> 00:00:03,000\nHello <b>world</b>\n\n"
    b"2\n00:00:04,000 --> 00:00:05,500\nbye\n"
)


@pytest.fixture
def captions(library: Library) -> Captions:
    return Captions(sessions=library.sessions, store=library.store)


def test_added_captions_are_stored_named_in_the_master_and_kept_as_cues(
    library: Library, captions: Captions
) -> None:
    video = add_video(library, duration=10.0)
    library.store.put_bytes(f"hls/{video}/master.m3u8", MASTER.encode())

    track = captions.add(video_id=video, actor_id=OWNER, language="en", data=SRT, label="English")
    assert (track.language, track.label, track.cue_count, track.source) == (
        "en",
        "English",
        2,
        "upload",
    )
    vtt = library.store.get_bytes(track.vtt_key).decode()
    assert vtt.startswith("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello <b>world</b>")
    playlist = library.store.get_bytes(f"hls/{video}/subs/en.m3u8").decode()
    assert track.vtt_key.rsplit("/", 1)[1] in playlist
    master = library.store.get_bytes(f"hls/{video}/master.m3u8").decode()
    assert 'TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en"' in master
    assert 'SUBTITLES="subs"' in master
    with library.sessions() as session:
        row = session.scalars(select(Caption).where(Caption.video_id == video)).one()
        assert row.cues == [[1.0, 3.0, "Hello world"], [4.0, 5.5, "bye"]]
    assert topics(library, video)[-1] == "captions.added"
    assert [t.language for t in captions.of_video(video_id=video, viewer_id=None)] == ["en"]

    # Replaced: a new file name (caches never serve the old one), the old one gone.
    again = captions.add(video_id=video, actor_id=OWNER, language="en", data=SRT + b"\n")
    assert again.vtt_key == track.vtt_key  # same cues, same content, same name
    other = captions.add(
        video_id=video,
        actor_id=OWNER,
        language="en",
        data=b"WEBVTT\n\n00:01.000 --> 00:02.000\nnew words\n",
    )
    assert other.vtt_key != track.vtt_key
    assert not library.store.exists(track.vtt_key)

    captions.remove(video_id=video, actor_id=OWNER, language="en")
    master = library.store.get_bytes(f"hls/{video}/master.m3u8").decode()
    assert master == MASTER
    assert not library.store.exists(other.vtt_key)
    assert topics(library, video)[-1] == "captions.removed"
    assert captions.of_video(video_id=video, viewer_id=OWNER) == []


def test_only_the_owner_changes_captions(library: Library, captions: Captions) -> None:
    video = add_video(library, duration=10.0)
    with pytest.raises(Forbidden):
        captions.add(video_id=video, actor_id=OTHER, language="en", data=SRT)
    with pytest.raises(NotFound):
        captions.remove(video_id=video, actor_id=OWNER, language="fr")


@pytest.mark.parametrize(
    ("language", "data", "message"),
    [
        ("en", b"WEBVTT\n\n00:01.000 --> 00:02.000\n<script>x</script>\n", "WebVTT's tags"),
        ("en", b"WEBVTT\n\n00:00:30.000 --> 00:00:31.000\nlate\n", "after the video"),
        ("english", SRT, "language tag"),
    ],
)
def test_bad_captions_are_refused_with_the_reason(
    library: Library, captions: Captions, language: str, data: bytes, message: str
) -> None:
    video = add_video(library, duration=10.0)
    with pytest.raises(InvalidInput, match=message) as raised:
        captions.add(video_id=video, actor_id=OWNER, language=language, data=data)
    assert raised.value.field == "file"
