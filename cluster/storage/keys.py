"""Object keys: relative, slash-separated paths that can never leave their prefix."""

from __future__ import annotations

import uuid

from cluster.errors import InvalidKey

MAX_KEY_LENGTH = 1024


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise `InvalidKey`.

    >>> validate_key("hls/abc/master.m3u8")
    'hls/abc/master.m3u8'
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey("object key is empty: give a relative path such as 'raw/abc'")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"object key is longer than {MAX_KEY_LENGTH} characters")
    if "\x00" in key:
        raise InvalidKey("object key contains a NUL byte")
    if "\\" in key:
        raise InvalidKey("object key contains a backslash: use '/' to separate parts")
    if key.startswith("/"):
        raise InvalidKey(f"object key {key!r} is absolute: drop the leading '/'")
    parts = key.split("/")
    if any(part in {"", ".", ".."} for part in parts[:-1]) or parts[-1] in {".", ".."}:
        raise InvalidKey(f"object key {key!r} has an empty, '.' or '..' segment")
    if any(ord(ch) < 0x20 for ch in key):
        raise InvalidKey(f"object key {key!r} contains a control character")
    return key


def validate_prefix(prefix: str) -> str:
    """A prefix is a key that may end with '/' (or the empty prefix: everything)."""
    if prefix == "":
        return prefix
    validate_key(prefix.rstrip("/") or "/")
    return prefix


def staging_prefix(final: str) -> str:
    """A fresh temporary prefix beside `final`, for outputs published later in one go."""
    return f"tmp/{uuid.uuid4().hex}/{final.strip('/')}/"
