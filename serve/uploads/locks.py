"""One writer per upload at a time, across every server: a lock in the KV store that
lapses by itself (`VIDRAY_UPLOAD_LOCK_TTL_S`) when its holder dies mid-body."""

from __future__ import annotations

import secrets

from cluster.kv import KV
from serve.uploads.errors import UploadLocked


class UploadLocks:
    def __init__(self, kv: KV, *, ttl_s: float) -> None:
        self.kv = kv
        self.ttl_s = ttl_s

    def acquire(self, upload_id: str) -> str:
        """Take the upload's lock, or `UploadLocked`; returns the holder's token."""
        token = secrets.token_hex(8)
        ttl = self.ttl_s
        if not self.kv.set(f"upload:lock:{upload_id}", token, ttl=ttl, only_new=True):
            raise UploadLocked(
                "another request is writing this upload: wait for it to finish "
                "(or a few seconds for a dropped one to lapse), then HEAD and resume"
            )
        return token

    def refresh(self, upload_id: str, token: str) -> None:
        """Extend the lock while a long body is still arriving."""
        key = f"upload:lock:{upload_id}"
        if self.kv.get(key) == token.encode():
            self.kv.set(key, token, ttl=self.ttl_s)

    def release(self, upload_id: str, token: str) -> None:
        """Let go, unless the lock lapsed and someone else holds it now."""
        key = f"upload:lock:{upload_id}"
        if self.kv.get(key) == token.encode():
            self.kv.delete(key)
