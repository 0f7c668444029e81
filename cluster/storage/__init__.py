"""Object storage: one interface, a local folder (`LocalStore`) or an S3 bucket (`S3Store`).

Keys are relative, slash-separated paths (`hls/{video_id}/master.m3u8`). Every write is
atomic: readers see the previous object or the complete new one, never a half-written
file. Large objects stream in both directions; nothing here holds a whole object in
memory unless asked for bytes.

The protocol and its answers are in `types.py`, key rules in `keys.py`, the stores in
`local.py` and `s3.py`; every name is importable from `cluster.storage`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cluster.storage.keys import staging_prefix, validate_key, validate_prefix
from cluster.storage.local import LocalStore
from cluster.storage.s3 import Part, S3Store
from cluster.storage.types import ObjectInfo, ObjectStore

if TYPE_CHECKING:
    from cluster.config import Settings

__all__ = [
    "LocalStore",
    "ObjectInfo",
    "ObjectStore",
    "Part",
    "S3Store",
    "open_store",
    "staging_prefix",
    "validate_key",
    "validate_prefix",
]


def open_store(settings: Settings) -> ObjectStore:
    """The store the settings name: S3 when a bucket is set, else the data-dir folder."""
    if settings.s3_bucket:
        secret = settings.s3_secret_access_key
        return S3Store(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            region=settings.s3_region,
        )
    return LocalStore(settings.objects_dir)
