"""Which videos get a per-title ladder: none unless asked (its probe delays first
playable), and with `auto` the long ones, where its fixed cost is a few percent of the
encode."""

from __future__ import annotations

import pytest

from cluster.config import Settings
from pipelines import transcode as graph
from tests.support.media import media_info


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (10.0, False),
        (graph.PER_TITLE_AUTO_S - 1, False),
        (graph.PER_TITLE_AUTO_S, True),
        (900, True),
    ],
)
def test_auto_gives_per_title_from_five_minutes(duration: float, expected: bool) -> None:
    auto = graph.Options(per_title=None)
    assert graph.per_title_for(auto, media_info(duration=duration)) is expected
    assert not graph.per_title_for(graph.Options(), media_info(duration=duration))


def test_an_explicit_choice_wins_over_the_length() -> None:
    assert graph.per_title_for(graph.Options(per_title=True), media_info(duration=10.0))
    assert not graph.per_title_for(graph.Options(per_title=False), media_info(duration=600.0))


def test_sound_alone_never_gets_a_ladder_probe() -> None:
    auto = graph.Options(per_title=None)
    assert not graph.per_title_for(auto, media_info(duration=600.0, video=False))


def test_the_setting_defaults_to_off_and_refuses_other_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().transcode_per_title == "off"
    monkeypatch.setenv("VIDRAY_TRANSCODE_PER_TITLE", "always")
    with pytest.raises(ValueError, match="transcode_per_title"):
        Settings()
