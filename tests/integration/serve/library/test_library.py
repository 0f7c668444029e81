"""The video library's rules on real databases: SQLite and PostgreSQL (see conftest)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from cluster.config import Settings
from cluster.db.models import (
    Comment,
    Like,
    Upload,
    UploadStatus,
    VideoStatus,
    Visibility,
)
from cluster.errors import Forbidden, InvalidInput
from cluster.storage import LocalStore
from serve.library.chapters import Chapter
from serve.library.comments import Comments
from serve.library.errors import NotFound
from serve.library.videos import Library
from serve.library.views import VideoChanges, VideoFilter
from tests.support.library import OTHER, OWNER, PRO, add_video, topics
from tests.support.media import Spec, make_media


def test_private_videos_read_as_absent_to_everyone_but_their_owner(
    library: Library, comments: Comments
) -> None:
    private = add_video(library, owner=PRO, visibility=Visibility.PRIVATE)
    assert library.video(video_id=private, viewer_id=PRO) is not None
    assert library.video(video_id=private, viewer_id=OTHER) is None
    assert library.video(video_id=private, viewer_id=None) is None
    with pytest.raises(NotFound):
        library.like(video_id=private, user_id=OTHER)
    with pytest.raises(NotFound):
        comments.add_comment(video_id=private, author_id=OTHER, body="hello?")
    with pytest.raises(NotFound):
        comments.page(video_id=private, viewer_id=None)


def test_unlisted_plays_by_id_but_is_never_listed(library: Library) -> None:
    unlisted = add_video(library, visibility=Visibility.UNLISTED)
    public = add_video(library)
    add_video(library, status=VideoStatus.PROCESSING)
    add_video(library, owner=PRO, visibility=Visibility.PRIVATE)
    assert library.video(video_id=unlisted, viewer_id=None) is not None
    listed = library.list_videos(viewer_id=OTHER).items
    assert [v.id for v in listed] == [public]
    # The creator's own listing holds everything of theirs, whatever its state.
    own = library.list_videos(viewer_id=OWNER, filter=VideoFilter(creator_id=OWNER)).items
    assert len(own) == 3
    # Someone else asking for that creator sees what strangers see.
    theirs = library.list_videos(viewer_id=OTHER, filter=VideoFilter(creator_id=OWNER)).items
    assert [v.id for v in theirs] == [public]


def test_pages_cover_the_library_once_in_order(library: Library) -> None:
    ids = [add_video(library, age_s=100 - i) for i in range(25)]  # the last is the newest
    seen: list[str] = []
    after = None
    while True:
        page = library.list_videos(viewer_id=None, first=10, after=after)
        seen += [v.id for v in page.items]
        if not page.has_next:
            break
        after = page.cursors[-1]
    assert seen == list(reversed(ids))
    with pytest.raises(InvalidInput) as refused:
        library.list_videos(viewer_id=None, after="not-a-cursor")
    assert refused.value.field == "after"
    with pytest.raises(InvalidInput):
        library.list_videos(viewer_id=None, first=1000)


def test_popular_sorts_by_likes_and_filters_by_tag_and_category(library: Library) -> None:
    quiet = add_video(library, title="quiet")
    loved = add_video(library, title="loved")
    library.update_video(
        video_id=loved, actor_id=OWNER, changes=VideoChanges(tags=("Cats", "#Kittens"))
    )
    library.update_video(video_id=quiet, actor_id=OWNER, changes=VideoChanges(category="Music"))
    for user in (OTHER, PRO):
        library.like(video_id=loved, user_id=user)
    popular = library.list_videos(viewer_id=None, filter=VideoFilter(sort="popular")).items
    assert [v.id for v in popular] == [loved, quiet]
    tagged = library.list_videos(viewer_id=None, filter=VideoFilter(tag="kittens")).items
    assert [v.id for v in tagged] == [loved]
    assert tagged[0].tags == ("cats", "kittens")
    music = library.list_videos(viewer_id=None, filter=VideoFilter(category="music")).items
    assert [v.id for v in music] == [quiet]


def test_only_the_owner_edits_and_private_needs_a_tier_that_has_it(library: Library) -> None:
    video = add_video(library)
    with pytest.raises(Forbidden):
        library.update_video(video_id=video, actor_id=OTHER, changes=VideoChanges(title="mine"))
    with pytest.raises(InvalidInput) as refused:
        library.update_video(
            video_id=video, actor_id=OWNER, changes=VideoChanges(visibility=Visibility.PRIVATE)
        )
    assert refused.value.field == "visibility"
    pro_video = add_video(library, owner=PRO)
    view = library.update_video(
        video_id=pro_video, actor_id=PRO, changes=VideoChanges(visibility=Visibility.PRIVATE)
    )
    assert view.visibility == Visibility.PRIVATE
    with pytest.raises(InvalidInput):
        library.update_video(video_id=video, actor_id=OWNER, changes=VideoChanges(title="  "))
    assert topics(library, pro_video) == ["video.updated"]


def test_chapters_from_the_description_unless_set_by_hand(library: Library) -> None:
    video = add_video(library, duration=600.0)
    described = library.update_video(
        video_id=video,
        actor_id=OWNER,
        changes=VideoChanges(description="My talk.\n0:00 Intro\n2:30 Demo\n8:05 Questions"),
    )
    assert [(c.start_s, c.title) for c in described.chapters] == [
        (0.0, "Intro"),
        (150.0, "Demo"),
        (485.0, "Questions"),
    ]
    by_hand = library.set_chapters(
        video_id=video,
        actor_id=OWNER,
        chapters=[Chapter(0, "Start"), Chapter(60, "Middle")],
    )
    assert [c.title for c in by_hand.chapters] == ["Start", "Middle"]
    edited = library.update_video(
        video_id=video, actor_id=OWNER, changes=VideoChanges(description="0:00 A\n1:00 B")
    )
    assert [c.title for c in edited.chapters] == ["Start", "Middle"]
    for bad in (
        [Chapter(5, "Late start"), Chapter(60, "Next")],
        [Chapter(0, "A"), Chapter(0, "Same time")],
        [Chapter(0, "A"), Chapter(700, "After the end")],
        [Chapter(0, "Alone")],
    ):
        with pytest.raises(InvalidInput):
            library.set_chapters(video_id=video, actor_id=OWNER, chapters=bad)
    cleared = library.set_chapters(video_id=video, actor_id=OWNER, chapters=[])
    assert cleared.chapters == ()


def test_likes_count_once_per_person(library: Library) -> None:
    video = add_video(library)
    assert library.like(video_id=video, user_id=OTHER).like_count == 1
    assert library.like(video_id=video, user_id=OTHER).like_count == 1
    assert library.liked([video], viewer_id=OTHER) == [True]
    assert library.unlike(video_id=video, user_id=OTHER).like_count == 0
    assert library.unlike(video_id=video, user_id=OTHER).like_count == 0
    assert library.liked([video], viewer_id=OTHER) == [False]
    assert topics(library, video) == ["video.liked", "video.unliked"]


def test_thumbnail_from_a_frame_or_an_uploaded_image(
    library: Library, settings: Settings, tmp_path: Path
) -> None:
    source = make_media(tmp_path / "clip.mp4", Spec(width=320, height=180, seconds=3, audio=False))
    store = LocalStore(settings.objects_dir)
    store.put_file("raw/clip", source)
    video = add_video(library, duration=3.0, source_key="raw/clip")

    library.set_thumbnail(video_id=video, actor_id=OWNER, at_s=1.5)
    framed = library.poster_key(video)
    assert framed and framed.startswith(f"img/{video}/poster-")
    assert Image.open(io.BytesIO(store.get_bytes(framed))).size == (320, 180)

    picture = io.BytesIO()
    Image.new("RGB", (4000, 3000), "orange").save(picture, "PNG")
    library.set_thumbnail(video_id=video, actor_id=OWNER, image=picture.getvalue())
    uploaded = library.poster_key(video)
    assert uploaded != framed and not store.exists(framed)  # the old pick is cleaned up
    image = Image.open(io.BytesIO(store.get_bytes(uploaded)))  # type: ignore[arg-type]
    assert image.format == "JPEG" and image.size == (1440, 1080)

    with pytest.raises(InvalidInput):
        library.set_thumbnail(video_id=video, actor_id=OWNER, image=b"<svg>not a picture</svg>")
    with pytest.raises(InvalidInput):
        library.set_thumbnail(video_id=video, actor_id=OWNER, at_s=10.0)
    with pytest.raises(Forbidden):
        library.set_thumbnail(video_id=video, actor_id=OTHER, at_s=1.0)


def test_deleting_a_video_removes_its_rows_and_objects(
    library: Library, comments: Comments, settings: Settings
) -> None:
    store = LocalStore(settings.objects_dir)
    video = add_video(library, source_key="raw/up1")
    with library.sessions.begin() as session:
        session.add(
            Upload(
                id="up1",
                owner_id=OWNER,
                video_id=video,
                length=3,
                offset=3,
                status=UploadStatus.COMPLETE,
                storage_key="raw/up1",
            )
        )
    for key in ("raw/up1", f"hls/{video}/master.m3u8", f"hls/{video}/360p/seg_00000.ts"):
        store.put_bytes(key, b"abc")
    store.put_bytes(f"img/{video}/poster.jpg", b"jpeg")
    comments.add_comment(video_id=video, author_id=OTHER, body="bye")
    library.like(video_id=video, user_id=OTHER)
    with pytest.raises(Forbidden):
        library.delete_video(video_id=video, actor_id=OTHER)

    library.delete_video(video_id=video, actor_id=OWNER)
    assert library.video(video_id=video, viewer_id=OWNER) is None
    assert list(store.list(f"hls/{video}/")) == [] and list(store.list(f"img/{video}/")) == []
    assert not store.exists("raw/up1")
    with library.sessions() as session:
        assert session.scalars(select(Comment).where(Comment.video_id == video)).all() == []
        assert session.scalars(select(Like).where(Like.video_id == video)).all() == []
    assert topics(library, video)[-1] == "video.deleted"
    with pytest.raises(NotFound):
        library.delete_video(video_id=video, actor_id=OWNER)
