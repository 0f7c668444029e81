"""Video chapters: set by the owner, or read from `00:00 Title` lines in a description."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from cluster.errors import InvalidInput
from serve.text import clean_text

MAX_CHAPTERS = 100
# "00:00 Intro" or "1:02:03 - Q&A": a time at the start of a description line.
_CHAPTER_LINE = re.compile(r"^\s*(?:(\d{1,2}):)?(\d{1,2}):(\d{2})\s*[-\u2013:]?\s+(\S.*)$")


@dataclass(frozen=True, slots=True)
class Chapter:
    start_s: float
    title: str


def parse_chapters(description: str) -> tuple[Chapter, ...]:
    """Chapters from `00:00 Title` lines, if they form a valid list (else none).

    A list is valid when it starts at 0:00, has at least two entries and goes strictly
    forward, the rule viewers know from other platforms.

    >>> parse_chapters("Intro text\\n0:00 Start\\n1:30 Demo\\n1:02:03 Q&A")
    (Chapter(start_s=0.0, title='Start'), Chapter(start_s=90.0, title='Demo'), \
Chapter(start_s=3723.0, title='Q&A'))
    """
    chapters = []
    for line in description.splitlines():
        found = _CHAPTER_LINE.match(line)
        if found is None:
            continue
        hours, minutes, seconds, title = found.groups()
        if int(seconds) >= 60 or (hours is not None and int(minutes) >= 60):
            continue
        start = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
        chapters.append(Chapter(start_s=float(start), title=title.strip()[:100]))
    try:
        return check_chapters(chapters, duration=None)
    except InvalidInput:
        return ()


def check_chapters(chapters: Sequence[Chapter], *, duration: float | None) -> tuple[Chapter, ...]:
    """The chapters, titles cleaned, or `InvalidInput` saying what to fix."""
    if not chapters:
        return ()
    if len(chapters) < 2 or len(chapters) > MAX_CHAPTERS:
        raise InvalidInput("chapters", f"give between 2 and {MAX_CHAPTERS} chapters, or none")
    if chapters[0].start_s != 0:
        raise InvalidInput("chapters", "the first chapter must start at 0:00")
    starts = [c.start_s for c in chapters]
    if any(b <= a for a, b in pairwise(starts)):
        raise InvalidInput("chapters", "start times must go strictly forward")
    if duration is not None and starts[-1] >= duration:
        raise InvalidInput("chapters", f"every chapter must start before the end ({duration} s)")
    cleaned = []
    for chapter in chapters:
        title = clean_text("chapters", chapter.title, limit=100)
        if not title:
            raise InvalidInput("chapters", "every chapter needs a title")
        cleaned.append(Chapter(start_s=float(chapter.start_s), title=title))
    return tuple(cleaned)
