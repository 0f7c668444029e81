"""One typed settings object, read once at process start (prefix `VIDRAY_`).

Deployments receive a `Settings` through their constructor; nothing else reads the
environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cluster.errors import ConfigError

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "dev-secret", "placeholder"}
)
DEV_SECRET = "changeme"  # noqa: S105 - only accepted in dev mode, refused in prod

Mode = Literal["dev", "prod"]


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
    jwt_secret: SecretStr = SecretStr(DEV_SECRET)

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)

    ray_namespace: str = "vidray"
    ray_address: str | None = Field(
        default=None, validation_alias="RAY_ADDRESS", description="Join this Ray cluster."
    )

    @field_validator("database_url")
    @classmethod
    def _database_url_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = urlsplit(value).scheme.split("+")[0]
        if scheme not in {"sqlite", "postgresql"}:
            raise ValueError(
                "expected sqlite:///path or postgresql://user@host/db "
                f"(got scheme {scheme or 'none'!r})"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("expected redis://host:port/db or rediss://...")
        return value

    @field_validator("s3_endpoint_url")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError("expected http(s)://host:port")
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vidray.db').resolve()}"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

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
        if self.s3_bucket and self.s3_secret_access_key is None and self.s3_access_key_id:
            raise ConfigError("VIDRAY_S3_SECRET_ACCESS_KEY", "set it with VIDRAY_S3_ACCESS_KEY_ID")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; a bad value becomes one `ConfigError` line."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        variable = "RAY_ADDRESS" if field == "RAY_ADDRESS" else f"VIDRAY_{field.upper()}"
        raise ConfigError(variable, first["msg"]) from None
    settings.check_secrets()
    return settings
