"""Signed unsubscribe links: what they name, and what they refuse."""

from __future__ import annotations

import pytest

from cluster.config import load_settings
from cluster.notifications.unsubscribe import BadToken, make_token, read_token, unsubscribe_url

OLD = "o" * 40
NEW = "n" * 40


def test_a_token_names_its_user_and_type_and_survives_a_rotation() -> None:
    before = load_settings(signing_secret=OLD)
    token = make_token(before, user_id="u1", kind="newsletter")
    assert read_token(before, token).user_id == "u1"
    rotated = load_settings(signing_secret=NEW, signing_previous_secrets=[OLD])
    assert read_token(rotated, token).kind == "newsletter"
    with pytest.raises(BadToken):
        read_token(load_settings(signing_secret=NEW), token)  # the old secret retired


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # signature changed
        lambda t: "dTI6bmV3c2xldHRlcg" + t[t.index(".") :],  # another user's payload
        lambda t: t.split(".")[0],  # no signature
        lambda t: "",
    ],
    ids=["tampered", "swapped", "unsigned", "empty"],
)
def test_a_mangled_token_is_refused(mangle: object) -> None:
    settings = load_settings(signing_secret=OLD)
    token = make_token(settings, user_id="u1", kind="newsletter")
    with pytest.raises(BadToken):
        read_token(settings, mangle(token))  # type: ignore[operator]


def test_the_link_is_under_the_public_url() -> None:
    settings = load_settings(public_url="https://videos.example.org/")
    url = unsubscribe_url(settings, user_id="u1", kind="newsletter")
    assert url.startswith("https://videos.example.org/hooks/unsubscribe?token=")
