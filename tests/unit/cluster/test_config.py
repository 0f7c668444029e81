from __future__ import annotations

import pytest

from cluster.config import load_settings
from cluster.errors import ConfigError

STRONG = "x" * 40


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VIDRAY_MODE", "VIDRAY_DATABASE_URL", "VIDRAY_REDIS_URL", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)


def test_embedded_defaults_need_nothing_configured() -> None:
    settings = load_settings()
    assert settings.mode == "dev"
    assert settings.http_port == 8000
    assert (settings.upload_edge, settings.upload_port, settings.upload_url) == (True, 8001, None)
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.resolved_database_url.endswith(".vidray/vidray.db")
    assert settings.redis_url is None
    assert settings.s3_bucket is None


def test_settings_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDRAY_HTTP_PORT", "8123")
    monkeypatch.setenv("VIDRAY_DATABASE_URL", "postgresql://u@db/vidray")
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    settings = load_settings()
    assert settings.http_port == 8123
    assert settings.resolved_database_url == "postgresql://u@db/vidray"
    assert settings.ray_address == "ray://head:10001"


@pytest.mark.parametrize("secret", ["changeme", "secret", "", "short-but-real"])
def test_prod_refuses_placeholder_signing_secret(secret: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(mode="prod", signing_secret=secret, jwt_secret=STRONG)
    assert caught.value.variable == "VIDRAY_SIGNING_SECRET"
    assert "32 characters" in str(caught.value)


def test_prod_refuses_missing_jwt_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(mode="prod", signing_secret=STRONG)
    assert caught.value.variable == "VIDRAY_JWT_SECRET"


def test_prod_starts_with_real_secrets() -> None:
    settings = load_settings(mode="prod", signing_secret=STRONG, jwt_secret="y" * 40)
    assert settings.mode == "prod"


def test_dev_accepts_the_placeholder() -> None:
    assert load_settings(mode="dev").signing_secret.get_secret_value() == "changeme"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VIDRAY_DATABASE_URL", "mysql://root@localhost/db"),
        ("VIDRAY_DATABASE_URL", "not a url"),
        ("VIDRAY_DATABASE_URL", "postgresql://u@127.0.0.1:notaport/db"),
        ("VIDRAY_DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1/db"),
        ("VIDRAY_REDIS_URL", "redis://127.0.0.1:abc/0"),
        ("VIDRAY_S3_ENDPOINT_URL", "http://127.0.0.1:99999"),
        ("VIDRAY_SMS_URL", "https://sms.example:0/send"),
        ("VIDRAY_TIERS", "not json"),
        ("VIDRAY_SIGNING_PREVIOUS_SECRETS", "[unterminated"),
        ("VIDRAY_REDIS_URL", "http://localhost:6379"),
        ("VIDRAY_S3_ENDPOINT_URL", "localhost:9000"),
        ("VIDRAY_HTTP_PORT", "99999"),
        ("VIDRAY_HTTP_PORT", "eighty"),
        ("VIDRAY_MODE", "production"),
        ("VIDRAY_STREAM_REPLICAS", "0"),
        ("VIDRAY_UPLOAD_PORT", "0"),
        ("VIDRAY_UPLOAD_URL", "uploads.example.com"),
        ("VIDRAY_UPLOAD_URL", "https://up.example.com/?x=1"),
        ("VIDRAY_UPLOAD_EDGE", "maybe"),
    ],
)
def test_malformed_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize("mode", ["dev", "prod"])
@pytest.mark.parametrize(
    "missing", ["VIDRAY_CDN_BASE_URL", "VIDRAY_CDN_KEY_ID", "VIDRAY_CDN_PRIVATE_KEY"]
)
def test_the_cdn_path_names_the_setting_it_lacks(mode: str, missing: str) -> None:
    given = {
        "cdn_base_url": "https://d1.cloudfront.net",
        "cdn_key_id": "K2JCJMDEHXQW5F",
        "cdn_private_key": _pem(),
    }
    del given[missing.removeprefix("VIDRAY_").lower()]
    with pytest.raises(ConfigError) as caught:
        load_settings(
            mode=mode, signing_secret=STRONG, jwt_secret=STRONG, stream_path="cdn", **given
        )
    assert caught.value.variable == missing
    assert "VIDRAY_STREAM_PATH=cdn" in str(caught.value)


def test_the_cdn_path_refuses_a_key_that_is_not_pem() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            stream_path="cdn",
            cdn_base_url="https://d1.cloudfront.net/",
            cdn_key_id="K2JCJMDEHXQW5F",
            cdn_private_key="-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----",
        )
    assert caught.value.variable == "VIDRAY_CDN_PRIVATE_KEY"


def test_the_cdn_path_starts_with_its_settings() -> None:
    settings = load_settings(
        stream_path="cdn",
        cdn_base_url="https://d1.cloudfront.net/",
        cdn_key_id="K2JCJMDEHXQW5F",
        cdn_private_key=_pem(),
    )
    assert settings.cdn_base_url == "https://d1.cloudfront.net"
