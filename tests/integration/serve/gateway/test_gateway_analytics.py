"""Creator stats over GraphQL: figures from the Parquet the sink wrote, for the owner or
an admin only. The gateway's ASGI app on SQLite and the embedded KV."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from actors.analytics_sink import AnalyticsSink, LocalSink
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import Role, User, Video, VideoStatus, Visibility
from serve.platform import Platform
from tests.support.analytics import PlayerScript
from tests.support.gateway import Api, asgi_client

STATS = """query($id: ID!) {
  videoStats(videoId: $id, granularity: HOUR) {
    totals { plays views uniques playingTimeSeconds watchTimeSeconds rebufferRatio
             startupP50Ms exitsBeforeVideoStart }
    series { start figures { views } }
    breakdowns { dimension value views }
  }
  videoRetention(videoId: $id) { views points chapters { title share } }
  videoLiveViewers(videoId: $id)
}"""
# The same figures as fields of the video, beside the top-level queries over one window.
FIGURES = """
fragment figures on Stats {
  totals { plays views uniques playingTimeSeconds watchTimeSeconds rebufferRatio
           startupP50Ms exitsBeforeVideoStart }
  series { start figures { views } }
  breakdowns { dimension value views }
}"""
FIELDS = (
    """query($id: ID!, $from: DateTime, $to: DateTime) {
  video(id: $id) {
    title
    stats(from: $from, to: $to, granularity: HOUR) { ...figures }
    retention(from: $from, to: $to) { views points chapters { title share } }
    liveViewers
  }
}"""
    + FIGURES
)
BOTH = (
    """query($id: ID!, $from: DateTime, $to: DateTime) {
  videoStats(videoId: $id, from: $from, to: $to, granularity: HOUR) { ...figures }
  videoRetention(videoId: $id, from: $from, to: $to) { views points chapters { title share } }
  videoLiveViewers(videoId: $id)
  video(id: $id) {
    stats(from: $from, to: $to, granularity: HOUR) { ...figures }
    retention(from: $from, to: $to) { views points chapters { title share } }
    liveViewers
  }
}"""
    + FIGURES
)
FIELD_NAMES = ("stats", "retention", "liveViewers")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sink(settings: Settings) -> Iterator[AnalyticsSink]:
    sink = AnalyticsSink(settings, background=False)
    yield sink
    sink.stop()


@pytest.fixture
async def api(settings: Settings, engine: Engine, sink: AnalyticsSink) -> AsyncIterator[Api]:
    async with asgi_client(Platform(settings, engine=engine, sink=LocalSink(sink))) as client:
        yield Api(client, settings)


def add_video(engine: Engine, owner_id: str, **fields: Any) -> str:
    with db.session_factory(engine).begin() as session:
        video = Video(
            owner_id=owner_id, title="clip", status=VideoStatus.READY, duration=60.0, **fields
        )
        session.add(video)
        session.flush()
        return video.id


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def field_errors(body: dict[str, Any]) -> dict[str, str]:
    """The refused fields of `video`, each with its error's code."""
    return {
        e["path"][-1]: e.get("extensions", {}).get("code")
        for e in body.get("errors", [])
        if e.get("path", [])[:1] == ["video"]
    }


