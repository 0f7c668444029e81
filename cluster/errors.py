"""Errors raised by the ground floor.

Every message says what to do next; HTTP status codes are chosen at the edge (`serve/`).

    VidrayError
    ├── ConfigError          a setting is missing, malformed or unsafe
    ├── ServiceUnavailable   a configured backing service cannot be reached
    ├── StorageError         object storage failed
    │   ├── InvalidKey       a key that could escape its prefix or is malformed
    │   └── ObjectNotFound   no object under that key
    ├── KVError              the cache / KV store failed
    ├── DeliveryError        an email or SMS could not be handed over
    ├── AccountError         a request was refused for who sent it, or what it said
    │   ├── InvalidInput     a field is malformed (`field` names it)
    │   ├── Unauthenticated  no valid credentials: wrong code, bad or revoked token
    │   ├── Forbidden        valid credentials, but not allowed (suspended, not an admin)
    │   └── RateLimited      too many attempts; `retry_after` says when to try again
    └── UrlRefused           a signed HLS URL is malformed, tampered, expired, not yet
                             valid or revoked (`reason` is machine-readable)

The `AccountError` family is shared by every service (each checks who asks and what
they sent); each package's own refusals live in its `errors.py` (`serve/uploads/`,
`serve/library/`, `serve/stream/`, `pipelines/`).

Every error crosses Ray process boundaries by pickling: `VidrayError` remembers the
arguments it was built with and rebuilds from them, so no subclass writes `__reduce__`.
"""

from __future__ import annotations

from typing import Any, Self


class VidrayError(Exception):
    """Base of every error vidray raises on purpose."""

    _args: tuple[Any, ...]
    _kwargs: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        error = super().__new__(cls, *args)
        # Kept for pickling: a subclass's __init__ may take other arguments than the
        # message it passes to Exception, so rebuild by calling it again with these.
        error._args, error._kwargs = args, kwargs
        return error

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._args, self._kwargs))


def _rebuild(kind: type[VidrayError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kind(*args, **kwargs)


class ConfigError(VidrayError):
    """A setting is missing, malformed or unsafe; `variable` names the one to fix."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


class ServiceUnavailable(VidrayError):
    """A configured service (database, Redis, S3) cannot be reached or refuses us."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


class StorageError(VidrayError):
    """Object storage failed."""


class InvalidKey(StorageError):
    """An object key that is empty, absolute, escapes its prefix or holds odd characters."""


class ObjectNotFound(StorageError):
    """No object is stored under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no object stored under {key!r}")
        self.key = key


class KVError(VidrayError):
    """The KV store failed."""


class DeliveryError(VidrayError):
    """An email or SMS could not be handed to the SMTP server or SMS provider.

    `permanent`: the server refused it for good (an SMTP 5xx, a header that would inject
    another), so retrying cannot help; otherwise (a 4xx, no connection) it may later.
    `code`: the SMTP reply code, where the server gave one."""

    def __init__(self, message: str, *, permanent: bool = False, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class AccountError(VidrayError):
    """A sign-in, session or profile request was refused; the edge picks the status."""


class InvalidInput(AccountError):
    """A field is malformed; `field` names it so a form can point at it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


class Unauthenticated(AccountError):
    """No valid credentials: a wrong or expired code, or a bad, expired or revoked token."""


class Forbidden(AccountError):
    """Valid credentials that do not allow this: a suspended account, a non-admin."""


class RateLimited(AccountError):
    """Too many requests or failed attempts; `retry_after` is in seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, round(retry_after))


class UrlRefused(VidrayError):
    """A signed HLS URL failed its check; `reason` is one of `URL_REFUSALS`."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or URL_REFUSALS.get(reason, reason))
        self.reason = reason


# What each refusal tells the person holding the URL.
URL_REFUSALS = {
    "malformed": "the URL is not a signed HLS URL: ask for a new playback URL",
    "unknown-key": "the URL was signed with a key that was retired: ask for a new playback URL",
    "tampered": "the URL's signature does not match this path (or this network address): "
    "use the URL exactly as it was given",
    "expired": "the URL has expired: ask for a new playback URL",
    "not-yet-valid": "the URL is not valid yet: check this machine's clock",
    "revoked": "the session this URL was signed for has ended: sign in again for a new "
    "playback URL",
}
