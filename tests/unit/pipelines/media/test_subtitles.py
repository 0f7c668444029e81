"""Caption files in, checked WebVTT and HLS playlists out."""

from __future__ import annotations

import pytest

from pipelines.media.subtitles import (
    MAX_BYTES,
    CaptionsRejected,
    Track,
    check_language,
    media_playlist,
    parse,
    to_webvtt,
    tracks_in,
    with_subtitles,
)

SRT = b"""1
00:00:01,000 --> 00:00:02,500
Hello <i>there</i> & a < b

2
00:01:03,250 --> 00:01:04,000
second line
continued
"""

VTT = b"""WEBVTT

NOTE a comment block

intro
00:01.000 --> 00:02.000 align:start
<v Roger>Hi</v> <c.loud>you</c>
"""

MASTER = (
    "#EXTM3U\n#EXT-X-VERSION:6\n"
    '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="a",URI="audio/index.m3u8"\n'
    '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,AUDIO="aud"\n360p/index.m3u8\n'
    '#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=426x240,AUDIO="aud"\n240p/index.m3u8\n'
)


def test_srt_becomes_webvtt_with_bare_characters_escaped() -> None:
    cues = parse(SRT, duration=70)
    assert [(c.start, c.end) for c in cues] == [(1.0, 2.5), (63.25, 64.0)]
    assert cues[0].text == "Hello <i>there</i> &amp; a &lt; b"
    assert cues[0].plain == "Hello there & a < b"
    assert cues[1].plain == "second line continued"
    vtt = to_webvtt(cues).decode()
    assert vtt.startswith("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n")
    assert "00:01:03.250 --> 00:01:04.000\nsecond line\ncontinued" in vtt
    assert [(c.start, c.text) for c in parse(vtt.encode(), duration=70)] == [
        (c.start, c.text) for c in cues
    ]


def test_webvtt_keeps_its_own_tags_and_skips_notes() -> None:
    (cue,) = parse(VTT, duration=None)
    assert cue.text == "<v Roger>Hi</v> <c.loud>you</c>"
    assert cue.plain == "Hi you"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"WEBVTT\n\n00:01.000 --> 00:02.000\n<script>x</script>\n", "only WebVTT's tags"),
        (b"1\n00:00:01,000 --> 00:00:02,000\n<font color=red>x</font>\n", "only WebVTT's tags"),
        (b"WEBVTT\n\n00:02.000 --> 00:01.000\nbackwards\n", "ends before it starts"),
        (
            b"WEBVTT\n\n00:05.000 --> 00:06.000\na\n\n00:01.000 --> 00:02.000\nb\n",
            "sort the cues",
        ),
        (b"WEBVTT\n\n01:00:00.000 --> 01:00:01.000\nlate\n", "after the video"),
        (b"just some text\n", "no cues found"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"WEBVTT\n\n00:01.000 --> 00:02.000\nnul\x00\n", "NUL"),
        (b"WEBVTT\n\n00:01.000 --> 00:02.000\n" + b"x" * 1001 + b"\n", "characters"),
        (b"W" * (MAX_BYTES + 1), "at most"),
    ],
)
def test_bad_files_are_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(CaptionsRejected, match=reason):
        parse(data, duration=60)


def test_too_many_cues_are_refused() -> None:
    body = "".join(
        f"{n // 60:02d}:{n % 60:02d}.000 --> {n // 60:02d}:{n % 60:02d}.500\nx\n\n"
        for n in range(3600)
    )
    many = ("WEBVTT\n\n" + body * 6).encode()
    with pytest.raises(CaptionsRejected):
        parse(many, duration=None)


@pytest.mark.parametrize("language", ["en", "pt-BR", "zh-Hant-TW", "fil"])
def test_language_tags(language: str) -> None:
    assert check_language(language) == language


@pytest.mark.parametrize("language", ["", "english", "en_US", "../x", 'en"'])
def test_bad_language_tags(language: str) -> None:
    with pytest.raises(CaptionsRejected, match="language tag"):
        check_language(language)


def test_the_master_gets_one_subtitles_group_and_loses_it_again() -> None:
    tracks = [Track("en", 'English "CC"', "subs/en.m3u8"), Track("fr", "Français", "subs/fr.m3u8")]
    master = with_subtitles(MASTER, tracks)
    lines = master.splitlines()
    media = [line for line in lines if "TYPE=SUBTITLES" in line]
    assert len(media) == 2
    assert 'NAME="English CC",LANGUAGE="en",DEFAULT=NO,AUTOSELECT=YES' in media[0]
    assert 'URI="subs/en.m3u8"' in media[0]
    streams = [line for line in lines if line.startswith("#EXT-X-STREAM-INF")]
    assert all(line.endswith(',SUBTITLES="subs"') for line in streams)
    # Written again (a language removed): one group, never two.
    again = with_subtitles(master, tracks[:1])
    assert again.count("TYPE=SUBTITLES") == 1
    assert again.count('SUBTITLES="subs"') == 2
    assert with_subtitles(again, []) == MASTER
    assert tracks_in(master) == [
        Track("en", "English CC", "subs/en.m3u8"),
        Track("fr", "Français", "subs/fr.m3u8"),
    ]


def test_the_media_playlist_is_one_vod_segment() -> None:
    text = media_playlist(vtt_name="en.abc.vtt", duration=62.5)
    assert "#EXT-X-TARGETDURATION:63" in text
    assert "#EXTINF:62.500,\nen.abc.vtt\n#EXT-X-ENDLIST" in text
