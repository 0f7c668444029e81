from __future__ import annotations

import pytest

from cluster.config import NOT_SETTINGS, load_settings, setting_variables
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


def test_a_misspelt_variable_is_refused_with_the_closest_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIDRAY_UPLOD_PART_BYTES", str(32 * 1024**2))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.variable == "VIDRAY_UPLOD_PART_BYTES"
    assert str(caught.value) == (
        "VIDRAY_UPLOD_PART_BYTES: no such setting; did you mean VIDRAY_UPLOAD_PART_BYTES?"
    )


def test_a_lowercase_variable_is_checked_like_the_setting_it_would_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pydantic-settings reads names case-insensitively, so this would be VIDRAY_STREAM_PATH.
    monkeypatch.setenv("vidray_stream_pth", "nginx")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert (
        str(caught.value) == "vidray_stream_pth: no such setting; did you mean VIDRAY_STREAM_PATH?"
    )


def test_a_variable_like_no_setting_says_where_the_settings_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIDRAY_XYZZY", "1")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.variable == "VIDRAY_XYZZY"
    assert "no such setting" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_misspelt_override_is_refused_with_the_closest_field() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(uplod_part_bytes=32 * 1024**2)
    assert str(caught.value) == (
        "uplod_part_bytes: no such setting; did you mean upload_part_bytes?"
    )


def test_ray_address_is_an_override_by_field_or_variable_name() -> None:
    assert load_settings(ray_address="ray://a:10001").ray_address == "ray://a:10001"
    assert load_settings(RAY_ADDRESS="ray://b:10001").ray_address == "ray://b:10001"


@pytest.mark.parametrize("variable", sorted(NOT_SETTINGS))
def test_vidray_variables_that_are_not_settings_are_let_through(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "1")
    assert load_settings().mode == "dev"


def test_variables_outside_the_prefix_are_not_vidrays_business(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIDRAYX_MODE", "prod")
    monkeypatch.setenv("MY_VIDRAY_THING", "1")
    assert load_settings().mode == "dev"


def test_every_setting_is_read_from_its_variable() -> None:
    variables = setting_variables()
    assert variables["VIDRAY_UPLOAD_PART_BYTES"] == "upload_part_bytes"
    assert variables["RAY_ADDRESS"] == "ray_address"
    assert not NOT_SETTINGS & variables.keys()
