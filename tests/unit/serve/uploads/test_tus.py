"""tus header parsing: numbers, metadata and checksums, refused precisely."""

from __future__ import annotations

import base64
import hashlib

import pytest

from serve.uploads.errors import ChecksumMismatch, MalformedRequest, UnsupportedChecksum
from serve.uploads.tus import (
    clean_filename,
    parse_checksum,
    parse_concat,
    parse_metadata,
    parse_uint,
    upload_id_from_url,
)


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


@pytest.mark.parametrize("value", ["0", "42", "9223372036854775807", " 7 "])
def test_uint_accepts_non_negative_63_bit_numbers(value: str) -> None:
    assert parse_uint("Upload-Offset", value) == int(value)


@pytest.mark.parametrize(
    "value",
    ["", "-1", "+1", "1.0", "1e3", "0x10", "abc", "9223372036854775808", "1" * 20, "\u0661"],
)
def test_uint_refuses_garbage_negative_and_overflow(value: str) -> None:
    with pytest.raises(MalformedRequest, match="Upload-Offset"):
        parse_uint("Upload-Offset", value)


def test_uint_absent_is_none_unless_required() -> None:
    assert parse_uint("Upload-Length", None) is None
    with pytest.raises(MalformedRequest, match="send the Upload-Offset"):
        parse_uint("Upload-Offset", None, required=True)


EVIL_NAME = "..\\evil/../../etc/pa\u202esswd"
NOT_UTF8 = b"\xff\xfe"


def test_metadata_is_decoded_limited_and_sanitised() -> None:
    header = ",".join(
        [
            f"filename {b64(EVIL_NAME)}",
            f"title {b64('A' * 500 + chr(7))}",
            f"description {b64('line one' + chr(10) + 'line two' + chr(0))}",
            f"visibility {b64('Unlisted')}",
            f"unknown {b64('dropped')}",
            "empty",
        ]
    )
    meta = parse_metadata(header)
    assert meta == {
        "filename": "passwd",
        "title": "A" * 200,
        "description": "line one\nline two",
        "visibility": "unlisted",
    }


@pytest.mark.parametrize(
    "header",
    [
        "filename !!!",
        "bad/key dGl0bGU=",
        f"title {b64('a')},title {b64('b')}",
        f"title {b64(NOT_UTF8)}",
        f"visibility {b64('everyone')}",
        "x " + "A" * 9000,
    ],
)
def test_metadata_refuses_malformed_headers(header: str) -> None:
    with pytest.raises(MalformedRequest):
        parse_metadata(header)


@pytest.mark.parametrize("name", ["", ".", "..", "/", "a/b/..", "..."])
def test_a_filename_is_never_empty_or_a_path(name: str) -> None:
    cleaned = clean_filename(name)
    assert cleaned and "/" not in cleaned and not cleaned.startswith(".")


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256"])
def test_checksums_verify_each_algorithm(algorithm: str) -> None:
    digest = hashlib.new(algorithm, b"bytes").digest()
    checksum = parse_checksum(f"{algorithm} {b64(digest)}")
    assert checksum is not None
    hasher = checksum.hasher()
    hasher.update(b"bytes")
    checksum.verify(hasher.digest())
    with pytest.raises(ChecksumMismatch, match="send the same bytes again"):
        checksum.verify(hashlib.new(algorithm, b"other").digest())


def test_checksum_refusals() -> None:
    with pytest.raises(UnsupportedChecksum, match="sha1, md5, sha256"):
        parse_checksum("crc32 AAAAAA==")
    with pytest.raises(MalformedRequest, match="not base64"):
        parse_checksum("sha1 ***")
    with pytest.raises(MalformedRequest, match="wrong length"):
        parse_checksum(f"sha256 {b64(b'short')}")


def test_concat_headers() -> None:
    assert parse_concat("partial") is not None
    final = parse_concat("final;/files/abcdefghijkmnpqr https://x.example/files/0123456789abcdef")
    assert final is not None and final.parts == ("abcdefghijkmnpqr", "0123456789abcdef")
    for bad in ("final;", "final;/other/abcdefghijkmnpqr", "whole", "final;/files/../etc"):
        with pytest.raises(MalformedRequest):
            parse_concat(bad)
    assert upload_id_from_url("/files/abcdefghijkmnpqr?token=x") == "abcdefghijkmnpqr"
