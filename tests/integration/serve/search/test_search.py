"""Search over a small catalogue indexed from the outbox, on SQLite and PostgreSQL:
typo and prefix recall, filters, sorts, facets, snippets, Unicode, visibility, limits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from actors.search_index import SearchIndex
from cluster.config import Settings
from cluster.db.models import VideoStatus, Visibility, utcnow
from cluster.errors import InvalidInput
from serve.search.service import Search, SearchFilter
from tests.support.search import Dispatch, add_user, add_video, change, clean_database, settings_for

ALICE, BOB = "alice00000000000", "bob0000000000000"


@dataclass
class Catalogue:
    settings: Settings
    sessions: sessionmaker[Session]
    actor: SearchIndex
    dispatch: Dispatch
    search: Search
    ids: dict[str, str]


@pytest.fixture(scope="module")
def catalogue(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    with clean_database(engine) as sessions:
        add_user(sessions, ALICE, "alice")
        add_user(sessions, BOB, "bob")
        now = utcnow()
        ids = {
            "guitar": add_video(
                sessions,
                owner=ALICE,
                title="Beginner guitar lessons",
                description="Chords and strumming for absolute beginners",
                tags=("music", "guitar"),
                category="music",
                duration=600,
                views=50,
                likes=5,
                published=now - timedelta(days=3),
            ),
            "photo": add_video(
                sessions,
                owner=BOB,
                title="Photography composition masterclass",
                description="The rule of thirds, leading lines and framing",
                tags=("photography", "art"),
                category="art",
                duration=1800,
                views=900,
                likes=1,
                published=now - timedelta(days=10),
            ),
            "cafe": add_video(
                sessions,
                owner=ALICE,
                title="Crème brûlée au café",
                description="Un dessert français",
                tags=("cooking", "dessert"),
                category="food",
                duration=120,
                views=10,
                likes=80,
                published=now - timedelta(days=1),
            ),
            "lecture": add_video(
                sessions,
                owner=BOB,
                title="Physics lecture seven",
                description="Recorded in the main hall",
                tags=("science",),
                category="education",
                duration=3000,
                published=now - timedelta(days=30),
                captions={
                    "en": [
                        [0.0, 2.0, "Welcome back everyone"],
                        [754.5, 760.0, "the quantum chromodynamics of strong interactions"],
                    ]
                },
            ),
            "html": add_video(
                sessions,
                owner=ALICE,
                title="<script>alert('x')</script> & <b>bold</b> tricks",
                description="<img src=x onerror=alert(1)> magic tricks",
                tags=("magic",),
                category="entertainment",
            ),
            "cjk": add_video(
                sessions,
                owner=BOB,
                title="東京 旅行 vlog 🎌",
                description="日本語 の 説明",
                tags=("travel",),
                category="travel",
            ),
            "private": add_video(
                sessions,
                owner=ALICE,
                title="Private guitar rehearsal",
                visibility=Visibility.PRIVATE,
            ),
            "unlisted": add_video(
                sessions, owner=BOB, title="Unlisted guitar demo", visibility=Visibility.UNLISTED
            ),
            "processing": add_video(
                sessions,
                owner=BOB,
                title="Guitar upload in progress",
                status=VideoStatus.PROCESSING,
            ),
        }
        settings = settings_for(engine, tmp_path_factory.mktemp("search"))
        actor = SearchIndex(settings)
        dispatch = Dispatch(sessions, actor)
        yield Catalogue(
            settings=settings,
            sessions=sessions,
            actor=actor,
            dispatch=dispatch,
            search=Search.for_settings(settings, sessions=sessions),
            ids=ids,
        )
        actor.writer.close()


def _found(catalogue: Catalogue, text: str, **kwargs: object) -> list[str]:
    names = {video_id: name for name, video_id in catalogue.ids.items()}
    page = catalogue.search.search(text, **kwargs)  # type: ignore[arg-type]
    return [names.get(hit.video_id, hit.video_id) for hit in page.hits]


# Typos by length (none under 5 characters, 1 from 5, 2 from 9), prefixes on the last
# word, stems, stop words and folded accents: each must find its video.
RECALL = [
    ("guitar", "guitar"),
    ("guitr", "guitar"),  # 5+ letters typed: one typo
    ("guiter", "guitar"),  # a substitution is one edit
    ("beginer guitar", "guitar"),
    ("photograhpy", "photo"),  # 9+ letters typed: two typos
    ("photgrapy", "photo"),
    ("composition masterclas", "photo"),
    ("masterclass", "photo"),
    ("gui", "guitar"),  # a prefix of the last word
    ("beginner gu", "guitar"),
    ("photog", "photo"),
    ("lessons", "guitar"),
    ("lesson", "guitar"),  # stemmed
    ("the guitar", "guitar"),  # stop word dropped
    ("creme brulee", "cafe"),  # accents folded
    ("crème", "cafe"),
    ("CAFE", "cafe"),
    ("dessert", "cafe"),
    ("chromodynamics", "lecture"),  # caption text
    ("quantum chromodinamics", "lecture"),
    ("strumming", "guitar"),  # description
    ("東京", "cjk"),
    ("magic", "html"),
]


@pytest.mark.parametrize(("text", "expected"), RECALL)
def test_recall_of_typos_prefixes_and_folding(
    catalogue: Catalogue, text: str, expected: str
) -> None:
    assert expected in _found(catalogue, text)


def test_short_words_allow_no_typo(catalogue: Catalogue) -> None:
    assert _found(catalogue, "arr") == []  # "art" is one edit away, but 3 letters
    assert _found(catalogue, "xyzzy plugh") == []


def test_titles_rank_above_descriptions(catalogue: Catalogue) -> None:
    # "beginner" is in the guitar title, and "beginners" in its description: one video;
    # "lecture" in the physics title only. Title beats description on "tricks".
    assert _found(catalogue, "physics")[0] == "lecture"


def test_private_unlisted_and_unready_videos_only_reach_their_owner(catalogue: Catalogue) -> None:
    assert _found(catalogue, "guitar") == ["guitar"]
    assert sorted(_found(catalogue, "guitar", viewer_id=ALICE)) == ["guitar", "private"]
    assert sorted(_found(catalogue, "guitar", viewer_id=BOB)) == [
        "guitar",
        "processing",
        "unlisted",
    ]


def test_a_stale_index_never_shows_a_private_video(catalogue: Catalogue) -> None:
    video = add_video(catalogue.sessions, owner=BOB, title="Saxophone solo")
    catalogue.dispatch()
    assert _found(catalogue, "saxophone") == [video]
    # Private in the database, the event not yet indexed: the query-time check hides it.
    with catalogue.sessions.begin() as session:
        from cluster.db.models import Video

        row = session.get(Video, video)
        assert row is not None
        row.visibility = Visibility.PRIVATE
    assert _found(catalogue, "saxophone") == []
    assert _found(catalogue, "saxophone", viewer_id=BOB) == [video]
    change(catalogue.sessions, video, "video.deleted")
    catalogue.dispatch()
    assert _found(catalogue, "saxophone", viewer_id=BOB) == []


def test_transcript_hits_link_to_the_cue(catalogue: Catalogue) -> None:
    (hit,) = catalogue.search.search("chromodynamics").hits
    assert hit.moment == 754.5
    assert hit.link == f"/watch/{catalogue.ids['lecture']}?t=754"
    assert hit.snippet_html is not None and "<mark>chromodynamics</mark>" in hit.snippet_html


def test_snippets_escape_html_and_mark_matches(catalogue: Catalogue) -> None:
    (hit,) = catalogue.search.search("tricks").hits
    assert "<script>" not in hit.title_html and "<b>" not in hit.title_html
    assert "&lt;script&gt;" in hit.title_html
    assert "&amp;" in hit.title_html
    assert "<mark>tricks</mark>" in hit.title_html
    assert hit.snippet_html is not None
    assert "<img" not in hit.snippet_html and "&gt; magic" in hit.snippet_html
    # No match in the title: it still comes back escaped.
    (hit,) = catalogue.search.search("onerror").hits
    assert hit.title_html.startswith("&lt;script&gt;")


@pytest.mark.parametrize(
    "text",
    [
        "title:guitar",
        "guitar*",
        "guitar~9",
        "views:[0 TO 999]",
        "guitar OR NOT music",
        '"guitar" AND (lessons)',
        "*:*",
        "visibility:private",
        "'; DROP TABLE videos; --",
        "\\\\ {} [] ^ ~ ? : + - && || !",
    ],
)
def test_query_syntax_is_text(catalogue: Catalogue, text: str) -> None:
    found = _found(catalogue, text)
    assert "private" not in found
    if text.startswith(("guitar", '"guitar"')):
        assert "guitar" in found or found == []


def test_query_syntax_never_widens_the_search(catalogue: Catalogue) -> None:
    # As whoosh syntax these would match everything, or the private video.
    assert _found(catalogue, "*:*") == []
    assert _found(catalogue, "visibility:private") == []
    assert _found(catalogue, "guitar*") == ["guitar"]


@pytest.mark.parametrize("text", ["🎌", "vlog 🎌", "\x00guitar", "gui\x00tar", "\ud800", "　東京"])
def test_unicode_odd_input_answers(catalogue: Catalogue, text: str) -> None:
    catalogue.search.search(text)  # no exception: an answer, maybe empty


def test_emoji_titles_are_found_by_their_words(catalogue: Catalogue) -> None:
    assert _found(catalogue, "vlog") == ["cjk"]
    assert _found(catalogue, "\x00guitar") == ["guitar"]


def test_filters(catalogue: Catalogue) -> None:
    assert sorted(_found(catalogue, "", filter=SearchFilter(category_one_of=("music", "art")))) == [
        "guitar",
        "photo",
    ]
    assert _found(catalogue, "", filter=SearchFilter(tags_all_of=("music", "guitar"))) == ["guitar"]
    assert sorted(_found(catalogue, "", filter=SearchFilter(tags_one_of=("Dessert", "art")))) == [
        "cafe",
        "photo",
    ]
    assert sorted(
        _found(catalogue, "", filter=SearchFilter(duration_min=500, duration_max=2000))
    ) == ["guitar", "photo"]
    assert _found(catalogue, "", filter=SearchFilter(start_date=utcnow() - timedelta(days=2))) != []
    assert "lecture" not in _found(
        catalogue, "", filter=SearchFilter(start_date=utcnow() - timedelta(days=20))
    )
    assert _found(catalogue, "", filter=SearchFilter(end_date=utcnow() - timedelta(days=20))) == [
        "lecture"
    ]
    assert sorted(_found(catalogue, "", filter=SearchFilter(creator="@bob"))) == [
        "cjk",
        "lecture",
        "photo",
    ]
    assert _found(catalogue, "physics", filter=SearchFilter(creator=BOB)) == ["lecture"]
    assert _found(catalogue, "", filter=SearchFilter(language="EN")) == ["lecture"]


def test_sorts(catalogue: Catalogue) -> None:
    music_art_food = SearchFilter(category_one_of=("music", "art", "food"))
    assert _found(catalogue, "", filter=music_art_food, sort="-views") == [
        "photo",
        "guitar",
        "cafe",
    ]
    assert _found(catalogue, "", filter=music_art_food, sort="-likes") == [
        "cafe",
        "guitar",
        "photo",
    ]
    assert _found(catalogue, "", filter=music_art_food, sort="duration") == [
        "cafe",
        "guitar",
        "photo",
    ]
    assert _found(catalogue, "", filter=music_art_food, sort="-publishedAt") == [
        "cafe",
        "guitar",
        "photo",
    ]


def test_facets_count_every_match(catalogue: Catalogue) -> None:
    facets = catalogue.search.search("", facets=True).facets
    assert facets is not None
    assert facets.category["music"] == 1 and facets.category["art"] == 1
    assert facets.tags["guitar"] == 1 and facets.tags["music"] == 1
    assert facets.duration == {"short": 3, "medium": 1, "long": 2}
    assert facets.creator == {ALICE: 3, BOB: 3}


def test_paging_with_cursors(catalogue: Catalogue) -> None:
    first = catalogue.search.search("", first=2)
    assert len(first.hits) == 2 and first.has_next
    second = catalogue.search.search("", first=2, after=first.end_cursor)
    assert not {h.video_id for h in first.hits} & {h.video_id for h in second.hits}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": "a" * 257}, "query"),
        ({"text": " ".join(["word"] * 11)}, "query"),
        ({"text": "x", "first": 101}, "first"),
        ({"text": "x", "first": 0}, "first"),
        ({"text": "x", "after": "bm90IGEgY3Vyc29y"}, "after"),
        ({"text": "x", "after": "!!"}, "after"),
        ({"text": "x", "sort": "views"}, "sort"),
    ],
)
def test_input_limits_are_clear_errors(
    catalogue: Catalogue, kwargs: dict[str, object], field: str
) -> None:
    rest = dict(kwargs)  # the parameters are shared by both databases' runs
    text = str(rest.pop("text"))
    with pytest.raises(InvalidInput) as raised:
        catalogue.search.search(text, **rest)  # type: ignore[arg-type]
    assert raised.value.field == field


def test_paging_depth_is_bounded(catalogue: Catalogue) -> None:
    deep = catalogue.search.search("", first=1)
    from serve.search.service import _cursor

    with pytest.raises(InvalidInput, match="narrow the search"):
        catalogue.search.search("", first=100, after=_cursor(950))
    assert deep.hits


def test_suggest_completes_titles_the_viewer_may_see(catalogue: Catalogue) -> None:
    assert catalogue.search.suggest("beginner gui") == ["Beginner guitar lessons"]
    assert catalogue.search.suggest("photo") == ["Photography composition masterclass"]
    assert "Private guitar rehearsal" not in catalogue.search.suggest("priv")
    assert catalogue.search.suggest("priv", viewer_id=ALICE) == ["Private guitar rehearsal"]
    assert catalogue.search.suggest("") == []


def test_no_index_yet_is_a_clear_error(catalogue: Catalogue, tmp_path: Path) -> None:
    from cluster.errors import ServiceUnavailable

    search = Search(path=tmp_path / "none", sessions=catalogue.sessions)
    with pytest.raises(ServiceUnavailable, match="vidray search rebuild"):
        search.search("guitar")
