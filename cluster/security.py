"""Passwords, JWT sessions, one-time codes and keyed hashes.

Tokens are HS256 only. Each token names its key in the `kid` header, so a new
`VIDRAY_JWT_SECRET` can take over signing while `VIDRAY_JWT_PREVIOUS_SECRETS` still
verifies the tokens issued before the rotation. Time comes from an injected clock, so
expiry is tested without sleeping. Signed HLS URLs live in `cluster/url_signing.py`.
"""

from __future__ import annotations

import base64
import enum
import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import bcrypt
import jwt

from cluster.errors import Unauthenticated

if TYPE_CHECKING:
    from pydantic import SecretStr

    from cluster.config import Settings

Clock = Callable[[], float]
K = TypeVar("K", str, bytes)

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "typ", "jti")
# Headers that would let a token carry or point at its own key: we never honour them.
FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit"})
# Tolerated clock skew between replicas for `iat`.
IAT_SKEW_S = 60
BCRYPT_ROUNDS = 12
OTP_DIGITS = 6


class TokenType(enum.StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


# --- keyed hashing -----------------------------------------------------------------


def derive_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose, so a hash made for OTPs is useless for anything else."""
    return hmac.new(secret.encode(), f"vidray:{purpose}".encode(), hashlib.sha256).digest()


def keyed_hash(key: bytes, *parts: str) -> str:
    """HMAC-SHA256 of the parts (NUL-separated, so ("ab", "c") differs from ("a", "bc"))."""
    return hmac.new(key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    """Compare secrets without leaking where they differ through timing."""
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)


# --- one-time codes ----------------------------------------------------------------


def new_otp() -> str:
    """Six random digits from the OS CSPRNG, leading zeros kept."""
    return f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"


# --- passwords ---------------------------------------------------------------------


def _prehash(password: str) -> bytes:
    # bcrypt reads only 72 bytes; a SHA-256 pre-hash keeps every character significant.
    # base64 keeps NUL bytes out of bcrypt's C string.
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


def hash_password(password: str, *, rounds: int = BCRYPT_ROUNDS) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), password_hash.encode())
    except ValueError:  # a malformed stored hash never matches
        return False


@functools.cache
def dummy_password_hash() -> str:
    """A real hash to check against when an account has none, so a login for an unknown
    account costs the same time as one for a known account. Made on first use: hashing
    at import would slow every process that imports this module."""
    return hash_password(secrets.token_urlsafe(16))


# --- JWT ---------------------------------------------------------------------------


def jwt_key(secret: str) -> bytes:
    """The HMAC key that signs JWTs, derived from `VIDRAY_JWT_SECRET`."""
    return derive_key(secret, "jwt")


def key_ring(
    current: SecretStr, previous: Iterable[SecretStr], derive: Callable[[str], K]
) -> tuple[dict[str, K], str]:
    """Keys derived from the current secret and the retired ones, by key id, and the
    current key's id: what a signer checks old tokens against during a rotation."""
    ring = {key_id(old.get_secret_value()): derive(old.get_secret_value()) for old in previous}
    ring[key_id(current.get_secret_value())] = derive(current.get_secret_value())
    return ring, key_id(current.get_secret_value())


def key_id(secret: str) -> str:
    """A stable, non-reversible name for a secret: every replica derives the same one."""
    return hashlib.sha256(f"vidray-kid:{secret}".encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Claims:
    subject: str
    type: TokenType
    token_id: str
    issued_at: int
    expires_at: int
    extra: Mapping[str, Any]


class TokenSigner:
    """Issues and verifies HS256 JWTs with a key ring: `kid` -> secret."""

    def __init__(
        self,
        *,
        keys: Mapping[str, bytes],
        current_kid: str,
        issuer: str,
        audience: str,
        clock: Clock = time.time,
    ) -> None:
        if current_kid not in keys:
            raise ValueError(f"the signing key {current_kid!r} is not in the key ring")
        self.keys = dict(keys)
        self.current_kid = current_kid
        self.issuer = issuer
        self.audience = audience
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.time) -> TokenSigner:
        # The HMAC key is derived from the secret: always 32 bytes, and never the same
        # bytes as any other use of the secret.
        ring, current_kid = key_ring(
            settings.jwt_secret, settings.jwt_previous_secrets, derive=jwt_key
        )
        return cls(
            keys=ring,
            current_kid=current_kid,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            clock=clock,
        )

    def issue(
        self,
        *,
        subject: str,
        type: TokenType,
        ttl: float,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[str, Claims]:
        """Sign a token of `type` for `subject`, valid for `ttl` seconds from now."""
        now = int(self.clock())
        claims = Claims(
            subject=subject,
            type=type,
            token_id=secrets.token_urlsafe(16),
            issued_at=now,
            expires_at=now + int(ttl),
            extra=dict(extra or {}),
        )
        payload = {
            **claims.extra,
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "typ": type.value,
            "jti": claims.token_id,
            "iat": now,
            "exp": claims.expires_at,
        }
        token = jwt.encode(
            payload,
            self.keys[self.current_kid],
            algorithm=ALGORITHM,
            headers={"kid": self.current_kid},
        )
        return token, claims

    def verify(self, token: str, *, type: TokenType) -> Claims:
        """Return the claims of a valid token of `type`, else raise `Unauthenticated`."""
        refused = Unauthenticated(f"the {type.value} token is invalid: sign in again")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise refused from None
        kid = header.get("kid")
        # The header is attacker-controlled: allow exactly one algorithm, known key ids,
        # and nothing that carries its own key.
        if header.get("alg") != ALGORITHM or kid not in self.keys:
            raise refused
        if FORBIDDEN_HEADERS & set(header):
            raise refused
        try:
            payload = jwt.decode(
                token,
                self.keys[kid],
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # Time is checked below against the injected clock.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise refused from None
        now = self.clock()
        exp, iat = payload["exp"], payload["iat"]
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise refused
        if exp <= now:
            raise Unauthenticated(f"the {type.value} token has expired: refresh or sign in again")
        if iat > now + IAT_SKEW_S:
            raise refused
        if payload["typ"] != type.value:
            raise refused
        if not isinstance(payload["sub"], str) or not isinstance(payload["jti"], str):
            raise refused
        extra = {k: v for k, v in payload.items() if k not in REQUIRED_CLAIMS}
        return Claims(
            subject=payload["sub"],
            type=type,
            token_id=payload["jti"],
            issued_at=int(iat),
            expires_at=int(exp),
            extra=extra,
        )
