"""Tokens, codes, passwords and keyed hashes: every forgery a client could try is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cluster.config import load_settings
from cluster.errors import Unauthenticated
from cluster.security import (
    TokenSigner,
    TokenType,
    constant_time_equal,
    derive_key,
    hash_password,
    jwt_key,
    key_id,
    keyed_hash,
    new_otp,
    verify_password,
)

SECRET = "s" * 40
OLD_SECRET = "o" * 40


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def signer(clock: FakeClock) -> TokenSigner:
    settings = load_settings(jwt_secret=SECRET, jwt_issuer="vidray-test", jwt_audience="app")
    return TokenSigner.from_settings(settings, clock=clock)


def _claims(clock: FakeClock, **changes: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "iss": "vidray-test",
        "aud": "app",
        "sub": "u1",
        "typ": "access",
        "jti": "t1",
        "iat": int(clock.now),
        "exp": int(clock.now) + 900,
        "fam": "f1",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _forge(claims: dict[str, object], key: str | bytes = jwt_key(SECRET), **headers: object) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": key_id(SECRET), **headers})


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_issued_token_verifies_with_its_claims(signer: TokenSigner) -> None:
    token, issued = signer.issue(subject="u1", type=TokenType.ACCESS, ttl=900, extra={"fam": "f"})
    claims = signer.verify(token, type=TokenType.ACCESS)
    assert (claims.subject, claims.token_id, claims.extra["fam"]) == ("u1", issued.token_id, "f")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": key_id(SECRET)}


def test_a_token_forged_with_our_claims_and_key_verifies(
    signer: TokenSigner, clock: FakeClock
) -> None:
    # The control for the forgeries below: only the changed part makes them fail.
    assert signer.verify(_forge(_claims(clock)), type=TokenType.ACCESS).subject == "u1"


def test_alg_none_is_refused(signer: TokenSigner, clock: FakeClock) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": key_id(SECRET)}
    token = f"{_b64(header)}.{_b64(_claims(clock))}."
    with pytest.raises(Unauthenticated):
        signer.verify(token, type=TokenType.ACCESS)


def test_hs256_signed_with_another_key_is_refused(signer: TokenSigner, clock: FakeClock) -> None:
    with pytest.raises(Unauthenticated):
        signer.verify(_forge(_claims(clock), key="x" * 40), type=TokenType.ACCESS)


def test_hs256_signed_with_a_public_key_or_embedded_jwk_is_refused(
    signer: TokenSigner, clock: FakeClock
) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # The classic confusion: the public key's PEM bytes used as the HMAC secret.
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id(SECRET)}
    signing_input = f"{_b64(header)}.{_b64(_claims(clock))}".encode()
    mac = hmac.new(pem, signing_input, hashlib.sha256).digest()
    pem_token = signing_input.decode() + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated):
        signer.verify(pem_token, type=TokenType.ACCESS)
    # A token carrying its own key (a symmetric JWK) and signed with it.
    jwk = {"kty": "oct", "k": base64.urlsafe_b64encode(b"k" * 32).rstrip(b"=").decode()}
    with pytest.raises(Unauthenticated):
        signer.verify(_forge(_claims(clock), key=b"k" * 32, jwk=jwk), type=TokenType.ACCESS)
    # Even with our own key, a header that points at another key is not honoured.
    with pytest.raises(Unauthenticated):
        signer.verify(_forge(_claims(clock), jku="https://evil/keys"), type=TokenType.ACCESS)


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub", "typ", "jti"])
def test_a_token_without_a_required_claim_is_refused(
    signer: TokenSigner, clock: FakeClock, missing: str
) -> None:
    with pytest.raises(Unauthenticated):
        signer.verify(_forge(_claims(clock, **{missing: None})), type=TokenType.ACCESS)


@pytest.mark.parametrize(
    "change", [{"aud": "other-app"}, {"iss": "someone-else"}, {"typ": "refresh"}, {"typ": "id"}]
)
def test_wrong_audience_issuer_or_type_is_refused(
    signer: TokenSigner, clock: FakeClock, change: dict[str, object]
) -> None:
    with pytest.raises(Unauthenticated):
        signer.verify(_forge(_claims(clock, **change)), type=TokenType.ACCESS)


def test_expired_token_is_refused_by_the_clock(signer: TokenSigner, clock: FakeClock) -> None:
    token, _ = signer.issue(subject="u1", type=TokenType.ACCESS, ttl=900)
    clock.now += 899
    signer.verify(token, type=TokenType.ACCESS)
    clock.now += 1
    with pytest.raises(Unauthenticated, match="expired"):
        signer.verify(token, type=TokenType.ACCESS)


def test_tampered_token_is_refused(signer: TokenSigner) -> None:
    token, _ = signer.issue(subject="u1", type=TokenType.ACCESS, ttl=900)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "admin"
    with pytest.raises(Unauthenticated):
        signer.verify(f"{header}.{_b64(claims)}.{signature}", type=TokenType.ACCESS)
    with pytest.raises(Unauthenticated):
        signer.verify(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), type=TokenType.ACCESS)
    with pytest.raises(Unauthenticated):
        signer.verify("not-a-token", type=TokenType.ACCESS)


def test_refresh_token_is_not_an_access_token(signer: TokenSigner) -> None:
    token, _ = signer.issue(subject="u1", type=TokenType.REFRESH, ttl=3600)
    with pytest.raises(Unauthenticated):
        signer.verify(token, type=TokenType.ACCESS)
    assert signer.verify(token, type=TokenType.REFRESH).type is TokenType.REFRESH


def test_keys_rotate_by_kid(clock: FakeClock) -> None:
    old = TokenSigner.from_settings(load_settings(jwt_secret=OLD_SECRET), clock=clock)
    token, _ = old.issue(subject="u1", type=TokenType.ACCESS, ttl=900)
    rotated = TokenSigner.from_settings(
        load_settings(jwt_secret=SECRET, jwt_previous_secrets=[OLD_SECRET]), clock=clock
    )
    assert rotated.verify(token, type=TokenType.ACCESS).subject == "u1"
    new_token, _ = rotated.issue(subject="u1", type=TokenType.ACCESS, ttl=900)
    assert jwt.get_unverified_header(new_token)["kid"] == key_id(SECRET)
    retired = TokenSigner.from_settings(load_settings(jwt_secret=SECRET), clock=clock)
    with pytest.raises(Unauthenticated):
        retired.verify(token, type=TokenType.ACCESS)


def test_otp_is_six_random_digits() -> None:
    codes = {new_otp() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 190


def test_passwords_hash_with_bcrypt_and_every_character_counts() -> None:
    long = "p" * 100
    stored = hash_password(long, rounds=4)
    assert stored.startswith("$2b$04$")
    assert verify_password(long, stored)
    assert not verify_password("p" * 99 + "q", stored)  # past bcrypt's 72-byte cut
    assert not verify_password(long, "not-a-hash")


def test_keyed_hash_depends_on_key_purpose_and_parts() -> None:
    otp, other = derive_key(SECRET, "otp"), derive_key(SECRET, "kv-id")
    assert keyed_hash(otp, "a", "bc") != keyed_hash(otp, "ab", "c")
    assert keyed_hash(otp, "x") != keyed_hash(other, "x")
    assert constant_time_equal(keyed_hash(otp, "x"), keyed_hash(otp, "x"))
    assert not constant_time_equal(keyed_hash(otp, "x"), keyed_hash(otp, "y"))
