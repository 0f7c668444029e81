"""Caption files: WebVTT or SRT in, checked WebVTT out, and the HLS playlists that
carry it (a SUBTITLES group in the master, one media playlist per language).

A pure library, like the rest of `pipelines/media/`: text in, text out. The library
service (`serve/library/captions.py`) stores what this returns; automatic speech
recognition, when it comes, produces `Cue`s and goes through `to_webvtt` the same way.

Checks: the file's size, the number of cues, each cue's times (in order, inside the
video), its length, and its markup (WebVTT's own tags only: c, i, b, u, v, lang, ruby,
rt and timestamps; an SRT `<font>` or any HTML is refused, never passed to a player).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_BYTES = 2 * 1024 * 1024
MAX_CUES = 20_000
MAX_CUE_CHARS = 1000
# A cue may end a little after the video's last frame (rounding in editors).
END_SLACK_S = 1.0

_TIME = r"(?:(\d{1,3}):)?([0-5]\d):([0-5]\d)[.,](\d{3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s+-->\s+{_TIME}(?:\s+.*)?$")
_TAG = re.compile(r"<[^>]*>")
_ALLOWED_TAG = re.compile(
    r"</?(?:c|i|b|u|v|lang|ruby|rt)(?:\.[\w.-]+)?(?:\s[^<>]*)?>|<\d{2,3}:\d{2}:\d{2}\.\d{3}>|"
    r"<\d{2}:\d{2}\.\d{3}>"
)
_ESCAPE_AMP = re.compile(r"&(?!(?:amp|lt|gt|nbsp|lrm|rlm|#\d+|#x[0-9a-f]+);)", re.IGNORECASE)
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8}){0,3}$", re.IGNORECASE)


class CaptionsRejected(ValueError):
    """The file is not captions vidray accepts; the message says what to fix."""


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str  # WebVTT cue text (allowed markup kept)

    @property
    def plain(self) -> str:
        """The words, without markup: what search indexes."""
        return html.unescape(_TAG.sub("", self.text)).replace("\n", " ").strip()


def check_language(language: str) -> str:
    if not _LANGUAGE.fullmatch(language or ""):
        raise CaptionsRejected(
            f"language {language!r} is not a language tag: use one like 'en' or 'pt-BR'"
        )
    return language


def _seconds(groups: Sequence[str | None]) -> float:
    hours, minutes, seconds, millis = groups
    return (
        int(hours or 0) * 3600
        + int(minutes or 0) * 60
        + int(seconds or 0)
        + int(millis or 0) / 1000
    )


def _cue_text(lines: list[str], *, number: int) -> str:
    text = "\n".join(line.rstrip() for line in lines).strip()
    if len(text) > MAX_CUE_CHARS:
        raise CaptionsRejected(
            f"cue {number} has {len(text)} characters: keep cues under {MAX_CUE_CHARS}"
        )
    for tag in _TAG.findall(text):
        if not _ALLOWED_TAG.fullmatch(tag):
            raise CaptionsRejected(
                f"cue {number} holds {tag[:40]!r}: only WebVTT's tags (c, i, b, u, v, lang, "
                "ruby, rt) are allowed; remove the others"
            )
    # A bare '&', '<' or '>' outside the (checked) tags is not WebVTT: escape it.
    pieces = re.split(r"(<[^>]*>)", text)
    return "".join(
        piece
        if index % 2
        else _ESCAPE_AMP.sub("&amp;", piece).replace("<", "&lt;").replace(">", "&gt;")
        for index, piece in enumerate(pieces)
    )


def parse(data: bytes, *, duration: float | None) -> list[Cue]:
    """The cues of a WebVTT or SRT file, checked; raises `CaptionsRejected`."""
    if len(data) > MAX_BYTES:
        raise CaptionsRejected(
            f"the file is {len(data)} bytes: captions may be at most {MAX_BYTES}"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CaptionsRejected("the file is not UTF-8 text: save it as UTF-8") from None
    if "\x00" in text:
        raise CaptionsRejected("the file holds NUL bytes: it is not a caption file")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    webvtt = bool(lines) and lines[0].startswith("WEBVTT")
    cues: list[Cue] = []
    position = 1 if webvtt else 0
    while position < len(lines):
        line = lines[position]
        timing = _TIMING.match(line)
        if timing is None:
            # SRT counters, WebVTT ids, NOTE/STYLE/REGION blocks: skip to the next timing.
            position += 1
            continue
        number = len(cues) + 1
        groups = timing.groups()
        start, end = _seconds(groups[:4]), _seconds(groups[4:])
        body: list[str] = []
        position += 1
        while position < len(lines) and lines[position].strip():
            body.append(lines[position])
            position += 1
        if end <= start:
            raise CaptionsRejected(f"cue {number} ends before it starts ({line.strip()})")
        if cues and start < cues[-1].start:
            raise CaptionsRejected(f"cue {number} starts before the cue above it: sort the cues")
        if duration is not None and end > duration + END_SLACK_S:
            raise CaptionsRejected(
                f"cue {number} ends at {end:.3f} s, after the video ({duration:.3f} s)"
            )
        cues.append(Cue(start=start, end=end, text=_cue_text(body, number=number)))
        if len(cues) > MAX_CUES:
            raise CaptionsRejected(f"the file has more than {MAX_CUES} cues")
    if not cues:
        raise CaptionsRejected("no cues found: expected WebVTT or SRT ('00:00:01.000 --> ...')")
    return cues


def _stamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def to_webvtt(cues: Sequence[Cue]) -> bytes:
    blocks = [f"{_stamp(c.start)} --> {_stamp(c.end)}\n{c.text}" for c in cues]
    return ("WEBVTT\n\n" + "\n\n".join(blocks) + "\n").encode()


def media_playlist(*, vtt_name: str, duration: float) -> str:
    """A one-segment subtitles playlist: the whole WebVTT file as one segment."""
    length = max(1.0, duration)
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n"
        f"#EXT-X-TARGETDURATION:{int(length) + 1}\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        f"#EXTINF:{length:.3f},\n{vtt_name}\n#EXT-X-ENDLIST\n"
    )


@dataclass(frozen=True)
class Track:
    language: str
    label: str
    playlist: str  # relative to the master, e.g. subs/en.m3u8


def with_subtitles(master: str, tracks: Sequence[Track]) -> str:
    """The master playlist with one SUBTITLES group (`subs`) holding `tracks`, replacing
    any group written before; with no tracks, the group is removed."""
    lines = [
        line
        for line in master.splitlines()
        if not (line.startswith("#EXT-X-MEDIA:") and "TYPE=SUBTITLES" in line)
    ]
    out: list[str] = []
    for line in lines:
        if line.startswith("#EXT-X-STREAM-INF:"):
            line = re.sub(r',SUBTITLES="[^"]*"', "", line)
            if tracks:
                line += ',SUBTITLES="subs"'
        out.append(line)
    if tracks:
        media = [
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{_quoted(t.label)}",'
            f'LANGUAGE="{t.language}",DEFAULT=NO,'
            f'AUTOSELECT=YES,URI="{t.playlist}"'
            for t in tracks
        ]
        first_stream = next(
            (i for i, line in enumerate(out) if line.startswith("#EXT-X-STREAM-INF:")), len(out)
        )
        out[first_stream:first_stream] = media
    return "\n".join(out) + "\n"


_MEDIA_ATTR = re.compile(r'([A-Z-]+)="([^"]*)"')


def tracks_in(master: str) -> list[Track]:
    """The SUBTITLES tracks a master names (to keep them when it is rewritten)."""
    tracks: list[Track] = []
    for line in master.splitlines():
        if line.startswith("#EXT-X-MEDIA:") and "TYPE=SUBTITLES" in line:
            attrs = dict(_MEDIA_ATTR.findall(line))
            if "LANGUAGE" in attrs and "URI" in attrs:
                tracks.append(
                    Track(
                        language=attrs["LANGUAGE"],
                        label=attrs.get("NAME") or attrs["LANGUAGE"],
                        playlist=attrs["URI"],
                    )
                )
    return tracks


def _quoted(label: str) -> str:
    # Quoted-string attributes may not hold '"' or line breaks (RFC 8216 4.2).
    return re.sub(r'["\r\n]', "", label)[:80]
