"""Free text that people type into forms: titles, bios, comments."""

from __future__ import annotations

from cluster.errors import InvalidInput


def clean_text(field: str, value: str, *, limit: int, lines: bool = False) -> str:
    """`value` stripped, or `InvalidInput` naming `field` when too long or with control
    characters (newlines only where `lines`)."""
    text = value.strip()
    allowed = {"\n"} if lines else set()
    if any(ord(ch) < 0x20 and ch not in allowed for ch in text):
        raise InvalidInput(field, "contains control characters: remove them")
    if len(text) > limit:
        raise InvalidInput(field, f"is longer than {limit} characters: shorten it")
    return text
