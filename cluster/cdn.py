"""CloudFront signed URLs for the `cdn` byte path (`VIDRAY_STREAM_PATH=cdn`).

The stream deployment answers a segment or image request with a `302` to
`{VIDRAY_CDN_BASE_URL}/{object key}` signed with a canned policy: `Expires`,
`Signature` and `Key-Pair-Id` in the query string, which CloudFront leaves out of its
cache key unless told otherwise, so every viewer's request for a segment hits one
cached object. The vidray token never reaches the CDN: it stays in the path of the
playlists, which Serve answers.

CloudFront checks the signature with the public key of `VIDRAY_CDN_KEY_ID` (a key in
a trusted key group of the distribution); vidray holds the private key
(`VIDRAY_CDN_PRIVATE_KEY`, PEM).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

if TYPE_CHECKING:
    from cluster.config import Settings


class CdnSigner:
    """Signs CloudFront URLs under one distribution's base URL."""

    def __init__(self, *, base_url: str, key_id: str, private_key: rsa.RSAPrivateKey) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id

        def rsa_signer(message: bytes) -> bytes:
            # CloudFront's canned policies are RSA-SHA1, PKCS #1 v1.5: its choice, not ours.
            return private_key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303

        self._signer = CloudFrontSigner(key_id, rsa_signer)

    @classmethod
    def from_settings(cls, settings: Settings) -> CdnSigner:
        cdn = settings.cdn_credentials()
        return cls(base_url=cdn.base_url, key_id=cdn.key_id, private_key=cdn.private_key)

    def url(self, key: str, *, expires_at: int) -> str:
        """`{base}/{key}` signed to work until `expires_at` (seconds since the epoch)."""
        return str(
            self._signer.generate_presigned_url(
                f"{self.base_url}/{quote(key)}",
                date_less_than=datetime.fromtimestamp(expires_at, UTC),
            )
        )
