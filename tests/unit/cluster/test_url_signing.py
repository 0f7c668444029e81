"""Signed HLS prefix tokens: what verifies, what is refused and why, path normalisation."""

from __future__ import annotations

import pytest

from cluster.errors import UrlRefused
from cluster.url_signing import UrlSigner, parse_hls_path

KEYS = {"aaaaaaaaaaaa": "key-one", "bbbbbbbbbbbb": "key-two"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _signer(clock: Clock, kid: str = "aaaaaaaaaaaa", keys: dict[str, str] = KEYS) -> UrlSigner:
    return UrlSigner(keys=keys, current_kid=kid, skew_s=30, clock=clock)


def _reason(call: object) -> str:
    with pytest.raises(UrlRefused) as refused:
        call()  # type: ignore[operator]
    return refused.value.reason


def test_a_token_verifies_for_its_video_only() -> None:
    clock = Clock()
    signer = _signer(clock)
    token = signer.token(video_id="12", ttl=60, viewer_id="v1")
    grant = signer.verify(video_id="12", token=token, ip=None)
    assert (grant.viewer_id, grant.expires_at) == ("v1", int(clock.now) + 60)
    assert _reason(lambda: signer.verify(video_id="123", token=token, ip=None)) == "tampered"
    assert _reason(lambda: signer.verify(video_id="1", token=token, ip=None)) == "tampered"


def test_times_are_checked_with_the_skew_window() -> None:
    clock = Clock()
    signer = _signer(clock)
    token = signer.token(video_id="12", ttl=60)
    clock.now += 60 + 29
    signer.verify(video_id="12", token=token, ip=None)
    clock.now += 1
    assert _reason(lambda: signer.verify(video_id="12", token=token, ip=None)) == "expired"
    clock.now -= 60 + 30 + 31  # a verifier whose clock is 31 s behind the signer's
    assert _reason(lambda: signer.verify(video_id="12", token=token, ip=None)) == "not-yet-valid"


def test_moving_the_expiry_is_tampering_not_expiry() -> None:
    clock = Clock()
    signer = _signer(clock)
    kid, nbf, exp, binding, sig = signer.token(video_id="12", ttl=60).split(".")
    later = ".".join([kid, nbf, str(int(exp) + 3600), binding, sig])
    assert _reason(lambda: signer.verify(video_id="12", token=later, ip=None)) == "tampered"
    anyone = ".".join([kid, nbf, exp, "a", sig])
    bound = signer.token(video_id="12", ttl=60, ip="10.0.0.1")
    assert _reason(lambda: signer.verify(video_id="12", token=bound, ip="10.0.0.2")) == "tampered"
    signer.verify(video_id="12", token=bound, ip="10.0.0.1")
    assert _reason(lambda: signer.verify(video_id="12", token=anyone + "x", ip=None)) == "malformed"


def test_rotation_keeps_old_tokens_while_their_key_is_in_the_ring() -> None:
    clock = Clock()
    old = _signer(clock).token(video_id="12", ttl=60)
    _signer(clock, kid="bbbbbbbbbbbb").verify(video_id="12", token=old, ip=None)
    retired = _signer(clock, kid="bbbbbbbbbbbb", keys={"bbbbbbbbbbbb": "key-two"})
    assert _reason(lambda: retired.verify(video_id="12", token=old, ip=None)) == "unknown-key"


@pytest.mark.parametrize(
    ("raw", "video", "rest"),
    [
        ("/hls/12/T/master.m3u8", "12", "master.m3u8"),
        ("/hls/12/T/240p/%73eg_00000.ts?x=1", "12", "240p/seg_00000.ts"),
        ("/hls/12/T/../../13/U/a.ts", "13", "a.ts"),
        ("/hls/12/T/%2e%2e/%2e%2e/13/U/a.ts", "13", "a.ts"),
        ("//hls//12/./T/a.ts", "12", "a.ts"),
    ],
)
def test_paths_are_normalised_before_the_check(raw: str, video: str, rest: str) -> None:
    path = parse_hls_path(raw)
    assert (path.video_id, path.rest) == (video, rest)


@pytest.mark.parametrize(
    "raw",
    [
        "/hls/12/T/%252e%252e/x.ts",
        "/hls/12/T/a%5cb.ts",
        "/hls/12/T/a%00.ts",
        "/hls/12/T",
        "/x/12/T/a",
        "/hls/12/T/../../../etc/passwd",
        "/hls/ab_c/T/a.ts",
    ],
)
def test_odd_paths_are_malformed(raw: str) -> None:
    assert _reason(lambda: parse_hls_path(raw)) == "malformed"


def test_a_session_generation_is_signed_with_its_viewer() -> None:
    signer = _signer(Clock())
    token = signer.token(video_id="12", ttl=60, viewer_id="v1", generation=3)
    grant = signer.verify(video_id="12", token=token, ip=None)
    assert (grant.viewer_id, grant.generation) == ("v1", 3)
    assert (
        signer.verify(video_id="12", token=signer.token(video_id="12", ttl=60), ip=None).generation
        is None
    )
    # Claiming the generation the session has now is tampering, not a fresh URL.
    moved = token.replace("v1-3.", "v1-4.")
    assert moved != token
    assert _reason(lambda: signer.verify(video_id="12", token=moved, ip=None)) == "tampered"
    dropped = token.replace("v1-3.", "v1.")
    assert _reason(lambda: signer.verify(video_id="12", token=dropped, ip=None)) == "tampered"
    with pytest.raises(ValueError):
        signer.token(video_id="12", ttl=60, generation=3)  # nobody's session to follow
