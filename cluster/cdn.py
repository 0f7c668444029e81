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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cluster.errors import ConfigError

if TYPE_CHECKING:
    from cluster.config import Settings


def load_rsa_key(pem: str) -> rsa.RSAPrivateKey:
    """The RSA private key in `pem`, or a `ConfigError` naming the setting."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            "VIDRAY_CDN_PRIVATE_KEY",
            "is not an unencrypted PEM private key: paste the key file CloudFront's key "
            "pair was made from, BEGIN and END lines included",
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(
            "VIDRAY_CDN_PRIVATE_KEY", "CloudFront signs with RSA keys: use an RSA key pair"
        )
    return key


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
        base, key_id, pem = settings.cdn_base_url, settings.cdn_key_id, settings.cdn_private_key
        # `load_settings` already refuses these; a Settings built by hand gets the same.
        if not base:
            raise ConfigError("VIDRAY_CDN_BASE_URL", "set it for VIDRAY_STREAM_PATH=cdn")
        if not key_id:
            raise ConfigError("VIDRAY_CDN_KEY_ID", "set it for VIDRAY_STREAM_PATH=cdn")
        if pem is None:
            raise ConfigError("VIDRAY_CDN_PRIVATE_KEY", "set it for VIDRAY_STREAM_PATH=cdn")
        return cls(base_url=base, key_id=key_id, private_key=load_rsa_key(pem.get_secret_value()))

    def url(self, key: str, *, expires_at: int) -> str:
        """`{base}/{key}` signed to work until `expires_at` (seconds since the epoch)."""
        return str(
            self._signer.generate_presigned_url(
                f"{self.base_url}/{quote(key)}",
                date_less_than=datetime.fromtimestamp(expires_at, UTC),
            )
        )
