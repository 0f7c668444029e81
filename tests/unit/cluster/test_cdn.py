"""CloudFront signing from settings: the CDN settings are checked where they are loaded."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cluster.cdn import CdnSigner
from cluster.config import Settings
from cluster.errors import ConfigError


def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def test_a_signer_from_hand_built_settings_names_the_missing_setting() -> None:
    # Settings(...) skips load_settings' checks; the signer still refuses, by name.
    settings = Settings(stream_path="cdn", cdn_base_url="https://d1.cloudfront.net")
    with pytest.raises(ConfigError) as caught:
        CdnSigner.from_settings(settings)
    assert caught.value.variable == "VIDRAY_CDN_KEY_ID"


def test_a_signer_from_settings_signs_under_the_base_url() -> None:
    settings = Settings(
        stream_path="cdn",
        cdn_base_url="https://d1.cloudfront.net/",
        cdn_key_id="K2JCJMDEHXQW5F",
        cdn_private_key=_pem(),
    )
    url = CdnSigner.from_settings(settings).url("hls/ab12/720p/seg 1.ts", expires_at=1_800_000_000)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://d1.cloudfront.net/hls/ab12/720p/seg%201.ts"
    )
    query = parse_qs(parts.query)
    assert query["Expires"] == ["1800000000"]
    assert query["Key-Pair-Id"] == ["K2JCJMDEHXQW5F"]
    assert query["Signature"]
