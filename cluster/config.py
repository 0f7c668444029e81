"""One typed settings object, read once at process start (prefix `VIDRAY_`).

Deployments receive a `Settings` through their constructor; nothing else reads the
environment.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from cluster.errors import ConfigError
from cluster.tiers import DEFAULT_TIERS, TierLimits

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "dev-secret", "placeholder"}
)
DEV_SECRET = "changeme"  # noqa: S105 - only accepted in dev mode, refused in prod

Mode = Literal["dev", "prod"]
# Who sends segment bytes: the stream deployment, nginx `secure_link` in front of the
# store folder, S3 through presigned redirects, or a CloudFront distribution through
# signed redirects.
StreamPath = Literal["embedded", "nginx", "s3", "cdn"]
# Who answers HTTP for Serve on a local cluster: its Python proxy, or HAProxy in front.
HttpIngress = Literal["serve", "haproxy"]
SmtpSecurity = Literal["starttls", "ssl", "none"]
PerTitle = Literal["auto", "on", "off"]

GIB = 1024**3
PREFIX = "VIDRAY_"
# Variables that start with the prefix but are not settings of a vidray process, so the
# check for misspelt settings must let them through (every other VIDRAY_* is refused):
NOT_SETTINGS = frozenset(
    {
        # `vidray upload --token`'s default: a user's credential for one command, read by
        # Typer, never a setting of the platform.
        "VIDRAY_TOKEN",
        # Tests and `.ci/run`: fail instead of skipping when PostgreSQL, Redis, ffmpeg,
        # nginx, haproxy or chromium is missing.
        "VIDRAY_REQUIRE_SERVICES",
        # Tests: where their own PostgreSQL and Redis listen (tests/conftest.py).
        "VIDRAY_TEST_POSTGRES_URL",
        "VIDRAY_TEST_REDIS_URL",
    }
)
DATABASE_SCHEMES = frozenset({"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"})


def _check_port(url: str) -> None:
    """Refuse a URL whose port is not a number from 1 to 65535 (`urlsplit` is lazy)."""
    try:
        port = urlsplit(url).port
    except ValueError:
        raise ValueError("the port is not a number from 1 to 65535") from None
    if port == 0:
        raise ValueError("the port is not a number from 1 to 65535")


@dataclass(frozen=True, slots=True)
class CdnCredentials:
    """What signs CloudFront URLs (`cluster/cdn.py`): `Settings.cdn_credentials()`."""

    base_url: str
    key_id: str
    private_key: RSAPrivateKey


def _load_rsa_key(pem: str) -> RSAPrivateKey:
    """The RSA private key in `pem`, or a `ConfigError` naming the setting."""
    # cryptography loads only for the cdn path.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

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


class Settings(BaseSettings):
    """Everything vidray reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="VIDRAY_", env_file=None, extra="ignore", frozen=True
    )

    mode: Mode = "dev"
    data_dir: Path = Path(".vidray")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite in the data dir when unset."
    )
    redis_url: str | None = Field(
        default=None, description="redis:// URL; an embedded store in the data dir when unset."
    )

    s3_endpoint_url: str | None = None
    s3_bucket: str | None = Field(
        default=None, description="Objects go to this bucket; a data-dir folder when unset."
    )
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_region: str = "us-east-1"

    signing_secret: SecretStr = SecretStr(DEV_SECRET)
    signing_previous_secrets: list[SecretStr] = Field(
        default_factory=list,
        description="Old URL-signing secrets still accepted until their URLs expire (rotation).",
    )
    jwt_secret: SecretStr = SecretStr(DEV_SECRET)
    jwt_previous_secrets: list[SecretStr] = Field(
        default_factory=list,
        description="Old JWT secrets still accepted while their tokens live out (rotation).",
    )
    jwt_issuer: str = "vidray"
    jwt_audience: str = "vidray"
    access_ttl_s: int = Field(default=15 * 60, ge=30)
    refresh_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    # A client whose refresh response was lost may retry with the old token this long.
    refresh_grace_s: int = Field(default=10, ge=0, le=120)
    otp_ttl_s: int = Field(default=10 * 60, ge=30)

    smtp_host: str | None = Field(
        default=None, description="Send email through this SMTP server; the outbox when unset."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: SmtpSecurity = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "vidray <no-reply@localhost>"

    sms_url: str | None = Field(
        default=None, description="POST SMS to this provider URL; the outbox when unset."
    )
    sms_token: SecretStr | None = None
    sms_from: str = "vidray"

    tiers: dict[str, TierLimits] = Field(default_factory=lambda: dict(DEFAULT_TIERS))

    upload_max_bytes: int = Field(
        default=200 * GIB, gt=0, description="Tus-Max-Size: no upload is longer, whatever the tier."
    )
    # S3 refuses multipart parts under 5 MiB (but the last); bigger parts mean fewer calls.
    upload_part_bytes: int = Field(default=16 * 1024**2, ge=5 * 1024**2, le=5 * GIB)
    upload_expiry_s: int = Field(
        default=24 * 3600, ge=60, description="An upload untouched this long is reclaimed."
    )
    upload_sweep_interval_s: float = Field(default=300.0, gt=0)
    # A PATCH holds its upload's lock this long between refreshes; a dead writer's lock
    # lapses after it, so the client can resume on another replica.
    upload_lock_ttl_s: float = Field(default=30.0, ge=1)
    cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Origins allowed to call /files/ and /graphql from a browser.",
    )

    # Room for a 5 MiB image in base64 (avatars, thumbnails); past that, a mistake.
    graphql_max_body_bytes: int = Field(default=8 * 1024**2, ge=1024)

    stream_path: StreamPath = "embedded"
    stream_url_ttl_s: int = Field(
        default=4 * 3600, ge=60, description="Signed HLS URLs live this long after signing."
    )
    # Replicas and nginx hosts disagree about the time by a little: a URL signed on a
    # fast clock is accepted this much early, and one just expired this much late.
    stream_skew_s: int = Field(default=30, ge=0, le=300)
    # Replicas are single event loops: two keep both cores of a small node busy (twice
    # the playlists per second of one, behind HAProxy); more only add switching.
    stream_replicas: int = Field(
        default=2, ge=1, le=256, description="Stream deployment replicas (playlists, segments)."
    )
    stream_bind_ip: bool = Field(
        default=False, description="Bind signed URLs to the viewer's IP address."
    )
    stream_trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Peers whose X-Real-IP names the viewer (nginx in front).",
    )
    cdn_base_url: str | None = Field(
        default=None, description="CloudFront origin for segments, e.g. https://d1.cloudfront.net"
    )
    cdn_key_id: str | None = Field(
        default=None, description="The CloudFront public key id (Key-Pair-Id) that signs."
    )
    cdn_private_key: SecretStr | None = Field(
        default=None, description="PEM RSA private key of that CloudFront key."
    )
    web_assets_dir: Path | None = Field(
        default=None, description="hls.js and other npm assets; <data dir>/web when unset."
    )

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    http_ingress: HttpIngress = "serve"
    # tus PATCHes skip Serve's HTTP path: a plain uvicorn server on each node takes them
    # (serve/upload_edge.py); off, every upload request goes through the gateway.
    upload_edge: bool = Field(default=True, description="Serve /files/ from the upload edge.")
    upload_port: int = Field(default=8001, ge=1, le=65535, description="The upload edge's port.")
    upload_url: str | None = Field(
        default=None,
        description="Public base URL of the upload edge, for a proxy that routes /files/ to "
        "it; default: the request's host, on upload_port.",
    )

    ray_namespace: str = "vidray"
    ray_address: str | None = Field(
        default=None, validation_alias="RAY_ADDRESS", description="Join this Ray cluster."
    )
    # Ray's dashboard runs about ten processes of its own (and its metrics module writes
    # the file Prometheus discovers nodes from): worth it, except on a very small machine.
    ray_dashboard: bool = Field(
        default=True, description="Start Ray's dashboard with a local cluster."
    )
    # -- search (#16) --
    search_commit_window_s: float = Field(
        default=0.25, gt=0, le=1.5, description="How long the index gathers changes per commit."
    )
    search_trending_min_users: int = Field(
        default=3, ge=1, description="Distinct users a search needs before it trends."
    )
    search_trending_blocklist: list[str] = Field(
        default_factory=list, description="Searches that never trend (normalised text)."
    )

    # -- operations (#17) --
    upload_edge_check_s: float = Field(
        default=30.0,
        ge=1,
        description="How often the scheduler starts an upload edge on nodes without one.",
    )
    sentry_dsn: SecretStr | None = Field(
        default=None,
        # Sentry's own variable works too, as every Sentry SDK reads it.
        validation_alias=AliasChoices("VIDRAY_SENTRY_DSN", "SENTRY_DSN"),
        description="Send errors of every Ray worker to this Sentry project.",
    )

    # -- events and webhooks (#14) --
    events_poll_s: float = Field(
        default=0.5, gt=0, le=60, description="How often the dispatcher looks for new events."
    )
    events_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Events handed to a subscriber at once."
    )
    webhooks_allow_loopback: bool = Field(
        default=False,
        description="Let webhooks reach 127.0.0.0/8 and ::1 (tests, a receiver on the same "
        "host); private, link-local and CGNAT addresses stay refused.",
    )
    webhooks_timeout_s: float = Field(
        default=15.0, gt=0, le=60, description="A webhook endpoint's time to answer."
    )
    webhooks_disable_after_s: float = Field(
        default=5 * 24 * 3600.0,
        gt=0,
        description="An endpoint failing for this long is disabled and its owner told.",
    )
    webhooks_rotation_grace_s: float = Field(
        default=24 * 3600.0,
        ge=0,
        description="After a secret rotation, the old secret also signs for this long.",
    )

    # -- notifications (#14) --
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL of this instance in emails' links (watch pages, unsubscribe).",
    )
    notify_retry_base_s: float = Field(
        default=60.0, gt=0, description="First wait before an email or SMS is retried."
    )
    notify_retry_window_s: float = Field(
        default=24 * 3600.0, gt=0, description="A message still failing this long is dead."
    )
    notify_poll_s: float = Field(
        default=5.0, gt=0, description="How often the notifier looks for retries that are due."
    )
    campaign_rate: float = Field(
        default=200.0, gt=0, le=100_000, description="Campaign messages sent per second, at most."
    )

    # -- analytics (#15) --
    analytics_flush_interval_s: float = Field(
        default=5.0, gt=0, le=300, description="The sink writes its WAL to Parquet this often."
    )
    analytics_flush_rows: int = Field(
        default=10_000, ge=1, description="...or as soon as this many events are pending."
    )
    # A re-sent batch must count once for at least a day (the promise).
    analytics_dedup_s: float = Field(default=24 * 3600.0, ge=24 * 3600.0)
    analytics_compact_files: int = Field(
        default=16, ge=2, description="Merge a date's Parquet files once it has this many."
    )
    analytics_trust_country_header: bool = Field(
        default=False,
        description="Take the viewer's country from CF-IPCountry / CloudFront-Viewer-Country "
        "(only behind that CDN: a client can send the header itself).",
    )
    analytics_mmdb_path: Path | None = Field(
        default=None,
        description="A MaxMind or DB-IP country .mmdb; else the bundled iptocc tables.",
    )
    analytics_ip_batches_per_minute: int = Field(
        default=120, ge=1, description="Beacon batches one IP address may send per minute."
    )
    analytics_rollup_interval_s: float = Field(
        default=300.0, gt=0, description="How often rollups and view counts are refreshed."
    )

    # -- job board and stalls (#17) --
    job_stall_s: float = Field(
        default=600.0,
        gt=0,
        description="A running job with no progress for this long is cancelled and retried "
        "once, then failed with the reason 'stalled'.",
    )
    job_chunk_retries: int = Field(
        default=3, ge=0, le=10, description="Tries after the first for a chunk whose node died."
    )
    # The per-title ladder's probe costs a fixed 20-33 CPU-s and runs before the chunks,
    # so it delays first playable: `auto` runs it on videos of five minutes or more
    # (pipelines.transcode.PER_TITLE_AUTO_S), where that is a few percent of the encode.
    transcode_per_title: PerTitle = Field(
        default="off", description="Per-title ladder: off, auto (videos of 5 min or more), on."
    )

    @field_validator("database_url")
    @classmethod
    def _database_url_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = urlsplit(value).scheme
        # Only the drivers vidray installs: another one would fail later with an ImportError.
        if scheme not in DATABASE_SCHEMES:
            raise ValueError(
                "expected sqlite:///path or postgresql://user@host/db "
                f"(got scheme {scheme or 'none'!r})"
            )
        _check_port(value)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str | None) -> str | None:
        if value is not None:
            if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
                raise ValueError("expected redis://host:port/db or rediss://...")
            _check_port(value)
        return value

    @field_validator("tiers")
    @classmethod
    def _every_tier(cls, value: dict[str, TierLimits]) -> dict[str, TierLimits]:
        missing = set(DEFAULT_TIERS) - set(value)
        if missing:
            raise ValueError(f"define every tier (free, pro, business); missing {sorted(missing)}")
        return value

    @field_validator("cdn_base_url", "upload_url", "public_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query:
                raise ValueError("expected https://host[:port][/path], with no query string")
            _check_port(value)
            return value.rstrip("/")
        return value

    @field_validator("s3_endpoint_url", "sms_url")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError("expected http(s)://host:port")
            _check_port(value)
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vidray.db').resolve()}"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def upload_buffer_dir(self) -> Path:
        """Local disk where S3 multipart parts are assembled before they are sent."""
        return self.data_dir / "upload-buffers"

    @property
    def resolved_web_assets_dir(self) -> Path:
        """Where `vidray assets` installs hls.js from npm (never committed to the repo)."""
        return self.web_assets_dir or self.data_dir / "web"

    @property
    def outbox_dir(self) -> Path:
        """Where email and SMS land when no SMTP server or SMS provider is configured."""
        return self.data_dir / "outbox"

    def check_stream_path(self) -> None:
        """Refuse a byte path whose settings are missing, in every mode: it would fail
        on the first segment otherwise."""
        if self.stream_path == "cdn":
            self.cdn_credentials()

    def cdn_credentials(self) -> CdnCredentials:
        """The CDN settings, checked: each one set and the key an RSA private key.

        The one place they are checked: at load for `VIDRAY_STREAM_PATH=cdn`, and again
        by whoever builds a `CdnSigner`, from a `Settings` that may have been made by hand.
        """
        for name in ("cdn_base_url", "cdn_key_id", "cdn_private_key"):
            if not getattr(self, name):
                raise ConfigError(
                    f"VIDRAY_{name.upper()}",
                    "VIDRAY_STREAM_PATH=cdn needs it: set VIDRAY_CDN_BASE_URL, "
                    "VIDRAY_CDN_KEY_ID and VIDRAY_CDN_PRIVATE_KEY (PEM), or choose another path",
                )
        assert self.cdn_base_url and self.cdn_key_id and self.cdn_private_key
        return CdnCredentials(
            base_url=self.cdn_base_url,
            key_id=self.cdn_key_id,
            private_key=_load_rsa_key(self.cdn_private_key.get_secret_value()),
        )

    def check_secrets(self) -> None:
        """Refuse placeholder secrets outside dev mode."""
        if self.mode == "dev":
            return
        for name in ("signing_secret", "jwt_secret"):
            value = getattr(self, name).get_secret_value()
            if value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < 32:
                raise ConfigError(
                    f"VIDRAY_{name.upper()}",
                    "set it to a random value of at least 32 characters in prod mode "
                    "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')",
                )
        for index, old in enumerate(self.signing_previous_secrets):
            if len(old.get_secret_value()) < 32:
                raise ConfigError(
                    "VIDRAY_SIGNING_PREVIOUS_SECRETS",
                    f"entry {index} is shorter than 32 characters: remove it or use the old "
                    "VIDRAY_SIGNING_SECRET exactly as it was",
                )
        if self.stream_path == "s3" and not self.s3_bucket:
            raise ConfigError(
                "VIDRAY_STREAM_PATH", "s3 needs VIDRAY_S3_BUCKET: set it, or use embedded or nginx"
            )
        if self.s3_bucket and self.s3_secret_access_key is None and self.s3_access_key_id:
            raise ConfigError("VIDRAY_S3_SECRET_ACCESS_KEY", "set it with VIDRAY_S3_ACCESS_KEY_ID")


def _variable(field: str) -> str:
    return "RAY_ADDRESS" if field in {"RAY_ADDRESS", "ray_address"} else f"{PREFIX}{field.upper()}"


def setting_variables() -> dict[str, str]:
    """Each setting's environment variable, mapped to its field name."""
    return {_variable(name): name for name in Settings.model_fields}


def _did_you_mean(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    if close:
        return f"no such setting; did you mean {close[0]}?"
    return "no such setting (the README's configuration table lists them all)"


def _refuse_unknown(overrides: Mapping[str, object], environ: Mapping[str, str]) -> None:
    """Refuse a misspelt setting, which pydantic-settings would silently ignore: the
    process would then run on the default an operator meant to change."""
    variables = setting_variables()
    # A setting read under an alias (RAY_ADDRESS) is overridden by either name.
    keywords = {*variables.values(), *(v for v in variables if not v.startswith(PREFIX))}
    for keyword in sorted(overrides):
        if keyword not in keywords:
            raise ConfigError(keyword, _did_you_mean(keyword, sorted(variables.values())))
    known = variables.keys() | NOT_SETTINGS
    # pydantic-settings matches names case-insensitively, so `vidray_mode` is a setting too.
    for key in sorted(environ):
        upper = key.upper()
        if upper.startswith(PREFIX) and upper not in known:
            raise ConfigError(key, _did_you_mean(upper, sorted(known)))


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; a bad value becomes one `ConfigError` line.

    A `VIDRAY_*` variable or an override that is no setting is refused, with the
    closest real name:

        VIDRAY_UPLOD_PART_BYTES: no such setting; did you mean VIDRAY_UPLOAD_PART_BYTES?
    """
    _refuse_unknown(overrides, os.environ)
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        raise ConfigError(_variable(field), first["msg"]) from None
    except SettingsError as exc:
        # JSON-valued settings (tiers, secret lists) that do not parse as JSON.
        found = re.search(r'field "([a-z0-9_]+)"', str(exc))
        variable = _variable(found.group(1)) if found else "VIDRAY_*"
        raise ConfigError(variable, "is not valid JSON: check the quotes and brackets") from None
    settings.check_secrets()
    settings.check_stream_path()
    return settings
