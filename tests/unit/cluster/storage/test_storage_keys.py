from __future__ import annotations

import pytest

from cluster.errors import InvalidKey
from cluster.storage import validate_key


@pytest.mark.parametrize(
    "key", ["raw/abc", "hls/v1/720p/seg_00001.ts", "img/v1/poster.jpg", "a", "a.b/c-d_e"]
)
def test_ordinary_keys_pass(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("", "empty"),
        ("../etc/passwd", "'..'"),
        ("hls/../../etc/passwd", "'..'"),
        ("hls/./x", "'.'"),
        ("/etc/passwd", "absolute"),
        ("hls//x", "empty"),
        ("raw/a\x00b", "NUL"),
        ("raw\\..\\x", "backslash"),
        ("raw/a\nb", "control"),
        ("x" * 2000, "longer"),
    ],
)
def test_dangerous_keys_are_refused_with_a_reason(key: str, hint: str) -> None:
    with pytest.raises(InvalidKey, match=hint):
        validate_key(key)
