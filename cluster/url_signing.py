"""Signed HLS URLs: one token per video prefix, in nginx `secure_link` form.

A playback URL carries one token for a whole video prefix, as a path segment:

    /hls/{video_id}/{kid}.{nbf}.{exp}.{binding}.{sig}/master.m3u8

The playlists name every other file relatively, so a player resolves each URI under
the same token (`.../{token}/720p/seg_00000.ts`): it needs nothing but the master URL,
and a playlist is the same bytes for every viewer. `sig` is in nginx `secure_link`
form (MD5, base64url without padding) over

    "{exp}/hls/{video_id}/ {kid} {nbf} {binding} {ip} {key}"

so nginx verifies the very same URLs natively (`vidray nginx-config`). The key is last:
MD5 with a secret suffix is not open to length extension, and vidray alone chooses
what it signs. `binding` is "a" (any address) or "i" (the signing address only),
followed by the viewer's id when there is one, so a leaked URL names its viewer, and
then, for a private video, "-" and the viewer's session generation at signing time
(`auth:gen:{user_id}`, see `cluster/kv.py`): "log out everywhere" and suspension bump
it, and the stream deployment then refuses the URL ("revoked"). nginx checks the
binding only as signed text: it cannot read the generation.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from cluster.errors import UrlRefused
from cluster.security import Clock, constant_time_equal, derive_key, key_ring

if TYPE_CHECKING:
    from cluster.config import Settings

HLS_ROOT = "/hls/"
_VIDEO_ID = re.compile(r"[0-9a-z]{1,32}")
_VIEWER_ID = re.compile(r"[0-9a-z]{0,32}")
# The last of the 22 base64 characters carries 2 bits and 4 padding bits; only the
# canonical ones ([AQgw]) are accepted, since nginx would decode "B" the same as "A".
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
        ring, current_kid = key_ring(
            settings.signing_secret, settings.signing_previous_secrets, derive=hls_key
        )
        return cls(keys=ring, current_kid=current_kid, skew_s=settings.stream_skew_s, clock=clock)

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
