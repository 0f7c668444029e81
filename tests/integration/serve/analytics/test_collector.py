"""POST /collect: what is kept, what is refused and why, and what is stored."""

from __future__ import annotations

import json

import pytest

from cluster.db.models import VideoStatus, Visibility
from cluster.kv import KV
from serve.analytics.beacons import MAX_EVENTS
from serve.analytics.collector import dropped_key
from serve.analytics.geography import Countries
from tests.support.analytics import Beacons, beacon
from tests.support.clock import FakeClock
from tests.support.library import add_video

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)


def _batch(beacons: Beacons, clock: FakeClock, count: int = 3, **fields: object) -> dict:
    now = int(clock() * 1000)
    return {
        "sent_at": now,
        "events": [
            beacon(
                video_id=beacons.video_id,
                view_id="view-0001",
                seq=i,
                event="heartbeat",
                viewer_time=now - 1000,
                **fields,
            )
            for i in range(count)
        ],
    }


def _stored(beacons: Beacons) -> list[dict]:
    beacons.sink.flush()
    return beacons.sink.files.dataset().to_table().to_pylist()


def test_a_batch_is_stored_enriched_and_without_the_address(
    beacons: Beacons, clock: FakeClock
) -> None:
    reply = beacons.post(_batch(beacons, clock), **{"User-Agent": CHROME, "CF-IPCountry": "fr"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    rows = _stored(beacons)
    assert len(rows) == 3
    row = rows[0]
    assert (row["country"], row["browser"], row["os"], row["device"]) == (
        "FR",
        "Chrome",
        "Linux",
        "desktop",
    )
    assert len(row["viewer_key"]) == 32
    assert "127.0.0.1" not in json.dumps(rows, default=str)


def test_a_retried_batch_counts_once(beacons: Beacons, clock: FakeClock) -> None:
    batch = _batch(beacons, clock)
    assert beacons.post(batch, **{"User-Agent": CHROME}).json()["accepted"] == 3
    again = beacons.post(batch, **{"User-Agent": CHROME}).json()
    assert (again["accepted"], again["duplicates"]) == (0, 3)
    assert len(_stored(beacons)) == 3


def test_the_players_clock_is_corrected_and_the_future_clamped(
    beacons: Beacons, clock: FakeClock
) -> None:
    now = int(clock() * 1000)
    skew = 3 * 3_600_000  # the player's clock is three hours fast
    events = [
        beacon(
            video_id=beacons.video_id,
            view_id="view-0002",
            seq=0,
            event="play",
            viewer_time=now + skew - 5000,
        ),
        beacon(
            video_id=beacons.video_id,
            view_id="view-0002",
            seq=1,
            event="playing",
            viewer_time=now + skew + 60_000,
        ),  # after the batch was sent: impossible
    ]
    reply = beacons.post({"sent_at": now + skew, "events": events}, **{"User-Agent": CHROME})
    assert reply.json()["accepted"] == 2
    times = sorted(int(r["ts"].timestamp() * 1000) for r in _stored(beacons))
    assert times == [now - 5000, now]


def test_a_mixed_batch_keeps_the_good_events_and_names_the_bad(
    beacons: Beacons, clock: FakeClock
) -> None:
    private = add_video(beacons.library, visibility=Visibility.PRIVATE)
    processing = add_video(beacons.library, status=VideoStatus.PROCESSING)
    batch = _batch(beacons, clock, count=2)
    good = batch["events"]
    bad = [
        {**good[0], "event": "teleport"},
        {**good[0], "event_id": "x"},
        {**good[0], "seq": -1},
        {**good[0], "video_id": "nosuchvideo0000a"},
        {**good[0], "video_id": private},
        {**good[0], "video_id": processing},
        {**good[0], "rendition": "r" * 40_000},  # over 32 KB
        "not an object",
    ]
    batch["events"] = [good[0], *bad, good[1]]
    reply = beacons.post(batch, **{"User-Agent": CHROME}).json()
    assert reply["accepted"] == 2
    assert [r["index"] for r in reply["rejected"]] == list(range(1, 1 + len(bad)))
    reasons = " | ".join(r["reason"] for r in reply["rejected"])
    for words in (
        "event must be one of",
        "event_id",
        "seq",
        "no such video",
        "private",
        "not ready",
        "32 KB",
        "JSON object",
    ):
        assert words in reasons
    assert len(_stored(beacons)) == 2


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not JSON"),
        (b'{"events": 3}', 400, "events"),
        (b'{"events": [], "sent_at": "yesterday"}', 400, "sent_at"),
        (json.dumps({"events": [{}] * (MAX_EVENTS + 1)}).encode(), 413, "at most 300"),
    ],
)
def test_unreadable_batches_are_refused_whole(
    beacons: Beacons, body: bytes, status: int, words: str
) -> None:
    reply = beacons.client.post(beacons.url, content=body, headers={"User-Agent": CHROME})
    assert reply.status_code == status
    assert words in reply.json()["error"]


def test_a_body_over_500_kb_is_refused_as_it_streams_in(beacons: Beacons) -> None:
    sent = {"bytes": 0}

    def endless() -> object:
        chunk = b" " * 65_536
        for _ in range(64):  # 4 MB, without a Content-Length
            sent["bytes"] += len(chunk)
            yield chunk

    reply = beacons.client.post(beacons.url, content=endless(), headers={"User-Agent": CHROME})
    assert reply.status_code == 413
    declared = beacons.client.post(
        beacons.url, content=b"x" * 600_000, headers={"User-Agent": CHROME}
    )
    assert declared.status_code == 413
    assert "500 KB" in declared.json()["error"]


def test_bots_are_dropped_and_counted(beacons: Beacons, clock: FakeClock, kv: KV) -> None:
    def dropped(reason: str) -> int:
        return int(kv.get(dropped_key(reason, now=clock())) or 0)

    before = dropped("headless"), dropped("crawler")
    headless = CHROME.replace("Chrome/", "HeadlessChrome/")
    reply = beacons.post(_batch(beacons, clock), **{"User-Agent": headless}).json()
    assert (reply["accepted"], reply["dropped"]) == (0, "headless")
    crawler = beacons.post(_batch(beacons, clock), **{"User-Agent": "Googlebot/2.1"}).json()
    assert crawler["dropped"] == "crawler"
    assert beacons.sink.flush() == 0
    assert (dropped("headless"), dropped("crawler")) == (before[0] + 1, before[1] + 1)


def test_one_address_is_held_to_its_batches_a_minute(beacons: Beacons, clock: FakeClock) -> None:
    statuses = [
        beacons.post(_batch(beacons, clock, count=1), **{"User-Agent": CHROME}).status_code
        for _ in range(31)
    ]
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429
    clock.advance(60)
    assert (
        beacons.post(_batch(beacons, clock, count=1), **{"User-Agent": CHROME}).status_code == 200
    )


def test_the_country_header_is_ignored_unless_trusted() -> None:
    untrusted = Countries(trust_header=False, mmdb_path=None)
    assert untrusted.country(ip="127.0.0.1", headers={"cf-ipcountry": "FR"}) is None
    assert untrusted.country(ip="8.8.8.8", headers={}) == "US"
