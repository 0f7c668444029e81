"""Passwords, JWT sessions, one-time codes, keyed hashes and signed HLS URLs.

Tokens are HS256 only. Each token names its key in the `kid` header, so a new
`VIDRAY_JWT_SECRET` can take over signing while `VIDRAY_JWT_PREVIOUS_SECRETS` still
verifies the tokens issued before the rotation. Time comes from an injected clock, so
expiry is tested without sleeping.
"""

from __future__ import annotations

import base64
import enum
import functools
import hashlib
import hmac
import posixpath
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import bcrypt
import jwt

from cluster.errors import Unauthenticated, UrlRefused

if TYPE_CHECKING:
    from cluster.config import Settings

Clock = Callable[[], float]

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
        current = settings.jwt_secret.get_secret_value()
        # The HMAC key is derived from the secret: always 32 bytes, and never the same
        # bytes as any other use of the secret.
        ring = {
            key_id(old.get_secret_value()): jwt_key(old.get_secret_value())
            for old in settings.jwt_previous_secrets
        }
        ring[key_id(current)] = jwt_key(current)
        return cls(
            keys=ring,
            current_kid=key_id(current),
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


# --- signed HLS URLs ---------------------------------------------------------------
#
# A playback URL carries one token for a whole video prefix, as a path segment:
#
#     /hls/{video_id}/{kid}.{nbf}.{exp}.{binding}.{sig}/master.m3u8
#
# The playlists name every other file relatively, so a player resolves each URI under
# the same token (`.../{token}/720p/seg_00000.ts`): it needs nothing but the master URL,
# and a playlist is the same bytes for every viewer. `sig` is in nginx `secure_link`
# form (MD5, base64url without padding) over
#
#     "{exp}/hls/{video_id}/ {kid} {nbf} {binding} {ip} {key}"
#
# so nginx verifies the very same URLs natively (`vidray nginx-config`). The key is last:
# MD5 with a secret suffix is not open to length extension, and vidray alone chooses
# what it signs. `binding` is "a" (any address) or "i" (the signing address only),
# followed by the viewer's id when there is one, so a leaked URL names its viewer, and
# then, for a private video, "-" and the viewer's session generation at signing time
# (`auth:gen:{user_id}`, see `cluster/kv.py`): "log out everywhere" and suspension bump
# it, and the stream deployment then refuses the URL ("revoked"). nginx checks the
# binding only as signed text: it cannot read the generation.
# The last of the 22 base64 characters carries 2 bits and 4 padding bits; only the
# canonical ones ([AQgw]) are accepted, since nginx would decode "B" the same as "A".

HLS_ROOT = "/hls/"
_VIDEO_ID = re.compile(r"[0-9a-z]{1,32}")
_VIEWER_ID = re.compile(r"[0-9a-z]{0,32}")
_TOKEN = re.compile(
    r"(?P<kid>[0-9a-f]{12})\.(?P<nbf>[0-9]{1,12})\.(?P<exp>[0-9]{1,12})\."
    r"(?P<binding>[ai][0-9a-z]{0,32}(?:-[0-9]{1,12})?)\.(?P<sig>[A-Za-z0-9_-]{21}[AQgw])"
)
# The token as nginx captures it; `vidray nginx-config` writes this into a location.
NGINX_GRANT_PATTERN = (
    r"(?<vr_kid>[0-9a-f]{12})\.(?<vr_nbf>[0-9]{1,12})\.(?<vr_exp>[0-9]{1,12})\."
    r"(?<vr_bind>[ai][0-9a-z]{0,32}(?:-[0-9]{1,12})?)\.(?<vr_sig>[A-Za-z0-9_-]{21}[AQgw])"
)


def hls_key(secret: str) -> str:
    """The URL-signing key derived from `VIDRAY_SIGNING_SECRET`; nginx holds only this."""
    return derive_key(secret, "hls").hex()


def _secure_link_md5(text: str) -> str:
    # MD5 is what nginx secure_link computes; it is a MAC here only because the key is in it.
    digest = hashlib.md5(text.encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class UrlGrant:
    """What a verified token allows: this video's prefix, from `not_before` to `expires_at`."""

    video_id: str
    key_id: str
    not_before: int
    expires_at: int
    viewer_id: str | None
    ip_bound: bool
    # The viewer's session generation at signing time; None when playback does not
    # depend on the viewer's session (anonymous, public and unlisted videos).
    generation: int | None = None


@dataclass(frozen=True, slots=True)
class HlsPath:
    """A request path under /hls/, decoded and normalised: `/hls/{video_id}/{token}/{rest}`."""

    video_id: str
    token: str
    rest: str


def parse_hls_path(raw: str) -> HlsPath:
    """Decode and normalise a request path before anything is checked against it.

    Percent-encoding is undone once (a `%` left after that is refused, so `%252e` never
    turns into `.` later), dot segments and repeated slashes are resolved, then the
    path is split. `/hls/12/TOKEN/../../13/x` becomes `/hls/13/x`: the token for 12
    is then checked against video 13, and refused.

    >>> parse_hls_path("/hls/ab12/TOKEN/720p/%73eg_00000.ts").rest
    '720p/seg_00000.ts'
    """
    refused = UrlRefused("malformed")
    try:
        decoded = unquote(raw.split("?", 1)[0], errors="strict")
    except UnicodeDecodeError:
        raise refused from None
    if "%" in decoded or "\\" in decoded or any(ord(c) < 0x20 or c == "\x7f" for c in decoded):
        raise refused
    normal = "/" + posixpath.normpath(decoded).lstrip("/")
    if not normal.startswith(HLS_ROOT):
        raise refused
    parts = normal[len(HLS_ROOT) :].split("/", 2)
    if len(parts) != 3 or not _VIDEO_ID.fullmatch(parts[0]) or not parts[2]:
        raise refused
    return HlsPath(video_id=parts[0], token=parts[1], rest=parts[2])


class UrlSigner:
    """Signs and verifies HLS prefix tokens with a key ring: `kid` -> key."""

    def __init__(
        self,
        *,
        keys: Mapping[str, str],
        current_kid: str,
        skew_s: int,
        clock: Clock = time.time,
    ) -> None:
        if current_kid not in keys:
            raise ValueError(f"the signing key {current_kid!r} is not in the key ring")
        self.keys = dict(keys)
        self.current_kid = current_kid
        self.skew_s = skew_s
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.time) -> UrlSigner:
        current = settings.signing_secret.get_secret_value()
        ring = {
            key_id(old.get_secret_value()): hls_key(old.get_secret_value())
            for old in settings.signing_previous_secrets
        }
        ring[key_id(current)] = hls_key(current)
        return cls(
            keys=ring, current_kid=key_id(current), skew_s=settings.stream_skew_s, clock=clock
        )

    def _signature(
        self, *, video_id: str, kid: str, nbf: int, exp: int, binding: str, ip: str
    ) -> str:
        text = f"{exp}{HLS_ROOT}{video_id}/ {kid} {nbf} {binding} {ip} {self.keys[kid]}"
        return _secure_link_md5(text)

    def token(
        self,
        *,
        video_id: str,
        ttl: float,
        viewer_id: str | None = None,
        ip: str | None = None,
        generation: int | None = None,
    ) -> str:
        """A token for everything under `/hls/{video_id}/` for `ttl` seconds from now;
        with `generation`, only while the viewer's session generation stays at it."""
        if not _VIDEO_ID.fullmatch(video_id):
            raise ValueError(f"not a video id: {video_id!r}")
        if viewer_id is not None and not _VIEWER_ID.fullmatch(viewer_id):
            raise ValueError(f"not a viewer id: {viewer_id!r}")
        if generation is not None and (not viewer_id or not 0 <= generation < 10**12):
            raise ValueError(f"a session generation needs a viewer: {generation!r}")
        nbf = int(self.clock())
        exp = nbf + max(1, int(ttl))
        binding = ("i" if ip else "a") + (viewer_id or "")
        if generation is not None:
            binding += f"-{generation}"
        kid = self.current_kid
        sig = self._signature(
            video_id=video_id, kid=kid, nbf=nbf, exp=exp, binding=binding, ip=ip or ""
        )
        return f"{kid}.{nbf}.{exp}.{binding}.{sig}"

    def sign(
        self, *, video_id: str, ttl: float, viewer_id: str | None = None, ip: str | None = None
    ) -> str:
        """The master playlist URL path for a viewer (append it to the public origin).

        >>> signer.sign(video_id="ab12", ttl=3600)  # doctest: +SKIP
        '/hls/ab12/3f1c2a9b0d4e.1800000000.1800003600.a.Xk3...Q/master.m3u8'
        """
        token = self.token(video_id=video_id, ttl=ttl, viewer_id=viewer_id, ip=ip)
        return f"{HLS_ROOT}{video_id}/{token}/master.m3u8"

    def verify(self, *, video_id: str, token: str, ip: str | None) -> UrlGrant:
        """The grant a token gives for `video_id`, else `UrlRefused` with its reason."""
        found = _TOKEN.fullmatch(token)
        if found is None:
            raise UrlRefused("malformed")
        kid, binding = found["kid"], found["binding"]
        if kid not in self.keys:
            raise UrlRefused("unknown-key")
        nbf, exp = int(found["nbf"]), int(found["exp"])
        bound_ip = (ip or "") if binding[0] == "i" else ""
        expected = self._signature(
            video_id=video_id, kid=kid, nbf=nbf, exp=exp, binding=binding, ip=bound_ip
        )
        # The signature first: a token with a moved expiry is tampered, not expired.
        if not constant_time_equal(expected, found["sig"]):
            raise UrlRefused("tampered")
        now = self.clock()
        if nbf > now + self.skew_s:
            raise UrlRefused("not-yet-valid")
        if exp + self.skew_s <= now:
            raise UrlRefused("expired")
        viewer, _, generation = binding[1:].partition("-")
        return UrlGrant(
            video_id=video_id,
            key_id=kid,
            not_before=nbf,
            expires_at=exp,
            viewer_id=viewer or None,
            ip_bound=binding[0] == "i",
            generation=int(generation) if generation else None,
        )
