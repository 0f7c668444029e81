"""Errors raised by the ground floor.

Every message says what to do next; HTTP status codes are chosen at the edge (`serve/`).

    VidrayError
    ├── ConfigError          a setting is missing, malformed or unsafe
    ├── ServiceUnavailable   a configured backing service cannot be reached
    ├── StorageError         object storage failed
    │   ├── InvalidKey       a key that could escape its prefix or is malformed
    │   └── ObjectNotFound   no object under that key
    └── KVError              the cache / KV store failed
"""

from __future__ import annotations


class VidrayError(Exception):
    """Base of every error vidray raises on purpose."""


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