async def test_the_owner_sees_exact_figures_and_others_are_refused(
    api: Api, engine: Engine, sink: AnalyticsSink
) -> None:
    ana, ana_id = await api.sign_in("ana@example.com")  # the instance's first user: its admin
    with db.session_factory(engine).begin() as session:
        first = session.get(User, ana_id)
        assert first is not None
        first.role = Role.USER
    bob, bob_id = await api.sign_in("bob@example.com")
    video = add_video(engine, ana_id, chapters=[{"start_s": 30.0, "title": "second half"}])
    secret = add_video(engine, ana_id, visibility=Visibility.PRIVATE)
    now_ms = int(time.time() * 1000)
    watched = (
        PlayerScript(start_ms=now_ms - 120_000, video_id=video, owner_id=ana_id)
        .start(startup_ms=400)
        .play(20_000)
        .pause(5_000)
        .play(5_000)
        .end()
    )
    left_early = (
        PlayerScript(start_ms=now_ms - 60_000, video_id=video, owner_id=ana_id, viewer_key="k2")
        .start()
        .play(3_000)
        .send("heartbeat")  # then the tab was closed: no viewend
    )
    live = PlayerScript(start_ms=now_ms - 1_000, video_id=video, owner_id=ana_id).send("viewstart")
    for player in (watched, left_early, live):
        sink.append(player.rows)
    sink.flush()

    body = await api.gql(STATS, ana, id=video)
    assert "errors" not in body, body
    totals = body["data"]["videoStats"]["totals"]
    assert (totals["plays"], totals["views"], totals["uniques"]) == (2, 1, 2)
    assert totals["playingTimeSeconds"] == (watched.playing_ms + left_early.playing_ms) / 1000
    assert totals["watchTimeSeconds"] == (watched.watch_ms + left_early.watch_ms) / 1000
    assert totals["startupP50Ms"] == pytest.approx(450)
    assert {(s["dimension"], s["value"]) for s in body["data"]["videoStats"]["breakdowns"]} >= {
        ("country", "FR"),
        ("browser", "Chrome"),
    }
    retention = body["data"]["videoRetention"]
    assert retention["views"] == 1
    assert retention["points"][0] == 1.0
    assert retention["points"][40] == 1.0  # 24 s in: watched
    assert retention["points"][60] == 0.0  # 36 s in: never reached
    assert retention["chapters"] == [{"title": "second half", "share": 0.0}]
    assert body["data"]["videoLiveViewers"] == 1

    refused = await api.gql(STATS, bob, id=video)
    assert set(codes(refused)) == {"FORBIDDEN"}
    assert set(codes(await api.gql(STATS, bob, id=secret))) == {"NOT_FOUND"}
    assert set(codes(await api.gql(STATS, id=video))) == {"UNAUTHENTICATED"}

    with db.session_factory(engine).begin() as session:
        user = session.get(User, bob_id)
        assert user is not None
        user.role = Role.ADMIN
    admin = await api.gql(STATS, bob, id=video)
    assert admin["data"]["videoStats"]["totals"]["views"] == 1

    channel = await api.gql("{ channelStats { totals { plays views } } }", ana)
    assert channel["data"]["channelStats"]["totals"] == {"plays": 2, "views": 1}
    month = time.strftime("%Y-%m", time.gmtime())
    usage = await api.gql(
        "query($m: String!) { usage(month: $m) { minutesWatched bytesStored } }", ana, m=month
    )
    minutes = (watched.watch_ms + left_early.watch_ms) / 60_000
    assert usage["data"]["usage"]["minutesWatched"] == round(minutes, 2)
    other = await api.gql(
        "query($m: String!, $u: ID) { usage(month: $m, userId: $u) { month } }",
        ana,
        m=month,
        u=bob_id,
    )
    assert codes(other) == ["FORBIDDEN"]
    bad = await api.gql('{ usage(month: "November") { month } }', ana)
    assert codes(bad) == ["BAD_USER_INPUT"] or "YYYY-MM" in bad["errors"][0]["message"]


async def test_the_figures_are_fields_of_the_video_for_its_owner_only(
    api: Api, engine: Engine, sink: AnalyticsSink
) -> None:
    ana, ana_id = await api.sign_in("ana@example.com")  # the instance's first user: its admin
    with db.session_factory(engine).begin() as session:
        first = session.get(User, ana_id)
        assert first is not None
        first.role = Role.USER
    bob, bob_id = await api.sign_in("bob@example.com")
    video = add_video(engine, ana_id, chapters=[{"start_s": 30.0, "title": "second half"}])
    secret = add_video(engine, ana_id, visibility=Visibility.PRIVATE)
    now_ms = int(time.time() * 1000)
    watched = (
        PlayerScript(start_ms=now_ms - 120_000, video_id=video, owner_id=ana_id)
        .start(startup_ms=400)
        .play(20_000)
        .end()
    )
    live = PlayerScript(start_ms=now_ms - 1_000, video_id=video, owner_id=ana_id).send("viewstart")
    sink.append(watched.rows + live.rows)
    sink.flush()
    # One window for both ways in, so that their hourly series line up.
    window = {
        "from": time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(now_ms / 1000 - 86_400)),
        "to": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ms / 1000 + 60)),
    }

    both = await api.gql(BOTH, ana, id=video, **window)
    assert "errors" not in both, both
    fields = both["data"]["video"]
    assert fields["stats"] == both["data"]["videoStats"]
    assert fields["retention"] == both["data"]["videoRetention"]
    assert fields["liveViewers"] == both["data"]["videoLiveViewers"] == 1
    assert fields["stats"]["totals"]["views"] == 1
    assert fields["retention"]["views"] == 1

    # Someone else reads the video but not its figures: an error on each figure alone.
    refused = await api.gql(FIELDS, bob, id=video, **window)
    assert refused["data"]["video"] == {
        "title": "clip",
        "stats": None,
        "retention": None,
        "liveViewers": None,
    }
    assert field_errors(refused) == dict.fromkeys(FIELD_NAMES, "FORBIDDEN")
    # Signed out: the same, as the top-level queries answer a stranger.
    anonymous = await api.gql(FIELDS, id=video, **window)
    assert anonymous["data"]["video"]["title"] == "clip"
    assert field_errors(anonymous) == dict.fromkeys(FIELD_NAMES, "UNAUTHENTICATED")
    # Someone else's private video is not there at all, figures included.
    hidden = await api.gql(FIELDS, bob, id=secret, **window)
    assert hidden["data"]["video"] is None
    assert set(codes(hidden)) <= {"NOT_FOUND"}

    with db.session_factory(engine).begin() as session:
        user = session.get(User, bob_id)
        assert user is not None
        user.role = Role.ADMIN
    admin = await api.gql(FIELDS, bob, id=video, **window)
    assert "errors" not in admin, admin
    assert admin["data"]["video"]["stats"] == fields["stats"]
