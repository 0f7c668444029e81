"""The tus 1.0.0 protocol's headers: parsed strictly, so nothing odd reaches storage.

Pure functions over header strings; no I/O. Every refusal is a `MalformedRequest`
(400) or `UnsupportedChecksum` whose message says what a client should send instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from serve.uploads.errors import ChecksumMismatch, MalformedRequest, UnsupportedChecksum

TUS_VERSION = "1.0.0"
# checksum-trailer is left out: ASGI servers drop HTTP trailers before the app sees them.
EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "expiration",
    "checksum",
    "termination",
    "concatenation",
)
CHECKSUM_ALGORITHMS = ("sha1", "md5", "sha256")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# Headers a browser's tus client must be able to read (CORS Access-Control-Expose-Headers).
EXPOSED_HEADERS = (
    "Location",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Defer-Length",
    "Upload-Metadata",
    "Upload-Concat",
    "Upload-Expires",
)

MAX_INT64 = 2**63 - 1
_UINT = re.compile(r"[0-9]{1,19}")
MAX_METADATA_HEADER = 8 * 1024
_METADATA_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# What vidray keeps of Upload-Metadata, each with its length limit (characters).
METADATA_LIMITS = {
    "filename": 255,
    "filetype": 100,
    "title": 200,
    "description": 5000,
    "visibility": 16,
}
VISIBILITIES = ("public", "unlisted", "private")
_UPLOAD_ID = re.compile(r"[0-9a-z]{16}")


def parse_uint(name: str, value: str | None, *, required: bool = False) -> int | None:
    """A non-negative decimal that fits in 63 bits, or None when absent and optional.

    >>> parse_uint("Upload-Offset", "42")
    42
    """
    if value is None:
        if required:
            raise MalformedRequest(f"send the {name} header (a non-negative integer)")
        return None
    text = value.strip()
    if not _UINT.fullmatch(text) or int(text) > MAX_INT64:
        raise MalformedRequest(
            f"{name} must be a non-negative integer below 2^63, not {value[:40]!r}"
        )
    return int(text)


def check_version(value: str | None) -> None:
    if value != TUS_VERSION:
        raise MalformedRequest(f"send 'Tus-Resumable: {TUS_VERSION}'; this server speaks no other")


def parse_defer_length(value: str | None) -> bool:
    if value is None:
        return False
    if value.strip() != "1":
        raise MalformedRequest("Upload-Defer-Length may only be '1'")
    return True


def _clean(text: str, *, limit: int, lines: bool = False) -> str:
    """NFC, no control or format characters (newlines only where `lines`), trimmed."""
    text = unicodedata.normalize("NFC", text)
    allowed = {"\n"} if lines else set()
    text = "".join(
        ch
        for ch in text
        if ch in allowed or unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co", "Cn"}
    )
    return text.strip()[:limit]


def clean_filename(name: str) -> str:
    """A display name only: the last path segment, never a path we would write to.

    >>> clean_filename("../../etc/passwd")
    'passwd'
    """
    base = re.split(r"[/\\]", name)[-1]
    base = _clean(base, limit=METADATA_LIMITS["filename"]).lstrip(".")
    return base or "upload"


def parse_metadata(value: str | None) -> dict[str, str]:
    """Decode Upload-Metadata (`key base64,key base64`), keep the keys vidray uses.

    >>> parse_metadata("filename bXkudmlkZW8ubXA0,title SGk=")
    {'filename': 'my.video.mp4', 'title': 'Hi'}
    """
    if value is None or not value.strip():
        return {}
    if len(value) > MAX_METADATA_HEADER:
        raise MalformedRequest(f"Upload-Metadata is longer than {MAX_METADATA_HEADER} bytes")
    decoded: dict[str, str] = {}
    for pair in value.split(","):
        key, _, encoded = pair.strip().partition(" ")
        if not _METADATA_KEY.fullmatch(key):
            raise MalformedRequest(f"Upload-Metadata has a malformed key {key[:64]!r}")
        if key in decoded:
            raise MalformedRequest(f"Upload-Metadata repeats the key {key!r}")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True) if encoded.strip() else b""
            text = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            raise MalformedRequest(f"Upload-Metadata {key!r} is not base64 of UTF-8 text") from None
        decoded[key] = text
    return sanitise_metadata(decoded)


def sanitise_metadata(raw: dict[str, str]) -> dict[str, str]:
    """Keep the known keys, length-limited and stripped of control characters."""
    meta: dict[str, str] = {}
    for key, limit in METADATA_LIMITS.items():
        if key not in raw:
            continue
        if key == "filename":
            meta[key] = clean_filename(raw[key])
        else:
            meta[key] = _clean(raw[key], limit=limit, lines=key == "description")
    if "visibility" in meta:
        meta["visibility"] = meta["visibility"].lower()
        if meta["visibility"] not in VISIBILITIES:
            raise MalformedRequest(f"visibility must be one of {', '.join(VISIBILITIES)}")
    return meta


@dataclass(frozen=True, slots=True)
class Checksum:
    """An expected digest from Upload-Checksum; `hasher()` computes the received one."""

    algorithm: Literal["sha1", "md5", "sha256"]
    digest: bytes

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm, usedforsecurity=False)

    def verify(self, received: bytes) -> None:
        if received != self.digest:
            raise ChecksumMismatch(
                f"the body's {self.algorithm} does not match Upload-Checksum: "
                "nothing was stored, send the same bytes again"
            )


def parse_checksum(value: str | None) -> Checksum | None:
    """`Upload-Checksum: sha256 <base64 digest>`.

    >>> parse_checksum("md5 1B2M2Y8AsgTpgAmY7PhCfg==").algorithm
    'md5'
    """
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise UnsupportedChecksum(
            f"checksum algorithm {algorithm[:20]!r} is not offered: "
            f"use one of {', '.join(CHECKSUM_ALGORITHMS)}"
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedRequest("Upload-Checksum's digest is not base64") from None
    if len(digest) != hashlib.new(algorithm, usedforsecurity=False).digest_size:
        raise MalformedRequest(f"Upload-Checksum's digest has the wrong length for {algorithm}")
    return Checksum(algorithm=algorithm, digest=digest)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Concat:
    kind: Literal["partial", "final"]
    parts: tuple[str, ...] = ()


def upload_id_from_url(url: str) -> str:
    """The upload id at the end of a partial upload's URL (`/files/{id}` or absolute)."""
    path = url.split("?", 1)[0].rstrip("/")
    upload_id = path.rsplit("/", 1)[-1]
    if "/files/" not in f"/{path}" or not _UPLOAD_ID.fullmatch(upload_id):
        raise MalformedRequest(f"{url[:100]!r} is not the URL of an upload on this server")
    return upload_id


def parse_concat(value: str | None) -> Concat | None:
    """`partial`, or `final;/files/a /files/b` (absolute URLs allowed)."""
    if value is None:
        return None
    text = value.strip()
    if text == "partial":
        return Concat(kind="partial")
    if text.startswith("final;"):
        urls = text[len("final;") :].split()
        if not urls:
            raise MalformedRequest("Upload-Concat final names no partial uploads")
        if len(urls) > 1000:
            raise MalformedRequest("Upload-Concat final may join at most 1000 partial uploads")
        return Concat(kind="final", parts=tuple(upload_id_from_url(u) for u in urls))
    raise MalformedRequest("Upload-Concat must be 'partial' or 'final;<url> <url> ...'")


def is_upload_id(value: str) -> bool:
    return bool(_UPLOAD_ID.fullmatch(value))
